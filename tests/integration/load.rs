//! 100 dashboard sessions at once (each signed in, its live stream open, a page every 3 s) plus
//! steady ingestion for 60 s against the real server process: not one error. The latencies
//! are printed, not asserted; the benchmark reports them on a realistic volume.

use std::time::Duration;

use crate::common::*;
use ops_console::server::load::{self, LoadOptions, Target};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test]
#[ignore = "a minute of load on both cores: scripts/test runs it alone, after the other tests"]
async fn a_hundred_sessions_and_ingestion_for_a_minute_see_no_error(pool: PgPool) {
    // Some history for the pages to compute: 20 tenants, a day of calls, incidents and views.
    let now = chrono::Utc::now();
    let tenants: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    let mut history = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        history.push(json!({"tenant_id": tenant, "event_type": "SUBSCRIPTION_STARTED",
            "timestamp": now - chrono::Duration::days(20),
            "metadata": {"tenant_name": format!("tenant-{i}"), "plan": "pro", "price_usd_month": 99}}));
        for h in 0..48 {
            let at = now - chrono::Duration::minutes(30 * h + i as i64);
            history.push(
                json!({"tenant_id": tenant, "event_type": "API_CALL_RECEIVED", "timestamp": at,
                "metadata": {"endpoint": "/v1/guard", "method": "POST", "status_code": 200}}),
            );
            if h % 6 == 0 {
                history.push(json!({"tenant_id": tenant, "event_type": "INCIDENT_CREATED", "timestamp": at,
                    "entity_type": "incident", "entity_id": Uuid::new_v4(), "severity": 3,
                    "metadata": {"policy_id": "CONTENT_ACCURACY", "policy_version": "v12", "model": "gpt-4o"}}));
            }
        }
    }
    let events = ops_console::server::ingest::validate_all(history, now).unwrap();
    ops_console::server::ingest::store(&pool, &events)
        .await
        .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The server's log (warnings and errors), to say why a page failed.
    let log_path = std::env::temp_dir().join(format!("ops-console-load-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = spawn_server_with(
        &pool,
        port,
        &[
            ("OPS_ADMIN_EMAIL", ADMIN_EMAIL),
            ("OPS_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ],
        log.into(),
    );
    wait_ready(&base).await;
    let report = load::run(
        &Target {
            base,
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
            ingest_key: INGEST_KEY.into(),
        },
        &LoadOptions {
            sessions: 100,
            duration: Duration::from_secs(60),
            // The server here is a debug build sharing two cores with PostgreSQL and this
            // client: a click every 3 s per session keeps it within what it can serve.
            think: Duration::from_secs(3),
            stagger: Duration::from_millis(50),
            ingest_per_sec: 500,
        },
    )
    .await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    println!(
        "{} page views, p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; {} events ingested; {} live streams",
        report.page_views,
        report.percentile(50.0),
        report.percentile(95.0),
        report.percentile(100.0),
        report.events_ingested,
        report.live_streams
    );
    let errors: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    assert!(
        report.errors.is_empty(),
        "{} errors: {:#?}\nthe server's warnings and errors ({}): {errors:#?}",
        report.errors.len(),
        report.errors,
        log_path.display()
    );
    let _ = std::fs::remove_file(&log_path);
    assert_eq!(report.live_streams, 100);
    assert!(report.page_views >= 100, "{} page views", report.page_views);
    assert!(
        report.events_ingested >= 10_000,
        "{} events",
        report.events_ingested
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ops_events WHERE event_type = 'API_CALL_RECEIVED'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(stored >= report.events_ingested as i64 + 20 * 48);
}
