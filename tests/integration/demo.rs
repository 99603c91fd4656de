//! The demo world loads once through the ingestion path, says so when run again, and a
//! replacement removes exactly its own events.

use crate::common::*;
use chrono::{Duration, SubsecRound, Utc};
use ops_console::server::demo::{load, DemoOutcome};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test]
async fn the_demo_world_loads_once_and_is_replaced_exactly(pool: PgPool) {
    // An event that is not the demo's: it must survive everything below.
    let server = TestServer::start(pool.clone(), None).await;
    let own = Uuid::new_v4();
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/ops/events"))
        .bearer_auth(INGEST_KEY)
        .json(&serde_json::json!({"event_id": own, "tenant_id": Uuid::nil(), "event_type": "LOGIN", "metadata": {"source": "operator"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;

    let first_end = (Utc::now() - Duration::hours(1)).trunc_subsecs(0);
    let loaded = load(&pool, 7, false, first_end, false).await.unwrap();
    let DemoOutcome::Loaded {
        events,
        tenants,
        replaced,
        ..
    } = loaded
    else {
        panic!("expected a fresh load, got {loaded:?}");
    };
    assert!(!replaced);
    assert!((55..=70).contains(&tenants), "{tenants} tenants");
    assert!(events > 100_000, "{events} events");
    assert_eq!(count_events(&pool).await, events + 1);

    // Every one of the 15 types is there, and the last 24 hours are populated.
    let types: i64 = sqlx::query_scalar("SELECT count(DISTINCT event_type) FROM ops_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(types, 15);
    let recent: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events WHERE timestamp > $1")
        .bind(first_end - Duration::hours(24))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(recent > 1000, "{recent} events in the last 24 h");

    // Again: nothing changes, and it says so.
    let again = load(&pool, 7, false, Utc::now(), false).await.unwrap();
    assert_eq!(
        again,
        DemoOutcome::AlreadyLoaded {
            ends_at: first_end,
            events
        }
    );
    assert_eq!(count_events(&pool).await, events + 1);

    // Replaced: a fresh world ending later, the same size, and our own event untouched.
    let second_end = Utc::now();
    let replaced = load(&pool, 7, true, second_end, false).await.unwrap();
    let DemoOutcome::Loaded {
        events: second,
        replaced: true,
        ..
    } = replaced
    else {
        panic!("expected a replacement, got {replaced:?}");
    };
    assert_eq!(count_events(&pool).await, second + 1);
    let latest: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT max(timestamp) FROM ops_events WHERE event_id <> $1")
            .bind(own)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(latest > first_end, "the new world ends later");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events WHERE event_id = $1")
        .bind(own)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}
