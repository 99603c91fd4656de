//! Prints the size of a world by event type and its last two days' pulse counts:
//! `cargo run --release -p ops-demo --example census [seed] [ends_at, RFC 3339]`.

use chrono::{Duration, Utc};
use ops_events::EventType;
use std::collections::BTreeMap;

fn main() {
    let seed = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(ops_demo::DEFAULT_SEED);
    let ends_at = std::env::args()
        .nth(2)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let world = ops_demo::tenants(seed, ends_at);
    let end = world.ends_at;
    let started = std::time::Instant::now();
    let mut counts: BTreeMap<EventType, u64> = BTreeMap::new();
    // [last 24 h, the 24 h before] per type, as the pulse page compares them.
    let mut pulse: BTreeMap<EventType, [u64; 2]> = BTreeMap::new();
    let mut largest = 0;
    for chunk in world.events_by_day() {
        largest = largest.max(chunk.len());
        for e in &chunk {
            *counts.entry(e.event_type).or_default() += 1;
            let back = end - e.timestamp;
            if back < Duration::hours(48) {
                pulse.entry(e.event_type).or_default()[usize::from(back >= Duration::hours(24))] +=
                    1;
            }
        }
    }
    let total: u64 = counts.values().sum();
    for (t, n) in &counts {
        let [now, before] = pulse.get(t).copied().unwrap_or_default();
        println!(
            "{:<24} {n:>8}   last 24 h {now:>6}, previous {before:>6}",
            t.as_str()
        );
    }
    println!(
        "total {total} (estimated {}), largest day {largest}, in {:?}",
        world.estimated_events(),
        started.elapsed()
    );
}
