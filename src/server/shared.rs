//! Page analytics shared by the requests that ask the same question at the same time.
//!
//! When many dashboards are open, most of them ask for the same pages of the same data; each
//! computing its own copy multiplies the database work by the number of viewers. A request that
//! finds the same page (same parameters, "now" or the same `as_of`) already being computed, on
//! data that has not changed since that computation began, waits for it and takes its answer
//! instead. Nothing is kept once the computation ends: a later request computes afresh.
//!
//! "Has not changed" is the live hub's generation ([`Generation`]), bumped before open pages
//! are told that events arrived, and after the console's own writes that pages read (policy
//! changes). So a page refreshing because it was told of new events never takes an answer
//! computed before them. A request for "now" that joins takes the `as_of` of the computation it
//! joined, at most one computation earlier than its own arrival.
//!
//! If the computation fails or its request goes away, whoever waited computes for themselves,
//! so every error is the request's own.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A counter that moves whenever the data the pages read may have changed.
#[derive(Clone, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

type Answer = Option<Option<Arc<dyn Any + Send + Sync>>>;

/// The computations in flight of one server instance.
#[derive(Clone, Default)]
pub struct Shared {
    generation: Generation,
    inflight: Arc<Mutex<HashMap<String, watch::Receiver<Answer>>>>,
    joined: Arc<AtomicU64>,
}

/// Removes its computation from the map when the computation ends or is dropped.
struct Leading<'a> {
    inflight: &'a Mutex<HashMap<String, watch::Receiver<Answer>>>,
    key: String,
    answer: watch::Sender<Answer>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if map
            .get(&self.key)
            .is_some_and(|r| r.same_channel(&self.answer.subscribe()))
        {
            map.remove(&self.key);
        }
    }
}

impl Shared {
    pub fn new(generation: Generation) -> Self {
        Shared {
            generation,
            ..Shared::default()
        }
    }

    /// The generation pages are keyed on.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// How many requests took another's answer so far (for the logs and the tests).
    pub fn joined(&self) -> u64 {
        self.joined.load(Ordering::Relaxed)
    }

    /// `compute(as_of)` for page `page` with parameters `params`, where `as_of` is the requested
    /// moment (`None`: now; a moment after now counts as now), or the answer of the same
    /// computation already under way on unchanged data.
    pub async fn run<T, F, Fut>(
        &self,
        page: &str,
        params: &str,
        as_of: Option<DateTime<Utc>>,
        compute: F,
    ) -> Result<T, sqlx::Error>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce(DateTime<Utc>) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let now = Utc::now();
        let as_of = as_of.filter(|t| *t < now);
        let moment = as_of.map_or_else(|| "now".to_string(), |t| t.to_rfc3339());
        let key = format!("{}|{page}|{params}|{moment}", self.generation.get());
        let waiting = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&key) {
                Some(r) => Err(r.clone()),
                None => {
                    let (answer, r) = watch::channel(None);
                    map.insert(key.clone(), r);
                    Ok(answer)
                }
            }
        };
        match waiting {
            Ok(answer) => {
                let leading = Leading {
                    inflight: &self.inflight,
                    key,
                    answer,
                };
                let result = compute(as_of.unwrap_or(now)).await;
                let shared = result
                    .as_ref()
                    .ok()
                    .map(|v| Arc::new(v.clone()) as Arc<dyn Any + Send + Sync>);
                leading.answer.send_replace(Some(shared));
                drop(leading);
                result
            }
            Err(mut r) => {
                let taken = match r.wait_for(Option::is_some).await {
                    Ok(answer) => answer
                        .clone()
                        .flatten()
                        .and_then(|v| v.downcast::<T>().ok()),
                    Err(_) => None,
                };
                match taken {
                    Some(v) => {
                        self.joined.fetch_add(1, Ordering::Relaxed);
                        Ok((*v).clone())
                    }
                    None => compute(as_of.unwrap_or_else(Utc::now)).await,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A computation that counts its runs and takes `ms` milliseconds.
    async fn slow(runs: &AtomicUsize, ms: u64, answer: u32) -> Result<u32, sqlx::Error> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(answer)
    }

    #[tokio::test]
    async fn concurrent_requests_for_the_same_page_share_one_computation() {
        let shared = Shared::default();
        let runs = AtomicUsize::new(0);
        let asks = (0..10).map(|_| shared.run("pulse", "", None, |_| slow(&runs, 50, 7)));
        let answers = futures::future::join_all(asks).await;
        assert!(answers.iter().all(|a| matches!(a, Ok(7))), "{answers:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(shared.joined(), 9);
        // Nothing is kept: the next request computes again.
        assert_eq!(
            shared
                .run("pulse", "", None, |_| slow(&runs, 1, 8))
                .await
                .unwrap(),
            8
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn other_pages_parameters_moments_and_changed_data_compute_apart() {
        let shared = Shared::default();
        let runs = AtomicUsize::new(0);
        let past = Utc::now() - chrono::Duration::hours(1);
        let first = shared.run("pulse", "", None, |_| slow(&runs, 80, 1));
        let others = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let a = shared.run("revenue", "", None, |_| slow(&runs, 1, 2)).await;
            let b = shared
                .run("pulse", "days=7", None, |_| slow(&runs, 1, 3))
                .await;
            let c = shared.run("pulse", "", Some(past), |t| {
                assert_eq!(t, past);
                slow(&runs, 1, 4)
            });
            let c = c.await;
            // Events arrived: a page told so must not take the answer begun before them.
            shared.generation().bump();
            let d = shared.run("pulse", "", None, |_| slow(&runs, 1, 5)).await;
            (a, b, c, d)
        };
        let (first, (a, b, c, d)) = tokio::join!(first, others);
        let got: Vec<u32> = [first, a, b, c, d]
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [1, 2, 3, 4, 5]);
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(shared.joined(), 0);
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_computation_leaves_the_waiters_to_compute() {
        let shared = Shared::default();
        let runs = AtomicUsize::new(0);
        let failing = shared.run("pulse", "", None, |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<u32, _>(sqlx::Error::PoolTimedOut)
        });
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            shared.run("pulse", "", None, |_| slow(&runs, 1, 9)).await
        };
        let (failed, waited) = tokio::join!(failing, waiter);
        assert!(matches!(failed, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(waited.unwrap(), 9);

        // The leading request goes away (its client disconnected) before it finishes.
        let abandoned = tokio::time::timeout(
            Duration::from_millis(20),
            shared.run("pulse", "", None, |_| slow(&runs, 1_000, 1)),
        );
        let waiter = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            shared.run("pulse", "", None, |_| slow(&runs, 1, 10)).await
        };
        let (gone, waited) = tokio::join!(abandoned, waiter);
        assert!(gone.is_err());
        assert_eq!(waited.unwrap(), 10);
        assert!(shared.inflight.lock().unwrap().is_empty());
    }
}
