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
    /// An OpenAI-compatible endpoint the Replay Lab may call, besides its simulator.
    pub llm: Option<LlmConfig>,
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
        Ok(Config {
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
