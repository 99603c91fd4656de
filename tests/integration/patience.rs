//! A busy database is waited for, a database that is down is reported: `db::patiently` repeats
//! a read whose pool had no free connection only while the database still takes connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use ops_console::server::db;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// A pool of one connection that gives up on it after 300 ms.
fn one_connection(options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy_with(options)
}

/// `SELECT 1` on `pool`, counting the attempts.
async fn select_one(pool: &PgPool, attempts: &AtomicUsize) -> Result<i32, sqlx::Error> {
    attempts.fetch_add(1, Ordering::SeqCst);
    sqlx::query_scalar("SELECT 1").fetch_one(pool).await
}

#[sqlx::test]
async fn a_busy_pool_is_waited_for(pool: PgPool) {
    let busy = one_connection((*pool.connect_options()).clone());
    let held = busy.acquire().await.unwrap();
    // Alone, a read while the only connection is held fails.
    let once = AtomicUsize::new(0);
    assert!(matches!(
        select_one(&busy, &once).await,
        Err(sqlx::Error::PoolTimedOut)
    ));
    // Patiently, it waits until the connection comes back, over several pool waits.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(held);
    });
    let attempts = AtomicUsize::new(0);
    let answer = db::patiently(&busy, Duration::from_secs(30), || {
        select_one(&busy, &attempts)
    })
    .await;
    release.await.unwrap();
    assert_eq!(answer.unwrap(), 1);
    assert!(attempts.load(Ordering::SeqCst) >= 2);
}

#[sqlx::test]
async fn a_database_that_is_down_is_reported_after_one_wait(pool: PgPool) {
    let proxy = DbProxy::start(db_addr(&pool)).await;
    let options: PgConnectOptions = (*pool.connect_options()).clone();
    let through = one_connection(options.host("127.0.0.1").port(proxy.addr.port()));
    // The pool is full, as under load, when the database goes away.
    let held = through.acquire().await.unwrap();
    proxy.cut();
    assert!(!db::reachable(&through).await);
    let attempts = AtomicUsize::new(0);
    let answer = db::patiently(&through, Duration::from_secs(30), || {
        select_one(&through, &attempts)
    })
    .await;
    let error = answer.unwrap_err();
    assert!(db::is_unavailable(&error), "{error}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // Back up: the same pool answers again.
    proxy.restore();
    drop(held);
    assert!(db::reachable(&through).await);
    let again = AtomicUsize::new(0);
    let answer = db::patiently(&through, Duration::from_secs(30), || {
        select_one(&through, &again)
    })
    .await;
    assert_eq!(answer.unwrap(), 1);
}

#[sqlx::test]
async fn a_database_too_slow_to_take_a_connection_is_waited_for(pool: PgPool) {
    let proxy = DbProxy::start(db_addr(&pool)).await;
    let options: PgConnectOptions = (*pool.connect_options()).clone();
    let through = one_connection(options.host("127.0.0.1").port(proxy.addr.port()));
    // The pool is full, and the database takes no new connection in time: busy, not down.
    let held = through.acquire().await.unwrap();
    proxy.stall();
    assert!(db::reachable(&through).await);
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(held);
    });
    let attempts = AtomicUsize::new(0);
    let answer = db::patiently(&through, Duration::from_secs(30), || {
        select_one(&through, &attempts)
    })
    .await;
    release.await.unwrap();
    assert_eq!(answer.unwrap(), 1);
    assert!(attempts.load(Ordering::SeqCst) >= 2);
    proxy.restore();
}
