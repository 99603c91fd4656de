//! The console samples its own resources and reports them like any product service would:
//! `INFRA_LIMIT_HIT` events (`resource`, `current`, `limit`) for the platform tenant, so Infra
//! & Limits shows them beside the rest.

use std::time::Duration;

use ops_events::Event;
use sqlx::PgPool;

use super::ingest;
use super::live::Live;

/// Samples every `interval` until the process ends.
pub fn start(pool: PgPool, live: Live, max_live_connections: u32, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sample_once(&pool, &live, max_live_connections).await {
                Ok(n) => tracing::debug!(samples = n, "resources sampled"),
                // The database being away is reported by /readyz; the next tick tries again.
                Err(e) => tracing::warn!(error = %e, "could not sample resources"),
            }
        }
    });
}

/// Takes one sample of each resource and stores it; returns how many were stored.
pub async fn sample_once(
    pool: &PgPool,
    live: &Live,
    max_live_connections: u32,
) -> Result<usize, sqlx::Error> {
    let (connections, max_connections): (i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
                current_setting('max_connections')::int",
    )
    .fetch_one(pool)
    .await?;
    let samples = vec![
        Event::infra_limit_hit(
            "postgres_connections",
            connections as f64,
            f64::from(max_connections),
            Some("connections"),
        )
        .meta("source", "collector"),
        Event::infra_limit_hit(
            "live_connections",
            live.connections() as f64,
            f64::from(max_live_connections),
            Some("connections"),
        )
        .meta("source", "collector"),
    ];
    ingest::store(pool, &samples).await?;
    Ok(samples.len())
}
