//! Infra & Limits on samples whose growth, peak and limit are known by construction.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::server::{infra, ingest};
use ops_events::Event;
use sqlx::PgPool;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

const REDIS_START: f64 = 500.0;
const REDIS_PER_DAY: f64 = 4.2;

async fn fixture(pool: &PgPool) {
    let mut events = Vec::new();
    // Fourteen days of hourly samples, the newest at t0.
    for h in 0..(14 * 24) {
        let at = t0() - Duration::hours(14 * 24 - 1 - h);
        let redis = REDIS_START + REDIS_PER_DAY / 24.0 * h as f64;
        events.push(Event::infra_limit_hit("redis", redis, 1024.0, Some("MB")).at(at));
        events.push(Event::infra_limit_hit("db_connections", 120.0, 200.0, None).at(at));
        events.push(
            Event::infra_limit_hit("sse_connections", 3000.0 - h as f64, 5000.0, None).at(at),
        );
    }
    // One spike: the week's peak of SSE connections.
    events.push(
        Event::infra_limit_hit("sse_connections", 4100.0, 5000.0, None)
            .at(t0() - Duration::hours(30) + Duration::minutes(17)),
    );
    // Not a sample the analytics can read: ignored.
    events.push(
        Event::new(
            ops_events::EventType::InfraLimitHit,
            ops_events::PLATFORM_TENANT,
        )
        .meta("resource", "broken")
        .at(t0()),
    );
    ingest::store(pool, &events).await.unwrap();
}

#[sqlx::test]
async fn growth_exhaustion_peak_and_backtest(pool: PgPool) {
    fixture(&pool).await;
    let infra = infra::infra(&pool, t0()).await.unwrap();
    let names: Vec<&str> = infra
        .resources
        .iter()
        .map(|r| r.resource.as_str())
        .collect();
    // Redis runs out first; the others are not growing, the fuller first (db 60%, SSE 53%).
    assert_eq!(names, vec!["redis", "db_connections", "sse_connections"]);

    let redis = &infra.resources[0];
    let current = REDIS_START + REDIS_PER_DAY / 24.0 * (14.0 * 24.0 - 1.0);
    assert!((redis.current - current).abs() < 1e-9);
    assert_eq!(redis.limit, 1024.0);
    assert_eq!(
        redis.utilization_pct,
        (current / 1024.0 * 1000.0).round() / 10.0
    );
    assert!(
        (redis.daily_growth - REDIS_PER_DAY).abs() / REDIS_PER_DAY < 0.10,
        "{}",
        redis.daily_growth
    );
    let truth = (1024.0 - current) / REDIS_PER_DAY;
    let days = redis.days_to_exhaustion.unwrap();
    assert!((days - truth).abs() / truth < 0.10, "{days} vs {truth}");
    assert_eq!(
        redis.sentence,
        format!("Stable — {} days headroom", days.floor() as i64)
    );
    assert!(
        redis.backtest_error_pct.unwrap() < 1.0,
        "a straight line is projected almost exactly"
    );
    assert_eq!(redis.hourly.len(), 7 * 24);
    assert_eq!(redis.projection.len(), 7 * 24);
    assert_eq!(redis.unit.as_deref(), Some("MB"));

    let sse = &infra.resources[2];
    assert_eq!(sse.days_to_exhaustion, None, "shrinking");
    assert_eq!(
        (sse.peak, sse.peak_at),
        (4100.0, t0() - Duration::hours(30) + Duration::minutes(17))
    );
    assert_eq!(sse.sentence, "Stable — upgrade at 80%");

    let db = &infra.resources[1];
    assert_eq!(db.days_to_exhaustion, None, "flat");
    assert_eq!(
        (db.current, db.utilization_pct, db.sentence.as_str()),
        (120.0, 60.0, "Stable")
    );
}

#[sqlx::test]
async fn as_of_and_the_api(pool: PgPool) {
    fixture(&pool).await;
    // Ten days earlier there are four days of history: enough to fit, not to backtest.
    let earlier = infra::infra(&pool, t0() - Duration::days(10))
        .await
        .unwrap();
    let redis = earlier
        .resources
        .iter()
        .find(|r| r.resource == "redis")
        .unwrap();
    assert!(
        (redis.current - (REDIS_START + REDIS_PER_DAY / 24.0 * (4.0 * 24.0 - 1.0))).abs() < 1e-9
    );
    assert_eq!(redis.backtest_error_pct, None);

    let server = crate::common::TestServer::start(pool, None).await;
    let body =
        crate::common::api_json(&server, "/api/v1/ops/infra?as_of=2026-11-20T12:00:00Z").await;
    let first = &body["resources"][0];
    for field in [
        "resource",
        "current",
        "limit",
        "utilization_pct",
        "daily_growth",
        "days_to_exhaustion",
        "peak",
        "peak_at",
    ] {
        assert!(first.get(field).is_some(), "{field}");
    }
    assert_eq!(first["resource"], "redis");
    assert!(body["resources"][1]["days_to_exhaustion"].is_null());
    let anonymous = reqwest::get(server.url("/api/v1/ops/infra")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    server.stop().await;
}

#[sqlx::test]
async fn the_collector_reports_the_servers_own_resources(pool: PgPool) {
    let live = ops_console::server::live::Live::start(pool.clone());
    let round = ops_console::server::collector::Collector::new(pool.clone(), live, 250, None)
        .unwrap()
        .sample_once()
        .await
        .unwrap();
    assert_eq!(round.stored, 2);
    let max_connections: i32 = sqlx::query_scalar("SELECT current_setting('max_connections')::int")
        .fetch_one(&pool)
        .await
        .unwrap();
    let infra = infra::infra(&pool, Utc::now()).await.unwrap();
    let postgres = infra
        .resources
        .iter()
        .find(|r| r.resource == "postgres_connections")
        .unwrap();
    // This test's own connection is one of them.
    assert!(postgres.current >= 1.0);
    assert_eq!(postgres.limit, f64::from(max_connections));
    let live_connections = infra
        .resources
        .iter()
        .find(|r| r.resource == "live_connections")
        .unwrap();
    assert_eq!(
        (live_connections.current, live_connections.limit),
        (0.0, 250.0)
    );
}
