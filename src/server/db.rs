//! The pool and the migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// The migrations in `migrations/`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// A pool that connects lazily and gives up on a connection after a few seconds, so a dead
/// database turns into a prompt 503 instead of a hung request.
pub fn pool(database_url: &str) -> Result<PgPool, sqlx::Error> {
    Ok(pool_with(database_url.parse()?))
}

pub fn pool_with(options: PgConnectOptions) -> PgPool {
    // The page queries are short and planned with rough row counts (arrays of window pieces):
    // PostgreSQL's JIT would compile them for tens of milliseconds to save a few, and the
    // default 4 MB of work_mem makes their hash aggregates spill to disk. Their parameters (an
    // optional tenant, the window pieces) decide the plan, so a cached generic plan, which
    // PostgreSQL would otherwise switch to after five runs, scans whole tables.
    let options = options.options([
        ("jit", "off"),
        ("work_mem", "32MB"),
        ("plan_cache_mode", "force_custom_plan"),
    ]);
    PgPoolOptions::new()
        .max_connections(16)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options)
}

/// A pool beside the analytics one ([`AppState::intake`](super::state::AppState::intake),
/// [`AppState::auth`](super::state::AppState::auth)): the same database, `n` connections, never
/// shared with page analytics.
pub fn side_pool(analytics: &PgPool, n: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(n)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with((*analytics.connect_options()).clone())
}

/// Opens `n` connections of `pool` at once and returns them to it. A pool opens connections
/// when asked for them; a hundred dashboards opening at once would otherwise each wait behind
/// the others' connection set-up. Failures are left to the requests that follow.
pub async fn warm(pool: &PgPool, n: usize) {
    let opened = futures::future::join_all((0..n).map(|_| pool.acquire())).await;
    let failed = opened.iter().filter(|c| c.is_err()).count();
    if failed > 0 {
        tracing::debug!(failed, "could not open every connection ahead of time");
    }
}

/// How long a request queues for a busy database before it gives up (a gateway's usual
/// patience). A database that is down is reported after one pool wait instead.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// PostgreSQL's SQLSTATE for "too many connections": the database is up, but full.
const TOO_MANY_CONNECTIONS: &str = "53300";

/// Whether the database is up, however busy its pool may be: it accepts a new connection, or
/// it is too slow to answer one within two seconds, or it refuses one only for having too many.
/// A database that is down refuses at once (nothing listens, or it is shutting down or starting
/// up). A slow answer is taken as busy, not down: on a loaded machine right after a restart a
/// new connection can take seconds, and [`patiently`]'s own deadline still bounds the wait.
/// (A pool's own size cannot tell: while the database is down the pool counts the connections
/// it is still trying to open.)
pub async fn reachable(pool: &PgPool) -> bool {
    use sqlx::Connection;
    let options = pool.connect_options();
    let connect = sqlx::PgConnection::connect_with(&options);
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            true
        }
        Ok(Err(error)) => {
            let crowded = matches!(&error, sqlx::Error::Database(db)
                if db.code().as_deref() == Some(TOO_MANY_CONNECTIONS));
            if !crowded {
                tracing::warn!(%error, "the database refused a new connection; taking it as down");
            }
            crowded
        }
        Err(_) => {
            tracing::debug!("no new connection within 2 s; taking the database as busy");
            true
        }
    }
}

/// Runs `op`, and runs it again while it fails only because `pool` had no free connection and
/// the database is [`reachable`], until `patience` has passed. A busy moment then queues the
/// request, as a loaded service should, instead of turning into "data unavailable"; a database
/// that is down is still reported after a single pool wait. `op` must be safe to repeat: a
/// read.
pub async fn patiently<T, F, Fut>(
    pool: &PgPool,
    patience: Duration,
    mut op: F,
) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match op().await {
            Err(sqlx::Error::PoolTimedOut)
                if tokio::time::Instant::now() < deadline && reachable(pool).await =>
            {
                tracing::debug!("every connection busy; waiting for another turn");
            }
            other => return other,
        }
    }
}

/// Runs the migrations, waiting up to `patience` for the database to come up.
pub async fn migrate(pool: &PgPool, patience: Duration) -> Result<(), sqlx::migrate::MigrateError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match MIGRATOR.run(pool).await {
            Err(sqlx::migrate::MigrateError::Execute(e))
                if is_unavailable(&e) && tokio::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// Whether an error means "the database cannot be reached right now" (retrying may help)
/// rather than "this statement is wrong".
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot
            // connect now.
            code.starts_with("08") || code.starts_with("57P") || code == TOO_MANY_CONNECTIONS
        }),
        _ => false,
    }
}
