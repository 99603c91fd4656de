//! Sends [`Event`]s from a product service to the Ops Console.
//!
//! An [`EventEmitter`] keeps events in a bounded in-memory queue and a background Tokio task
//! posts them in batches to `POST {base_url}/api/v1/ops/events` with the service's ingest key.
//! [`emit`](EventEmitter::emit) never waits and never fails the caller: telemetry must not slow
//! down or break the request that produced it.
//!
//! # Delivery
//!
//! * A batch is sent when it holds [`batch_size`](EmitterConfig::batch_size) events, when
//!   [`flush_interval`](EmitterConfig::flush_interval) has passed, or when a flush is asked for.
//! * When the console cannot take a batch (network error, timeout, `5xx` such as `503`, `408`,
//!   `429`) the same batch, with the same event ids, is sent again after an exponential, jittered
//!   pause of at most [`max_backoff`](EmitterConfig::max_backoff), for as long as it takes. The
//!   console stores each `event_id` once, so a retry of a batch that was in fact stored is
//!   counted in [`EmitterStats::duplicates`] and stored nothing twice.
//! * Meanwhile new events keep queueing. The capacity counts the events waiting *and* the batch
//!   in flight, so memory stays bounded however long an outage lasts; past it `emit` drops
//!   events and counts them in [`EmitterStats::dropped`].
//! * A refusal that repeating cannot change (`400`, `401`, `413` of a single event, `422`, other
//!   `4xx`) is logged with `tracing::warn!` together with the console's answer, and those events
//!   are counted in [`EmitterStats::rejected`] and dropped. A `413` first splits the batch in
//!   halves, and a `422` rejects only the events it names and sends the rest of the batch again,
//!   so that one bad event does not cost its neighbours.
//! * The ingest key is sent only in the `Authorization` header; it is never logged.
//!
//! On shutdown call [`shutdown`](EventEmitter::shutdown) (or [`flush_timeout`](EventEmitter::flush_timeout))
//! so that queued events reach the console before the process ends. Dropping every handle without
//! it makes the task send what it holds once, without retrying, and end.
//!
//! Plain `http://` works out of the box; `https://` needs the `rustls` feature.
//!
//! # Example
//!
//! ```no_run
//! use ops_emitter::{EmitterConfig, EventEmitter};
//! use ops_events::Event;
//! use std::time::Duration;
//!
//! # async fn example(tenant_id: uuid::Uuid, cost: rust_decimal::Decimal) {
//! let emitter = EventEmitter::start(EmitterConfig::new("http://ops-console:3000", "ingest-key"));
//!
//! // In a request handler; a clone shares the queue and the task.
//! let events = emitter.clone();
//! events.emit(Event::llm_call_made(tenant_id, "gpt-4o-mini", 120, 40, cost, 850));
//!
//! // When the service stops.
//! if let Err(error) = emitter.shutdown(Duration::from_secs(5)).await {
//!     eprintln!("some events were not delivered: {error}");
//! }
//! # }
//! ```

mod backoff;
mod config;
mod worker;

pub use config::{EmitterConfig, MAX_BATCH_SIZE};

use ops_events::Event;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::task::JoinHandle;
use worker::{Counters, Sender, Shared};

/// Why a flush or a shutdown did not see every event through.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The time given ran out with events still undelivered (the console is probably down);
    /// they stay queued, or are dropped if this came from `shutdown`.
    #[error("timed out before every event was delivered")]
    Timeout,
    /// The background task has ended (after `shutdown`, or because it could not start: see the
    /// log) with events undelivered; they were counted as dropped.
    #[error("the emitter has stopped")]
    Stopped,
}

/// Counters since [`EventEmitter::start`], all in events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmitterStats {
    /// Held right now: waiting in the queue or in the request in flight.
    pub queued: u64,
    /// Stored by the console: its `accepted` plus its `duplicates`.
    pub delivered: u64,
    /// Of `delivered`, the events the console already had (a retry of a batch it had stored).
    pub duplicates: u64,
    /// Lost without the console's word: refused by `emit` because the queue was full or the
    /// emitter had stopped, or still held when it stopped.
    pub dropped: u64,
    /// Refused by the console for good (bad request, bad key, invalid event, too large).
    pub rejected: u64,
    /// Requests sent again after a failure the console may recover from.
    pub retries: u64,
}

/// A handle to the queue and its background task. Cheap to clone; every clone shares the one
/// queue, task and set of counters.
#[derive(Clone)]
pub struct EventEmitter {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The last handle is gone: nobody can emit or flush any more, so the task should
        // send what it has and end instead of waiting for a shutdown that cannot come.
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl EventEmitter {
    /// Starts the background task on the current Tokio runtime and returns the first handle.
    ///
    /// A configuration that can never work (a base URL that is not `http://` or `https://`,
    /// `https://` without the `rustls` feature) is logged with `tracing::error!` and gives an
    /// emitter that drops every event, rather than failing the service.
    ///
    /// # Panics
    ///
    /// When called outside a Tokio runtime.
    pub fn start(config: EmitterConfig) -> EventEmitter {
        let config = config.normalized();
        let shared = Arc::new(Shared::new(config.queue_capacity, config.batch_size));
        let task = match build_sender(&config) {
            Ok(sender) => Some(tokio::spawn(worker::run(Arc::clone(&shared), sender))),
            Err(reason) => {
                tracing::error!(base_url = %config.base_url, %reason, "ops-emitter cannot send events; every event will be dropped");
                shared.finish();
                None
            }
        };
        EventEmitter {
            handle: Arc::new(Handle {
                shared,
                task: Mutex::new(task),
            }),
        }
    }

    /// Queues `event` for sending. Never waits. Returns `false`, and counts the event in
    /// [`EmitterStats::dropped`], when the queue is full or the emitter has stopped.
    pub fn emit(&self, event: Event) -> bool {
        let shared = &self.handle.shared;
        let batch_full = {
            let mut state = shared.lock();
            if state.stopped || state.queue.len() + state.in_flight >= shared.capacity {
                None
            } else {
                state.queue.push_back(event);
                state.admitted += 1;
                Some(state.queue.len() >= shared.batch_size)
            }
        };
        match batch_full {
            Some(full) => {
                if full {
                    shared.wake.notify_one();
                }
                true
            }
            None => {
                let before = shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
                // One line per doubling keeps a long outage from flooding the log.
                if before == 0 || before.is_power_of_two() {
                    tracing::warn!(
                        dropped_so_far = before + 1,
                        capacity = shared.capacity,
                        "ops-emitter queue is full (or stopped); dropping events"
                    );
                }
                false
            }
        }
    }

    /// Waits until every event emitted before this call has been delivered or refused by the
    /// console for good, sending partial batches at once. While the console is unreachable this
    /// waits indefinitely: prefer [`flush_timeout`](Self::flush_timeout) on a shutdown path.
    pub async fn flush(&self) -> Result<(), EmitError> {
        let shared = &self.handle.shared;
        let mut progress = shared.progress.subscribe();
        let target = {
            let mut state = shared.lock();
            state.flush_target = state.flush_target.max(state.admitted);
            state.admitted
        };
        shared.wake.notify_one();
        let progress = *progress
            .wait_for(|p| p.settled >= target || p.stopped)
            .await
            .map_err(|_| EmitError::Stopped)?;
        if progress.settled >= target {
            Ok(())
        } else {
            Err(EmitError::Stopped)
        }
    }

    /// Like [`flush`](Self::flush), giving up with [`EmitError::Timeout`] after `timeout`. The
    /// events stay queued and the task keeps trying.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), EmitError> {
        tokio::time::timeout(timeout, self.flush())
            .await
            .map_err(|_| EmitError::Timeout)?
    }

    /// Flushes for at most `timeout`, then stops the background task for every clone of this
    /// emitter; events still held then are counted as dropped, and later calls to `emit` on
    /// other clones return `false`.
    pub async fn shutdown(self, timeout: Duration) -> Result<(), EmitError> {
        let result = self.flush_timeout(timeout).await;
        let shared = &self.handle.shared;
        shared.stop.send_replace(true);
        let task = self
            .handle
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::error!(%error, "ops-emitter background task failed");
                shared.finish();
            }
        }
        result
    }

    /// The counters as they are now.
    pub fn stats(&self) -> EmitterStats {
        let shared = &self.handle.shared;
        let queued = {
            let state = shared.lock();
            (state.queue.len() + state.in_flight) as u64
        };
        let Counters {
            delivered,
            duplicates,
            dropped,
            rejected,
            retries,
        } = &shared.counters;
        EmitterStats {
            queued,
            delivered: delivered.load(Ordering::Relaxed),
            duplicates: duplicates.load(Ordering::Relaxed),
            dropped: dropped.load(Ordering::Relaxed),
            rejected: rejected.load(Ordering::Relaxed),
            retries: retries.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventEmitter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn build_sender(config: &EmitterConfig) -> Result<Sender, String> {
    let endpoint = config.endpoint();
    let url = reqwest::Url::parse(&endpoint).map_err(|e| format!("invalid base URL: {e}"))?;
    match url.scheme() {
        "http" => {}
        "https" if cfg!(feature = "rustls") => {}
        "https" => return Err("https needs the ops-emitter `rustls` feature".into()),
        other => return Err(format!("unsupported scheme {other:?}")),
    }
    let client = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .user_agent(concat!("ops-emitter/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    Ok(Sender {
        client,
        endpoint,
        ingest_key: config.ingest_key.clone(),
        flush_interval: config.flush_interval,
        max_backoff: config.max_backoff,
    })
}

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
