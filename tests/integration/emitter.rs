//! The emitter against the real server: nothing lost through a server restart, and drops are
//! counted when its queue overflows.

use std::time::Duration;

use crate::common::*;
use ops_emitter::{EmitterConfig, EventEmitter};
use ops_events::Event;
use sqlx::PgPool;
use uuid::Uuid;

fn config(base: &str, capacity: usize) -> EmitterConfig {
    let mut config = EmitterConfig::new(base, INGEST_KEY);
    config.queue_capacity = capacity;
    config.batch_size = 50;
    config.flush_interval = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    config
}

#[sqlx::test]
async fn every_event_arrives_once_through_a_server_restart(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let addr = server.addr;
    let emitter = EventEmitter::start(config(&server.base, 10_000));
    let tenant = Uuid::new_v4();

    for i in 0..300 {
        emitter.emit(Event::api_call_received(tenant, "/v1/guard", "POST", 200).latency_ms(i));
    }
    emitter
        .flush_timeout(Duration::from_secs(10))
        .await
        .expect("first flush");
    server.stop().await;

    // The server is gone: these wait in the queue and are retried.
    for i in 300..700 {
        emitter.emit(Event::api_call_received(tenant, "/v1/guard", "POST", 200).latency_ms(i));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        emitter.stats().retries > 0,
        "the emitter retried while the server was down"
    );

    let server = TestServer::start(pool.clone(), Some(addr)).await;
    emitter
        .shutdown(Duration::from_secs(15))
        .await
        .expect("everything delivered");

    assert_eq!(count_events(&pool).await, 700);
    let distinct: i64 = sqlx::query_scalar("SELECT count(DISTINCT latency_ms) FROM ops_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(distinct, 700, "each event exactly once");
    server.stop().await;
}

#[sqlx::test]
async fn a_full_queue_drops_and_counts(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let base = server.base.clone();
    server.stop().await;
    let emitter = EventEmitter::start(config(&base, 10));
    let tenant = Uuid::new_v4();
    let mut refused = 0;
    for _ in 0..25 {
        if !emitter.emit(Event::login(tenant, "guard")) {
            refused += 1;
        }
    }
    let stats = emitter.stats();
    assert_eq!(refused, 15);
    assert_eq!(stats.dropped, 15);
    assert!(
        emitter
            .flush_timeout(Duration::from_millis(300))
            .await
            .is_err(),
        "nothing can be delivered"
    );
    assert_eq!(count_events(&pool).await, 0);
}
