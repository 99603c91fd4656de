//! The "Last 7 / 30 / 90 days" choice that pages with a window share, kept in the address.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;

/// `days` if it is one of `allowed`, else `default`.
pub fn clamp_window(days: i32, allowed: &[i32], default: i32) -> i32 {
    if allowed.contains(&days) {
        days
    } else {
        default
    }
}

/// The window the address asks for (`?days=`).
pub fn window_param(query: &ParamsMap, allowed: &[i32], default: i32) -> i32 {
    query
        .get("days")
        .and_then(|d| d.parse::<i32>().ok())
        .map_or(default, |d| clamp_window(d, allowed, default))
}

/// The address of `path` for a window, keeping the moment shown.
pub fn window_href(path: &str, days: i32, query: &ParamsMap) -> String {
    let mut href = format!("{path}?days={days}");
    if let Some(t) = query.get("as_of") {
        href.push_str(&format!("&as_of={t}"));
    }
    href
}

/// One link per window; the current one is marked for eyes and screen readers.
#[component]
pub fn WindowPicker(path: &'static str, allowed: &'static [i32], days: Memo<i32>) -> impl IntoView {
    let query = use_query_map();
    view! {
        <nav class="segmented" aria-label="Window">
            {allowed
                .iter()
                .map(|d| {
                    let d = *d;
                    view! {
                        <a href=move || window_href(path, d, &query.read())
                            class="button"
                            aria-current=move || (days.get() == d).then_some("true")>
                            {format!("Last {d} days")}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}
