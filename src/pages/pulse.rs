//! System Pulse: "Is my business healthy right now?"

use chrono::{DateTime, Utc};

use crate::components::erase::Erase;
use crate::pages::infra::as_of_param;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::async_view::async_view;
use crate::components::live::{use_live, LiveBadge};
use crate::model::alerts::AlertRecord;
use crate::model::chart::{Charted, Drawing};
use crate::model::infra::Infra;
use crate::model::pulse::{Card, Pulse, SystemState, CARD_KEYS};
use crate::pages::infra::load_infra;

/// What the page shows: the pulse, its cards, and each card's sparkline (`None`: no week to
/// draw), in the cards' order.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PulseView {
    pub pulse: Pulse,
    pub cards: Vec<Card>,
    pub sparks: Vec<Option<Drawing>>,
}

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_pulse(as_of: Option<DateTime<Utc>>) -> Result<PulseView, ServerFnError> {
    use crate::model::pulse::cards;
    use crate::server::{alerts, analytics, session};
    session::require_operator().await?;
    let state = session::state()?;
    let thresholds = session::read(&state.pool, || alerts::thresholds(&state.pool)).await?;
    let pulse = analytics::pulse(&state, as_of, &thresholds)
        .await
        .map_err(session::db_error)?;
    let cards = cards(&pulse, &thresholds);
    let sparks = cards
        .iter()
        .map(|c| crate::server::charts::sparkline(&c.spark))
        .collect();
    Ok(PulseView {
        pulse,
        cards,
        sparks,
    })
}

/// The latest alerts raised up to `as_of` (or now), newest first.
#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_alert_history(
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<AlertRecord>, ServerFnError> {
    use crate::server::{alerts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let until = session::moment(as_of);
    session::read(&state.pool, || alerts::history(&state.pool, until, 20)).await
}

#[component]
pub fn PulsePage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let view_data = Resource::new(move || as_of.get(), load_pulse);
    let infra = Resource::new(move || as_of.get(), |as_of| load_infra(as_of, false));
    let history = Resource::new(move || as_of.get(), load_alert_history);
    // Follow new events while showing the present; a past moment does not change.
    let live = use_live(Signal::derive(move || as_of.get().is_none()), move || {
        view_data.refetch();
        infra.refetch();
        history.refetch();
    });

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(data)) = view_data.get() {
            leptos::task::spawn_local(async move {
                for (card, spark) in data.cards.iter().zip(data.sparks) {
                    if spark.is_none() {
                        continue;
                    }
                    let id = format!("spark-{}", card.key);
                    if let Err(e) = crate::components::chart::draw(&id, spark).await {
                        leptos::logging::error!("sparkline {id}: {e}");
                    }
                }
            });
        }
    });

    view! {
        <Title text="System Pulse" />
        <header class="page-header with-tools">
            <div>
                <h1>"System Pulse"</h1>
                <p class="question">"Is my business healthy right now?" " " <LiveBadge state=live /></p>
            </div>
            <TimeTravel as_of />
        </header>
        {async_view(
            move || async move { view_data.await },
            |data| view! { <StatusBadge pulse=data.pulse /> },
        )}
        <section class="metric-grid" aria-label="Last 24 hours against the 24 hours before">
            {CARD_KEYS
                .iter()
                .map(|key| view! { <MetricCard key data=view_data /> })
                .collect_view()}
        </section>
        <section class="card" aria-labelledby="headroom-heading">
            <h2 id="headroom-heading">"Infra headroom"</h2>
            {async_view(move || async move { infra.await }, |infra: Charted<Infra>| view! { <Headroom infra=infra.data /> })}
        </section>
        <section class="card" aria-labelledby="alerts-heading">
            <div class="card-heading">
                <h2 id="alerts-heading">"Alert history"</h2>
                <a href="/settings">"Thresholds and webhooks"</a>
            </div>
            {async_view(
                move || async move { history.await },
                |alerts: Vec<AlertRecord>| view! { <AlertHistory alerts /> },
            )}
        </section>
        <nav class="card quick-links" aria-label="Next steps">
            <a href="/customers" class="button">"View Customers"</a>
            <a href="/incidents" class="button">"View Incidents"</a>
            <a href="/infra" class="button">"Infra & Limits"</a>
            <a href="/replay" class="button">"Replay Lab"</a>
        </nav>
    }
}

/// A page's title, its founder question and the moment it shows.
#[component]
pub fn TimedHeader(
    title: &'static str,
    question: &'static str,
    as_of: Memo<Option<DateTime<Utc>>>,
) -> impl IntoView {
    view! {
        <header class="page-header with-tools">
            <div>
                <h1>{title}</h1>
                <p class="question">{question}</p>
            </div>
            <TimeTravel as_of />
        </header>
    }
}

/// Shows the page as it was at a past moment; "Now" returns to the same page in the present.
#[component]
pub fn TimeTravel(as_of: Memo<Option<DateTime<Utc>>>) -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let value = move || {
        as_of
            .get()
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .unwrap_or_default()
    };
    view! {
        <Form method="GET" action="" attr:class="time-travel">
            <label>
                "As of (UTC)"
                <input type="datetime-local" name="as_of" value=value />
            </label>
            <button type="submit" class="button">"Show"</button>
            <a href=move || location.pathname.get() class="button subtle" class:hidden=move || as_of.get().is_none()>"Now"</a>
        </Form>
    }
}

#[component]
fn StatusBadge(pulse: Pulse) -> impl IntoView {
    let class = match pulse.system_state {
        SystemState::Stable => "status ok",
        SystemState::SilentDegradation => "status warn",
        SystemState::ActiveFailure => "status bad",
    };
    let when = format!("as of {} UTC", pulse.as_of.format("%b %d, %H:%M"));
    view! {
        <section class=format!("card {class}") data-testid="system-state" aria-live="polite">
            <p class="status-line">
                "STATUS: " <strong data-testid="system-state-label">{pulse.system_state.label()}</strong>
                <span class="muted">" · " {when}</span>
            </p>
            {if pulse.reasons.is_empty() {
                view! { <p class="muted">"No alert rule holds: failures, saturation, replays and exports are within their thresholds."</p> }.erase()
            } else {
                view! {
                    <ul class="reasons" data-testid="reasons">
                        {pulse.reasons.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}
                    </ul>
                }
                .erase()
            }}
        </section>
    }
}

/// One metric: now, before, the change, its threshold, last week and a 7-day sparkline. The
/// sparkline's element sits outside the Suspense so the drawn chart is never replaced.
#[component]
fn MetricCard(
    key: &'static str,
    data: Resource<Result<PulseView, ServerFnError>>,
) -> impl IntoView {
    let card = move || async move {
        data.await.and_then(|d| {
            d.cards
                .into_iter()
                .find(|c| c.key == key)
                .ok_or_else(|| ServerFnError::new("missing card"))
        })
    };
    view! {
        <article class="card metric" data-testid=format!("card-{key}")>
            {async_view(card, |c: Card| {
                let good = |rising: bool| if rising == c.rise_is_good { "good" } else { "bad" };
                let (arrow, tone) = match c.delta_pct {
                    Some(d) if d > 0.0 => ("▲", good(true)),
                    Some(d) if d < 0.0 => ("▼", good(false)),
                    Some(_) => ("■", "flat"),
                    None => ("", "flat"),
                };
                let delta = c
                    .delta_pct
                    .map(|d| format!("{arrow} {d:+.1}%"))
                    .unwrap_or_else(|| "no earlier data".to_owned());
                view! {
                    <h2>{c.title}</h2>
                    <p class="metric-value" data-testid="metric-value">{c.value}</p>
                    <p class=format!("metric-delta {tone}")>{delta}</p>
                    <dl class="metric-facts">
                        <dt>"Previous 24 h"</dt>
                        <dd>{c.previous}</dd>
                        <dt>"Same day last week"</dt>
                        <dd>{c.last_week}</dd>
                        <dt>"Alert"</dt>
                        <dd class:crossed=c.crossed>
                            {c.threshold}
                            {if c.crossed { " — crossed" } else { " — ok" }}
                        </dd>
                    </dl>
                }
            })}
            <div id=format!("spark-{key}") class="spark" aria-hidden="true"></div>
        </article>
    }
}

/// One bar per resource: how full it is and how long until it is full.
#[component]
fn Headroom(infra: Infra) -> impl IntoView {
    if infra.resources.is_empty() {
        return view! { <p class="empty-state">"No resource has reported samples in the last 7 days."</p> }.erase();
    }
    view! {
        <ul class="headroom" data-testid="headroom">
            {infra
                .resources
                .into_iter()
                .map(|r| {
                    let pct = r.utilization_pct;
                    let outlook = match r.days_to_exhaustion {
                        Some(d) => format!("{d:.0} days to limit"),
                        None => "stable".to_owned(),
                    };
                    let tone = if pct >= 80.0 { "bar bad" } else if r.warning { "bar warn" } else { "bar" };
                    view! {
                        <li>
                            <a href="/infra" class="headroom-name">{r.resource.clone()}</a>
                            <div class="meter" role="meter" aria-valuemin="0" aria-valuemax="100"
                                aria-valuenow=pct aria-label=format!("{} used", r.resource)>
                                <div class=tone style=format!("width: {:.1}%", pct.clamp(0.0, 100.0))></div>
                            </div>
                            <span class="num">{format!("{pct:.0}%")}</span>
                            <span class="muted">"(" {outlook} ")"</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .erase()
}

/// Every alert raised, newest first, and how far each got to each webhook.
#[component]
fn AlertHistory(alerts: Vec<AlertRecord>) -> impl IntoView {
    if alerts.is_empty() {
        return view! {
            <p class="empty-state" data-testid="no-alerts">
                "No alert raised yet. One is raised whenever the state changes or a card crosses its threshold."
            </p>
        }
        .erase();
    }
    view! {
        <ol class="alert-history" data-testid="alert-history">
            {alerts
                .into_iter()
                .map(|a| {
                    let tone = if a.worsened() { "alert worse" } else { "alert better" };
                    let when = a.raised_at.format("%b %d, %H:%M UTC").to_string();
                    let delivery = delivery_summary(&a);
                    view! {
                        <li class=tone>
                            <time datetime=a.raised_at.to_rfc3339()>{when}</time>
                            <span class="alert-text">{a.text}</span>
                            <span class="muted delivery">{delivery}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .erase()
}

/// "Sent to 2 webhooks", "retrying …", "failed: …", or that no webhook was configured.
fn delivery_summary(a: &AlertRecord) -> String {
    if a.deliveries.is_empty() {
        return "No webhook was configured.".into();
    }
    let delivered = a
        .deliveries
        .iter()
        .filter(|d| d.status == "delivered")
        .count();
    let mut parts = Vec::new();
    if delivered > 0 {
        parts.push(format!(
            "Sent to {delivered} webhook{}.",
            if delivered == 1 { "" } else { "s" }
        ));
    }
    for d in a.deliveries.iter().filter(|d| d.status != "delivered") {
        let error = d.last_error.as_deref().unwrap_or("not tried yet");
        parts.push(match d.status.as_str() {
            "pending" if d.attempts == 0 => format!("Sending to {}.", d.shown_url),
            "pending" => format!(
                "Retrying {} (try {} failed: {error}).",
                d.shown_url, d.attempts
            ),
            _ => format!("Not delivered to {}: {error}.", d.shown_url),
        });
    }
    parts.join(" ")
}
