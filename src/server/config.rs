//! Configuration from the environment (`CONTRACT.md`, "Running the server").

use std::collections::HashSet;

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub database_url: String,
    /// Bearer keys accepted by `POST /api/v1/ops/events`.
    pub ingest_keys: HashSet<String>,
    /// Bearer tokens accepted by the read API.
    pub api_tokens: HashSet<String>,
    /// The operator created or updated at start.
    pub admin: Option<(String, String)>,
    /// The most live (server-sent event) connections one instance is sized for.
    pub max_live_connections: u32,
    /// How often the server samples its own resources; `None` turns the collector off.
    pub collect_every: Option<std::time::Duration>,
    /// The Redis whose memory the collector samples (`REDIS_URL`), if any.
    pub redis_url: Option<String>,
    /// How often alerts are evaluated; `None` turns evaluation off.
    pub alert_every: Option<std::time::Duration>,
}

impl Config {
    pub fn from_env() -> Result<Self, String> {
        let database_url = std::env::var("DATABASE_URL")
            .map_err(|_| "DATABASE_URL is not set: point it at a PostgreSQL database".to_owned())?;
        let admin = match (
            std::env::var("OPS_ADMIN_EMAIL")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("OPS_ADMIN_PASSWORD")
                .ok()
                .filter(|v| !v.is_empty()),
        ) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            _ => {
                return Err(
                    "OPS_ADMIN_EMAIL and OPS_ADMIN_PASSWORD must be set together".to_owned(),
                )
            }
        };
        let number = |var: &str, default: u64| -> Result<u64, String> {
            match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{var} must be a whole number, not {v:?}")),
                _ => Ok(default),
            }
        };
        let max_live_connections = number("OPS_MAX_LIVE_CONNECTIONS", 1000)?
            .try_into()
            .map_err(|_| "OPS_MAX_LIVE_CONNECTIONS is too large".to_owned())?;
        let collect_secs = number("OPS_COLLECT_INTERVAL_SECS", 60)?;
        let alert_secs = number("OPS_ALERT_INTERVAL_SECS", 30)?;
        let redis_url = match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => {
                let url = url.trim().to_owned();
                redis::Client::open(url.as_str())
                    .map_err(|e| format!("REDIS_URL is not a Redis address: {e}"))?;
                Some(url)
            }
            _ => None,
        };
        Ok(Config {
            database_url,
            ingest_keys: secret_list("OPS_INGEST_KEYS"),
            api_tokens: secret_list("OPS_API_TOKENS"),
            admin,
            max_live_connections,
            collect_every: (collect_secs > 0).then(|| std::time::Duration::from_secs(collect_secs)),
            redis_url,
            alert_every: (alert_secs > 0).then(|| std::time::Duration::from_secs(alert_secs)),
        })
    }
}

fn secret_list(var: &str) -> HashSet<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
