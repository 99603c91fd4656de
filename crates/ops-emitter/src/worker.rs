//! The background task: takes batches off the shared queue, posts them, and retries until the
//! console answers.

use crate::backoff::{backoff_delay, random_jitter};
use ops_events::Event;
use std::collections::{BTreeSet, VecDeque};
use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// What the handles and the task share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the idle task early: a batch filled, a flush was asked for, or the handles are gone.
    pub(crate) wake: Notify,
    pub(crate) progress: watch::Sender<Progress>,
    /// Set once, by `shutdown`, to make the task abandon whatever it is doing.
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) counters: Counters,
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
}

pub(crate) struct State {
    pub(crate) queue: VecDeque<Event>,
    /// Events of the batch being sent; they still count against the capacity, so that a console
    /// outage bounds memory at `queue_capacity` events however long it lasts.
    pub(crate) in_flight: usize,
    /// Events ever admitted by `emit`: a flush waits until this many are settled.
    pub(crate) admitted: u64,
    /// The task sends partial batches at once until this many events are settled.
    pub(crate) flush_target: u64,
    /// Every handle is gone: send what is left, once, and end.
    pub(crate) closed: bool,
    /// The task has ended (or never started); nothing will be sent any more.
    pub(crate) stopped: bool,
}

/// Published by the task after each batch. Batches leave the queue in order, so `settled`
/// events settled means every event admitted up to that count has its final outcome.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Progress {
    pub(crate) settled: u64,
    pub(crate) stopped: bool,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) delivered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) retries: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Shared {
    pub(crate) fn new(capacity: usize, batch_size: usize) -> Self {
        Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                in_flight: 0,
                admitted: 0,
                flush_target: 0,
                closed: false,
                stopped: false,
            }),
            wake: Notify::new(),
            progress: watch::Sender::new(Progress::default()),
            stop: watch::Sender::new(false),
            counters: Counters::default(),
            capacity,
            batch_size,
        }
    }

    /// The state is a queue and a few counters, consistent after every statement, so a panic
    /// elsewhere while the lock was held leaves nothing to repair: keep going rather than
    /// taking every caller of `emit` down with it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the task as gone and counts whatever it still held as dropped.
    pub(crate) fn finish(&self) {
        let abandoned = {
            let mut state = self.lock();
            let abandoned = state.queue.len() + state.in_flight;
            state.queue.clear();
            state.in_flight = 0;
            state.stopped = true;
            abandoned
        };
        if abandoned > 0 {
            Counters::add(&self.counters.dropped, abandoned);
            tracing::warn!(
                events = abandoned,
                "ops-emitter stopped before delivering some events"
            );
        }
        self.progress.send_modify(|p| p.stopped = true);
    }
}

/// How to reach the console.
pub(crate) struct Sender {
    pub(crate) client: reqwest::Client,
    pub(crate) endpoint: String,
    pub(crate) ingest_key: String,
    pub(crate) flush_interval: Duration,
    pub(crate) max_backoff: Duration,
}

/// How the console answered one request.
enum Answer {
    Accepted {
        accepted: u64,
        duplicates: u64,
    },
    /// `413`: too many events or bytes in one request.
    TooLarge {
        body: String,
    },
    /// `422`: the positions of the bad events; nothing of the request was stored.
    Invalid {
        bad: BTreeSet<usize>,
        body: String,
    },
    /// Any other refusal that sending the same request again cannot change.
    Refused {
        status: Option<u16>,
        body: String,
    },
    /// The console may take it later: network error, timeout, `5xx`, `408`, `429`.
    Transient {
        reason: String,
    },
}

enum Delivery {
    Settled,
    /// `shutdown` gave up waiting; this many events of the batch have no outcome.
    Abandoned {
        unsettled: usize,
    },
}

/// The body of the background task.
pub(crate) async fn run(shared: Arc<Shared>, sender: Sender) {
    let mut stop = shared.stop.subscribe();
    let mut settled: u64 = 0;
    let mut deadline = Instant::now() + sender.flush_interval;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = Instant::now();
        let timer_due = now >= deadline;
        if timer_due {
            deadline = now + sender.flush_interval;
        }
        let (batch, closed) = {
            let mut state = shared.lock();
            let due = timer_due
                || state.closed
                || state.flush_target > settled
                || state.queue.len() >= shared.batch_size;
            let batch = if due && !state.queue.is_empty() {
                let n = state.queue.len().min(shared.batch_size);
                state.in_flight = n;
                Some(state.queue.drain(..n).collect::<Vec<_>>())
            } else {
                None
            };
            (batch, state.closed)
        };
        let Some(batch) = batch else {
            if closed {
                break;
            }
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
            continue;
        };
        let n = batch.len() as u64;
        match sender.deliver(&shared, batch, &mut stop).await {
            Delivery::Settled => {
                shared.lock().in_flight = 0;
                settled += n;
                shared.progress.send_modify(|p| p.settled = settled);
            }
            Delivery::Abandoned { unsettled } => {
                shared.lock().in_flight = unsettled;
                break;
            }
        }
    }
    shared.finish();
}

impl Sender {
    /// Sends one batch until every event of it has an outcome. A `413` splits the batch and a
    /// `422` removes the events it names, so one oversized request or one bad event does not
    /// cost the events that travelled with it.
    async fn deliver(
        &self,
        shared: &Shared,
        batch: Vec<Event>,
        stop: &mut watch::Receiver<bool>,
    ) -> Delivery {
        let counters = &shared.counters;
        let mut parts = VecDeque::from([batch]);
        while let Some(mut part) = parts.pop_front() {
            let unsettled = |part: &Vec<Event>, parts: &VecDeque<Vec<Event>>| {
                part.len() + parts.iter().map(Vec::len).sum::<usize>()
            };
            let body = match serde_json::to_vec(&part) {
                Ok(body) => body,
                Err(error) => {
                    Counters::add(&counters.rejected, part.len());
                    tracing::warn!(events = part.len(), %error, "ops-emitter could not serialize a batch; dropping it");
                    continue;
                }
            };
            let mut attempt: u32 = 0;
            loop {
                let answer = tokio::select! {
                    answer = self.post(body.clone(), part.len()) => answer,
                    _ = stop.wait_for(|stop| *stop) => {
                        return Delivery::Abandoned { unsettled: unsettled(&part, &parts) };
                    }
                };
                match answer {
                    Answer::Accepted {
                        accepted,
                        duplicates,
                    } => {
                        counters
                            .delivered
                            .fetch_add(accepted + duplicates, Ordering::Relaxed);
                        counters.duplicates.fetch_add(duplicates, Ordering::Relaxed);
                        break;
                    }
                    Answer::TooLarge { .. } if part.len() > 1 => {
                        let second = part.split_off(part.len() / 2);
                        tracing::debug!(
                            events = part.len() + second.len(),
                            "the console found a batch too large; sending it in halves"
                        );
                        parts.push_front(second);
                        parts.push_front(part);
                        break;
                    }
                    Answer::TooLarge { body } => {
                        refuse(counters, Some(413), part.len(), &body);
                        break;
                    }
                    Answer::Invalid { bad, body } => {
                        let named = bad.iter().filter(|&&i| i < part.len()).count();
                        if named == 0 {
                            refuse(counters, Some(422), part.len(), &body);
                            break;
                        }
                        refuse(counters, Some(422), named, &body);
                        // The console stored nothing of the request: the others go again.
                        let rest: Vec<Event> = part
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !bad.contains(i))
                            .map(|(_, event)| event)
                            .collect();
                        if !rest.is_empty() {
                            parts.push_front(rest);
                        }
                        break;
                    }
                    Answer::Refused { status, body } => {
                        refuse(counters, status, part.len(), &body);
                        break;
                    }
                    Answer::Transient { reason } => {
                        if shared.lock().closed {
                            // Nobody is left to call shutdown, so retrying forever would
                            // keep the task alive for nothing.
                            Counters::add(&counters.dropped, part.len());
                            tracing::warn!(
                                events = part.len(),
                                %reason,
                                "ops-emitter has no handle left; dropping a batch the console could not take"
                            );
                            break;
                        }
                        attempt = attempt.saturating_add(1);
                        counters.retries.fetch_add(1, Ordering::Relaxed);
                        let delay = backoff_delay(attempt, self.max_backoff, random_jitter());
                        tracing::warn!(
                            events = part.len(),
                            attempt,
                            retry_in_ms = delay.as_millis() as u64,
                            %reason,
                            "ops-emitter could not deliver a batch; will retry"
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = stop.wait_for(|stop| *stop) => {
                                return Delivery::Abandoned { unsettled: unsettled(&part, &parts) };
                            }
                        }
                    }
                }
            }
        }
        Delivery::Settled
    }

    async fn post(&self, body: Vec<u8>, events: usize) -> Answer {
        let request = self
            .client
            .post(&self.endpoint)
            .bearer_auth(&self.ingest_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let response = match request.send().await {
            Ok(response) => response,
            // A request that cannot even be built (bad URL, missing TLS support) will not
            // build next time either.
            Err(error) if error.is_builder() => {
                return Answer::Refused {
                    status: None,
                    body: describe(&error),
                }
            }
            Err(error) => {
                return Answer::Transient {
                    reason: describe(&error),
                }
            }
        };
        let status = response.status().as_u16();
        let text = response.text().await;
        if (200..300).contains(&status) {
            // Every accepted event is committed before the console answers, so an answer that
            // cannot be read still means the whole batch was stored.
            let counts = text
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|v| Some((v.get("accepted")?.as_u64()?, v.get("duplicates")?.as_u64()?)));
            let (accepted, duplicates) = counts.unwrap_or((events as u64, 0));
            return Answer::Accepted {
                accepted,
                duplicates,
            };
        }
        let body = text.unwrap_or_default();
        match status {
            408 | 429 | 500..=599 => Answer::Transient {
                reason: format!("HTTP {status}: {}", excerpt(&body)),
            },
            413 => Answer::TooLarge { body },
            422 => Answer::Invalid {
                bad: bad_indices(&body),
                body,
            },
            _ => Answer::Refused {
                status: Some(status),
                body,
            },
        }
    }
}

fn refuse(counters: &Counters, status: Option<u16>, events: usize, body: &str) {
    Counters::add(&counters.rejected, events);
    tracing::warn!(
        status = status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "none".into()),
        events,
        body = excerpt(body),
        "the ops console refused events; dropping them"
    );
}

/// The positions named by a `422` answer, `{"errors": [{"index": i, …}, …]}`.
fn bad_indices(body: &str) -> BTreeSet<usize> {
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(body) else {
        return BTreeSet::new();
    };
    answer
        .get("errors")
        .and_then(|errors| errors.as_array())
        .into_iter()
        .flatten()
        .filter_map(|error| error.get("index")?.as_u64())
        .filter_map(|index| usize::try_from(index).ok())
        .collect()
}

/// The error with its causes: reqwest's own message is only "error sending request for url".
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// At most 2 KiB of an answer body, for a log line.
fn excerpt(body: &str) -> &str {
    const LIMIT: usize = 2048;
    if body.len() <= LIMIT {
        return body;
    }
    let mut end = LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_indices_are_read_from_a_422_answer() {
        let body = r#"{"errors":[{"index":2,"field":"severity","message":"1-5"},{"index":0,"field":"cost_usd","message":"too big"},{"index":2,"field":"x","message":"y"}]}"#;
        assert_eq!(bad_indices(body), BTreeSet::from([0, 2]));
        assert!(bad_indices("not json").is_empty());
        assert!(bad_indices(r#"{"errors":"nope"}"#).is_empty());
    }

    #[test]
    fn excerpts_cut_on_a_character_boundary() {
        let long = "é".repeat(3000);
        let cut = excerpt(&long);
        assert!(cut.len() <= 2048 && !cut.is_empty());
        assert_eq!(excerpt("short"), "short");
    }
}
