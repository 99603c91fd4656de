//! The console samples real resources and reports them like any product service would:
//! `INFRA_LIMIT_HIT` events (`resource`, `current`, `limit`) for the platform tenant, so Infra
//! & Limits shows them beside the rest. Its own PostgreSQL connections and live connections
//! always; Redis memory when `REDIS_URL` is set.

use std::time::Duration;

use ops_events::Event;
use sqlx::PgPool;

use super::ingest;
use super::live::Live;

/// How long one Redis `INFO` may take before the sample is given up for this round.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
const MB: f64 = 1024.0 * 1024.0;

pub struct Collector {
    pool: PgPool,
    live: Live,
    max_live_connections: u32,
    redis: Option<redis::Client>,
}

/// What one round of sampling did.
#[derive(Debug, Default)]
pub struct Round {
    /// Samples stored.
    pub stored: usize,
    /// Resources that could not be sampled this round, each with the reason.
    pub problems: Vec<String>,
}

impl Collector {
    pub fn new(
        pool: PgPool,
        live: Live,
        max_live_connections: u32,
        redis_url: Option<&str>,
    ) -> Result<Self, String> {
        let redis = redis_url
            .map(|url| {
                redis::Client::open(url).map_err(|e| format!("REDIS_URL is not usable: {e}"))
            })
            .transpose()?;
        Ok(Collector {
            pool,
            live,
            max_live_connections,
            redis,
        })
    }

    /// Samples every `interval` until the process ends.
    pub fn start(self, interval: Duration) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match self.sample_once().await {
                    Ok(round) => {
                        for problem in &round.problems {
                            tracing::warn!(problem, "resource not sampled");
                        }
                        tracing::debug!(samples = round.stored, "resources sampled");
                    }
                    // The database being away is reported by /readyz; the next tick tries again.
                    Err(e) => tracing::warn!(error = %e, "could not sample resources"),
                }
            }
        });
    }

    /// Takes one sample of each resource and stores them. A Redis that cannot be reached is a
    /// problem of the round, not an error: the other samples are still stored.
    pub async fn sample_once(&self) -> Result<Round, sqlx::Error> {
        let (connections, max_connections): (i64, i32) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
                    current_setting('max_connections')::int",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut samples = vec![
            Event::infra_limit_hit(
                "postgres_connections",
                connections as f64,
                f64::from(max_connections),
                Some("connections"),
            ),
            Event::infra_limit_hit(
                "live_connections",
                self.live.connections() as f64,
                f64::from(self.max_live_connections),
                Some("connections"),
            ),
        ];
        let mut problems = Vec::new();
        if let Some(client) = &self.redis {
            match redis_sample(client).await {
                Ok(sample) => samples.push(sample),
                Err(problem) => problems.push(format!("redis: {problem}")),
            }
        }
        let samples: Vec<Event> = samples
            .into_iter()
            .map(|s| s.meta("source", "collector"))
            .collect();
        ingest::store(&self.pool, &samples).await?;
        Ok(Round {
            stored: samples.len(),
            problems,
        })
    }
}

async fn redis_sample(client: &redis::Client) -> Result<Event, String> {
    let info = tokio::time::timeout(REDIS_TIMEOUT, async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("INFO")
            .arg("memory")
            .query_async::<String>(&mut connection)
            .await
    })
    .await
    .map_err(|_| format!("no answer within {} s", REDIS_TIMEOUT.as_secs()))?
    .map_err(|e| e.to_string())?;
    let memory = RedisMemory::parse(&info).ok_or("INFO memory has no used_memory")?;
    let (limit, limit_source) = memory
        .limit()
        .ok_or("neither maxmemory nor total_system_memory is set")?;
    Ok(Event::infra_limit_hit(
        "redis",
        round_mb(memory.used as f64 / MB),
        round_mb(limit as f64 / MB),
        Some("MB"),
    )
    .meta("limit_source", limit_source))
}

fn round_mb(mb: f64) -> f64 {
    (mb * 100.0).round() / 100.0
}

/// The figures of Redis's `INFO memory` the collector reads, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisMemory {
    pub used: u64,
    /// `maxmemory`; 0 when Redis is not capped.
    pub max: u64,
    /// `total_system_memory`; 0 when Redis does not report it.
    pub system: u64,
}

impl RedisMemory {
    /// Reads `key:value` lines; `None` without `used_memory`.
    pub fn parse(info: &str) -> Option<RedisMemory> {
        let field = |key: &str| {
            info.lines()
                .filter_map(|line| line.trim_end().split_once(':'))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        Some(RedisMemory {
            used: field("used_memory")?,
            max: field("maxmemory").unwrap_or(0),
            system: field("total_system_memory").unwrap_or(0),
        })
    }

    /// The memory Redis can grow into and where that figure comes from: `maxmemory` when set,
    /// else the machine's memory, which an uncapped Redis will take until the kernel stops it.
    pub fn limit(&self) -> Option<(u64, &'static str)> {
        if self.max > 0 {
            Some((self.max, "maxmemory"))
        } else if self.system > 0 {
            Some((self.system, "total_system_memory"))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\
        used_memory_rss:9000000\r\ntotal_system_memory:25769803776\r\nmaxmemory:67108864\r\n\
        maxmemory_human:64.00M\r\nmaxmemory_policy:noeviction\r\n";

    #[test]
    fn reads_used_and_max_memory_not_their_neighbours() {
        let m = RedisMemory::parse(INFO).unwrap();
        assert_eq!(
            m,
            RedisMemory {
                used: 1_048_576,
                max: 67_108_864,
                system: 25_769_803_776
            }
        );
        assert_eq!(m.limit(), Some((67_108_864, "maxmemory")));
    }

    #[test]
    fn an_uncapped_redis_is_limited_by_the_machine() {
        let info = INFO.replace("maxmemory:67108864", "maxmemory:0");
        let m = RedisMemory::parse(&info).unwrap();
        assert_eq!(m.limit(), Some((25_769_803_776, "total_system_memory")));
        let bare = RedisMemory::parse("used_memory:5\r\n").unwrap();
        assert_eq!(bare.limit(), None);
    }

    #[test]
    fn without_used_memory_there_is_no_reading() {
        assert_eq!(RedisMemory::parse("# Memory\r\nmaxmemory:10\r\n"), None);
        assert_eq!(RedisMemory::parse(""), None);
    }
}
