//! Live pages: an event stored through one server instance reaches the open stream of another,
//! through PostgreSQL's LISTEN/NOTIFY.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Reads the stream until `event: {name}` arrives; `false` if it does not within `patience`.
async fn wait_for(
    response: &mut reqwest::Response,
    seen: &mut String,
    name: &str,
    patience: Duration,
) -> bool {
    let needle = format!("event: {name}");
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(at) = seen.find(&needle) {
            seen.drain(..at + needle.len());
            return true;
        }
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => return false,
        }
    }
}

#[sqlx::test]
async fn a_stored_event_reaches_the_open_stream_of_another_instance(pool: PgPool) {
    let writer = TestServer::start(pool.clone(), None).await;
    let reader = TestServer::start(pool.clone(), None).await;
    let mut stream = reqwest::Client::new()
        .get(reader.url("/api/v1/ops/stream"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut seen = String::new();
    assert!(wait_for(&mut stream, &mut seen, "ready", Duration::from_secs(5)).await);
    // The listener reports a change when it (re)connects; let that one pass first.
    let _ = wait_for(&mut stream, &mut seen, "changed", Duration::from_secs(1)).await;

    let event =
        json!({"tenant_id": Uuid::new_v4(), "event_type": "INCIDENT_CREATED", "severity": 3});
    let stored = reqwest::Client::new()
        .post(writer.url("/api/v1/ops/events"))
        .bearer_auth(INGEST_KEY)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    assert!(
        wait_for(&mut stream, &mut seen, "changed", Duration::from_secs(2)).await,
        "the other instance's page heard of the new event within 2 s"
    );

    // A resend stores nothing, so nobody is told anything.
    let post_login = || {
        reqwest::Client::new()
            .post(writer.url("/api/v1/ops/events"))
            .bearer_auth(INGEST_KEY)
            .json(
                &json!({"event_id": Uuid::nil(), "tenant_id": Uuid::nil(), "event_type": "LOGIN"}),
            )
            .send()
    };
    assert_eq!(
        post_login()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["accepted"],
        1
    );
    assert!(wait_for(&mut stream, &mut seen, "changed", Duration::from_secs(2)).await);
    assert_eq!(
        post_login()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["duplicates"],
        1
    );
    assert!(
        !wait_for(&mut stream, &mut seen, "changed", Duration::from_secs(1)).await,
        "a request that stored nothing notifies nobody"
    );

    let anonymous = reqwest::get(reader.url("/api/v1/ops/stream"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    drop(stream);
    writer.stop().await;
    reader.stop().await;
}
