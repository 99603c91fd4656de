//! System Pulse from the stream: eight 24-hour windows ending at `as_of`, the latest infra
//! samples, and the state the spec derives from them.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};

use super::rollup::{self, Window};

use crate::model::pulse::{
    derive_state, DayCounts, MetricDelta, Pulse, PulseMetrics, Saturation, Thresholds,
};

/// `n` windows' counts from rows that carry each window's index in column `index`; a window
/// without a row counts nothing.
pub(crate) fn day_counts_from(
    rows: &[sqlx::postgres::PgRow],
    index: &str,
    n: usize,
) -> Result<Vec<DayCounts>, sqlx::Error> {
    let mut counts = vec![DayCounts::default(); n];
    for row in rows {
        let i: i32 = row.try_get(index)?;
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
            *slot = DayCounts {
                active_tenants: row.try_get("active_tenants")?,
                incidents: row.try_get("incidents")?,
                replays: row.try_get("replays")?,
                exports: row.try_get("exports")?,
                llm_failures: row.try_get("llm_failures")?,
                llm_calls: row.try_get("llm_calls")?,
            };
        }
    }
    Ok(counts)
}

/// Counts per 24-hour window: window `d` holds `(as_of - (d+1)·24h, as_of - d·24h]`.
pub async fn day_counts(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    days: i32,
) -> Result<Vec<DayCounts>, sqlx::Error> {
    let as_of = rollup::micros(as_of);
    let windows: Vec<Window> = (0..i64::from(days))
        .map(|d| Window::days_before(as_of - Duration::days(d), 1))
        .collect();
    rollup::totals(pool, &windows).await
}

/// Per 24-hour window (as in [`day_counts`]), the most saturated resource by its latest sample
/// in that window; `None` for a window without samples.
pub async fn saturation_by_day(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    days: i32,
) -> Result<Vec<Option<Saturation>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (day) day, resource, utilization FROM ( \
             SELECT DISTINCT ON (day, resource) \
                    floor(extract(epoch FROM ($1 - timestamp)) / 86400)::int AS day, \
                    metadata->>'resource' AS resource, \
                    (metadata->>'current')::float8 / nullif((metadata->>'limit')::float8, 0) AS utilization \
             FROM ops_events \
             WHERE event_type = 'INFRA_LIMIT_HIT' \
               AND timestamp > $1 - make_interval(days => $2) AND timestamp <= $1 \
               AND jsonb_typeof(metadata->'current') = 'number' AND jsonb_typeof(metadata->'limit') = 'number' \
             ORDER BY day, resource, timestamp DESC) latest \
         WHERE utilization IS NOT NULL \
         ORDER BY day, utilization DESC, resource",
    )
    .bind(as_of)
    .bind(days)
    .fetch_all(pool)
    .await?;
    let mut by_day = vec![None; days as usize];
    for row in rows {
        let day: i32 = row.try_get("day")?;
        if let Some(slot) = by_day.get_mut(day as usize) {
            *slot = Some(Saturation {
                resource: row.try_get("resource")?,
                utilization: row.try_get("utilization")?,
            });
        }
    }
    Ok(by_day)
}

pub async fn pulse(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    thresholds: &Thresholds,
) -> Result<Pulse, sqlx::Error> {
    let days = day_counts(pool, as_of, 8).await?;
    let (now, before) = (days[0], days[1]);
    let metrics = PulseMetrics {
        active_tenants: MetricDelta::new(now.active_tenants, before.active_tenants),
        incidents: MetricDelta::new(now.incidents, before.incidents),
        replays: MetricDelta::new(now.replays, before.replays),
        exports: MetricDelta::new(now.exports, before.exports),
        llm_failures: MetricDelta::new(now.llm_failures, before.llm_failures),
        llm_calls: MetricDelta::new(now.llm_calls, before.llm_calls),
    };
    let saturation = saturation_by_day(pool, as_of, 8).await?;
    let infra_saturation = saturation[0].clone();
    let previous_infra_saturation = saturation[1].clone();
    let saturation_days = saturation
        .iter()
        .map(|s| s.as_ref().map(|s| s.utilization))
        .collect();
    let (system_state, reasons) = derive_state(
        &metrics,
        now.llm_failure_rate(),
        infra_saturation.as_ref(),
        thresholds,
    );
    Ok(Pulse {
        as_of,
        system_state,
        reasons,
        metrics,
        llm_failure_rate: now.llm_failure_rate(),
        previous_llm_failure_rate: before.llm_failure_rate(),
        infra_saturation,
        previous_infra_saturation,
        days,
        saturation_days,
    })
}
