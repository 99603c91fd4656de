//! The stream as a whole: determinism, vocabulary, window, size, numeric bounds.

use crate::{generated, meta_str, seed};
use chrono::{Duration, Timelike};
use ops_demo::{tenants, WINDOW_DAYS};
use ops_events::{EventType, PLATFORM_TENANT};
use std::collections::{BTreeMap, HashSet};

#[test]
fn the_same_seed_and_end_give_the_same_bytes() {
    let g = generated();
    let again = tenants(seed(), g.end());
    assert_eq!(again, g.world);
    for (a, b) in again.events_by_day().zip(&g.chunks) {
        assert_eq!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(b).unwrap()
        );
    }
}

#[test]
fn tenant_ids_depend_on_the_seed_only() {
    let g = generated();
    let later = tenants(seed(), g.end() + Duration::days(3) + Duration::minutes(7));
    assert_eq!(later.tenant_ids(), g.world.tenant_ids());
    let other = tenants(seed() + 1, g.end());
    let ours: HashSet<_> = g.world.tenants.iter().map(|t| t.tenant_id).collect();
    assert!(other.tenants.iter().all(|t| !ours.contains(&t.tenant_id)));
}

#[test]
fn tenant_ids_cover_every_event() {
    let g = generated();
    let ids: HashSet<_> = g.world.tenant_ids().into_iter().collect();
    assert!(ids.contains(&PLATFORM_TENANT));
    assert!(g.events().all(|e| ids.contains(&e.tenant_id)));
}

#[test]
fn event_ids_are_unique() {
    let g = generated();
    let mut seen = HashSet::new();
    assert!(g.events().all(|e| seen.insert(e.event_id)));
}

#[test]
fn every_event_type_appears_and_logins_are_customers() {
    let g = generated();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in g.events() {
        *counts.entry(e.event_type.as_str()).or_default() += 1;
    }
    for t in EventType::ALL {
        assert!(
            counts.get(t.as_str()).copied().unwrap_or(0) > 0,
            "{t} never appears"
        );
    }
    assert!(g
        .events()
        .filter(|e| e.event_type == EventType::Login)
        .all(|e| meta_str(e, "source") == "guard"));
}

#[test]
fn events_lie_in_the_window_one_day_per_chunk() {
    let g = generated();
    let end = g.end();
    let start = end - Duration::days(WINDOW_DAYS);
    assert_eq!(g.world.starts_at(), start);
    assert_eq!(g.chunks.len(), WINDOW_DAYS as usize);
    for (d, chunk) in g.chunks.iter().enumerate() {
        assert!(
            !chunk.is_empty() && chunk.len() <= 40_000,
            "day {d}: {}",
            chunk.len()
        );
        let lo = start + Duration::days(d as i64);
        let hi = (lo + Duration::days(1)).min(end);
        assert!(
            chunk.iter().all(|e| e.timestamp >= lo && e.timestamp < hi),
            "day {d} leaks"
        );
        assert!(chunk.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }
}

#[test]
fn every_hour_of_the_last_day_has_customer_traffic() {
    let g = generated();
    for h in 0..24 {
        let lo = g.end() - Duration::hours(h + 1);
        let hi = g.end() - Duration::hours(h);
        let n = g
            .events()
            .filter(|e| e.tenant_id != PLATFORM_TENANT && e.timestamp >= lo && e.timestamp <= hi)
            .count();
        assert!(n >= 50, "hour -{}: {n} events", h + 1);
    }
}

#[test]
fn size_is_as_promised_and_estimated() {
    let g = generated();
    let total = g.events().count() as f64;
    println!("{total} events, {} estimated", g.world.estimated_events());
    assert!((250_000.0..=450_000.0).contains(&total), "{total}");
    let estimate = g.world.estimated_events() as f64;
    assert!(
        (estimate / total - 1.0).abs() < 0.15,
        "estimated {estimate}, got {total}"
    );
}

#[test]
fn numbers_respect_the_ingestion_rules() {
    let g = generated();
    for e in g.events() {
        if let Some(c) = e.cost_usd {
            assert!(c.scale() <= 6 && c >= 0.into() && c < 10_000.into(), "{c}");
        }
        if let Some(s) = e.severity {
            assert!((1..=5).contains(&s));
        }
        if let Some(l) = e.latency_ms {
            assert!(l >= 0);
        }
    }
}

#[test]
fn traffic_follows_the_working_day() {
    let g = generated();
    let mut by_hour = [0usize; 24];
    for e in g
        .events()
        .filter(|e| e.event_type == EventType::ApiCallReceived)
    {
        by_hour[e.timestamp.hour() as usize] += 1;
    }
    let (peak, trough) = (
        by_hour[14] + by_hour[15] + by_hour[16],
        by_hour[2] + by_hour[3] + by_hour[4],
    );
    assert!(peak as f64 > 1.5 * trough as f64, "{by_hour:?}");
}

#[test]
fn api_calls_carry_their_llm_calls_and_evaluations() {
    let g = generated();
    let api = g
        .events()
        .filter(|e| e.event_type == EventType::ApiCallReceived)
        .count() as f64;
    let llm = g
        .events()
        .filter(|e| e.event_type == EventType::LlmCallMade)
        .count() as f64;
    let evals: Vec<_> = g
        .events()
        .filter(|e| e.event_type == EventType::PolicyEvaluated)
        .collect();
    assert!(llm / api > 0.6, "{llm} LLM calls for {api} API calls");
    assert!((0.28..0.38).contains(&(evals.len() as f64 / api)));
    for e in &evals {
        assert!(
            ["pass", "fail"].contains(&meta_str(e, "result"))
                && !meta_str(e, "policy_id").is_empty()
        );
    }
    for e in g
        .events()
        .filter(|e| e.event_type == EventType::ApiCallReceived)
    {
        assert!(!meta_str(e, "endpoint").is_empty() && !meta_str(e, "method").is_empty());
        assert!(e.metadata["status_code"].is_u64());
    }
}

#[test]
fn generation_time_in_this_profile() {
    let world = tenants(seed(), crate::ends_at());
    let started = std::time::Instant::now();
    let n: usize = world.events_by_day().map(|c| c.len()).sum();
    println!("generated {n} events in {:?}", started.elapsed());
}

#[test]
fn in_the_last_day_replays_fall_by_more_than_the_specs_thirty_percent() {
    let g = generated();
    let end = g.end();
    let replays_in = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        g.events()
            .filter(|e| e.event_type == EventType::ReplayExecuted)
            .filter(|e| e.timestamp > from && e.timestamp <= to)
            .count() as f64
    };
    let last = replays_in(end - Duration::hours(24), end);
    let before = replays_in(end - Duration::hours(48), end - Duration::hours(24));
    assert!(before >= 10.0, "{before} replays the day before");
    assert!(last < before * 0.7, "{last} replays against {before}");
    // The rest of the product carries on: API traffic is within 20% of the day before.
    let calls_in = |from, to| {
        g.events()
            .filter(|e| e.event_type == EventType::ApiCallReceived)
            .filter(|e| e.timestamp > from && e.timestamp <= to)
            .count() as f64
    };
    let (calls, calls_before) = (
        calls_in(end - Duration::hours(24), end),
        calls_in(end - Duration::hours(48), end - Duration::hours(24)),
    );
    assert!(
        (calls / calls_before - 1.0).abs() < 0.2,
        "{calls} vs {calls_before}"
    );
}

/// The story holds whatever the time of day the window ends: traffic follows the clock, so every
/// end draws a different world.
#[test]
fn the_replay_drop_does_not_depend_on_when_the_world_ends() {
    for k in 1..=6 {
        let end = crate::ends_at() + Duration::minutes(k * 217);
        let world = ops_demo::tenants(crate::seed(), end);
        let (mut last, mut before) = (0.0, 0.0);
        for e in world.events_by_day().flatten() {
            if e.event_type != EventType::ReplayExecuted || e.timestamp <= end - Duration::hours(48)
            {
                continue;
            }
            if e.timestamp > end - Duration::hours(24) {
                last += 1.0;
            } else {
                before += 1.0;
            }
        }
        assert!(
            before >= 10.0,
            "ending {end}: {before} replays the day before"
        );
        assert!(
            last < before * 0.7,
            "ending {end}: {last} replays against {before}"
        );
    }
}
