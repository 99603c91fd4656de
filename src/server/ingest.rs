//! Ingestion: the rules (decoding and validating, in `ops-ingest`) and storing a batch
//! all-or-nothing and idempotently on `event_id`.

pub use ops_ingest::{
    decode, validate_all, validate_event, DecodeError, FieldError, Framing, MAX_BODY_BYTES,
    MAX_EVENTS,
};

use ops_events::Event;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgExecutor, Row};

/// The answer to an accepted request.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, utoipa::ToSchema)]
pub struct IngestOutcome {
    /// Events newly stored.
    pub accepted: u64,
    /// Events whose `event_id` was already stored: not stored twice.
    pub duplicates: u64,
}

/// Stores a batch in one statement: all of it or nothing, and an `event_id` already present is
/// left alone. The statement commits before this returns.
pub async fn store<'e>(
    db: impl PgExecutor<'e>,
    events: &[Event],
) -> Result<IngestOutcome, sqlx::Error> {
    let n = events.len();
    let mut event_ids = Vec::with_capacity(n);
    let mut timestamps = Vec::with_capacity(n);
    let mut tenant_ids = Vec::with_capacity(n);
    let mut user_ids = Vec::with_capacity(n);
    let mut session_ids = Vec::with_capacity(n);
    let mut event_types = Vec::with_capacity(n);
    let mut entity_types = Vec::with_capacity(n);
    let mut entity_ids = Vec::with_capacity(n);
    let mut severities = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    let mut costs = Vec::with_capacity(n);
    let mut metadata = Vec::with_capacity(n);
    for e in events {
        event_ids.push(e.event_id);
        timestamps.push(e.timestamp);
        tenant_ids.push(e.tenant_id);
        user_ids.push(e.user_id);
        session_ids.push(e.session_id);
        event_types.push(e.event_type.as_str());
        entity_types.push(e.entity_type.as_deref());
        entity_ids.push(e.entity_id);
        severities.push(e.severity);
        latencies.push(e.latency_ms);
        costs.push(e.cost_usd);
        metadata.push(Value::Object(e.metadata.clone()));
    }
    // One statement: the insert, and a notification to every listening server instance (live
    // pages) that PostgreSQL delivers when this commits, only if something new was stored.
    let row = sqlx::query(
        "WITH inserted AS ( \
             INSERT INTO ops_events (event_id, timestamp, tenant_id, user_id, session_id, event_type, \
                                     entity_type, entity_id, severity, latency_ms, cost_usd, metadata) \
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], \
                                  $6::text[], $7::text[], $8::uuid[], $9::int4[], $10::int4[], \
                                  $11::numeric[], $12::jsonb[]) \
             ON CONFLICT (event_id) DO NOTHING \
             RETURNING 1) \
         SELECT n, CASE WHEN n > 0 THEN pg_notify('ops_events', n::text) END IS NULL AS quiet \
         FROM (SELECT count(*) AS n FROM inserted) counted",
    )
    .bind(event_ids)
    .bind(timestamps)
    .bind(tenant_ids)
    .bind(user_ids)
    .bind(session_ids)
    .bind(event_types)
    .bind(entity_types)
    .bind(entity_ids)
    .bind(severities)
    .bind(latencies)
    .bind(costs)
    .bind(metadata)
    .fetch_one(db)
    .await?;
    let accepted = row.try_get::<i64, _>("n")? as u64;
    Ok(IngestOutcome {
        accepted,
        duplicates: n as u64 - accepted,
    })
}
