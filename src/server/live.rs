//! Live pages: PostgreSQL tells every server instance when events were stored (`NOTIFY
//! ops_events`, sent by the ingestion statement itself); each instance coalesces bursts and
//! tells its open pages over server-sent events. No page polls the database.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;

use super::shared::Generation;

/// Set when the process begins to shut down: open streams end, so a graceful shutdown is not
/// held up by pages that would stay connected for ever.
static SHUTDOWN: std::sync::LazyLock<tokio::sync::watch::Sender<bool>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::channel(false).0);

/// Ends every open stream of this process.
pub fn begin_shutdown() {
    SHUTDOWN.send_replace(true);
}

/// How often, at most, open pages are told that something changed.
pub const COALESCE: Duration = Duration::from_millis(250);
const CHANNEL: &str = "ops_events";

/// The live hub of one server instance.
#[derive(Clone)]
pub struct Live {
    changed: broadcast::Sender<()>,
    generation: Generation,
    connections: Arc<AtomicUsize>,
}

impl Live {
    /// Starts listening on `pool`'s database; reconnects by itself when the database returns.
    pub fn start(pool: PgPool) -> Live {
        let (changed, _) = broadcast::channel(16);
        let generation = Generation::default();
        let live = Live {
            changed: changed.clone(),
            generation: generation.clone(),
            connections: Arc::new(AtomicUsize::new(0)),
        };
        let dirty = Arc::new(AtomicBool::new(false));
        tokio::spawn(listen(pool, dirty.clone()));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(COALESCE);
            loop {
                tick.tick().await;
                if dirty.swap(false, Ordering::AcqRel) {
                    // Before the pages hear of it: what they ask next is computed afresh.
                    generation.bump();
                    // No receiver (no open page) is fine.
                    let _ = changed.send(());
                }
            }
        });
        live
    }

    /// Moves before open pages are told that events arrived.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// Open live connections of this instance.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// A server-sent event stream: `ready` at once, then `changed` after new events. The
    /// connection counts as open until the client goes away.
    pub fn stream(&self) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
        use futures::StreamExt;
        let guard = ConnectionGuard::new(self.connections.clone());
        let ready =
            futures::stream::once(async { Ok(SseEvent::default().event("ready").data("live")) });
        let changes = futures::stream::unfold(
            (self.changed.subscribe(), SHUTDOWN.subscribe(), guard),
            |(mut changed, mut shutdown, guard)| async move {
                if *shutdown.borrow_and_update() {
                    return None;
                }
                tokio::select! {
                    received = changed.recv() => match received {
                        Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some((
                            Ok(SseEvent::default().event("changed").data("events")),
                            (changed, shutdown, guard),
                        )),
                        Err(broadcast::error::RecvError::Closed) => None,
                    },
                    _ = shutdown.changed() => None,
                }
            },
        );
        Sse::new(ready.chain(changes))
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}

async fn listen(pool: PgPool, dirty: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "cannot LISTEN; retrying");
                } else {
                    backoff = Duration::from_millis(250);
                    // Whatever happened while not listening counts as a change.
                    dirty.store(true, Ordering::Release);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => dirty.store(true, Ordering::Release),
                            Ok(None) => {
                                tracing::warn!("live listener lost its connection; reconnecting");
                                dirty.store(true, Ordering::Release);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "live listener failed; reconnecting");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "live listener cannot connect yet"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

struct ConnectionGuard(Arc<AtomicUsize>);

impl ConnectionGuard {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(count)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
