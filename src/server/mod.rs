//! Everything that touches the database, HTTP or the clock.

/// Events made in this console (replays, exports, sign-ins marked `source = operator`) and
/// platform events are not customer behaviour and count in no metric.
macro_rules! customer_event {
    () => {
        "tenant_id <> '00000000-0000-0000-0000-000000000000' \
         AND coalesce(metadata->>'source', '') <> 'operator'"
    };
}

/// A tenant's subscription as every per-tenant query reads it: its first event, its first
/// `SUBSCRIPTION_STARTED` (time and metadata) and its first cancellation, the lowest `event_id`
/// first among equal times. The plain definitions (`plain.rs`) read it.
macro_rules! subscription_columns {
    () => {
        "min(timestamp) AS first_event, \
         min(timestamp) FILTER (WHERE event_type = 'SUBSCRIPTION_STARTED') AS subscribed_at, \
         (array_agg(metadata ORDER BY timestamp, event_id) FILTER (WHERE event_type = 'SUBSCRIPTION_STARTED'))[1] AS subscription, \
         min(timestamp) FILTER (WHERE event_type = 'SUBSCRIPTION_CANCELLED') AS cancelled_at, "
    };
}

pub mod alerts;
pub mod analytics;
pub mod api;
pub mod archive;
pub mod auth;
pub mod bench;
pub mod charts;
pub mod collector;
pub mod config;
pub mod customers;
pub mod db;
pub mod demo;
pub mod error;
pub mod events_query;
pub mod http;
pub mod incidents;
pub mod infra;
pub mod ingest;
pub mod live;
pub mod load;
pub mod plain;
pub mod pulse;
pub mod replay;
pub mod revenue;
pub mod rollup;
pub mod session;
pub mod shared;
pub mod state;
pub mod stickiness;
