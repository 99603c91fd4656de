//! Prints the size of the default world by event type: `cargo run --release -p ops-demo --example census`.

use ops_events::EventType;
use std::collections::BTreeMap;

fn main() {
    let ends_at = chrono::DateTime::parse_from_rfc3339("2025-12-20T12:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    let world = ops_demo::tenants(ops_demo::DEFAULT_SEED, ends_at);
    let started = std::time::Instant::now();
    let mut counts: BTreeMap<EventType, u64> = BTreeMap::new();
    let mut largest = 0;
    for chunk in world.events_by_day() {
        largest = largest.max(chunk.len());
        for e in &chunk {
            *counts.entry(e.event_type).or_default() += 1;
        }
    }
    let total: u64 = counts.values().sum();
    for (t, n) in &counts {
        println!("{:<24} {n:>8}", t.as_str());
    }
    println!(
        "total {total} (estimated {}), largest day {largest}, in {:?}",
        world.estimated_events(),
        started.elapsed()
    );
}
