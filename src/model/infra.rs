//! Infra & Limits: "What breaks first if I grow?"

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A resource's hourly mean, with the limit in force that hour.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HourPoint {
    pub at: DateTime<Utc>,
    pub value: f64,
    pub limit: f64,
}

/// One resource: where it stands, how fast it grows, and when it runs out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ResourceStatus {
    pub resource: String,
    pub unit: Option<String>,
    /// The latest sample.
    pub current: f64,
    pub limit: f64,
    pub utilization_pct: f64,
    /// Growth per day from the smoothed trend (Holt's linear method), in the resource's unit.
    pub daily_growth: f64,
    /// `None` when not growing.
    pub days_to_exhaustion: Option<f64>,
    /// The highest sample of the last 7 days and when it was taken.
    pub peak: f64,
    pub peak_at: DateTime<Utc>,
    /// What it means, in the founder's words.
    pub sentence: String,
    /// Whether the sentence is a warning.
    pub warning: bool,
    /// The same method run on data up to a week earlier, projected to now, against what
    /// happened: `|projected − actual| / actual`, in percent. `None` without a week of history
    /// before that.
    pub backtest_error_pct: Option<f64>,
    /// The last 7 days, hourly.
    pub hourly: Vec<HourPoint>,
    /// The projected path for the next 7 days, hourly.
    pub projection: Vec<HourPoint>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Infra {
    pub as_of: DateTime<Utc>,
    /// Most urgent first: soonest exhaustion, then highest utilization.
    pub resources: Vec<ResourceStatus>,
}

/// Days within which a projected exhaustion is a warning.
pub const WARN_WITHIN_DAYS: f64 = 30.0;
/// The spec's "upgrade at 80%".
pub const UPGRADE_AT: f64 = 0.80;

/// The spec's business-language sentence for a resource.
pub fn sentence(
    utilization: f64,
    days_to_exhaustion: Option<f64>,
    peak_utilization: f64,
) -> (String, bool) {
    if utilization >= 1.0 {
        return ("At its limit now — upgrade immediately".into(), true);
    }
    if utilization >= UPGRADE_AT {
        return (
            format!("Above {:.0}% — upgrade now", UPGRADE_AT * 100.0),
            true,
        );
    }
    match days_to_exhaustion {
        Some(days) if days < WARN_WITHIN_DAYS => (
            format!(
                "At current growth, limit hit in {} days",
                days.floor() as i64
            ),
            true,
        ),
        Some(days) => (
            format!("Stable — {} days headroom", days.floor() as i64),
            false,
        ),
        None if peak_utilization >= 0.7 => (
            format!("Stable — upgrade at {:.0}%", UPGRADE_AT * 100.0),
            false,
        ),
        None => ("Stable".into(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_follow_the_spec() {
        assert_eq!(
            sentence(0.78, Some(13.4), 0.78),
            ("At current growth, limit hit in 13 days".into(), true)
        );
        assert_eq!(
            sentence(0.62, Some(76.9), 0.62),
            ("Stable — 76 days headroom".into(), false)
        );
        assert_eq!(
            sentence(0.51, None, 0.78),
            ("Stable — upgrade at 80%".into(), false)
        );
        assert_eq!(sentence(0.32, None, 0.45), ("Stable".into(), false));
        assert!(sentence(0.85, None, 0.85).1);
        assert!(sentence(1.0, Some(0.0), 1.0).0.starts_with("At its limit"));
    }
}
