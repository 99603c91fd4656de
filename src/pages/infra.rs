//! Infra & Limits: "What breaks first if I grow?"

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::async_view::async_view;
use crate::model::chart::Charted;
use crate::model::infra::{Infra, ResourceStatus};
use crate::pages::events::parse_time;
use crate::pages::pulse::TimedHeader;

/// The resources, and with `with_charts` the trend charts of the first [`CHART_SLOTS`]. The
/// hourly series behind the charts stay on the server: the pages show them only as charts.
#[server(prefix = "/api/rpc", input = server_fn::codec::Json, output = crate::codec::JsonText)]
pub async fn load_infra(
    as_of: Option<DateTime<Utc>>,
    with_charts: bool,
) -> Result<Charted<Infra>, ServerFnError> {
    use crate::server::{analytics, charts, session};
    session::require_operator().await?;
    let state = session::state()?;
    let mut data = analytics::infra(&state, as_of)
        .await
        .map_err(session::db_error)?;
    let charts = match with_charts {
        true => data
            .resources
            .iter()
            .take(CHART_SLOTS)
            .map(charts::resource_trend)
            .collect(),
        false => Vec::new(),
    };
    for r in &mut data.resources {
        r.hourly = Vec::new();
        r.projection = Vec::new();
    }
    Ok(Charted { data, charts })
}

/// `as_of` from the address: RFC 3339 or the `datetime-local` form, read as UTC.
pub fn as_of_param(text: Option<String>) -> Option<DateTime<Utc>> {
    text.filter(|t| !t.is_empty())
        .as_deref()
        .and_then(parse_time)
}

/// The tenant filter in the address (`?tenant_id=`), when it is a UUID.
pub fn tenant_param(text: Option<String>) -> Option<uuid::Uuid> {
    text.and_then(|t| t.parse().ok())
}

fn amount(value: f64, unit: &Option<String>) -> String {
    let number = if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    match unit {
        Some(unit) => format!("{number} {unit}"),
        None => number,
    }
}

/// The resources the demo and the collector report, in the order the page lists them when
/// present; any other resource follows.
const CHART_SLOTS: usize = 6;

#[component]
pub fn InfraPage() -> impl IntoView {
    let query = use_query_map();
    let as_of = Memo::new(move |_| as_of_param(query.read().get("as_of")));
    let data = Resource::new(move || as_of.get(), |as_of| load_infra(as_of, true));

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(infra)) = data.get() {
            leptos::task::spawn_local(async move {
                for (i, chart) in infra.charts.into_iter().enumerate() {
                    let id = format!("infra-chart-{i}");
                    if let Err(e) = crate::components::chart::draw(&id, chart).await {
                        leptos::logging::error!("chart {id}: {e}");
                    }
                }
            });
        }
    });

    view! {
        <Title text="Infra & Limits" />
        <TimedHeader title="Infra & Limits" question="What breaks first if I grow?" as_of />
        <div class="resource-list">
            {(0..CHART_SLOTS)
                .map(|index| view! { <ResourceCard index data /> })
                .collect_view()}
        </div>
        {async_view(
            move || async move { data.await },
            |infra: Charted<Infra>| {
                infra.data.resources.is_empty().then(|| view! {
                    <p class="card empty-state" data-testid="infra-empty">
                        "No resource samples yet. Services report them as INFRA_LIMIT_HIT events with metadata resource, current and limit."
                    </p>
                })
            },
        )}
    }
}

/// One resource; the chart's element stays outside the Suspense (see `HistogramChart`).
#[component]
fn ResourceCard(
    index: usize,
    data: Resource<Result<Charted<Infra>, ServerFnError>>,
) -> impl IntoView {
    let resource = move || async move {
        data.await
            .map(|infra| infra.data.resources.get(index).cloned())
    };
    view! {
        // A slot with no resource renders no heading and is hidden by the stylesheet, so no
        // class depends on data the server had not loaded yet when it rendered.
        <article class="card resource" data-testid=format!("resource-{index}")>
            {async_view(resource, |r: Option<ResourceStatus>| r.map(|r| view! { <ResourceFacts r /> }))}
            <div id=format!("infra-chart-{index}") class="chart small" aria-hidden="true"></div>
        </article>
    }
}

#[component]
fn ResourceFacts(r: ResourceStatus) -> impl IntoView {
    let growth = if r.daily_growth >= 0.0 {
        format!("+{} per day", amount(r.daily_growth, &r.unit))
    } else {
        format!("−{} per day", amount(-r.daily_growth, &r.unit))
    };
    let backtest = match r.backtest_error_pct {
        Some(e) => format!("Projection error on last week: {e:.1}%"),
        None => "Projection error: not enough history to backtest".to_owned(),
    };
    let days = r
        .days_to_exhaustion
        .map(|d| format!("{d:.0} days"))
        .unwrap_or_else(|| "not growing".to_owned());
    let bar = format!("width: {:.1}%", r.utilization_pct.clamp(0.0, 100.0));
    let tone = if r.utilization_pct >= 80.0 {
        "bar bad"
    } else if r.warning {
        "bar warn"
    } else {
        "bar"
    };
    view! {
        <h2 data-testid="resource-name">{r.resource.clone()}</h2>
        <p class="resource-current">
            {amount(r.current, &r.unit)} " / " {amount(r.limit, &r.unit)}
            <strong>" (" {format!("{:.0}%", r.utilization_pct)} ")"</strong>
        </p>
        <div class="meter" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=r.utilization_pct
            aria-label=format!("{} used", r.resource)>
            <div class=tone style=bar></div>
        </div>
        <p class=if r.warning { "sentence warn" } else { "sentence ok" } data-testid="resource-sentence">
            {if r.warning { "⚠ " } else { "✓ " }}
            {r.sentence.clone()}
        </p>
        <dl class="metric-facts">
            <dt>"Daily growth"</dt>
            <dd>{growth}</dd>
            <dt>"Days to limit"</dt>
            <dd data-testid="days-to-limit">{days}</dd>
            <dt>"Peak (7 days)"</dt>
            <dd>{amount(r.peak, &r.unit)} " at " {r.peak_at.format("%b %d, %H:%M").to_string()}</dd>
        </dl>
        <p class="muted small-print">{backtest}</p>
    }
}
