//! System Pulse: "Is my business healthy right now?" — the last 24 hours against the 24 hours
//! before, and the state the spec derives from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The derived state of the business, worst first.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum SystemState {
    Stable,
    SilentDegradation,
    ActiveFailure,
}

impl SystemState {
    pub fn label(self) -> &'static str {
        match self {
            SystemState::Stable => "STABLE",
            SystemState::SilentDegradation => "SILENT DEGRADATION",
            SystemState::ActiveFailure => "ACTIVE FAILURE",
        }
    }
}

/// A count now, the count 24 hours earlier, and the change between them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MetricDelta {
    pub current: i64,
    pub previous: i64,
    /// `None` when `previous` is 0: a change against nothing is no signal.
    pub delta_pct: Option<f64>,
}

impl MetricDelta {
    pub fn new(current: i64, previous: i64) -> Self {
        let delta_pct =
            (previous != 0).then(|| round1((current - previous) as f64 / previous as f64 * 100.0));
        MetricDelta {
            current,
            previous,
            delta_pct,
        }
    }
}

/// One decimal, as the pages show percentages.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The contract's `metrics` object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PulseMetrics {
    pub active_tenants: MetricDelta,
    pub incidents: MetricDelta,
    pub replays: MetricDelta,
    pub exports: MetricDelta,
    pub llm_failures: MetricDelta,
    pub llm_calls: MetricDelta,
}

/// Counts over one 24-hour window.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DayCounts {
    pub active_tenants: i64,
    pub incidents: i64,
    pub replays: i64,
    pub exports: i64,
    pub llm_failures: i64,
    pub llm_calls: i64,
}

impl DayCounts {
    /// Failed LLM calls as a share of calls made; `None` without calls.
    pub fn llm_failure_rate(&self) -> Option<f64> {
        (self.llm_calls > 0).then(|| self.llm_failures as f64 / self.llm_calls as f64)
    }
}

/// The most saturated resource in a window: its latest sample's `current / limit`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Saturation {
    pub resource: String,
    pub utilization: f64,
}

/// The answer of `GET /api/v1/ops/pulse` and of the pulse page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Pulse {
    pub as_of: DateTime<Utc>,
    pub system_state: SystemState,
    /// Every rule that holds, in plain sentences; empty when stable.
    pub reasons: Vec<String>,
    pub metrics: PulseMetrics,
    /// `llm_failures / llm_calls` now and 24 hours earlier.
    pub llm_failure_rate: Option<f64>,
    pub previous_llm_failure_rate: Option<f64>,
    pub infra_saturation: Option<Saturation>,
    pub previous_infra_saturation: Option<Saturation>,
    /// Eight 24-hour windows ending at `as_of`, newest first: `days[0]` is now, `days[1]` the
    /// previous 24 hours, `days[7]` the same weekday last week.
    pub days: Vec<DayCounts>,
    /// The same eight windows' infra saturation (the most saturated resource's share of its
    /// limit by its latest sample in the window); null for a window without samples.
    pub saturation_days: Vec<Option<f64>>,
}

/// The spec's alert thresholds (PIN-105, Module 1).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Active tenants dropping by more than this many percent.
    pub tenant_drop_pct: f64,
    /// Incidents rising by more than this many percent.
    pub incident_spike_pct: f64,
    pub replay_drop_pct: f64,
    pub export_drop_pct: f64,
    /// Failed LLM calls above this share of calls.
    pub llm_failure_rate: f64,
    /// Any resource above this share of its limit.
    pub infra_saturation: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            tenant_drop_pct: 20.0,
            incident_spike_pct: 50.0,
            replay_drop_pct: 30.0,
            export_drop_pct: 40.0,
            llm_failure_rate: 0.05,
            infra_saturation: 0.80,
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The spec's state rules, all of them evaluated, each that holds giving its reason.
pub fn derive_state(
    metrics: &PulseMetrics,
    llm_failure_rate: Option<f64>,
    saturation: Option<&Saturation>,
    t: &Thresholds,
) -> (SystemState, Vec<String>) {
    let mut state = SystemState::Stable;
    let mut reasons = Vec::new();
    if let Some(rate) = llm_failure_rate.filter(|r| *r > t.llm_failure_rate) {
        state = state.max(SystemState::ActiveFailure);
        reasons.push(format!(
            "LLM calls failing at {} (threshold {})",
            pct(rate),
            pct(t.llm_failure_rate)
        ));
    }
    if let Some(s) = saturation.filter(|s| s.utilization > t.infra_saturation) {
        state = state.max(SystemState::ActiveFailure);
        reasons.push(format!(
            "{} at {} of its limit (threshold {})",
            s.resource,
            pct(s.utilization),
            pct(t.infra_saturation)
        ));
    }
    for (name, metric, limit) in [
        ("Replays", metrics.replays, t.replay_drop_pct),
        ("Exports", metrics.exports, t.export_drop_pct),
    ] {
        if let Some(delta) = metric.delta_pct.filter(|d| *d < -limit) {
            state = state.max(SystemState::SilentDegradation);
            reasons.push(format!(
                "{name} down {:.0}% vs previous 24 h ({} → {})",
                -delta, metric.previous, metric.current
            ));
        }
    }
    (state, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(replays: (i64, i64), exports: (i64, i64)) -> PulseMetrics {
        let flat = MetricDelta::new(10, 10);
        PulseMetrics {
            active_tenants: flat,
            incidents: flat,
            replays: MetricDelta::new(replays.0, replays.1),
            exports: MetricDelta::new(exports.0, exports.1),
            llm_failures: flat,
            llm_calls: flat,
        }
    }

    #[test]
    fn a_delta_against_nothing_is_no_signal() {
        assert_eq!(MetricDelta::new(5, 0).delta_pct, None);
        assert_eq!(MetricDelta::new(0, 0).delta_pct, None);
        assert_eq!(MetricDelta::new(55, 100).delta_pct, Some(-45.0));
        assert_eq!(MetricDelta::new(3, 2).delta_pct, Some(50.0));
        assert_eq!(MetricDelta::new(1, 3).delta_pct, Some(-66.7));
    }

    #[test]
    fn stable_when_no_rule_holds() {
        let (state, reasons) = derive_state(
            &metrics((10, 10), (10, 10)),
            Some(0.05),
            None,
            &Thresholds::default(),
        );
        assert_eq!((state, reasons.len()), (SystemState::Stable, 0));
    }

    #[test]
    fn every_rule_that_holds_gives_a_reason_and_the_worst_state_wins() {
        let saturation = Saturation {
            resource: "redis".into(),
            utilization: 0.84,
        };
        let (state, reasons) = derive_state(
            &metrics((7, 10), (55, 100)),
            Some(0.062),
            Some(&saturation),
            &Thresholds::default(),
        );
        assert_eq!(state, SystemState::ActiveFailure);
        assert_eq!(
            reasons,
            vec![
                "LLM calls failing at 6.2% (threshold 5.0%)".to_owned(),
                "redis at 84.0% of its limit (threshold 80.0%)".to_owned(),
                "Exports down 45% vs previous 24 h (100 → 55)".to_owned(),
            ]
        );
    }

    #[test]
    fn drops_beyond_the_thresholds_are_silent_degradation() {
        let (state, reasons) = derive_state(
            &metrics((6, 10), (10, 10)),
            None,
            None,
            &Thresholds::default(),
        );
        assert_eq!(state, SystemState::SilentDegradation);
        assert_eq!(
            reasons,
            vec!["Replays down 40% vs previous 24 h (10 → 6)".to_owned()]
        );
        // Exactly at the threshold is not beyond it; from zero is no signal.
        let (state, _) = derive_state(
            &metrics((7, 10), (0, 0)),
            None,
            None,
            &Thresholds::default(),
        );
        assert_eq!(state, SystemState::Stable);
        let (state, _) = derive_state(
            &metrics((0, 0), (60, 100)),
            None,
            None,
            &Thresholds::default(),
        );
        assert_eq!(state, SystemState::Stable);
    }
}

/// The six cards of the pulse page, as the founder reads them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Card {
    pub key: String,
    pub title: String,
    pub value: String,
    pub previous: String,
    /// Change against the previous 24 hours, in percent; `None` when there is nothing to
    /// compare with.
    pub delta_pct: Option<f64>,
    /// The spec's alert threshold in words.
    pub threshold: String,
    pub crossed: bool,
    /// Whether a rise is good news (tenants, replays, exports) or bad (incidents, failures).
    pub rise_is_good: bool,
    /// The same 24 hours one week earlier.
    pub last_week: String,
    /// The last seven 24-hour windows, oldest first.
    pub spark: Vec<f64>,
}

pub const CARD_KEYS: [&str; 6] = [
    "active_tenants",
    "incidents",
    "replays",
    "exports",
    "llm_failures",
    "infra",
];

fn rate_text(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// Builds the cards from a pulse; every number comes from `pulse` itself.
pub fn cards(p: &Pulse, t: &Thresholds) -> Vec<Card> {
    let week =
        |f: fn(&DayCounts) -> f64| -> Vec<f64> { p.days.iter().take(7).rev().map(f).collect() };
    let last_week = |f: fn(&DayCounts) -> i64| {
        p.days
            .get(7)
            .map(|d| f(d).to_string())
            .unwrap_or_else(|| "—".into())
    };
    let count_card = |key: &str,
                      title: &str,
                      m: MetricDelta,
                      threshold: String,
                      crossed: bool,
                      f: fn(&DayCounts) -> i64,
                      g: fn(&DayCounts) -> f64| Card {
        key: key.into(),
        title: title.into(),
        value: m.current.to_string(),
        previous: m.previous.to_string(),
        delta_pct: m.delta_pct,
        rise_is_good: key != "incidents",
        threshold,
        crossed,
        last_week: last_week(f),
        spark: week(g),
    };
    let m = &p.metrics;
    let below = |d: Option<f64>, limit: f64| d.is_some_and(|d| d < -limit);
    let rate_delta = match (p.llm_failure_rate, p.previous_llm_failure_rate) {
        (Some(now), Some(before)) if before > 0.0 => Some(round1((now - before) / before * 100.0)),
        _ => None,
    };
    let utilization = p.infra_saturation.as_ref().map(|s| s.utilization);
    let previous_utilization = p.previous_infra_saturation.as_ref().map(|s| s.utilization);
    vec![
        count_card(
            "active_tenants",
            "Active tenants",
            m.active_tenants,
            format!("Drop > {:.0}%", t.tenant_drop_pct),
            below(m.active_tenants.delta_pct, t.tenant_drop_pct),
            |d| d.active_tenants,
            |d| d.active_tenants as f64,
        ),
        count_card(
            "incidents",
            "Incidents",
            m.incidents,
            format!("Spike > {:.0}%", t.incident_spike_pct),
            m.incidents
                .delta_pct
                .is_some_and(|d| d > t.incident_spike_pct),
            |d| d.incidents,
            |d| d.incidents as f64,
        ),
        count_card(
            "replays",
            "Replays",
            m.replays,
            format!("Drop > {:.0}%", t.replay_drop_pct),
            below(m.replays.delta_pct, t.replay_drop_pct),
            |d| d.replays,
            |d| d.replays as f64,
        ),
        count_card(
            "exports",
            "Exports",
            m.exports,
            format!("Drop > {:.0}%", t.export_drop_pct),
            below(m.exports.delta_pct, t.export_drop_pct),
            |d| d.exports,
            |d| d.exports as f64,
        ),
        Card {
            key: "llm_failures".into(),
            title: "Failed LLM calls".into(),
            value: rate_text(p.llm_failure_rate),
            previous: rate_text(p.previous_llm_failure_rate),
            delta_pct: rate_delta,
            threshold: format!("> {:.0}% of calls", t.llm_failure_rate * 100.0),
            crossed: p.llm_failure_rate.is_some_and(|r| r > t.llm_failure_rate),
            rise_is_good: false,
            last_week: rate_text(p.days.get(7).and_then(DayCounts::llm_failure_rate)),
            spark: week(|d| d.llm_failure_rate().map(|r| r * 100.0).unwrap_or(0.0)),
        },
        Card {
            key: "infra".into(),
            title: "Infra saturation".into(),
            value: match &p.infra_saturation {
                Some(s) => format!("{:.0}% {}", s.utilization * 100.0, s.resource),
                None => "—".into(),
            },
            previous: previous_utilization
                .map(|u| format!("{:.0}%", u * 100.0))
                .unwrap_or_else(|| "—".into()),
            delta_pct: match (utilization, previous_utilization) {
                (Some(now), Some(before)) if before > 0.0 => {
                    Some(round1((now - before) / before * 100.0))
                }
                _ => None,
            },
            threshold: format!("Any > {:.0}%", t.infra_saturation * 100.0),
            crossed: utilization.is_some_and(|u| u > t.infra_saturation),
            rise_is_good: false,
            last_week: p
                .saturation_days
                .get(7)
                .copied()
                .flatten()
                .map(|u| format!("{:.0}%", u * 100.0))
                .unwrap_or_else(|| "—".into()),
            spark: if p.saturation_days.iter().take(7).any(Option::is_some) {
                p.saturation_days
                    .iter()
                    .take(7)
                    .rev()
                    .map(|u| u.unwrap_or(0.0) * 100.0)
                    .collect()
            } else {
                Vec::new()
            },
        },
    ]
}

#[cfg(test)]
mod card_tests {
    use super::*;

    #[test]
    fn cards_read_the_pulse_and_mark_crossed_thresholds() {
        let days: Vec<DayCounts> = (0..8)
            .map(|i| DayCounts {
                active_tenants: 10 - i,
                incidents: 3,
                replays: if i == 0 { 2 } else { 10 },
                exports: 5,
                llm_failures: 1,
                llm_calls: 10,
            })
            .collect();
        let metrics = PulseMetrics {
            active_tenants: MetricDelta::new(10, 9),
            incidents: MetricDelta::new(3, 3),
            replays: MetricDelta::new(2, 10),
            exports: MetricDelta::new(5, 5),
            llm_failures: MetricDelta::new(1, 1),
            llm_calls: MetricDelta::new(10, 10),
        };
        let pulse = Pulse {
            as_of: chrono::DateTime::UNIX_EPOCH,
            system_state: SystemState::ActiveFailure,
            reasons: vec![],
            metrics,
            llm_failure_rate: Some(0.1),
            previous_llm_failure_rate: Some(0.1),
            infra_saturation: Some(Saturation {
                resource: "redis".into(),
                utilization: 0.81,
            }),
            previous_infra_saturation: None,
            days,
            saturation_days: vec![
                Some(0.81),
                None,
                Some(0.7),
                Some(0.7),
                Some(0.7),
                Some(0.7),
                Some(0.6),
                Some(0.55),
            ],
        };
        let cards = cards(&pulse, &Thresholds::default());
        assert_eq!(
            cards.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            CARD_KEYS
        );
        let replays = &cards[2];
        assert_eq!(
            (
                replays.value.as_str(),
                replays.previous.as_str(),
                replays.delta_pct
            ),
            ("2", "10", Some(-80.0))
        );
        assert!(replays.crossed);
        assert!(replays.rise_is_good && !cards[1].rise_is_good && !cards[4].rise_is_good);
        assert_eq!(replays.spark, vec![10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 2.0]);
        assert_eq!(cards[0].last_week, "3", "active tenants 7 days earlier");
        assert!(!cards[0].crossed, "tenants grew");
        assert_eq!(
            (
                cards[4].value.as_str(),
                cards[4].crossed,
                cards[4].delta_pct
            ),
            ("10.0%", true, Some(0.0))
        );
        assert_eq!(
            (
                cards[5].value.as_str(),
                cards[5].crossed,
                cards[5].delta_pct
            ),
            ("81% redis", true, None)
        );
        assert_eq!(
            cards[5].spark,
            vec![60.0, 70.0, 70.0, 70.0, 70.0, 0.0, 81.0]
        );
        assert_eq!(cards[5].last_week, "55%");
    }
}
