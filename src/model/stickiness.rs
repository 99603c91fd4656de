//! Product Stickiness: how far tenants get along incident → view → replay → export →
//! certificate verified, where they stop, and what that means.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The windows the page offers, in days.
pub const WINDOWS: [i32; 3] = [7, 30, 90];
pub const DEFAULT_WINDOW: i32 = 30;

/// The five steps, in order: name, and the spec's reading of a drop-off *after* the step.
pub const STEPS: [(&str, Option<(&str, &str)>); 5] = [
    (
        "Incident created",
        Some(("Customers not checking console", "Improve notifications")),
    ),
    (
        "Incident viewed",
        Some(("Replay UX too complex", "Simplify replay flow")),
    ),
    (
        "Replay executed",
        Some(("Unclear export value", "Better export CTA")),
    ),
    (
        "Export generated",
        Some(("Premature feature", "Deprioritize")),
    ),
    ("Certificate verified", None),
];

/// When a tenant first took each step in the window (customer actions only).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TenantSteps {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub first: [Option<DateTime<Utc>>; 5],
}

impl TenantSteps {
    /// How many consecutive steps, from the first, the tenant took.
    pub fn reached(&self) -> usize {
        self.first.iter().take_while(|t| t.is_some()).count()
    }
}

/// A tenant, as a list of who is stuck shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantRef {
    pub tenant_id: Uuid,
    pub tenant_name: String,
}

/// One step of the funnel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FunnelStep {
    pub step: String,
    /// Tenants that took this step and every one before it.
    pub tenants: i64,
    /// `tenants` as a share of the previous step's, in percent; null for the first step or
    /// after a step nobody reached.
    pub conversion_pct: Option<f64>,
    /// Tenants that did not take this step but took a later one (they are counted at neither).
    pub skipped: i64,
    /// Median hours from a tenant's first previous step to its first of this one.
    pub median_hours_from_previous: Option<f64>,
    /// Why tenants stop after this step, and what to do, per the spec.
    pub interpretation: Option<String>,
    pub action: Option<String>,
    /// Tenants that took this step but not the next.
    pub stuck: Vec<TenantRef>,
    /// Whether the drop after this step is the worst of the funnel.
    pub worst_drop_off: bool,
}

/// `GET /api/v1/ops/stickiness` and the page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Funnel {
    pub as_of: DateTime<Utc>,
    pub window_days: i32,
    pub steps: Vec<FunnelStep>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let m = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some((m * 10.0).round() / 10.0)
}

/// Builds the funnel from each tenant's first steps: a tenant counts at a step only if it
/// took every step before it, so the numbers only go down and each conversion is a share.
pub fn funnel(tenants: &[TenantSteps], as_of: DateTime<Utc>, window_days: i32) -> Funnel {
    let mut steps: Vec<FunnelStep> = STEPS
        .iter()
        .enumerate()
        .map(|(k, (name, reading))| {
            let at_step: Vec<&TenantSteps> = tenants.iter().filter(|t| t.reached() > k).collect();
            let mut stuck: Vec<TenantRef> = at_step
                .iter()
                .filter(|t| t.reached() == k + 1 && k + 1 < STEPS.len())
                .map(|t| TenantRef {
                    tenant_id: t.tenant_id,
                    tenant_name: t.tenant_name.clone(),
                })
                .collect();
            stuck.sort_by(|a, b| a.tenant_name.cmp(&b.tenant_name));
            let skipped = tenants
                .iter()
                .filter(|t| t.first[k].is_none() && t.first[k + 1..].iter().any(Option::is_some))
                .count() as i64;
            let median_hours_from_previous = (k > 0)
                .then(|| {
                    median(
                        at_step
                            .iter()
                            .filter_map(|t| Some((t.first[k]? - t.first[k - 1]?).num_seconds()))
                            .filter(|s| *s >= 0)
                            .map(|s| s as f64 / 3600.0)
                            .collect(),
                    )
                })
                .flatten();
            FunnelStep {
                step: (*name).to_owned(),
                tenants: at_step.len() as i64,
                conversion_pct: None,
                skipped,
                median_hours_from_previous,
                interpretation: reading.map(|r| r.0.to_owned()),
                action: reading.map(|r| r.1.to_owned()),
                stuck,
                worst_drop_off: false,
            }
        })
        .collect();
    for k in 1..steps.len() {
        let before = steps[k - 1].tenants;
        steps[k].conversion_pct =
            (before > 0).then(|| (steps[k].tenants as f64 / before as f64 * 1000.0).round() / 10.0);
    }
    // The worst drop-off: the step after which the lowest share carries on.
    let worst = (0..steps.len() - 1)
        .filter_map(|k| steps[k + 1].conversion_pct.map(|c| (k, c)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k);
    if let Some(k) = worst {
        steps[k].worst_drop_off = true;
    }
    Funnel {
        as_of,
        window_days,
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(h: i64) -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(h))
    }

    fn tenant(n: u128, first: [Option<DateTime<Utc>>; 5]) -> TenantSteps {
        TenantSteps {
            tenant_id: Uuid::from_u128(n),
            tenant_name: format!("t{n}"),
            first,
        }
    }

    #[test]
    fn a_tenant_that_skips_a_step_stops_counting_there() {
        let tenants = vec![
            tenant(1, [t(0), t(1), t(3), t(4), t(10)]),
            tenant(2, [t(0), t(3), t(4), None, None]),
            // Exports without replaying: counted up to "viewed", and as a skipper of replay.
            tenant(3, [t(0), t(2), None, t(5), None]),
            tenant(4, [t(0), None, None, None, None]),
            // A view without an incident in the window: counted nowhere.
            tenant(5, [None, t(1), None, None, None]),
        ];
        let f = funnel(&tenants, t(100).unwrap(), 30);
        let counts: Vec<i64> = f.steps.iter().map(|s| s.tenants).collect();
        assert_eq!(counts, vec![4, 3, 2, 1, 1]);
        let conversions: Vec<Option<f64>> = f.steps.iter().map(|s| s.conversion_pct).collect();
        assert_eq!(
            conversions,
            vec![None, Some(75.0), Some(66.7), Some(50.0), Some(100.0)]
        );
        assert_eq!(f.steps[2].skipped, 1);
        assert_eq!(f.steps[0].skipped, 1);
        // Stuck after viewing: tenant 3; after the incident: tenant 4; after replay: tenant 2.
        let stuck = |k: usize| {
            f.steps[k]
                .stuck
                .iter()
                .map(|s| s.tenant_name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(stuck(0), vec!["t4"]);
        assert_eq!(stuck(1), vec!["t3"]);
        assert_eq!(stuck(2), vec!["t2"]);
        assert!(stuck(4).is_empty());
        // Hours from incident to view for tenants 1, 2, 3: 1, 3, 2 → median 2.
        assert_eq!(f.steps[1].median_hours_from_previous, Some(2.0));
        // Replay → export drops to 50%, the worst.
        assert!(f.steps[2].worst_drop_off);
        assert_eq!(f.steps.iter().filter(|s| s.worst_drop_off).count(), 1);
        assert_eq!(
            f.steps[0].interpretation.as_deref(),
            Some("Customers not checking console")
        );
        assert_eq!(f.steps[4].action, None);
    }

    #[test]
    fn an_empty_window_has_no_conversions() {
        let f = funnel(&[], t(0).unwrap(), 7);
        assert!(f
            .steps
            .iter()
            .all(|s| s.tenants == 0 && s.conversion_pct.is_none()));
        assert!(f.steps.iter().all(|s| !s.worst_drop_off));
    }
}
