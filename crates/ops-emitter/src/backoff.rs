use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The pause before the first retry. Short, because most failures are a restart of the console
/// or a brief database outage and the queue is filling meanwhile.
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// The pause before retry number `attempt` (1 for the first): an exponential ceiling, capped at
/// `max`, of which a random upper half is used ("equal jitter"). The jitter keeps a fleet of
/// services that lost the console at the same moment from coming back in lockstep; keeping the
/// lower half fixed makes the pause still grow with each attempt. `jitter` is in `[0, 1]`.
pub(crate) fn backoff_delay(attempt: u32, max: Duration, jitter: f64) -> Duration {
    // 2^20 × 100 ms is already more than a day: past that only the cap matters.
    let doublings = attempt.saturating_sub(1).min(20);
    let ceiling = INITIAL_BACKOFF.saturating_mul(1 << doublings).min(max);
    let half = ceiling / 2;
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    half + half.mul_f64(jitter)
}

/// A number in `[0, 1)`. The standard library's per-process random hash keys are random enough
/// for spreading retries, and spare the crate a dependency on a random number generator.
pub(crate) fn random_jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let bits = RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(5);

    #[test]
    fn the_pause_grows_with_each_attempt_until_the_cap() {
        let lowest: Vec<Duration> = (1..=9).map(|a| backoff_delay(a, MAX, 0.0)).collect();
        assert_eq!(lowest[0], Duration::from_millis(50));
        // 100 ms doubled six times passes 5 s: attempts 1–7 grow, then the cap holds.
        for pair in lowest[..7].windows(2) {
            assert!(pair[1] > pair[0], "{lowest:?}");
        }
        assert_eq!(lowest[6], MAX / 2);
        assert_eq!(lowest[8], MAX / 2);
        assert_eq!(backoff_delay(1, MAX, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, MAX, 1.0), Duration::from_millis(400));
    }

    #[test]
    fn the_pause_never_exceeds_the_cap() {
        for attempt in [1, 5, 7, 8, 20, 21, 64, u32::MAX] {
            for jitter in [0.0, 0.5, 0.999, 1.0, 7.0, f64::NAN] {
                let delay = backoff_delay(attempt, MAX, jitter);
                assert!(
                    delay <= MAX,
                    "attempt {attempt}, jitter {jitter}: {delay:?}"
                );
            }
        }
        assert_eq!(backoff_delay(u32::MAX, MAX, 0.0), MAX / 2);
        assert_eq!(backoff_delay(u32::MAX, MAX, 1.0), MAX);
        let tiny = Duration::from_millis(10);
        assert!(backoff_delay(1, tiny, 1.0) <= tiny);
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let samples: Vec<f64> = (0..64).map(|_| random_jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]));
    }
}
