//! The database away for 30 s under ingestion and page views: ingestion answers 503, pages and
//! the read API say the data is unavailable, `/readyz` is 503; when it returns everything
//! recovers without a restart and the emitter delivers its backlog, nothing lost. Once with a
//! proxy that drops every connection (alongside the other tests), once with PostgreSQL itself
//! stopped and started again (`scripts/test` runs that one on its own, as it stops the cluster
//! every test uses).

use std::time::{Duration, Instant};

use crate::common::*;
use ops_emitter::{EmitterConfig, EventEmitter};
use ops_events::Event;
use sqlx::PgPool;
use uuid::Uuid;

async fn page(server: &TestServer, cookie: &str) -> (u16, String) {
    let response = browser()
        .get(server.url("/"))
        .header("cookie", cookie)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn current_operator(server: &TestServer, cookie: &str) -> u16 {
    let path = server_function("current_operator");
    browser()
        .post(server.url(&path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .timeout(Duration::from_secs(15))
        .body("")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[sqlx::test]
async fn thirty_seconds_without_the_database_lose_nothing(pool: PgPool) {
    let proxy = DbProxy::start(db_addr(&pool)).await;
    let server_pool = proxy.pool(&pool);
    let proxy = std::sync::Arc::new(proxy);
    let (down, up) = (proxy.clone(), proxy.clone());
    thirty_seconds_without(pool, server_pool, move || down.cut(), move || up.restore()).await;
}

/// Runs a shell command of the environment variable `var` (set by `scripts/test`).
fn run_env_command(var: &str) {
    let command = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&command)
        .status()
        .unwrap();
    assert!(status.success(), "{var}: {command}");
}

#[sqlx::test]
#[ignore = "stops the PostgreSQL every test uses: scripts/test runs it alone, with OPS_PG_STOP and OPS_PG_START"]
async fn postgres_really_stopped_for_thirty_seconds_loses_nothing(pool: PgPool) {
    let server_pool = pool.clone();
    thirty_seconds_without(
        pool,
        server_pool,
        || run_env_command("OPS_PG_STOP"),
        || run_env_command("OPS_PG_START"),
    )
    .await;
}

async fn thirty_seconds_without(
    pool: PgPool,
    server_pool: PgPool,
    go_down: impl Fn(),
    come_back: impl Fn(),
) {
    create_admin(&pool).await;
    let server = TestServer::start(server_pool, None).await;
    let cookie = sign_in(&server).await;
    assert_eq!(page(&server, &cookie).await.0, 200);

    let mut config = EmitterConfig::new(&server.base, INGEST_KEY);
    config.batch_size = 100;
    config.flush_interval = Duration::from_millis(50);
    config.max_backoff = Duration::from_secs(2);
    let emitter = EventEmitter::start(config);
    let tenant = Uuid::new_v4();
    let emit = |from: i32, to: i32| {
        for i in from..to {
            assert!(emitter
                .emit(Event::api_call_received(tenant, "/v1/guard", "POST", 200).latency_ms(i)));
        }
    };
    emit(0, 500);
    emitter
        .flush_timeout(Duration::from_secs(20))
        .await
        .expect("delivered while up");

    go_down();
    let down_since = Instant::now();
    let mut next = 500;
    let mut checked = false;
    while down_since.elapsed() < Duration::from_secs(30) {
        emit(next, next + 100);
        next += 100;
        if !checked {
            let (status, body) = page(&server, &cookie).await;
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("Data unavailable"), "{body}");
            assert_eq!(current_operator(&server, &cookie).await, 503);
            // Ingestion refuses with 503 and says why: not a 500, and not a hang (the client
            // gives up after 15 s, which fails the test).
            let ingest = reqwest::Client::new()
                .post(server.url("/api/v1/ops/events"))
                .bearer_auth(INGEST_KEY)
                .json(&serde_json::json!([Event::api_call_received(
                    tenant,
                    "/v1/guard",
                    "POST",
                    200
                )]))
                .timeout(Duration::from_secs(15))
                .send()
                .await
                .expect("ingestion answers while the database is away");
            assert_eq!(ingest.status(), 503);
            let said: serde_json::Value = ingest.json().await.unwrap();
            assert!(
                said["error"].as_str().unwrap().contains("unavailable"),
                "{said}"
            );
            let api = api_get(&server, "/api/v1/ops/pulse").await;
            assert_eq!(api.status(), 503);
            let ready = reqwest::get(server.url("/readyz")).await.unwrap();
            assert_eq!(ready.status(), 503);
            assert_eq!(
                reqwest::get(server.url("/healthz")).await.unwrap().status(),
                200
            );
            checked = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(emitter.stats().retries > 0, "the emitter retried meanwhile");

    come_back();
    let back = Instant::now();
    while page(&server, &cookie).await.0 != 200 {
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "pages recover without a restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(current_operator(&server, &cookie).await, 200);
    assert_eq!(api_get(&server, "/api/v1/ops/pulse").await.status(), 200);
    emitter
        .shutdown(Duration::from_secs(60))
        .await
        .expect("the backlog is delivered");
    let (stored, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT latency_ms) FROM ops_events WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (stored, distinct),
        (i64::from(next), i64::from(next)),
        "each event exactly once"
    );
    server.stop().await;
}
