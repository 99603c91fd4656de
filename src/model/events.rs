//! The Events page and `GET /api/v1/ops/events`: the raw, time-ordered stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Event, EventType};

/// Largest page the read API hands out.
pub const MAX_PAGE_SIZE: i64 = 1000;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: i64 = 50;

/// A filter over the stream. Every field is optional; `cursor` continues a listing where the
/// previous page stopped.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct EventFilter {
    pub tenant_id: Option<Uuid>,
    pub event_type: Option<EventType>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Where a page starts: strictly older than this event, in the stream's (timestamp, event_id)
/// order. Travels as an opaque string.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub timestamp: DateTime<Utc>,
    pub event_id: Uuid,
}

impl Cursor {
    pub fn after(event: &Event) -> Self {
        Cursor {
            timestamp: event.timestamp,
            event_id: event.event_id,
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = format!("{}|{}", self.timestamp.timestamp_micros(), self.event_id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (micros, id) = raw.split_once('|')?;
        Some(Cursor {
            timestamp: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            event_id: id.parse().ok()?,
        })
    }
}

/// One page of events, newest first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Present when older events match the filter.
    pub next_cursor: Option<String>,
}

/// Events per time bucket and type, for the stream chart.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EventHistogram {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `hour` or `day`.
    pub bucket: String,
    pub buckets: Vec<DateTime<Utc>>,
    pub series: Vec<HistogramSeries>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HistogramSeries {
    pub event_type: EventType,
    /// One count per entry of `EventHistogram::buckets`.
    pub counts: Vec<i64>,
}

impl EventHistogram {
    pub fn total(&self) -> i64 {
        self.series.iter().flat_map(|s| &s.counts).sum()
    }
}

/// A tenant as the filters offer it: its name from `SUBSCRIPTION_STARTED`, when it has one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TenantOption {
    pub tenant_id: Uuid,
    pub name: Option<String>,
}

impl TenantOption {
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None if self.tenant_id == super::PLATFORM_TENANT => "platform".to_owned(),
            None => short_id(self.tenant_id),
        }
    }
}

/// The first block of a uuid: enough to tell rows apart on screen.
pub fn short_id(id: Uuid) -> String {
    id.to_string().chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_own_encoding() {
        let cursor = Cursor {
            timestamp: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            event_id: Uuid::from_u128(42),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for text in ["", "abc", "!!!", "MTIzfG5vdC1hLXV1aWQ"] {
            assert_eq!(Cursor::decode(text), None, "{text}");
        }
    }
}
