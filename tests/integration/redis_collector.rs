//! The collector's Redis path against a real `redis-server`: `used_memory` against
//! `maxmemory` (or the machine's memory when Redis is uncapped), in MB, as `redis` samples.

use ops_console::server::collector::Collector;
use ops_console::server::live::Live;
use serde_json::Value;
use sqlx::PgPool;

use crate::redis_server::RedisServer;

const MB: f64 = 1024.0 * 1024.0;

async fn redis_samples(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT metadata FROM ops_events \
         WHERE event_type = 'INFRA_LIMIT_HIT' AND metadata->>'resource' = 'redis' \
         ORDER BY timestamp",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn collector(pool: &PgPool, redis_url: Option<&str>) -> Collector {
    Collector::new(pool.clone(), Live::start(pool.clone()), 100, redis_url).unwrap()
}

#[sqlx::test]
async fn redis_memory_is_sampled_against_maxmemory(pool: PgPool) {
    let redis = RedisServer::start("64mb").await;
    // Give Redis something to hold: 8 values of 512 KiB.
    let mut c = redis.connection().await.unwrap();
    for i in 0..8 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(vec![b'x'; 512 * 1024])
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let before = redis.memory_field("used_memory").await as f64 / MB;

    let round = collector(&pool, Some(&redis.url()))
        .sample_once()
        .await
        .unwrap();
    assert_eq!((round.stored, round.problems.len()), (3, 0), "{round:?}");
    let after = redis.memory_field("used_memory").await as f64 / MB;

    let samples = redis_samples(&pool).await;
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!(s["limit"].as_f64(), Some(64.0));
    assert_eq!(s["unit"], "MB");
    assert_eq!(s["limit_source"], "maxmemory");
    assert_eq!(s["source"], "collector");
    // The four megabytes written are in the reading, which lies near the test's own reads just
    // before and after. Not strictly between them: used_memory counts every client's buffers,
    // and the collector reads over a connection of its own (seen: 6.59 MB read between 6.56
    // and 5.95), so half a megabyte either way is allowed.
    let current = s["current"].as_f64().unwrap();
    assert!(current > 4.0, "{current}");
    assert!(
        current >= before.min(after) - 0.5 && current <= before.max(after) + 0.5,
        "{before} ≈ {current} ≈ {after}"
    );

    // Infra & Limits shows it as a resource with its limit.
    let infra = ops_console::server::infra::infra(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let r = infra
        .resources
        .iter()
        .find(|r| r.resource == "redis")
        .unwrap();
    assert_eq!((r.current, r.limit), (current, 64.0));
}

#[sqlx::test]
async fn an_uncapped_redis_is_measured_against_the_machines_memory(pool: PgPool) {
    let redis = RedisServer::start("0").await;
    let system = redis.memory_field("total_system_memory").await;
    assert!(system > 0);
    let round = collector(&pool, Some(&redis.url()))
        .sample_once()
        .await
        .unwrap();
    assert_eq!(round.stored, 3, "{round:?}");
    let samples = redis_samples(&pool).await;
    let expected = (system as f64 / MB * 100.0).round() / 100.0;
    assert_eq!(samples[0]["limit"].as_f64(), Some(expected));
    assert_eq!(samples[0]["limit_source"], "total_system_memory");
}

#[sqlx::test]
async fn a_redis_that_is_away_costs_only_its_own_sample(pool: PgPool) {
    // A port nobody listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let round = collector(&pool, Some(&format!("redis://127.0.0.1:{port}/")))
        .sample_once()
        .await
        .unwrap();
    assert_eq!(round.stored, 2);
    assert_eq!(round.problems.len(), 1);
    assert!(
        round.problems[0].starts_with("redis: "),
        "{:?}",
        round.problems
    );
    assert!(redis_samples(&pool).await.is_empty());
}

#[sqlx::test]
async fn without_redis_url_no_redis_is_sampled(pool: PgPool) {
    let round = collector(&pool, None).sample_once().await.unwrap();
    assert_eq!((round.stored, round.problems.len()), (2, 0));
    assert!(redis_samples(&pool).await.is_empty());
    assert!(Collector::new(
        pool.clone(),
        Live::start(pool.clone()),
        1,
        Some("not a url")
    )
    .is_err());
}
