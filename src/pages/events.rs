//! Events: the time-ordered truth. Every event, newest first, filtered by tenant, type and
//! time, with the volume per hour and type above it.

use chrono::{DateTime, NaiveDateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use uuid::Uuid;

use crate::components::async_view::async_view;
use crate::components::chart::HistogramChart;
use crate::components::erase::Erase;
use crate::model::chart::Charted;
use crate::model::events::{
    short_id, Cursor, EventFilter, EventHistogram, EventsPage, TenantOption,
};
use crate::model::{Event, EventType};

/// The page's state, read from its address so every view can be linked and reloaded.
#[derive(Clone, Debug, PartialEq, Default)]
struct EventsParams {
    filter: EventFilter,
    cursor: Option<String>,
    /// Parameters that could not be understood, and so were ignored.
    ignored: Vec<String>,
}

/// Accepts RFC 3339 and the `datetime-local` form (`2026-11-26T14:05`), read as UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .map(|t| t.and_utc())
        })
}

impl EventsParams {
    fn from_query(query: &ParamsMap) -> Self {
        let mut ignored = Vec::new();
        let get = |name: &str| query.get(name).filter(|v| !v.is_empty());
        let tenant_id = get("tenant_id").and_then(|v| {
            v.parse::<Uuid>().ok().or_else(|| {
                ignored.push("tenant".to_owned());
                None
            })
        });
        let event_type = get("event_type").and_then(|v| {
            v.parse::<EventType>().ok().or_else(|| {
                ignored.push("event type".to_owned());
                None
            })
        });
        let from = get("from").and_then(|v| {
            parse_time(&v).or_else(|| {
                ignored.push("from".to_owned());
                None
            })
        });
        let to = get("to").and_then(|v| {
            parse_time(&v).or_else(|| {
                ignored.push("to".to_owned());
                None
            })
        });
        let cursor = get("cursor").filter(|c| Cursor::decode(c).is_some());
        EventsParams {
            filter: EventFilter {
                tenant_id,
                event_type,
                from,
                to,
            },
            cursor,
            ignored,
        }
    }

    /// The query string of this filter, without the cursor.
    fn filter_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.filter.tenant_id {
            parts.push(format!("tenant_id={t}"));
        }
        if let Some(t) = self.filter.event_type {
            parts.push(format!("event_type={t}"));
        }
        if let Some(t) = self.filter.from {
            parts.push(format!("from={}", t.format("%Y-%m-%dT%H:%M")));
        }
        if let Some(t) = self.filter.to {
            parts.push(format!("to={}", t.format("%Y-%m-%dT%H:%M")));
        }
        parts.join("&")
    }
}

// JSON arguments: the form encoding drops a nested filter whose fields are all empty.
#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn list_events(
    filter: EventFilter,
    cursor: Option<String>,
) -> Result<EventsPage, ServerFnError> {
    use crate::server::{events_query, session};
    session::require_operator().await?;
    let state = session::state()?;
    let cursor = cursor.as_deref().and_then(Cursor::decode);
    session::read(&state.pool, || {
        events_query::page(
            &state.pool,
            &filter,
            cursor,
            crate::model::events::DEFAULT_PAGE_SIZE,
        )
    })
    .await
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn events_volume(filter: EventFilter) -> Result<Charted<EventHistogram>, ServerFnError> {
    use crate::server::{charts, events_query, session};
    session::require_operator().await?;
    let state = session::state()?;
    let now = Utc::now();
    let data = session::read(&state.pool, || {
        events_query::histogram(&state.pool, &filter, now)
    })
    .await?;
    Ok(Charted {
        charts: vec![charts::histogram(&data)],
        data,
    })
}

#[server(prefix = "/api/rpc", output = crate::codec::JsonText)]
pub async fn tenant_options() -> Result<Vec<TenantOption>, ServerFnError> {
    use crate::server::{events_query, session};
    session::require_operator().await?;
    let state = session::state()?;
    session::read(&state.pool, || events_query::tenants(&state.pool)).await
}

#[component]
pub fn EventsPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| EventsParams::from_query(&query.read()));
    let tenants = Resource::new(|| (), |_| tenant_options());
    let page = Resource::new(move || params.get(), |p| list_events(p.filter, p.cursor));
    let histogram = Resource::new(move || params.get().filter, events_volume);

    view! {
        <Title text="Events" />
        <header class="page-header">
            <h1>"Events"</h1>
            <p class="question">"What exactly happened, in order? Every event, newest first."</p>
        </header>
        <FilterForm params tenants />
        {move || {
            let ignored = params.get().ignored;
            (!ignored.is_empty())
                .then(|| {
                    view! {
                        <p class="notice" role="status">
                            "Ignored a filter that could not be read: " {ignored.join(", ")}
                        </p>
                    }
                })
        }}
        <section class="card" aria-labelledby="volume-heading">
            <h2 id="volume-heading">"Volume by type"</h2>
            <HistogramChart id="events-chart" histogram />
        </section>
        <section class="card" aria-labelledby="stream-heading">
            <h2 id="stream-heading">"Stream"</h2>
            {async_view(
                move || async move { Ok((page.await?, tenants.await?)) },
                move |(page, tenants)| view! { <EventsTable page tenants params=params.get_untracked() /> },
            )}
        </section>
    }
}

#[component]
fn FilterForm(
    params: Memo<EventsParams>,
    tenants: Resource<Result<Vec<TenantOption>, ServerFnError>>,
) -> impl IntoView {
    let current = move || params.get().filter;
    let time_value = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    view! {
        <Form method="GET" action="/events" attr:class="card filters">
            <label>
                "Event type"
                <select name="event_type">
                    <option value="" selected=move || current().event_type.is_none()>"All types"</option>
                    {EventType::ALL
                        .into_iter()
                        .map(|t| {
                            view! {
                                <option value=t.as_str() selected=move || current().event_type == Some(t)>
                                    {t.as_str()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </label>
            // The whole select waits for the tenant list: a Suspense inside a <select> would
            // put streaming markers where the HTML parser allows only options.
            <Suspense fallback=|| {
                view! {
                    <label>
                        "Tenant"
                        <select name="tenant_id" disabled>
                            <option value="">"All tenants"</option>
                        </select>
                    </label>
                }
            }>
                {move || Suspend::new(async move {
                    let options = tenants.await.unwrap_or_default();
                    view! {
                        <label>
                            "Tenant"
                            <select name="tenant_id">
                                <option value="" selected=move || current().tenant_id.is_none()>
                                    "All tenants"
                                </option>
                                {options
                                    .into_iter()
                                    .map(|t| {
                                        let id = t.tenant_id;
                                        view! {
                                            <option
                                                value=id.to_string()
                                                selected=move || current().tenant_id == Some(id)
                                            >
                                                {t.label()}
                                            </option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Suspense>
            <label>
                "From"
                <input type="datetime-local" name="from" value=move || time_value(current().from) />
            </label>
            <label>
                "To"
                <input type="datetime-local" name="to" value=move || time_value(current().to) />
            </label>
            <span class="hint">"Times are UTC."</span>
            <div class="actions">
                <button type="submit" class="button primary">"Apply"</button>
                <a href="/events" class="button subtle">"Reset"</a>
            </div>
        </Form>
    }
}

#[component]
fn EventsTable(
    page: EventsPage,
    tenants: Vec<TenantOption>,
    params: EventsParams,
) -> impl IntoView {
    let name_of = move |id: Uuid| {
        tenants
            .iter()
            .find(|t| t.tenant_id == id)
            .map(TenantOption::label)
            .unwrap_or_else(|| short_id(id))
    };
    if page.events.is_empty() {
        let text = if params.cursor.is_some() {
            "No older events match this filter."
        } else if params.filter == EventFilter::default() {
            "No events yet. Services send them to POST /api/v1/ops/events; they appear here as soon as they are stored."
        } else {
            "No events match this filter. Widen the time range or choose another type or tenant."
        };
        return view! {
            <p class="empty-state" data-testid="events-empty">{text}</p>
            <Pager params next=None />
        }
        .erase();
    }
    let rows = page
        .events
        .iter()
        .map(|event| {
            let tenant = name_of(event.tenant_id);
            view! { <EventRow event=event.clone() tenant /> }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table class="events" data-testid="events-table">
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Entity"</th>
                        <th scope="col" class="num">"Severity"</th>
                        <th scope="col" class="num">"Latency"</th>
                        <th scope="col" class="num">"Cost"</th>
                        <th scope="col">"Metadata"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <Pager params next=page.next_cursor />
    }
    .erase()
}

#[component]
fn EventRow(event: Event, tenant: String) -> impl IntoView {
    let metadata = serde_json::to_string_pretty(&event.metadata).unwrap_or_default();
    let entity = match (&event.entity_type, event.entity_id) {
        (Some(kind), Some(id)) => format!("{kind} {}", short_id(id)),
        (Some(kind), None) => kind.clone(),
        (None, Some(id)) => short_id(id),
        (None, None) => String::new(),
    };
    view! {
        <tr data-testid="event-row">
            <td class="mono">
                <time datetime=event.timestamp.to_rfc3339()>
                    {event.timestamp.format("%Y-%m-%d %H:%M:%S").to_string()}
                </time>
            </td>
            <td>
                <span class=format!("type-badge type-{}", event.event_type.as_str().to_lowercase()) data-testid="event-type">
                    {event.event_type.as_str()}
                </span>
            </td>
            <td title=event.tenant_id.to_string()>{tenant}</td>
            <td class="mono">{entity}</td>
            <td class="num">{event.severity.map(|s| s.to_string())}</td>
            <td class="num">{event.latency_ms.map(|l| format!("{l} ms"))}</td>
            <td class="num">{event.cost_usd.map(|c| format!("${c}"))}</td>
            <td>
                <details>
                    <summary>"metadata"</summary>
                    <pre>{metadata}</pre>
                </details>
            </td>
        </tr>
    }
}

#[component]
fn Pager(params: EventsParams, next: Option<String>) -> impl IntoView {
    let base = params.filter_query();
    let join = |extra: &str| {
        let mut q = base.clone();
        if !extra.is_empty() {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(extra);
        }
        if q.is_empty() {
            "/events".to_owned()
        } else {
            format!("/events?{q}")
        }
    };
    let newest = join("");
    let older = next.map(|cursor| join(&format!("cursor={cursor}")));
    view! {
        <nav class="pager" aria-label="Pages">
            {params
                .cursor
                .is_some()
                .then(|| view! { <a href=newest.clone() data-testid="first-page">"Newest"</a> })}
            {match older {
                Some(href) => view! { <a href=href data-testid="next-page" class="button">"Older events →"</a> }.erase(),
                None => view! { <span class="muted">"End of the stream"</span> }.erase(),
            }}
        </nav>
    }
}
