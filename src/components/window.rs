//! The "Last 7 / 30 / 90 days" (or "Last hour / 24 hours / 7 days") choice that pages with a
//! window share, kept in the address.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

/// The windows a page offers, under which address parameter, and how each is named.
pub struct Windows {
    /// `days` or `hours`.
    pub key: &'static str,
    pub allowed: &'static [i32],
    pub default: i32,
    pub label: fn(i32) -> String,
}

/// "Last 30 days".
pub fn days_label(days: i32) -> String {
    format!("Last {days} days")
}

/// `value` if it is one of `allowed`, else `default`.
pub fn clamp_window(value: i32, allowed: &[i32], default: i32) -> i32 {
    if allowed.contains(&value) {
        value
    } else {
        default
    }
}

impl Windows {
    /// The window the address asks for.
    pub fn from_query(&self, query: &ParamsMap) -> i32 {
        query
            .get(self.key)
            .and_then(|d| d.parse::<i32>().ok())
            .map_or(self.default, |d| {
                clamp_window(d, self.allowed, self.default)
            })
    }

    /// The address of `path` for a window, keeping the moment shown.
    pub fn href(&self, path: &str, value: i32, query: &ParamsMap) -> String {
        let mut href = format!("{path}?{}={value}", self.key);
        if let Some(t) = query.get("as_of") {
            href.push_str(&format!("&as_of={t}"));
        }
        href
    }
}

/// One link per window; the current one is marked for eyes and screen readers. The links keep
/// the moment shown and the tenant filter.
#[component]
pub fn WindowPicker(
    path: &'static str,
    windows: &'static Windows,
    value: Memo<i32>,
) -> impl IntoView {
    let query = use_query_map();
    view! {
        <nav class="segmented" aria-label="Window">
            {windows
                .allowed
                .iter()
                .map(|d| {
                    let d = *d;
                    let href = move || {
                        let q = query.read();
                        let mut href = windows.href(path, d, &q);
                        if let Some(t) = q.get("tenant_id") {
                            href.push_str(&format!("&tenant_id={t}"));
                        }
                        href
                    };
                    view! {
                        <a href=href
                            class="button"
                            aria-current=move || (value.get() == d).then_some("true")>
                            {(windows.label)(d)}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}
