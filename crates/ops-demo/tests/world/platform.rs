//! The platform: infra samples and LLM failures.

use crate::{generated, meta_str};
use chrono::{Duration, DurationRound};
use ops_events::{EventType::*, PLATFORM_TENANT};
use std::collections::BTreeMap;

fn utilisation(resource: &str) -> Vec<(chrono::DateTime<chrono::Utc>, f64)> {
    generated()
        .events()
        .filter(|e| e.event_type == InfraLimitHit && meta_str(e, "resource") == resource)
        .map(|e| {
            assert_eq!(e.tenant_id, PLATFORM_TENANT);
            (
                e.timestamp,
                e.metadata["current"].as_f64().unwrap() / e.metadata["limit"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn mean(xs: &[(chrono::DateTime<chrono::Utc>, f64)]) -> f64 {
    xs.iter().map(|x| x.1).sum::<f64>() / xs.len() as f64
}

#[test]
fn every_resource_is_sampled_every_hour() {
    for resource in [
        "redis",
        "db_connections",
        "llm_rate_limit",
        "sse_connections",
    ] {
        let samples = utilisation(resource);
        assert_eq!(samples.len(), 30 * 24, "{resource}");
        assert!(samples
            .windows(2)
            .all(|w| w[1].0 - w[0].0 == Duration::hours(1)));
        assert!(samples.iter().all(|s| s.1 < 0.8), "{resource} crosses 80 %");
    }
}

#[test]
fn redis_grows_and_the_rest_is_stable() {
    let redis = utilisation("redis");
    let (first, last) = (mean(&redis[..24]), mean(&redis[redis.len() - 24..]));
    assert!(
        (0.45..0.55).contains(&first) && (0.74..0.80).contains(&last),
        "{first} → {last}"
    );
    for (resource, level) in [
        ("db_connections", 0.6),
        ("llm_rate_limit", 0.5),
        ("sse_connections", 0.3),
    ] {
        let s = utilisation(resource);
        let (first, last) = (mean(&s[..24 * 7]), mean(&s[s.len() - 24 * 7..]));
        assert!(
            (first - level).abs() < 0.05 && (last - first).abs() < 0.02,
            "{resource}: {first} → {last}"
        );
    }
}

#[test]
fn llm_failures_are_rare_except_for_one_bad_hour() {
    let g = generated();
    let mut hours: BTreeMap<_, (u32, u32)> = BTreeMap::new();
    for e in g.events() {
        let hour = e.timestamp.duration_trunc(Duration::hours(1)).unwrap();
        match e.event_type {
            LlmCallMade => hours.entry(hour).or_default().0 += 1,
            LlmCallFailed => {
                assert!(["timeout", "5xx", "rate_limit"].contains(&meta_str(e, "error_type")));
                assert!(e.metadata["retry_count"].is_u64());
                hours.entry(hour).or_default().1 += 1;
            }
            _ => {}
        }
    }
    let bad: Vec<_> = hours
        .iter()
        .filter(|(_, (made, failed))| *failed as f64 > 0.1 * *made as f64 && *made > 50)
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    let back = g.end() - *bad[0].0;
    assert!(back > Duration::days(2) && back < Duration::days(5));
    let (made, failed) = hours
        .iter()
        .filter(|(h, _)| **h != *bad[0].0)
        .fold((0, 0), |a, (_, v)| (a.0 + v.0, a.1 + v.1));
    let rate = failed as f64 / made as f64;
    assert!((0.01..0.035).contains(&rate), "{rate}");
}
