//! Who the customers are: names, archetypes, plans, how they found the product, when they
//! signed up and, for a few, when they left.

use crate::ids::{pick_weighted, rng, Ids, Stream};
use crate::timeline::Timeline;
use crate::{Archetype, DemoTenant, DemoWorld};
use chrono::Duration;
use rand::seq::SliceRandom;
use rand::Rng;
use rust_decimal::Decimal;

use Archetype::*;

/// The tenants, grouped by archetype. The order is part of the world: an index names a tenant's
/// random streams and ids, so entries are only ever appended.
const ROSTER: [(&str, Archetype); 60] = [
    ("acme-ai", LegalCompliance),
    ("lexcorp-legal", LegalCompliance),
    ("briefly-law", LegalCompliance),
    ("clausewise", LegalCompliance),
    ("counselstack", LegalCompliance),
    ("docket-ai", LegalCompliance),
    ("juris-labs", LegalCompliance),
    ("affidavit-io", LegalCompliance),
    ("statute-ai", LegalCompliance),
    ("notary-cloud", LegalCompliance),
    ("verdict-systems", LegalCompliance),
    ("amicus-ai", LegalCompliance),
    ("beta-corp", Debugger),
    ("stacktrace-labs", Debugger),
    ("bugsnack", Debugger),
    ("loopwise", Debugger),
    ("devpilot-ai", Debugger),
    ("tracer-io", Debugger),
    ("hotfix-hq", Debugger),
    ("patchwork-ai", Debugger),
    ("sandbox-labs", Debugger),
    ("breakpoint-ai", Debugger),
    ("diffwise", Debugger),
    ("logline-ai", Debugger),
    ("gamma-inc", ReliabilityMonitor),
    ("delta-io", ReliabilityMonitor),
    ("uptime-ai", ReliabilityMonitor),
    ("sentinel-ops", ReliabilityMonitor),
    ("watchtower-ai", ReliabilityMonitor),
    ("pagerly", ReliabilityMonitor),
    ("steadystate", ReliabilityMonitor),
    ("ninefives", ReliabilityMonitor),
    ("canary-labs", ReliabilityMonitor),
    ("bluefin-health", ReliabilityMonitor),
    ("harbor-bank", ReliabilityMonitor),
    ("northwind-support", ReliabilityMonitor),
    ("lighthouse-ai", ReliabilityMonitor),
    ("routeforge", ProxyOnly),
    ("tokenpipe", ProxyOnly),
    ("gatewise", ProxyOnly),
    ("chatfront", ProxyOnly),
    ("swiftsupport-ai", ProxyOnly),
    ("promptpost", ProxyOnly),
    ("relay-ai", ProxyOnly),
    ("inkwell-ai", ProxyOnly),
    ("bytebridge", ProxyOnly),
    ("echo-desk", ProxyOnly),
    ("zenbot", ProxyOnly),
    ("orbital-insights", SilentChurner),
    ("kestrel-analytics", SilentChurner),
    ("meadow-hr", SilentChurner),
    ("pinecrest-ai", SilentChurner),
    ("copperline", SilentChurner),
    ("tidewater-ai", SilentChurner),
    ("maple-support", SilentChurner),
    ("ridgeback-io", SilentChurner),
    ("novella-research", NegativeMargin),
    ("bulkbot-ai", Abuser),
    ("auditready", ExportsWithoutReplays),
    ("compliancekit", ExportsWithoutReplays),
];

/// The tenants that get CONTENT_ACCURACY `v12` at the rollout (the spec's own example).
pub(crate) const REGRESSION_TENANTS: [&str; 4] = ["acme-ai", "beta-corp", "gamma-inc", "delta-io"];

/// Tenants with a kill switch pulled on them once, besides the abuser: (name, scope).
pub(crate) const ONE_OFF_FREEZES: [(&str, &str); 2] =
    [("hotfix-hq", "tenant"), ("verdict-systems", "key")];

pub(crate) const PLANS: [(&str, i64); 4] = [
    ("Starter", 49),
    ("Pro", 99),
    ("Team", 299),
    ("Enterprise", 999),
];

const SOURCES: [(&str, f64); 6] = [
    ("Organic (HN)", 0.25),
    ("Referral", 0.2),
    ("Outbound", 0.2),
    ("Google Ads", 0.2),
    ("Product Hunt", 0.1),
    ("Partner", 0.05),
];

/// How many silent churners cancel, late in the window.
const CANCELLING_CHURNERS: usize = 3;

pub(crate) fn build(seed: u64, ends_at: chrono::DateTime<chrono::Utc>) -> DemoWorld {
    let ids = Ids::new(seed);
    let tl = Timeline::new(ends_at);
    let mut world_rng = rng(seed, Stream::World, 0, 0);
    let mut churners: Vec<usize> = (0..ROSTER.len())
        .filter(|&i| ROSTER[i].1 == SilentChurner)
        .collect();
    churners.shuffle(&mut world_rng);
    let cancelling = &churners[..CANCELLING_CHURNERS.min(churners.len())];

    let tenants = ROSTER
        .iter()
        .enumerate()
        .map(|(i, &(name, archetype))| {
            let mut r = rng(seed, Stream::Roster, i as u64, 0);
            let plan = plan_for(&mut r, name, archetype);
            let (first_day, last_day) = signup_days(name, archetype);
            let day = r.random_range(first_day..=last_day);
            // Early in its day, so that a first day's onboarding stays within that day.
            let signup_at =
                tl.day_start(day) + Duration::seconds(r.random_range(3_600..12 * 3_600));
            let cancelled_at = cancelling.contains(&i).then(|| {
                let day = r.random_range(25..=29);
                tl.day_start(day) + Duration::seconds(r.random_range(2 * 3_600..20 * 3_600))
            });
            DemoTenant {
                tenant_id: ids.tenant(name),
                name: name.to_owned(),
                archetype,
                plan: PLANS[plan].0.to_owned(),
                price_usd_month: Decimal::from(PLANS[plan].1),
                signup_at,
                cancelled_at,
            }
        })
        .collect();
    DemoWorld {
        seed,
        ends_at,
        tenants,
    }
}

/// Where a tenant found the product; its own stream, so that it needs no field on the tenant.
pub(crate) fn source_for(seed: u64, index: usize) -> &'static str {
    // acme-ai is the spec's example profile: found on HN.
    if ROSTER.get(index).map(|e| e.0) == Some("acme-ai") {
        return "Organic (HN)";
    }
    let mut r = rng(seed, Stream::Roster, index as u64, 1);
    SOURCES[pick_weighted(&mut r, &SOURCES.map(|s| s.1))].0
}

fn plan_for(r: &mut impl Rng, name: &str, archetype: Archetype) -> usize {
    // acme-ai is the spec's example profile: Pro at $99.
    if name == "acme-ai" {
        return 1;
    }
    let weights: [f64; 4] = match archetype {
        LegalCompliance => [0.0, 0.35, 0.4, 0.25],
        Debugger => [0.15, 0.5, 0.3, 0.05],
        ReliabilityMonitor => [0.1, 0.4, 0.35, 0.15],
        ProxyOnly => [0.45, 0.4, 0.15, 0.0],
        SilentChurner => [0.1, 0.6, 0.3, 0.0],
        // Cheap plans: the point of both is what they cost against what they pay.
        NegativeMargin | Abuser => [1.0, 0.0, 0.0, 0.0],
        ExportsWithoutReplays => [0.0, 0.0, 0.5, 0.5],
    };
    pick_weighted(r, &weights)
}

/// Range of signup days. Churners start early so that they can investigate for a while and
/// then fall silent for over a week; the regression tenants have a history before `v12`.
fn signup_days(name: &str, archetype: Archetype) -> (u32, u32) {
    if REGRESSION_TENANTS.contains(&name) {
        return (0, 10);
    }
    match archetype {
        LegalCompliance | Debugger => (0, 24),
        ReliabilityMonitor | ProxyOnly => (0, 25),
        SilentChurner => (0, 7),
        NegativeMargin => (0, 3),
        Abuser => (2, 8),
        ExportsWithoutReplays => (0, 15),
    }
}
