//! The event vocabulary of Ops Console.
//!
//! Every product service reports what happened as an [`Event`] of one of the fifteen canonical
//! [`EventType`]s. The type is an enum, so an event of an unknown type cannot be constructed by
//! code that uses this crate; the server applies the same rule to JSON it receives.

#[cfg(feature = "random-ids")]
mod constructors;
mod event_type;

#[cfg(feature = "random-ids")]
pub use constructors::IncidentDetails;
pub use event_type::{EventType, UnknownEventType};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The tenant that platform-level events belong to (infra samples, operator logins): the
/// `tenant_id` column is required, and these events are about no customer.
pub const PLATFORM_TENANT: Uuid = Uuid::nil();

/// Largest accepted `cost_usd` (exclusive), the bound of the `NUMERIC(10,6)` column.
pub const MAX_COST_USD: i64 = 10_000;

/// One event of the stream, as stored in `ops_events` and as sent over the wire.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Event {
    pub event_id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub event_type: EventType,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub severity: Option<i32>,
    pub latency_ms: Option<i32>,
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>, example = "0.0023"))]
    pub cost_usd: Option<Decimal>,
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
}

impl Event {
    /// A bare event of `event_type` for `tenant_id`, now, with a fresh id. The id is fixed at
    /// creation so that a retried send is recognised as the same event.
    #[cfg(feature = "random-ids")]
    pub fn new(event_type: EventType, tenant_id: Uuid) -> Self {
        Self::with_id(Uuid::new_v4(), event_type, tenant_id)
    }

    /// Like [`Event::new`], with a caller-chosen id (deterministic generators need one).
    pub fn with_id(event_id: Uuid, event_type: EventType, tenant_id: Uuid) -> Self {
        Event {
            event_id,
            timestamp: Utc::now(),
            tenant_id,
            user_id: None,
            session_id: None,
            event_type,
            entity_type: None,
            entity_id: None,
            severity: None,
            latency_ms: None,
            cost_usd: None,
            metadata: Map::new(),
        }
    }

    pub fn at(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = timestamp;
        self
    }

    pub fn id(mut self, event_id: Uuid) -> Self {
        self.event_id = event_id;
        self
    }

    pub fn user(mut self, user_id: Uuid) -> Self {
        self.user_id = Some(user_id);
        self
    }

    pub fn session(mut self, session_id: Uuid) -> Self {
        self.session_id = Some(session_id);
        self
    }

    pub fn entity(mut self, entity_type: &str, entity_id: Uuid) -> Self {
        self.entity_type = Some(entity_type.to_owned());
        self.entity_id = Some(entity_id);
        self
    }

    pub fn severity(mut self, severity: i32) -> Self {
        self.severity = Some(severity);
        self
    }

    pub fn latency_ms(mut self, latency_ms: i32) -> Self {
        self.latency_ms = Some(latency_ms);
        self
    }

    pub fn cost_usd(mut self, cost_usd: Decimal) -> Self {
        self.cost_usd = Some(cost_usd);
        self
    }

    /// Sets one metadata key.
    pub fn meta(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }
}

#[cfg(all(test, feature = "random-ids"))]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_json() {
        let event = Event::llm_call_made(
            Uuid::new_v4(),
            "gpt-4o-mini",
            120,
            40,
            Decimal::new(23, 4),
            850,
        );
        let json = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        assert!(json.contains("\"event_type\":\"LLM_CALL_MADE\""));
        assert!(json.contains("\"cost_usd\":\"0.0023\""));
    }
}
