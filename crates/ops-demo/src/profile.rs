//! How each tenant behaves: traffic volume and shape, models, incident rate, and the days on
//! which its people open the console. Derived from the seed and the roster, never stored.

use crate::ids::{pick_weighted, rng, Stream};
use crate::roster::{ONE_OFF_FREEZES, REGRESSION_TENANTS};
use crate::timeline::Timeline;
use crate::{Archetype, DemoWorld, WINDOW_DAYS};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::Rng;
use std::f64::consts::PI;

/// The abuser's API calls over the window, as a multiple of the mean tenant's (itself included).
const ABUSE_FACTOR: f64 = 15.0;
/// Longest stretch, in days, without a console session for a tenant that investigates at all:
/// only the silent churners should look like silent churners.
const MAX_SESSION_GAP_DAYS: u32 = 3;

#[derive(Clone, Debug)]
pub(crate) struct Profile {
    pub index: u16,
    pub archetype: Archetype,
    pub signup_at: DateTime<Utc>,
    /// End of activity: cancellation, or the end of the window.
    pub active_until: DateTime<Utc>,
    /// API calls per hour at an average hour of a weekday.
    pub base_rate: f64,
    /// Scripts ignore office hours and weekends.
    pub flat: bool,
    pub model_weights: [f64; 4],
    /// Probability that an LLM call ends in an incident.
    pub incident_rate: f64,
    /// Weights of CONTENT_ACCURACY, SAFETY_BASIC, PII_FILTER.
    pub policy_weights: [f64; 3],
    pub end_users: u32,
    pub staff: u32,
    pub regression: bool,
    /// Long-document work on large models, for which the token budget sometimes runs out.
    pub heavy: bool,
    /// Days (indices in the window) with a console session, onboarding day excluded.
    pub session_days: Vec<bool>,
    /// Reliability monitors that start replaying once their first week is over.
    pub late_replays: bool,
    pub freezes: Vec<(DateTime<Utc>, &'static str)>,
}

pub(crate) fn profiles(world: &DemoWorld, tl: &Timeline) -> Vec<Profile> {
    let mut profiles: Vec<Profile> = world
        .tenants
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut r = rng(world.seed, Stream::Profile, i as u64, 0);
            let arch = t.archetype;
            let plan_rate = match t.plan.as_str() {
                "Starter" => 1.6,
                "Pro" => 2.8,
                "Team" => 4.8,
                _ => 7.2,
            };
            let mut base_rate: f64 = plan_rate * r.random_range(0.75..1.3);
            let mut model_weights = [0.55, 0.15, 0.18, 0.12];
            let primary = pick_weighted(&mut r, &model_weights);
            for (m, w) in model_weights.iter_mut().enumerate() {
                *w = if m == primary { 0.6 } else { 0.4 * *w };
            }
            let mut policy_weights = [0.52, 0.27, 0.21];
            let incident_rate = match arch {
                Archetype::ProxyOnly => 0.0,
                Archetype::Abuser => 0.004,
                Archetype::ExportsWithoutReplays => 0.05,
                Archetype::Debugger | Archetype::ReliabilityMonitor => 0.035,
                _ => 0.03,
            };
            match arch {
                Archetype::NegativeMargin => {
                    base_rate = 5.0;
                    model_weights = [0.03, 0.95, 0.02, 0.0];
                    policy_weights = [0.8, 0.1, 0.1];
                }
                Archetype::Abuser => {
                    policy_weights = [0.0, 0.85, 0.15];
                    // Volume on the cheapest models: abuse, not the one negative margin.
                    model_weights = [0.8, 0.0, 0.0, 0.2];
                }
                Archetype::SilentChurner => base_rate = base_rate.max(2.0),
                _ => {}
            }
            let active_until = t.cancelled_at.unwrap_or(world.ends_at).min(world.ends_at);
            let mut freezes = Vec::new();
            if let Some(&(_, scope)) = ONE_OFF_FREEZES.iter().find(|f| f.0 == t.name) {
                freezes.push((
                    t.signup_at + Duration::hours(3 * 24 + r.random_range(2..10)),
                    scope,
                ));
            }
            if arch == Archetype::Abuser {
                for days in [4, 11, 18] {
                    freezes.push((
                        t.signup_at + Duration::hours(days * 24 + r.random_range(1..12)),
                        "key",
                    ));
                }
            }
            freezes.retain(|f| f.0 < active_until);
            Profile {
                index: i as u16,
                archetype: arch,
                signup_at: t.signup_at,
                active_until,
                base_rate,
                flat: arch == Archetype::Abuser,
                model_weights,
                incident_rate,
                policy_weights,
                end_users: r.random_range(20..300),
                staff: r.random_range(1..5),
                regression: REGRESSION_TENANTS.contains(&t.name.as_str()),
                heavy: arch == Archetype::NegativeMargin,
                session_days: session_days(&mut r, arch, tl.day_of(t.signup_at)),
                late_replays: arch == Archetype::ReliabilityMonitor && r.random_bool(0.5),
                freezes,
            }
        })
        .collect();
    calibrate_abuser(&mut profiles, tl);
    profiles
}

/// The days a tenant opens the console. Silent churners investigate often until a stop day at
/// least nine days before the end, then never again.
fn session_days(r: &mut impl Rng, arch: Archetype, signup_day: u32) -> Vec<bool> {
    let days = WINDOW_DAYS as u32;
    let mut out = vec![false; days as usize];
    let (p, stop) = match arch {
        Archetype::ProxyOnly | Archetype::Abuser => return out,
        Archetype::SilentChurner => (0.85, r.random_range((signup_day + 4).max(12)..=20)),
        Archetype::NegativeMargin => (0.3, days - 1),
        Archetype::ExportsWithoutReplays => (0.85, days - 1),
        Archetype::LegalCompliance | Archetype::Debugger => (0.7, days - 1),
        Archetype::ReliabilityMonitor => (0.65, days - 1),
    };
    let mut last = signup_day;
    for d in signup_day + 1..=stop.min(days - 1) {
        if r.random_bool(p) || d - last >= MAX_SESSION_GAP_DAYS || d == stop {
            out[d as usize] = true;
            last = d;
        }
    }
    out
}

/// Relative traffic of the hour starting at `slot`: a working-day curve peaking mid-afternoon
/// UTC (Europe and the US both awake), quieter weekends; mean about 1 over a week.
pub(crate) fn shape(p: &Profile, slot: DateTime<Utc>) -> f64 {
    if p.flat {
        return 1.0;
    }
    let h = f64::from(slot.hour());
    let bump = 0.5 - 0.5 * (2.0 * PI * (h - 3.0) / 24.0).cos();
    let day = (0.3 + 0.7 * bump) / 0.65;
    let week = match slot.weekday() {
        Weekday::Sat | Weekday::Sun => 0.6,
        _ => 1.0,
    };
    day * week / 0.886
}

/// Expected API calls of the tenant in `[a, b)`, a part of the hour starting at `slot`.
pub(crate) fn expected_calls(
    p: &Profile,
    slot: DateTime<Utc>,
    a: DateTime<Utc>,
    b: DateTime<Utc>,
) -> f64 {
    let fraction = (b - a).num_milliseconds() as f64 / 3_600_000.0;
    p.base_rate * shape(p, slot) * fraction.max(0.0)
}

/// Expected API calls of the tenant over the whole window.
fn expected_total(p: &Profile, tl: &Timeline) -> f64 {
    (0..WINDOW_DAYS * 24)
        .map(|h| {
            let slot = tl.start + Duration::hours(h);
            let a = slot.max(p.signup_at);
            let b = (slot + Duration::hours(1)).min(p.active_until);
            if a < b {
                expected_calls(p, slot, a, b)
            } else {
                0.0
            }
        })
        .sum()
}

/// Sizes the abuser from everyone else's expected traffic: a tenant at `ABUSE_FACTOR` times the
/// mean, the mean including the abuser, takes `f·R/(N−f)` where R is the others' total.
fn calibrate_abuser(profiles: &mut [Profile], tl: &Timeline) {
    let others: f64 = profiles
        .iter()
        .filter(|p| p.archetype != Archetype::Abuser)
        .map(|p| expected_total(p, tl))
        .sum();
    let n = profiles.len() as f64;
    for p in profiles
        .iter_mut()
        .filter(|p| p.archetype == Archetype::Abuser)
    {
        let target = ABUSE_FACTOR * others / (n - ABUSE_FACTOR).max(1.0);
        let hours = (p.active_until - p.signup_at).num_milliseconds() as f64 / 3_600_000.0;
        if hours > 0.0 {
            p.base_rate = target / hours;
        }
    }
}

/// Events per API call besides the call itself: LLM calls, a third of a policy evaluation,
/// failures and incidents with what follows them.
fn events_per_call(p: &Profile) -> f64 {
    let llm = if p.archetype == Archetype::Abuser {
        0.8 * 0.7
    } else {
        0.8
    };
    1.0 + 1.0 / 3.0 + llm * (1.0 + 0.02 + p.incident_rate * 1.2)
}

pub(crate) fn estimate(world: &DemoWorld) -> u64 {
    let tl = Timeline::new(world.ends_at);
    let profiles = profiles(world, &tl);
    let traffic: f64 = profiles
        .iter()
        .map(|p| expected_total(p, &tl) * events_per_call(p))
        .sum();
    let console: f64 = profiles
        .iter()
        .map(|p| p.session_days.iter().filter(|d| **d).count() as f64 * 6.0 + 10.0)
        .sum();
    let infra = (WINDOW_DAYS * 24 * 4) as f64;
    (traffic + console + infra).round() as u64
}
