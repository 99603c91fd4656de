//! The ingestion rules of Ops Console, with no server around them: decoding a request body into
//! raw event values and validating every field (`CONTRACT.md`, "Ingestion"). The server stores
//! what passes; the fuzz target in `fuzz/` feeds these functions arbitrary bytes.

mod validate;

pub use validate::{validate_event, FieldError, FieldProblem};

use std::collections::hash_map::{Entry, HashMap};

use chrono::{DateTime, Utc};
use ops_events::Event;
use serde_json::Value;

/// Most events one request may carry.
pub const MAX_EVENTS: usize = 10_000;
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How a body is framed, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One event object or an array of them.
    Json,
    /// One event object per line.
    Ndjson,
}

impl Framing {
    /// `None` for a content type that is neither; a missing one is taken as JSON.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let Some(content_type) = content_type else {
            return Some(Framing::Json);
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "text/json" => Some(Framing::Json),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Framing::Ndjson),
            e if e.ends_with("+json") => Some(Framing::Json),
            _ => None,
        }
    }
}

/// Why a request body was refused before any event was looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON / NDJSON, or JSON of the wrong shape (400).
    Malformed(String),
    /// More than [`MAX_EVENTS`] events (413).
    TooMany(usize),
}

/// Splits a body into raw event values.
pub fn decode(framing: Framing, body: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let values = match framing {
        Framing::Json => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => items,
            Ok(object @ Value::Object(_)) => vec![object],
            Ok(_) => {
                return Err(DecodeError::Malformed(
                    "the body must be an event object or an array of event objects".into(),
                ))
            }
            Err(e) => {
                return Err(DecodeError::Malformed(format!(
                    "the body is not valid JSON: {e}"
                )))
            }
        },
        Framing::Ndjson => {
            let text = std::str::from_utf8(body)
                .map_err(|e| DecodeError::Malformed(format!("the body is not valid UTF-8: {e}")))?;
            let mut values = Vec::new();
            for (number, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                if values.len() == MAX_EVENTS {
                    return Err(DecodeError::TooMany(MAX_EVENTS + 1));
                }
                let value = serde_json::from_str(line).map_err(|e| {
                    DecodeError::Malformed(format!("line {} is not valid JSON: {e}", number + 1))
                })?;
                values.push(value);
            }
            values
        }
    };
    if values.len() > MAX_EVENTS {
        return Err(DecodeError::TooMany(values.len()));
    }
    if values.is_empty() {
        return Err(DecodeError::Malformed("the request holds no events".into()));
    }
    Ok(values)
}

/// Validates every event; either all of them or the list of what is wrong, one entry per bad
/// event. An `event_id` given twice in one request is a mistake of the sender (which of the two
/// is the event?): the repeat is named.
pub fn validate_all(values: Vec<Value>, now: DateTime<Utc>) -> Result<Vec<Event>, Vec<FieldError>> {
    let mut events = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    let mut seen = HashMap::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        match validate_event(index, value, now) {
            Ok(event) => match seen.entry(event.event_id) {
                Entry::Occupied(first) => errors.push(FieldError {
                    index,
                    field: "event_id".into(),
                    message: format!(
                        "repeats the event_id of event {} in this request",
                        first.get()
                    ),
                    also: Vec::new(),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(index);
                    events.push(event);
                }
            },
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

/// Decodes and validates a body: what the ingestion endpoint does before storing. Any bytes
/// give an answer; none panics.
pub fn check_body(
    framing: Framing,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Event>, BodyError> {
    let values = decode(framing, body).map_err(BodyError::Decode)?;
    validate_all(values, now).map_err(BodyError::Invalid)
}

/// Why a body was refused.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    Decode(DecodeError),
    Invalid(Vec<FieldError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_choose_the_framing() {
        assert_eq!(Framing::from_content_type(None), Some(Framing::Json));
        assert_eq!(
            Framing::from_content_type(Some("application/json; charset=utf-8")),
            Some(Framing::Json)
        );
        assert_eq!(
            Framing::from_content_type(Some("application/x-ndjson")),
            Some(Framing::Ndjson)
        );
        assert_eq!(Framing::from_content_type(Some("text/plain")), None);
    }

    #[test]
    fn json_object_array_and_ndjson_decode() {
        assert_eq!(decode(Framing::Json, br#"{"a":1}"#).unwrap().len(), 1);
        assert_eq!(
            decode(Framing::Json, br#"[{"a":1},{"a":2}]"#)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            decode(Framing::Ndjson, b"{\"a\":1}\n\n{\"a\":2}\n")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        for (framing, body) in [
            (Framing::Json, &b"{"[..]),
            (Framing::Json, b"42"),
            (Framing::Json, b"[]"),
            (Framing::Json, b"\xff\xfe"),
            (Framing::Ndjson, b"{\"a\":1}\nnot json"),
            (Framing::Ndjson, b"\xff"),
            (Framing::Ndjson, b"\n\n"),
        ] {
            assert!(
                matches!(decode(framing, body), Err(DecodeError::Malformed(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn more_than_ten_thousand_events_is_too_many() {
        let body = format!("[{}]", vec!["{}"; MAX_EVENTS + 1].join(","));
        assert_eq!(
            decode(Framing::Json, body.as_bytes()),
            Err(DecodeError::TooMany(MAX_EVENTS + 1))
        );
        let ndjson = "{}\n".repeat(MAX_EVENTS + 1);
        assert!(matches!(
            decode(Framing::Ndjson, ndjson.as_bytes()),
            Err(DecodeError::TooMany(_))
        ));
        let exactly = format!("[{}]", vec!["{}"; MAX_EVENTS].join(","));
        assert_eq!(
            decode(Framing::Json, exactly.as_bytes()).unwrap().len(),
            MAX_EVENTS
        );
    }
}
