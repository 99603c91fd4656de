//! Revenue & Risk: "Am I making money safely?"

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::async_view::async_view;
use crate::components::erase::Erase;
use crate::components::window::{days_label, WindowPicker, Windows};
use crate::model::chart::Charted;
use crate::model::revenue::{Revenue, Severity, TenantEconomics, DEFAULT_WINDOW, WINDOWS};
use crate::pages::infra::{as_of_param, tenant_param};
use crate::pages::pulse::TimedHeader;

#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_revenue(
    as_of: Option<DateTime<Utc>>,
    days: i32,
) -> Result<Charted<Revenue>, ServerFnError> {
    use crate::server::{analytics, charts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let days = crate::components::window::clamp_window(days, &WINDOWS, DEFAULT_WINDOW);
    let data = analytics::revenue(&state, as_of, days)
        .await
        .map_err(session::db_error)?;
    Ok(Charted {
        charts: vec![charts::margins(&data)],
        data,
    })
}

const CHART_ID: &str = "margin-chart";

/// `$17,643.00`, `−$97.37`.
fn usd(d: rust_decimal::Decimal) -> String {
    use rust_decimal::prelude::ToPrimitive;
    let d = crate::model::revenue::cents(d);
    let abs = d.abs();
    let whole = abs.trunc().to_i64().unwrap_or_default();
    let cents = ((abs - abs.trunc()) * rust_decimal::Decimal::from(100))
        .to_i64()
        .unwrap_or_default();
    let sign = if d.is_sign_negative() && !d.is_zero() {
        "−"
    } else {
        ""
    };
    format!(
        "{sign}${}.{cents:02}",
        crate::components::chart::thousands(whole)
    )
}

const CHOICE: Windows = Windows {
    key: "days",
    allowed: &WINDOWS,
    default: DEFAULT_WINDOW,
    label: days_label,
};

#[component]
pub fn RevenuePage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let days = Memo::new(move |_| CHOICE.from_query(&query.read()));
    let tenant = Memo::new(move |_| tenant_param(query.read().get("tenant_id")));
    let data = Resource::new(
        move || (as_of.get(), days.get()),
        |(a, d)| load_revenue(a, d),
    );

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(revenue)) = data.get() {
            leptos::task::spawn_local(async move {
                if let Err(e) = crate::components::chart::draw(CHART_ID, revenue.chart(0)).await {
                    leptos::logging::error!("margin chart: {e}");
                }
            });
        }
    });

    let csv = move || CHOICE.href("/api/v1/ops/revenue.csv", days.get(), &query.read());
    view! {
        <Title text="Revenue & Risk" />
        <TimedHeader title="Revenue & Risk" question="Am I making money safely?" as_of />
        <div class="toolbar">
            <WindowPicker path="/revenue" windows=&CHOICE value=days />
            <a class="button" href=csv download data-testid="csv">"Download CSV"</a>
        </div>
        {async_view(
            move || async move { data.await },
            move |r: Charted<Revenue>| {
                let r = r.data;
                view! { <Totals r=r.clone() /> <RevenueTable r tenant=tenant.get_untracked() /> }
            },
        )}
        <section class="card" aria-labelledby="margin-heading">
            <h2 id="margin-heading">"Margin per tenant, lowest first"</h2>
            <div id=CHART_ID class="chart" data-testid=CHART_ID role="img"
                aria-label="Margin per tenant in the window"></div>
        </section>
    }
}

#[component]
fn Totals(r: Revenue) -> impl IntoView {
    let t = r.totals;
    let flagged = r.tenants.iter().filter(|t| !t.flags.is_empty()).count();
    let margin = t
        .gross_margin_pct
        .map(|m| format!("{m:.1}%"))
        .unwrap_or_else(|| "—".into());
    view! {
        <section class="metric-grid" aria-label="Totals" data-testid="revenue-totals">
            <article class="card metric"><h2>"MRR"</h2><p class="metric-value" data-testid="mrr">{usd(t.mrr_usd)}</p>
                <p class="muted small-print">"monthly price of live subscriptions"</p></article>
            <article class="card metric"><h2>{format!("Revenue, {} days", r.window_days)}</h2><p class="metric-value">{usd(t.revenue_usd)}</p></article>
            <article class="card metric"><h2>"LLM cost"</h2><p class="metric-value">{usd(t.llm_cost_usd)}</p></article>
            <article class="card metric"><h2>"Gross margin"</h2><p class="metric-value" data-testid="gross-margin">{margin}</p>
                <p class="muted small-print">{format!("{flagged} tenants flagged")}</p></article>
        </section>
    }
}

#[component]
fn RevenueTable(r: Revenue, tenant: Option<uuid::Uuid>) -> impl IntoView {
    let total = r.tenants.len();
    let rows: Vec<TenantEconomics> = match tenant {
        Some(id) => r
            .tenants
            .into_iter()
            .filter(|t| t.tenant_id == id)
            .collect(),
        None => r.tenants,
    };
    if total == 0 {
        return view! {
            <section class="card"><p class="empty-state" data-testid="revenue-empty">
                "No paying or active tenant in this window."
            </p></section>
        }
        .erase();
    }
    view! {
        <section class="card" aria-labelledby="economics-heading">
            <h2 id="economics-heading">"Unit economics, lowest margin first"</h2>
            {tenant.map(|_| view! {
                <p class="notice">"Showing one tenant. " <a href="/revenue">"Show every tenant"</a></p>
            })}
            <div class="table-wrap">
                <table class="events revenue" data-testid="revenue-table">
                    <thead>
                        <tr>
                            <th scope="col">"Tenant"</th>
                            <th scope="col" class="num">"Revenue"</th>
                            <th scope="col" class="num">"LLM cost"</th>
                            <th scope="col" class="num">"Margin"</th>
                            <th scope="col" class="num">"API calls"</th>
                            <th scope="col" class="num">"Incidents"</th>
                            <th scope="col" class="num">"Exports"</th>
                            <th scope="col">"Risk flags"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|t| {
                                let negative = t.margin_usd.is_sign_negative() && !t.margin_usd.is_zero();
                                let pct = t.margin_pct.map(|p| format!("{p:.1}%")).unwrap_or_default();
                                let plan = format!(
                                    "{} · ${}/mo{}",
                                    t.plan.clone().unwrap_or_else(|| "no plan".into()),
                                    t.price_usd_month.normalize(),
                                    if t.cancelled_at.is_some() { " · cancelled" } else { "" }
                                );
                                view! {
                                    <tr data-testid="revenue-row">
                                        <td>
                                            <a href=format!("/customers/{}", t.tenant_id) class="customer-name">{t.tenant_name.clone()}</a>
                                            <div class="muted small-print">{plan}</div>
                                        </td>
                                        <td class="num">{usd(t.revenue_usd)}</td>
                                        <td class="num">{usd(t.llm_cost_usd)}</td>
                                        <td class="num" class:negative=negative data-testid="margin">
                                            {usd(t.margin_usd)}
                                            <div class="muted small-print">{pct}</div>
                                        </td>
                                        <td class="num">{crate::components::chart::thousands(t.api_calls)}</td>
                                        <td class="num">{t.incidents}</td>
                                        <td class="num">{t.exports}</td>
                                        <td>
                                            {t.flags
                                                .into_iter()
                                                .map(|f| {
                                                    let class = match f.severity {
                                                        Severity::Critical => "risk high",
                                                        Severity::Warning => "risk medium",
                                                    };
                                                    view! {
                                                        <div class="flag" data-testid="flag" data-kind=f.kind.code()>
                                                            <span class=class>{f.kind.label()}</span>
                                                            <div class="muted small-print">{f.detail}</div>
                                                        </div>
                                                    }
                                                })
                                                .collect_view()}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .erase()
}
