//! Properties of the demo world, each computed from the generated events alone.

mod archetypes;
mod incidents;
mod platform;
mod stream;

use chrono::{DateTime, Duration, Utc};
use ops_demo::{Archetype, DemoTenant, DemoWorld, DEFAULT_SEED};
use ops_events::{Event, EventType};
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

pub struct Generated {
    pub world: DemoWorld,
    pub chunks: Vec<Vec<Event>>,
    by_tenant: HashMap<Uuid, Vec<Event>>,
}

/// Not on a round hour, so that day and hour boundaries are exercised; `OPS_DEMO_TEST_END`
/// (RFC 3339) checks another end.
pub fn ends_at() -> DateTime<Utc> {
    let end =
        std::env::var("OPS_DEMO_TEST_END").unwrap_or_else(|_| "2025-12-20T09:47:13.250Z".into());
    DateTime::parse_from_rfc3339(&end)
        .unwrap()
        .with_timezone(&Utc)
}

/// `DEFAULT_SEED`, or `OPS_DEMO_TEST_SEED` to check that another world keeps the properties.
pub fn seed() -> u64 {
    std::env::var("OPS_DEMO_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

pub fn generated() -> &'static Generated {
    static WORLD: OnceLock<Generated> = OnceLock::new();
    WORLD.get_or_init(|| {
        let world = ops_demo::tenants(seed(), ends_at());
        let chunks: Vec<Vec<Event>> = world.events_by_day().collect();
        let mut by_tenant: HashMap<Uuid, Vec<Event>> = HashMap::new();
        for e in chunks.iter().flatten() {
            by_tenant.entry(e.tenant_id).or_default().push(e.clone());
        }
        for events in by_tenant.values_mut() {
            events.sort_by_key(|e| e.timestamp);
        }
        Generated {
            world,
            chunks,
            by_tenant,
        }
    })
}

impl Generated {
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.chunks.iter().flatten()
    }

    pub fn end(&self) -> DateTime<Utc> {
        self.world.ends_at
    }

    /// The tenant's events in time order.
    pub fn of(&self, tenant: &DemoTenant) -> &[Event] {
        self.by_tenant
            .get(&tenant.tenant_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn tenants(&self, archetype: Archetype) -> Vec<&DemoTenant> {
        self.world
            .tenants
            .iter()
            .filter(|t| t.archetype == archetype)
            .collect()
    }
}

pub fn count(events: &[Event], t: EventType) -> usize {
    events.iter().filter(|e| e.event_type == t).count()
}

pub fn first(events: &[Event], t: EventType) -> Option<DateTime<Utc>> {
    events
        .iter()
        .filter(|e| e.event_type == t)
        .map(|e| e.timestamp)
        .min()
}

pub fn last(events: &[Event], types: &[EventType]) -> Option<DateTime<Utc>> {
    events
        .iter()
        .filter(|e| types.contains(&e.event_type))
        .map(|e| e.timestamp)
        .max()
}

pub fn within(events: &[Event], t: EventType, from: DateTime<Utc>, span: Duration) -> usize {
    events
        .iter()
        .filter(|e| e.event_type == t && e.timestamp >= from && e.timestamp < from + span)
        .count()
}

pub fn meta_str<'a>(e: &'a Event, key: &str) -> &'a str {
    e.metadata.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

pub const INVESTIGATIONS: [EventType; 3] = [
    EventType::IncidentViewed,
    EventType::ReplayExecuted,
    EventType::ExportGenerated,
];
