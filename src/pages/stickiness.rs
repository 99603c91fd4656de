//! Product Stickiness: "Which feature actually keeps users?"

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::components::window::{days_label, WindowPicker, Windows};
use crate::model::chart::Charted;
use crate::model::stickiness::{Funnel, FunnelStep, DEFAULT_WINDOW, WINDOWS};
use crate::pages::infra::as_of_param;
use crate::pages::pulse::TimedHeader;

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_stickiness(
    as_of: Option<DateTime<Utc>>,
    days: i32,
) -> Result<Charted<Funnel>, ServerFnError> {
    use crate::server::{analytics, charts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let days = crate::components::window::clamp_window(days, &WINDOWS, DEFAULT_WINDOW);
    let data = analytics::stickiness(&state, as_of, days)
        .await
        .map_err(session::db_error)?;
    Ok(Charted {
        charts: vec![charts::funnel(&data)],
        data,
    })
}

const CHART_ID: &str = "funnel-chart";

fn hours(h: Option<f64>) -> String {
    crate::pages::customers::hours_text(h, "—")
}

const CHOICE: Windows = Windows {
    key: "days",
    allowed: &WINDOWS,
    default: DEFAULT_WINDOW,
    label: days_label,
};

#[component]
pub fn StickinessPage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let days = Memo::new(move |_| CHOICE.from_query(&query.read()));
    let data = Resource::new(
        move || (as_of.get(), days.get()),
        |(a, d)| load_stickiness(a, d),
    );

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(funnel)) = data.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = crate::components::chart::draw(CHART_ID, funnel.chart(0)).await {
                    leptos::logging::error!("funnel chart: {e}");
                }
            });
        }
    });

    view! {
        <Title text="Product Stickiness" />
        <TimedHeader title="Product Stickiness" question="Which feature actually keeps users?" as_of />
        <WindowPicker path="/stickiness" windows=&CHOICE value=days />
        <section class="card" aria-labelledby="funnel-heading">
            <h2 id="funnel-heading">"From incident to verified certificate"</h2>
            <div id=CHART_ID class="chart" data-testid=CHART_ID role="img"
                aria-label="Tenants reaching each step of the funnel"></div>
            {async_view(
                move || async move { data.await },
                |f: Charted<Funnel>| view! { <StepsTable funnel=f.data /> },
            )}
        </section>
    }
}

#[component]
fn StepsTable(funnel: Funnel) -> impl IntoView {
    if funnel.steps[0].tenants == 0 {
        return view! {
            <p class="empty-state" data-testid="funnel-empty">
                {format!("No incident in the last {} days: the funnel starts when customers see their first incident.", funnel.window_days)}
            </p>
        }
        .erase();
    }
    view! {
        <div class="table-wrap">
            <table class="events funnel" data-testid="funnel-table">
                <thead>
                    <tr>
                        <th scope="col">"Step"</th>
                        <th scope="col" class="num">"Tenants"</th>
                        <th scope="col" class="num">"From previous"</th>
                        <th scope="col" class="num">"Median time from previous"</th>
                        <th scope="col">"If they stop here"</th>
                        <th scope="col">"Stuck here"</th>
                    </tr>
                </thead>
                <tbody>
                    {funnel.steps.into_iter().map(|s| view! { <StepRow s /> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .erase()
}

#[component]
fn StepRow(s: FunnelStep) -> impl IntoView {
    let conversion = s
        .conversion_pct
        .map(|c| format!("{c:.1}%"))
        .unwrap_or_else(|| "—".into());
    let skipped =
        (s.skipped > 0).then(|| format!("{} skipped this step but took a later one", s.skipped));
    let reading = match (&s.interpretation, &s.action) {
        (Some(i), Some(a)) => format!("{i} → {a}"),
        _ => "—".into(),
    };
    let stuck_count = s.stuck.len();
    view! {
        <tr class:worst=s.worst_drop_off data-testid="funnel-step">
            <th scope="row">
                {s.step.clone()}
                {s.worst_drop_off.then(|| view! { <span class="type-badge silent">"worst drop-off after this step"</span> })}
                {skipped.map(|t| view! { <div class="muted small-print">{t}</div> })}
            </th>
            <td class="num" data-testid="step-tenants">{s.tenants}</td>
            <td class="num" data-testid="step-conversion">{conversion}</td>
            <td class="num">{hours(s.median_hours_from_previous)}</td>
            <td>{reading}</td>
            <td>
                {if stuck_count == 0 {
                    view! { <span class="muted">"—"</span> }.erase()
                } else {
                    view! {
                        <details data-testid="stuck">
                            <summary>{format!("{stuck_count} tenant{}", if stuck_count == 1 { "" } else { "s" })}</summary>
                            <ul class="stuck-list">
                                {s.stuck
                                    .into_iter()
                                    .map(|t| view! {
                                        <li><a href=format!("/customers/{}", t.tenant_id)>{t.tenant_name}</a></li>
                                    })
                                    .collect_view()}
                            </ul>
                        </details>
                    }
                    .erase()
                }}
            </td>
        </tr>
    }
}
