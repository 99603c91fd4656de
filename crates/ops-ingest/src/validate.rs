//! Field-by-field validation of one incoming event (the table in `CONTRACT.md`, "Ingestion").

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_events::{Event, EventType, MAX_COST_USD};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};
use std::str::FromStr;
use uuid::Uuid;

/// What is wrong with one event: the first bad field, and any others in `also`.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub index: usize,
    pub field: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<FieldProblem>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

const FIELDS: [&str; 12] = [
    "event_id",
    "timestamp",
    "tenant_id",
    "user_id",
    "session_id",
    "event_type",
    "entity_type",
    "entity_id",
    "severity",
    "latency_ms",
    "cost_usd",
    "metadata",
];

/// How far ahead of the server's clock a timestamp may be.
const MAX_FUTURE: Duration = Duration::minutes(5);
/// Longest `entity_type`.
const MAX_ENTITY_TYPE_CHARS: usize = 64;

/// The earliest timestamp accepted: older ones are almost certainly a unit mistake (seconds
/// read as milliseconds, a zero date) rather than history.
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Collects problems so that one answer names all of them.
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        });
    }
}

/// Turns one raw value into an [`Event`], filling `event_id` and `timestamp` when absent.
pub fn validate_event(index: usize, value: Value, now: DateTime<Utc>) -> Result<Event, FieldError> {
    let Value::Object(mut object) = value else {
        return Err(FieldError {
            index,
            field: "event".into(),
            message: "must be a JSON object".into(),
            also: vec![],
        });
    };
    let mut problems = Problems(Vec::new());
    for key in object.keys() {
        if !FIELDS.contains(&key.as_str()) {
            problems.add(key, "unknown field");
        }
    }

    let event_id = uuid_field(&mut problems, &object, "event_id").unwrap_or_else(Uuid::new_v4);
    let timestamp = timestamp_field(&mut problems, &object, now).unwrap_or(now);
    let tenant_id = match object.get("tenant_id") {
        None | Some(Value::Null) => {
            problems.add("tenant_id", "is required");
            None
        }
        Some(_) => uuid_field(&mut problems, &object, "tenant_id"),
    };
    let user_id = uuid_field(&mut problems, &object, "user_id");
    let session_id = uuid_field(&mut problems, &object, "session_id");
    let entity_id = uuid_field(&mut problems, &object, "entity_id");
    let event_type = match object.get("event_type") {
        None | Some(Value::Null) => {
            problems.add("event_type", "is required");
            None
        }
        Some(Value::String(name)) => match EventType::from_str(name) {
            Ok(t) => Some(t),
            Err(_) => {
                problems.add(
                    "event_type",
                    format!("{name:?} is not one of the 15 canonical event types"),
                );
                None
            }
        },
        Some(_) => {
            problems.add("event_type", "must be a string");
            None
        }
    };
    let entity_type = match object.get("entity_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() > MAX_ENTITY_TYPE_CHARS => {
            problems.add(
                "entity_type",
                format!("must be at most {MAX_ENTITY_TYPE_CHARS} characters"),
            );
            None
        }
        Some(Value::String(s)) if s.contains('\0') => {
            problems.add("entity_type", "must not contain NUL characters");
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            problems.add("entity_type", "must be a string or null");
            None
        }
    };
    let severity = int_field(&mut problems, &object, "severity", 1, 5);
    let latency_ms = int_field(&mut problems, &object, "latency_ms", 0, i64::from(i32::MAX));
    let cost_usd = cost_field(&mut problems, &object);
    let metadata = match object.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => {
            if contains_nul(&Value::Object(map.clone())) {
                problems.add("metadata", "must not contain NUL characters (\\u0000)");
            }
            if let Some(t) = event_type {
                check_known_metadata(&mut problems, t, &map);
            }
            map
        }
        Some(_) => {
            problems.add("metadata", "must be a JSON object");
            Map::new()
        }
    };

    match (problems.0.is_empty(), tenant_id, event_type) {
        (true, Some(tenant_id), Some(event_type)) => Ok(Event {
            event_id,
            timestamp,
            tenant_id,
            user_id,
            session_id,
            event_type,
            entity_type,
            entity_id,
            severity: severity.map(|v| v as i32),
            latency_ms: latency_ms.map(|v| v as i32),
            cost_usd,
            metadata,
        }),
        _ => {
            let mut all = problems.0.into_iter();
            let first = all.next().unwrap_or(FieldProblem {
                field: "event".into(),
                message: "is invalid".into(),
            });
            Err(FieldError {
                index,
                field: first.field,
                message: first.message,
                also: all.collect(),
            })
        }
    }
}

fn uuid_field(problems: &mut Problems, object: &Map<String, Value>, field: &str) -> Option<Uuid> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match Uuid::parse_str(text) {
            Ok(id) => Some(id),
            Err(_) => {
                problems.add(field, format!("{text:?} is not a UUID"));
                None
            }
        },
        Some(_) => {
            problems.add(field, "must be a UUID string");
            None
        }
    }
}

fn timestamp_field(
    problems: &mut Problems,
    object: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match object.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => {
                let t = t.with_timezone(&Utc);
                if t > now + MAX_FUTURE {
                    problems.add("timestamp", "is more than 5 minutes in the future");
                    None
                } else if t < earliest() {
                    problems.add("timestamp", "is before 2000-01-01");
                    None
                } else {
                    Some(t)
                }
            }
            Err(e) => {
                problems.add(
                    "timestamp",
                    format!("{text:?} is not an RFC 3339 time: {e}"),
                );
                None
            }
        },
        Some(_) => {
            problems.add("timestamp", "must be an RFC 3339 string");
            None
        }
    }
}

fn int_field(
    problems: &mut Problems,
    object: &Map<String, Value>,
    field: &str,
    min: i64,
    max: i64,
) -> Option<i64> {
    match object.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                problems.add(field, format!("must be an integer from {min} to {max}"));
                None
            }
        },
        Some(_) => {
            problems.add(field, "must be an integer or null");
            None
        }
    }
}

fn cost_field(problems: &mut Problems, object: &Map<String, Value>) -> Option<Decimal> {
    let text = match object.get("cost_usd") {
        None | Some(Value::Null) => return None,
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            problems.add(
                "cost_usd",
                "must be a decimal number or a string holding one",
            );
            return None;
        }
    };
    let parsed = Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text));
    match parsed {
        Ok(cost) if cost.is_sign_negative() && !cost.is_zero() => {
            problems.add("cost_usd", "must not be negative");
            None
        }
        Ok(cost) if cost >= Decimal::from(MAX_COST_USD) => {
            problems.add("cost_usd", format!("must be less than {MAX_COST_USD}"));
            None
        }
        Ok(cost) if cost.normalize().scale() > 6 => {
            problems.add("cost_usd", "must have at most 6 decimal places");
            None
        }
        Ok(cost) => Some(cost.normalize()),
        Err(_) => {
            problems.add("cost_usd", format!("{text:?} is not a decimal number"));
            None
        }
    }
}

/// PostgreSQL's `jsonb` cannot hold U+0000 in a string; refusing it here keeps the rule
/// "bad input gets a 422" instead of a database error.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The largest resource use or limit taken: far beyond any real one, and exact in a float.
const MAX_MEASURE: f64 = 1e15;
/// The highest monthly price taken, exclusive.
const MAX_PRICE_USD_MONTH: i64 = 1_000_000_000;

#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A whole number from 0 to `i32::MAX`: tokens, retries, days. Larger ones would overflow
    /// the sums the pages read.
    Count,
    /// A finite number from 0 to `MAX_MEASURE`: a resource's use and its limit.
    Measure,
    /// A JSON number or a string holding one (prices travel as strings to keep their digits),
    /// from 0 to below `MAX_PRICE_USD_MONTH`.
    Price,
    TextList,
    Object,
}

/// The metadata keys the analytics read (`CONTRACT.md`): when present they must have the type
/// the analytics expect, or the numbers on the pages would silently be wrong.
fn known_keys(event_type: EventType) -> &'static [(&'static str, Kind)] {
    use EventType::*;
    use Kind::*;
    match event_type {
        SubscriptionStarted => &[
            ("plan", Text),
            ("source", Text),
            ("price_usd_month", Price),
            ("tenant_name", Text),
        ],
        SubscriptionCancelled => &[("reason", Text), ("tenure_days", Count)],
        IncidentCreated => &[
            ("model", Text),
            ("policy_id", Text),
            ("policy_version", Text),
            ("attribution", Text),
            ("input", Object),
            ("output", Text),
            ("policies_fired", TextList),
        ],
        LlmCallMade => &[("model", Text), ("tokens_in", Count), ("tokens_out", Count)],
        LlmCallFailed => &[
            ("model", Text),
            ("error_type", Text),
            ("retry_count", Count),
        ],
        InfraLimitHit => &[
            ("resource", Text),
            ("current", Measure),
            ("limit", Measure),
            ("unit", Text),
        ],
        ReplayExecuted | ExportGenerated | Login => &[("source", Text)],
        _ => &[],
    }
}

fn check_known_metadata(problems: &mut Problems, event_type: EventType, map: &Map<String, Value>) {
    for (key, kind) in known_keys(event_type) {
        let Some(value) = map.get(*key) else { continue };
        let ok = match kind {
            Kind::Text => value.is_string(),
            Kind::Count => value
                .as_f64()
                .is_some_and(|n| n.fract() == 0.0 && (0.0..=f64::from(i32::MAX)).contains(&n)),
            Kind::Measure => value
                .as_f64()
                .is_some_and(|n| (0.0..=MAX_MEASURE).contains(&n)),
            Kind::Price => {
                let text = match value {
                    Value::Number(n) => Some(n.to_string()),
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                };
                text.and_then(|t| {
                    Decimal::from_str(&t)
                        .or_else(|_| Decimal::from_scientific(&t))
                        .ok()
                })
                .is_some_and(|p| p >= Decimal::ZERO && p < Decimal::from(MAX_PRICE_USD_MONTH))
            }
            Kind::TextList => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            Kind::Object => value.is_object(),
        };
        if !ok {
            let expected = match kind {
                Kind::Text => "a string",
                Kind::Count => "a whole number from 0 to 2147483647",
                Kind::Measure => "a number from 0 to 1e15",
                Kind::Price => "a number (or numeric string) from 0 to below 1000000000",
                Kind::TextList => "a list of strings",
                Kind::Object => "an object",
            };
            problems.add(&format!("metadata.{key}"), format!("must be {expected}"));
        }
    }
    if event_type == EventType::InfraLimitHit && !map.contains_key("resource") {
        problems.add("metadata.resource", "is required for INFRA_LIMIT_HIT");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn valid() -> Value {
        json!({
            "tenant_id": "5b0c8a52-3f7e-4a7e-9d0e-0a5b4c3d2e1f",
            "event_type": "LLM_CALL_MADE",
            "cost_usd": 0.0023,
            "latency_ms": 800,
            "metadata": {"model": "gpt-4o-mini", "tokens_in": 10, "tokens_out": 5}
        })
    }

    fn field_of(value: Value) -> String {
        validate_event(0, value, now()).unwrap_err().field
    }

    #[test]
    fn a_valid_event_gets_an_id_and_the_server_time() {
        let event = validate_event(0, valid(), now()).unwrap();
        assert_eq!(event.timestamp, now());
        assert_eq!(event.cost_usd, Some(Decimal::new(23, 4)));
        assert_eq!(event.event_type, EventType::LlmCallMade);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, Value)> = vec![
            ("tenant_id", json!(null)),
            ("tenant_id", json!("not-a-uuid")),
            ("event_type", json!("llm_call_made")),
            ("event_type", json!(7)),
            ("event_id", json!(12)),
            ("user_id", json!("x")),
            ("session_id", json!(true)),
            ("entity_id", json!("zz")),
            ("entity_type", json!(5)),
            ("severity", json!(0)),
            ("severity", json!(6)),
            ("severity", json!(2.5)),
            ("severity", json!("3")),
            ("latency_ms", json!(-1)),
            ("latency_ms", json!(3_000_000_000u64)),
            ("cost_usd", json!(-0.01)),
            ("cost_usd", json!(10000)),
            ("cost_usd", json!("0.0000001")),
            ("cost_usd", json!("abc")),
            ("cost_usd", json!([1])),
            ("metadata", json!([1, 2])),
            ("metadata", json!("text")),
            ("timestamp", json!("yesterday")),
            ("timestamp", json!("2026-11-26T12:06:00Z")),
            ("timestamp", json!("1970-01-01T00:00:00Z")),
            ("timestamp", json!(1764158400)),
        ];
        for (field, bad) in cases {
            let mut event = valid();
            event[field] = bad.clone();
            assert_eq!(field_of(event), field, "{field} = {bad}");
        }
    }

    #[test]
    fn metadata_numbers_out_of_their_ranges_are_refused_and_their_edges_taken() {
        let with = |kind: &str, key: &str, value: Value| {
            let mut event = valid();
            event["event_type"] = json!(kind);
            event["metadata"] = json!({"resource": "redis"});
            event["metadata"][key] = value;
            event
        };
        let refused = [
            ("LLM_CALL_MADE", "tokens_in", json!(1.5)),
            ("LLM_CALL_MADE", "tokens_in", json!(-1)),
            ("LLM_CALL_MADE", "tokens_out", json!(1e19)),
            ("LLM_CALL_FAILED", "retry_count", json!(-3)),
            (
                "SUBSCRIPTION_CANCELLED",
                "tenure_days",
                json!(3_000_000_000u64),
            ),
            ("INFRA_LIMIT_HIT", "current", json!(-0.5)),
            ("INFRA_LIMIT_HIT", "limit", json!(1e300)),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!("-99")),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!(-1)),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!("1e12")),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!("lots")),
        ];
        for (kind, key, bad) in refused {
            let field = field_of(with(kind, key, bad.clone()));
            assert_eq!(field, format!("metadata.{key}"), "{kind} {key} = {bad}");
        }
        let taken = [
            ("LLM_CALL_MADE", "tokens_in", json!(0)),
            ("LLM_CALL_MADE", "tokens_out", json!(i32::MAX)),
            ("LLM_CALL_MADE", "tokens_out", json!(12.0)),
            ("INFRA_LIMIT_HIT", "current", json!(0.75)),
            ("INFRA_LIMIT_HIT", "limit", json!(1e15)),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!("99.00")),
            ("SUBSCRIPTION_STARTED", "price_usd_month", json!(0)),
        ];
        for (kind, key, good) in taken {
            let event = with(kind, key, good.clone());
            assert!(
                validate_event(0, event, now()).is_ok(),
                "{kind} {key} = {good}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_non_objects_are_refused() {
        let mut event = valid();
        event["colour"] = json!("red");
        assert_eq!(field_of(event), "colour");
        assert_eq!(field_of(json!([1])), "event");
    }

    #[test]
    fn all_problems_of_one_event_are_reported_together() {
        let error = validate_event(3, json!({"severity": 9}), now()).unwrap_err();
        assert_eq!(error.index, 3);
        let mut fields = vec![error.field.clone()];
        fields.extend(error.also.iter().map(|p| p.field.clone()));
        assert!(fields.contains(&"tenant_id".to_owned()));
        assert!(fields.contains(&"event_type".to_owned()));
        assert!(fields.contains(&"severity".to_owned()));
    }

    #[test]
    fn metadata_the_analytics_read_must_have_the_right_type() {
        let mut event = valid();
        event["metadata"]["tokens_in"] = json!("ten");
        assert_eq!(field_of(event), "metadata.tokens_in");
        let mut event = valid();
        event["metadata"]["note"] = json!("a\u{0000}b");
        assert_eq!(field_of(event), "metadata");
    }

    #[test]
    fn costs_keep_at_most_six_places_and_accept_strings() {
        let mut event = valid();
        event["cost_usd"] = json!("1.500000");
        assert_eq!(
            validate_event(0, event, now()).unwrap().cost_usd,
            Some(Decimal::new(15, 1))
        );
        let mut event = valid();
        event["cost_usd"] = json!(9999.999999);
        assert!(validate_event(0, event, now()).is_ok());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON value, a few levels deep.
        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| json!(f)),
                ".{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,8}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Whatever arrives, the validator answers (no panic), and what it accepts
            /// comes back unchanged through the wire format.
            #[test]
            fn any_value_is_answered_and_what_passes_round_trips(value in any_json()) {
                if let Ok(event) = validate_event(0, value, now()) {
                    let wire = serde_json::to_value(&event).unwrap();
                    prop_assert_eq!(validate_event(0, wire, now()).unwrap(), event);
                }
            }

            /// A valid event with any one field replaced by an arbitrary value is either still
            /// valid, or refused naming exactly that field.
            #[test]
            fn a_bad_field_is_the_one_named(field in 0..FIELDS.len(), value in any_json()) {
                let mut event = valid();
                event[FIELDS[field]] = value;
                match validate_event(0, event, now()) {
                    Ok(_) => {}
                    Err(e) => prop_assert_eq!(e.field.as_str(), FIELDS[field], "{:?}", e),
                }
            }

            /// Numbers outside their ranges are always refused.
            #[test]
            fn out_of_range_numbers_are_refused(n in prop_oneof![i64::MIN..0i64, (i64::from(i32::MAX) + 1)..i64::MAX]) {
                for field in ["latency_ms", "severity"] {
                    let mut event = valid();
                    event[field] = json!(n);
                    prop_assert_eq!(field_of(event), field);
                }
            }

            /// Token counts the pages sum are refused outside 0..=i32::MAX, by name.
            #[test]
            fn out_of_range_token_counts_are_refused(n in prop_oneof![i64::MIN..0i64, (i64::from(i32::MAX) + 1)..i64::MAX]) {
                for key in ["tokens_in", "tokens_out"] {
                    let mut event = valid();
                    event["metadata"][key] = json!(n);
                    prop_assert_eq!(field_of(event), format!("metadata.{key}"));
                }
            }

            /// Any object of unknown keys at the top level is refused by name.
            #[test]
            fn unknown_top_level_keys_are_refused(key in "[a-z_]{1,12}") {
                prop_assume!(!FIELDS.contains(&key.as_str()));
                let mut event = valid();
                event[key.as_str()] = json!(1);
                prop_assert!(validate_event(0, event, now()).is_err());
            }
        }
    }
}
