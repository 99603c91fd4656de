use std::fmt;
use std::time::Duration;

/// The most events the console accepts in one request (a larger request is refused with `413`).
pub const MAX_BATCH_SIZE: usize = 10_000;

/// Where to send events and how patiently.
///
/// Build it with [`EmitterConfig::new`] and adjust the public fields. Out-of-range values are
/// brought into range by [`EventEmitter::start`](crate::EventEmitter::start) rather than refused,
/// because a telemetry client must never be the reason a service fails to boot.
#[derive(Clone, PartialEq, Eq)]
pub struct EmitterConfig {
    /// The console's address, such as `http://ops-console:3000`; the emitter appends
    /// `/api/v1/ops/events`. `https://` needs the crate's `rustls` feature.
    pub base_url: String,
    /// The ingest key, sent as `Authorization: Bearer …`. Never logged, and redacted from `Debug`.
    pub ingest_key: String,
    /// How many events the emitter holds at most: those waiting plus those in the request in
    /// flight. Past that [`emit`](crate::EventEmitter::emit) drops events. Default 10 000; at
    /// least 1.
    pub queue_capacity: usize,
    /// Events per request. Default 500; between 1 and [`MAX_BATCH_SIZE`].
    pub batch_size: usize,
    /// The longest an event waits for its batch to fill before it is sent anyway. Default 200 ms;
    /// at least 1 ms.
    pub flush_interval: Duration,
    /// The longest pause between two attempts at a batch the console could not take. Default
    /// 5 s; at least 10 ms.
    pub max_backoff: Duration,
    /// The limit on one request, from connecting to the end of the answer. Default 10 s.
    pub request_timeout: Duration,
}

impl EmitterConfig {
    pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
    pub const DEFAULT_BATCH_SIZE: usize = 500;
    pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(200);
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// The defaults, for the console at `base_url` and the key `ingest_key`.
    pub fn new(base_url: impl Into<String>, ingest_key: impl Into<String>) -> Self {
        EmitterConfig {
            base_url: base_url.into(),
            ingest_key: ingest_key.into(),
            queue_capacity: Self::DEFAULT_QUEUE_CAPACITY,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            flush_interval: Self::DEFAULT_FLUSH_INTERVAL,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The full ingestion URL.
    pub fn endpoint(&self) -> String {
        format!(
            "{}/api/v1/ops/events",
            self.base_url.trim().trim_end_matches('/')
        )
    }

    /// The same configuration with every number in its documented range. A zero flush interval
    /// or backoff would turn the background task into a busy loop, and a batch over the
    /// server's limit would be refused whole, so these are raised or lowered instead.
    pub(crate) fn normalized(mut self) -> Self {
        self.queue_capacity = self.queue_capacity.max(1);
        self.batch_size = self.batch_size.clamp(1, MAX_BATCH_SIZE);
        self.flush_interval = self.flush_interval.max(Duration::from_millis(1));
        self.max_backoff = self.max_backoff.max(Duration::from_millis(10));
        if self.request_timeout.is_zero() {
            self.request_timeout = Self::DEFAULT_REQUEST_TIMEOUT;
        }
        self
    }
}

impl fmt::Debug for EmitterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Configs end up in startup logs; the key must not.
        f.debug_struct("EmitterConfig")
            .field("base_url", &self.base_url)
            .field("ingest_key", &"<redacted>")
            .field("queue_capacity", &self.queue_capacity)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_backoff", &self.max_backoff)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let config = EmitterConfig::new("http://console:3000", "key");
        assert_eq!(config.base_url, "http://console:3000");
        assert_eq!(config.ingest_key, "key");
        assert_eq!(config.queue_capacity, 10_000);
        assert_eq!(config.batch_size, 500);
        assert_eq!(config.flush_interval, Duration::from_millis(200));
        assert_eq!(config.max_backoff, Duration::from_secs(5));
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(
            config.clone().normalized(),
            config,
            "defaults are already in range"
        );
    }

    #[test]
    fn out_of_range_values_are_brought_into_range() {
        let mut config = EmitterConfig::new("http://console", "key");
        config.batch_size = 50_000;
        config.queue_capacity = 0;
        config.flush_interval = Duration::ZERO;
        config.max_backoff = Duration::ZERO;
        config.request_timeout = Duration::ZERO;
        let config = config.normalized();
        assert_eq!(config.batch_size, MAX_BATCH_SIZE);
        assert_eq!(config.queue_capacity, 1);
        assert!(!config.flush_interval.is_zero());
        assert!(!config.max_backoff.is_zero());
        assert_eq!(
            config.request_timeout,
            EmitterConfig::DEFAULT_REQUEST_TIMEOUT
        );

        let mut config = EmitterConfig::new("http://console", "key");
        config.batch_size = 0;
        assert_eq!(config.normalized().batch_size, 1);
    }

    #[test]
    fn the_endpoint_tolerates_a_trailing_slash() {
        for base in [
            "http://console:3000",
            "http://console:3000/",
            " http://console:3000// ",
        ] {
            assert_eq!(
                EmitterConfig::new(base, "k").endpoint(),
                "http://console:3000/api/v1/ops/events"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let shown = format!(
            "{:?}",
            EmitterConfig::new("http://console", "sk-secret-123")
        );
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
