//! Infra & Limits from `INFRA_LIMIT_HIT` samples: hourly means, Holt's linear smoothing of the
//! trend, the projection, and its own backtest.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;

use crate::model::infra::{sentence, HourPoint, Infra, ResourceStatus};

/// Hours in a step of the smoothed series.
const STEP_HOURS: i64 = 1;
/// The horizon the smoothing is tuned for, in steps: a day ahead, so a noisy hour does not
/// pass for a trend.
const TUNE_HORIZON: usize = 24;
/// Growth below this share of the limit per day is "not growing".
const MIN_GROWTH_SHARE: f64 = 0.001;
const WEEK_HOURS: usize = 7 * 24;

/// A fitted Holt model: the smoothed level at the last point and the trend per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HoltFit {
    pub level: f64,
    pub trend: f64,
    pub alpha: f64,
    pub beta: f64,
}

/// Runs the smoothing. The first day's mean and the change to the second day's start it, so one
/// noisy first hour does not set the trend; returns the state after each point and the squared
/// error of the forecasts made a day earlier.
fn run(series: &[f64], alpha: f64, beta: f64) -> (Vec<(f64, f64)>, f64) {
    let n = TUNE_HORIZON;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let first = mean(&series[..n]);
    let mut trend = (mean(&series[n..2 * n]) - first) / n as f64;
    let mut level = first + trend * (n - 1) as f64 / 2.0;
    // states[i] is the state after point n - 1 + i.
    let mut states = vec![(level, trend)];
    let mut error = 0.0;
    for (i, &y) in series.iter().enumerate().skip(n) {
        let new_level = alpha * y + (1.0 - alpha) * (level + trend);
        trend = beta * (new_level - level) + (1.0 - beta) * trend;
        level = new_level;
        states.push((level, trend));
        if let Some(&(l, b)) = (i + 1)
            .checked_sub(n + TUNE_HORIZON)
            .and_then(|k| states.get(k))
        {
            error += (y - (l + TUNE_HORIZON as f64 * b)).powi(2);
        }
    }
    (states, error)
}

/// Level smoothing factors tried.
const ALPHAS: [f64; 6] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5];
/// Trend smoothing factors tried: small, so the trend follows days rather than an hour's noise.
const BETAS: [f64; 6] = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

/// Holt's linear method, with α and β chosen from a grid to minimise the error of forecasts a
/// day ahead. `None` for fewer than two days of points.
pub fn holt(series: &[f64]) -> Option<HoltFit> {
    if series.len() < 2 * TUNE_HORIZON {
        return None;
    }
    let mut best: Option<(f64, HoltFit)> = None;
    for &alpha in &ALPHAS {
        for &beta in &BETAS {
            let (states, error) = run(series, alpha, beta);
            let (level, trend) = states[states.len() - 1];
            if best.as_ref().is_none_or(|(e, _)| error < *e) {
                best = Some((
                    error,
                    HoltFit {
                        level,
                        trend,
                        alpha,
                        beta,
                    },
                ));
            }
        }
    }
    best.map(|(_, fit)| fit)
}

/// Growth per day, and the days until `limit`: `None` when not growing.
pub fn exhaustion(fit: &HoltFit, limit: f64) -> (f64, Option<f64>) {
    let daily = fit.trend * (24 / STEP_HOURS) as f64;
    if daily <= MIN_GROWTH_SHARE * limit {
        return (daily, None);
    }
    (daily, Some(((limit - fit.level) / daily).max(0.0)))
}

struct Samples {
    unit: Option<String>,
    current: f64,
    limit: f64,
    hourly: Vec<HourPoint>,
}

pub async fn infra(pool: &PgPool, as_of: DateTime<Utc>) -> Result<Infra, sqlx::Error> {
    let hourly_rows = sqlx::query(
        "SELECT metadata->>'resource' AS resource, date_trunc('hour', timestamp, 'UTC') AS hour, \
                avg((metadata->>'current')::float8) AS value, max((metadata->>'limit')::float8) AS lim \
         FROM ops_events \
         WHERE event_type = 'INFRA_LIMIT_HIT' AND timestamp > $1 - interval '14 days' AND timestamp <= $1 \
           AND jsonb_typeof(metadata->'current') = 'number' AND jsonb_typeof(metadata->'limit') = 'number' \
           AND metadata ? 'resource' \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    let latest_rows = sqlx::query(
        "SELECT DISTINCT ON (metadata->>'resource') metadata->>'resource' AS resource, \
                (metadata->>'current')::float8 AS current, (metadata->>'limit')::float8 AS lim, \
                metadata->>'unit' AS unit \
         FROM ops_events \
         WHERE event_type = 'INFRA_LIMIT_HIT' AND timestamp > $1 - interval '7 days' AND timestamp <= $1 \
           AND jsonb_typeof(metadata->'current') = 'number' AND jsonb_typeof(metadata->'limit') = 'number' \
           AND metadata ? 'resource' \
         ORDER BY metadata->>'resource', timestamp DESC",
    )
    .bind(as_of)
    .fetch_all(pool)
    .await?;
    let peak_rows = sqlx::query(
        "SELECT DISTINCT ON (metadata->>'resource') metadata->>'resource' AS resource, \
                (metadata->>'current')::float8 AS peak, timestamp AS peak_at \
         FROM ops_events \
         WHERE event_type = 'INFRA_LIMIT_HIT' AND timestamp > $1 - interval '7 days' AND timestamp <= $1 \
           AND jsonb_typeof(metadata->'current') = 'number' AND jsonb_typeof(metadata->'limit') = 'number' \
           AND metadata ? 'resource' \
         ORDER BY metadata->>'resource', (metadata->>'current')::float8 DESC, timestamp DESC",
    )
    .bind(as_of)
    .fetch_all(pool)
    .await?;

    let mut samples: BTreeMap<String, Samples> = BTreeMap::new();
    for row in &latest_rows {
        samples.insert(
            row.try_get("resource")?,
            Samples {
                unit: row.try_get("unit")?,
                current: row.try_get("current")?,
                limit: row.try_get("lim")?,
                hourly: Vec::new(),
            },
        );
    }
    for row in &hourly_rows {
        let resource: String = row.try_get("resource")?;
        if let Some(s) = samples.get_mut(&resource) {
            s.hourly.push(HourPoint {
                at: row.try_get("hour")?,
                value: row.try_get("value")?,
                limit: row.try_get("lim")?,
            });
        }
    }
    let mut peaks: BTreeMap<String, (f64, DateTime<Utc>)> = BTreeMap::new();
    for row in &peak_rows {
        peaks.insert(
            row.try_get("resource")?,
            (row.try_get("peak")?, row.try_get("peak_at")?),
        );
    }

    let week_ago = as_of - Duration::days(7);
    let mut resources: Vec<ResourceStatus> = samples
        .into_iter()
        .map(|(resource, s)| {
            let (recent, earlier): (Vec<HourPoint>, Vec<HourPoint>) =
                s.hourly.iter().partition(|p| p.at > week_ago);
            let values: Vec<f64> = recent.iter().map(|p| p.value).collect();
            let fit = holt(&values);
            let (daily_growth, days_to_exhaustion) = match &fit {
                Some(fit) => exhaustion(fit, s.limit),
                None => (0.0, None),
            };
            let (peak, peak_at) = peaks.get(&resource).copied().unwrap_or((s.current, as_of));
            let utilization = if s.limit > 0.0 {
                s.current / s.limit
            } else {
                0.0
            };
            let peak_utilization = if s.limit > 0.0 { peak / s.limit } else { 0.0 };
            let (sentence, warning) = sentence(utilization, days_to_exhaustion, peak_utilization);
            let projection = match (&fit, recent.last()) {
                (Some(fit), Some(last)) => (1..=WEEK_HOURS as i64)
                    .map(|h| HourPoint {
                        at: last.at + Duration::hours(h),
                        value: fit.level + h as f64 * fit.trend,
                        limit: s.limit,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let backtest_error_pct = backtest(&earlier, recent.last());
            ResourceStatus {
                resource,
                unit: s.unit,
                current: s.current,
                limit: s.limit,
                utilization_pct: (utilization * 1000.0).round() / 10.0,
                daily_growth,
                days_to_exhaustion,
                peak,
                peak_at,
                sentence,
                warning,
                backtest_error_pct,
                hourly: recent,
                projection,
            }
        })
        .collect();
    resources.sort_by(|a, b| {
        let urgency = |r: &ResourceStatus| r.days_to_exhaustion.unwrap_or(f64::INFINITY);
        urgency(a)
            .total_cmp(&urgency(b))
            .then(b.utilization_pct.total_cmp(&a.utilization_pct))
    });
    Ok(Infra { as_of, resources })
}

/// Fits on the week before the last week, projects to the latest hour, and compares.
fn backtest(earlier: &[HourPoint], actual: Option<&HourPoint>) -> Option<f64> {
    let actual = actual?;
    let last = earlier.last()?;
    let fit = holt(&earlier.iter().map(|p| p.value).collect::<Vec<_>>())?;
    let steps = (actual.at - last.at).num_hours() as f64;
    let projected = fit.level + steps * fit.trend;
    (actual.value != 0.0)
        .then(|| ((projected - actual.value).abs() / actual.value.abs() * 1000.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic, uncorrelated noise in [-0.5, 0.5) (SplitMix64), so the tests need no
    /// random numbers.
    fn noise(i: usize) -> f64 {
        let mut x = (i as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(0x632B_E59B_D9B4_E019);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    #[test]
    fn known_growth_is_recovered_within_ten_percent() {
        // 500 MB growing 4.2 MB a day, sampled hourly for a week with ±2.5 MB of noise.
        let per_hour = 4.2 / 24.0;
        let series: Vec<f64> = (0..168)
            .map(|i| 500.0 + per_hour * i as f64 + 5.0 * noise(i))
            .collect();
        let fit = holt(&series).unwrap();
        let (daily, days) = exhaustion(&fit, 1024.0);
        assert!((daily - 4.2).abs() / 4.2 < 0.10, "daily growth {daily}");
        let truth = (1024.0 - (500.0 + per_hour * 167.0)) / 4.2;
        let days = days.unwrap();
        assert!(
            (days - truth).abs() / truth < 0.10,
            "{days} days vs {truth}"
        );
    }

    #[test]
    fn a_flat_series_is_not_growing() {
        let series: Vec<f64> = (0..168).map(|i| 120.0 + 3.0 * noise(i)).collect();
        let (_, days) = exhaustion(&holt(&series).unwrap(), 200.0);
        assert_eq!(days, None);
    }

    #[test]
    fn a_shrinking_series_is_not_growing() {
        let series: Vec<f64> = (0..168)
            .map(|i| 800.0 - 0.5 * i as f64 + noise(i))
            .collect();
        let (daily, days) = exhaustion(&holt(&series).unwrap(), 1000.0);
        assert!(daily < 0.0);
        assert_eq!(days, None);
    }

    #[test]
    fn too_little_history_gives_no_fit() {
        assert_eq!(holt(&[1.0; 47]), None);
        assert!(holt(&[1.0; 48]).is_some());
    }
}
