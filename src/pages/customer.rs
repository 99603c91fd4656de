//! One customer's profile: subscription, intent with its evidence, stickiness and risk, the
//! 30-day activity timeline, time-to-value, and where to go next.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::model::chart::Charted;
use crate::model::customers::{trend_arrow, ChurnRisk, CustomerProfile};
use crate::pages::customers::ago;
use crate::pages::infra::as_of_param;
use crate::pages::pulse::TimeTravel;

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_customer_profile(
    tenant_id: String,
    as_of: Option<DateTime<Utc>>,
) -> Result<Option<Charted<CustomerProfile>>, ServerFnError> {
    use crate::server::{charts, customers, session};
    session::require_operator().await?;
    let state = session::state()?;
    let Ok(tenant) = tenant_id.parse::<uuid::Uuid>() else {
        return Ok(None);
    };
    let as_of = session::moment(as_of);
    let profile = session::read(&state.pool, || {
        customers::profile(&state.pool, tenant, as_of)
    })
    .await?;
    // The page shows the daily timeline only as its chart.
    Ok(profile.map(|mut data| {
        let timeline = std::mem::take(&mut data.timeline);
        Charted {
            charts: vec![charts::activity_timeline(&timeline)],
            data,
        }
    }))
}

const CHART_ID: &str = "activity-chart";

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = Memo::new(move |_| params.read().get("tenant_id").unwrap_or_default());
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let data = Resource::new(
        move || (tenant.get(), as_of.get()),
        |(tenant, as_of)| load_customer_profile(tenant, as_of),
    );

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(Some(profile))) = data.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = crate::components::chart::draw(CHART_ID, profile.chart(0)).await {
                    leptos::logging::error!("activity chart: {e}");
                }
            });
        }
    });

    view! {
        <Title text="Customer profile" />
        <header class="page-header with-tools">
            <div>
                <p class="breadcrumb"><a href="/customers">"← All customers"</a></p>
                {async_view(
                    move || async move { data.await },
                    |p: Option<Charted<CustomerProfile>>| match p.map(|p| p.data) {
                        Some(p) => view! {
                            <h1 data-testid="customer-name">{p.customer.tenant_name}</h1>
                            <p class="question">"Who is this customer and are they slipping?"</p>
                        }
                        .erase(),
                        None => view! { <h1>"Customer not found"</h1> }.erase(),
                    },
                )}
            </div>
            <TimeTravel as_of />
        </header>
        {async_view(
            move || async move { data.await },
            |p: Option<Charted<CustomerProfile>>| match p.map(|p| p.data) {
                Some(p) => view! { <Profile p /> }.erase(),
                None => view! { <Missing /> }.erase(),
            },
        )}
        <section class="card profile-only" aria-labelledby="activity-heading">
            <h2 id="activity-heading">"Activity timeline (last 30 days)"</h2>
            <div id=CHART_ID class="chart" data-testid=CHART_ID role="img"
                aria-label="Daily API calls, incidents, investigations, replays and exports"></div>
            {async_view(
                move || async move { data.await },
                |p: Option<Charted<CustomerProfile>>| view! { <Trends p=p.map(|p| p.data) /> },
            )}
        </section>
    }
}

/// A tenant the stream has not seen: a real 404, and a way back.
#[component]
fn Missing() -> impl IntoView {
    crate::pages::not_found::answer_not_found();
    view! {
        <section class="card not-found" data-testid="customer-missing">
            <p>"No events of this tenant up to this moment. "
                <a href="/customers">"See every customer"</a> "."</p>
        </section>
    }
}

fn hours(h: Option<f64>) -> String {
    crate::pages::customers::hours_text(h, "not yet")
}

#[component]
fn Profile(p: CustomerProfile) -> impl IntoView {
    let c = p.customer;
    let status = match c.cancelled_at {
        Some(t) => format!("Cancelled {} (after {} days)", t.format("%b %d"), c.day),
        None => format!("Active (Day {})", c.day),
    };
    let plan = format!(
        "{} (${}/month)",
        c.plan.clone().unwrap_or_else(|| "No plan recorded".into()),
        c.price_usd_month.normalize()
    );
    let arrow = trend_arrow(c.stickiness_score, c.stickiness_last_week);
    let risk_class = match c.churn_risk {
        ChurnRisk::High => "risk high",
        ChurnRisk::Medium => "risk medium",
        ChurnRisk::Low => "risk low",
    };
    let investigation_days = c.last_investigation.map(|t| (p.as_of - t).num_days());
    let export_days = c.last_export.map(|t| (p.as_of - t).num_days());
    let fast_export = p.hours_to_first_export.is_some_and(|h| h < 24.0);
    let tenant = c.tenant_id;
    let replay_href = match p.latest_incident {
        Some(incident) => format!("/replay?tenant_id={tenant}&incident_id={incident}"),
        None => format!("/replay?tenant_id={tenant}"),
    };
    view! {
        <div class="profile-grid">
            <section class="card" aria-labelledby="subscription-heading">
                <h2 id="subscription-heading">"Subscription"</h2>
                <dl class="facts">
                    <dt>"Status"</dt><dd data-testid="subscription-status">{status}</dd>
                    <dt>"Plan"</dt><dd>{plan}</dd>
                    <dt>"Source"</dt><dd>{p.source.unwrap_or_else(|| "unknown".into())}</dd>
                    <dt>"Signed up"</dt><dd>{c.signup_at.format("%b %d, %Y %H:%M UTC").to_string()}</dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="intent-heading">
                <h2 id="intent-heading">"Inferred intent"</h2>
                <dl class="facts">
                    <dt>"Primary"</dt><dd data-testid="intent">{c.inferred_intent.label()}</dd>
                    <dt>"Confidence"</dt><dd>{format!("{:.2}", c.intent_confidence)}</dd>
                    <dt>"Evidence"</dt><dd data-testid="intent-evidence">{c.intent_evidence}</dd>
                </dl>
            </section>
            <section class="card" aria-labelledby="stickiness-heading">
                <h2 id="stickiness-heading">"Stickiness and risk"</h2>
                <p class="metric-value" data-testid="stickiness">
                    {format!("{:.2} {arrow}", c.stickiness_score)}
                </p>
                <p class="muted">{format!("was {:.2} a week earlier", c.stickiness_last_week)}</p>
                <p>"Churn risk: " <span class=risk_class data-testid="churn-risk">{c.churn_risk.label()}</span></p>
                <p class="muted small-print">{c.churn_reason}</p>
            </section>
            <section class="card" aria-labelledby="ttv-heading">
                <h2 id="ttv-heading">"Time to value"</h2>
                <dl class="facts">
                    <dt>"Signup → first incident"</dt><dd>{hours(p.hours_to_first_incident)}</dd>
                    <dt>"Signup → first replay"</dt><dd>{hours(p.hours_to_first_replay)}</dd>
                    <dt>"Signup → first export"</dt>
                    <dd>{hours(p.hours_to_first_export)} {fast_export.then_some(" ✓ fast: high intent")}</dd>
                </dl>
                <dl class="facts">
                    <dt>"Last investigation"</dt>
                    <dd class:warn=investigation_days.is_some_and(|d| d > 7)>
                        {ago(p.as_of, c.last_investigation)}
                        {investigation_days.is_some_and(|d| d > 7).then_some(" ⚠")}
                    </dd>
                    <dt>"Last export"</dt>
                    <dd class:bad=export_days.is_some_and(|d| d > 14)>
                        {ago(p.as_of, c.last_export)}
                        {export_days.is_some_and(|d| d > 14).then_some(" ●")}
                    </dd>
                </dl>
            </section>
        </div>
        <nav class="card quick-links" aria-label="Next steps for this customer">
            <a class="button" href=format!("/incidents?tenant_id={tenant}")>"View Incidents"</a>
            <a class="button primary" href=replay_href>"Force Replay Demo"</a>
            <a class="button" href=format!("/revenue?tenant_id={tenant}")>"Revenue Impact"</a>
        </nav>
    }
}

/// Each series' 30-day total and trend word, under the chart.
#[component]
fn Trends(p: Option<CustomerProfile>) -> impl IntoView {
    p.map(|p| {
        view! {
            <ul class="trends" data-testid="trends">
                {p.trends
                    .into_iter()
                    .map(|t| view! {
                        <li>
                            <strong>{t.series}</strong>
                            <span class="num">{t.total}</span>
                            <span class=format!("trend {}", t.trend)>{format!("({})", t.trend)}</span>
                        </li>
                    })
                    .collect_view()}
            </ul>
        }
    })
}
