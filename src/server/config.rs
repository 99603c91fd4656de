//! Configuration from the environment (`CONTRACT.md`, "Running the server").

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

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
    /// An OpenAI-compatible endpoint the Replay Lab may call, besides its simulator.
    pub llm: Option<LlmConfig>,
    /// The address operators use (`OPS_PUBLIC_URL`); with https the session cookie is always
    /// `Secure`.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (`OPS_TRUSTED_PROXIES`); nobody's when empty.
    pub trusted_proxies: HashSet<IpAddr>,
    /// How long events stay in `ops_events`, and where older ones are archived.
    pub retention: Retention,
}

/// PIN-105's retention: events older than `days` move to archive files in `dir`.
#[derive(Clone, Debug, PartialEq)]
pub struct Retention {
    pub days: u32,
    pub dir: PathBuf,
    /// How often the server archives; `None`: only `ops-console archive` does.
    pub every: Option<std::time::Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            days: 90,
            dir: PathBuf::from("archive"),
            every: None,
        }
    }
}

impl Config {
    /// Whether the session cookie is always `Secure`: the public address is https, or
    /// `OPS_SECURE_COOKIES` says so.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
            || std::env::var("OPS_SECURE_COOKIES").is_ok_and(|v| v == "1" || v == "true")
    }
}

/// `OPS_LLM_BASE_URL`, `OPS_LLM_API_KEY`, `OPS_LLM_MODELS`, `OPS_LLM_PRICES`,
/// `OPS_LLM_TIMEOUT_SECS`.
#[derive(Clone, Debug, Default)]
pub struct LlmConfig {
    /// Up to and without `/chat/completions`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub models: Vec<String>,
    /// USD per million input and output tokens, by model.
    pub prices: std::collections::HashMap<String, (f64, f64)>,
    pub timeout: std::time::Duration,
    /// Further tries after a timeout, network error or 5xx.
    pub retries: u32,
}

impl LlmConfig {
    fn from_env() -> Result<Option<Self>, String> {
        let var = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
        let Some(base_url) = var("OPS_LLM_BASE_URL") else {
            return Ok(None);
        };
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "OPS_LLM_BASE_URL must be an http(s) address, not {base_url:?}"
            ));
        }
        let models: Vec<String> = var("OPS_LLM_MODELS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect();
        if models.is_empty() {
            return Err("OPS_LLM_MODELS must name the models of OPS_LLM_BASE_URL".into());
        }
        let prices = parse_prices(&var("OPS_LLM_PRICES").unwrap_or_default())?;
        let timeout = match var("OPS_LLM_TIMEOUT_SECS") {
            None => 30,
            Some(t) => t
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|t| *t > 0)
                .ok_or_else(|| {
                    format!("OPS_LLM_TIMEOUT_SECS must be a whole number of seconds, not {t:?}")
                })?,
        };
        Ok(Some(LlmConfig {
            base_url,
            api_key: var("OPS_LLM_API_KEY"),
            models,
            prices,
            timeout: std::time::Duration::from_secs(timeout),
            retries: 2,
        }))
    }
}

/// `gpt-4o-mini=0.15/0.60,gpt-4o=2.5/10`: USD per million input/output tokens.
pub fn parse_prices(text: &str) -> Result<std::collections::HashMap<String, (f64, f64)>, String> {
    let mut prices = std::collections::HashMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || format!("OPS_LLM_PRICES: {item:?} is not model=input/output");
        let (model, pair) = item.split_once('=').ok_or_else(bad)?;
        let (i, o) = pair.split_once('/').ok_or_else(bad)?;
        let i: f64 = i.trim().parse().map_err(|_| bad())?;
        let o: f64 = o.trim().parse().map_err(|_| bad())?;
        if !(i >= 0.0 && o >= 0.0) {
            return Err(bad());
        }
        prices.insert(model.trim().to_owned(), (i, o));
    }
    Ok(prices)
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
        let public_url = match std::env::var("OPS_PUBLIC_URL") {
            Ok(url) if !url.trim().is_empty() => {
                let url = url.trim().trim_end_matches('/').to_owned();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(format!(
                        "OPS_PUBLIC_URL must be an http(s) address, not {url:?}"
                    ));
                }
                Some(url)
            }
            _ => None,
        };
        let trusted_proxies = std::env::var("OPS_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("OPS_TRUSTED_PROXIES: {s:?} is not an IP address"))
            })
            .collect::<Result<HashSet<_>, _>>()?;
        let retention_days = number("OPS_RETENTION_DAYS", 90)?;
        let retention_days = u32::try_from(retention_days)
            .ok()
            .filter(|d| *d >= 1)
            .ok_or_else(|| "OPS_RETENTION_DAYS must be at least 1".to_owned())?;
        let archive_secs = number("OPS_ARCHIVE_INTERVAL_SECS", 3600)?;
        let retention = Retention {
            days: retention_days,
            dir: std::env::var("OPS_ARCHIVE_DIR")
                .ok()
                .filter(|d| !d.trim().is_empty())
                .map_or_else(|| PathBuf::from("archive"), PathBuf::from),
            every: (archive_secs > 0).then(|| std::time::Duration::from_secs(archive_secs)),
        };
        Ok(Config {
            public_url,
            trusted_proxies,
            retention,
            database_url,
            ingest_keys: secret_list("OPS_INGEST_KEYS"),
            api_tokens: secret_list("OPS_API_TOKENS"),
            admin,
            max_live_connections,
            collect_every: (collect_secs > 0).then(|| std::time::Duration::from_secs(collect_secs)),
            redis_url,
            alert_every: (alert_secs > 0).then(|| std::time::Duration::from_secs(alert_secs)),
            llm: LlmConfig::from_env()?,
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
