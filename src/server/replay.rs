//! The Replay Lab: an incident re-run with another model or policy version, through a model
//! provider (the built-in simulator, or an OpenAI-compatible endpoint), evaluated by the stored
//! rules of the chosen version, and compared with what happened.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use std::future::Future;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::config::LlmConfig;
use crate::model::incidents::CALL_SPAN_SECS;
use crate::model::replay::{
    cost_usd, determinism, evaluate, Comparison, Delta, Draft, OnFail, PolicyRules, ReplayIncident,
    ReplayOptions, ShadowReport, Side, SimulatedModel, SIMULATED_MODELS,
};
use ops_events::Event;

/// Why a model could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{model} did not answer within {ms} ms")]
    Timeout { model: String, ms: u128 },
    #[error("{model} failed: {detail}")]
    Failed { model: String, detail: String },
}

/// A source of model answers.
pub trait ModelProvider {
    /// The models it serves.
    fn models(&self) -> Vec<String>;
    /// USD per million input and output tokens of `model`.
    fn prices(&self, model: &str) -> (f64, f64);
    fn complete(
        &self,
        model: &str,
        user: &str,
        context: &Value,
    ) -> impl Future<Output = Result<Draft, ProviderError>> + Send;
}

/// The built-in deterministic simulator: works offline, same answer every time.
pub struct Simulator;

fn simulated(model: &str) -> Option<&'static SimulatedModel> {
    SIMULATED_MODELS.iter().find(|m| m.name == model)
}

impl ModelProvider for Simulator {
    fn models(&self) -> Vec<String> {
        SIMULATED_MODELS.iter().map(|m| m.name.to_owned()).collect()
    }

    fn prices(&self, model: &str) -> (f64, f64) {
        simulated(model).map_or((0.0, 0.0), |m| (m.usd_per_m_in, m.usd_per_m_out))
    }

    async fn complete(
        &self,
        model: &str,
        user: &str,
        context: &Value,
    ) -> Result<Draft, ProviderError> {
        let m = simulated(model).ok_or_else(|| ProviderError::Failed {
            model: model.to_owned(),
            detail: "not a simulated model".into(),
        })?;
        Ok(crate::model::replay::simulate(m, user, context))
    }
}

/// An OpenAI-compatible `POST {base}/chat/completions`.
pub struct HttpProvider {
    pub config: LlmConfig,
    pub client: reqwest::Client,
}

impl HttpProvider {
    pub fn new(config: LlmConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .unwrap_or_default();
        HttpProvider { config, client }
    }

    async fn once(
        &self,
        model: &str,
        user: &str,
        context: &Value,
    ) -> Result<Draft, (bool, String)> {
        let body = json!({
            "model": model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": format!(
                    "Answer the customer using only this context. If it does not hold the answer, say you do not have enough information.\nContext: {context}")},
                {"role": "user", "content": user},
            ],
        });
        let mut request = self
            .client
            .post(format!("{}/chat/completions", self.config.base_url))
            .json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            let retry = e.is_timeout() || e.is_connect() || e.is_request();
            (
                retry,
                if e.is_timeout() {
                    "timeout".to_owned()
                } else {
                    e.to_string()
                },
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            let retry = status.is_server_error() || status.as_u16() == 429;
            return Err((retry, format!("HTTP {status}")));
        }
        let answer: Value = response
            .json()
            .await
            .map_err(|e| (false, format!("not a chat completion: {e}")))?;
        let text = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or((
                false,
                "the answer has no choices[0].message.content".to_owned(),
            ))?
            .to_owned();
        Ok(Draft {
            text,
            tokens_in: answer["usage"]["prompt_tokens"].as_i64().unwrap_or(0),
            tokens_out: answer["usage"]["completion_tokens"].as_i64().unwrap_or(0),
            latency_ms: started.elapsed().as_millis() as i64,
        })
    }
}

impl ModelProvider for HttpProvider {
    fn models(&self) -> Vec<String> {
        self.config.models.clone()
    }

    fn prices(&self, model: &str) -> (f64, f64) {
        self.config.prices.get(model).copied().unwrap_or((0.0, 0.0))
    }

    /// Retries timeouts, network errors, 429 and 5xx with doubling waits (200 ms first).
    async fn complete(
        &self,
        model: &str,
        user: &str,
        context: &Value,
    ) -> Result<Draft, ProviderError> {
        let mut wait = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            match self.once(model, user, context).await {
                Ok(d) => return Ok(d),
                Err((retry, detail)) => {
                    if !retry || attempt >= self.config.retries {
                        return Err(if detail == "timeout" {
                            ProviderError::Timeout {
                                model: model.to_owned(),
                                ms: self.config.timeout.as_millis(),
                            }
                        } else {
                            ProviderError::Failed {
                                model: model.to_owned(),
                                detail: format!("{detail} (after {} tries)", attempt + 1),
                            }
                        });
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }
}

/// The simulator, and the configured endpoint when there is one; a model goes to whichever
/// serves it (the endpoint first).
pub struct Providers {
    pub simulator: Simulator,
    pub http: Option<HttpProvider>,
}

impl Providers {
    pub fn new(llm: Option<LlmConfig>) -> Self {
        Providers {
            simulator: Simulator,
            http: llm.map(HttpProvider::new),
        }
    }

    pub fn models(&self) -> Vec<String> {
        let mut models = self.http.as_ref().map(|h| h.models()).unwrap_or_default();
        for m in self.simulator.models() {
            if !models.contains(&m) {
                models.push(m);
            }
        }
        models
    }

    fn http_for(&self, model: &str) -> Option<&HttpProvider> {
        self.http
            .as_ref()
            .filter(|h| h.config.models.iter().any(|m| m == model))
    }

    pub fn prices(&self, model: &str) -> (f64, f64) {
        match self.http_for(model) {
            Some(h) => h.prices(model),
            None => self.simulator.prices(model),
        }
    }

    pub async fn complete(
        &self,
        model: &str,
        user: &str,
        context: &Value,
    ) -> Result<Draft, ProviderError> {
        match self.http_for(model) {
            Some(h) => h.complete(model, user, context).await,
            None => self.simulator.complete(model, user, context).await,
        }
    }
}

/// Why a replay could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no incident {0}")]
    UnknownIncident(Uuid),
    #[error("unknown model {0:?}; the models are: {1}")]
    UnknownModel(String, String),
    #[error("{policy} has no stored version {version:?}; the versions are: {known}")]
    UnknownVersion {
        policy: String,
        version: String,
        known: String,
    },
    #[error("runs must be between 1 and {MAX_RUNS}")]
    Runs,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The most repeated runs one replay may ask for.
pub const MAX_RUNS: usize = 10;

/// The incident, and the cost and latency of its LLM call when the stream has it.
pub async fn incident(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(ReplayIncident, Option<(f64, i64)>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT i.event_id, coalesce(i.entity_id, i.event_id) AS incident_id, i.tenant_id, \
                i.timestamp, i.session_id, coalesce(i.severity, 1) AS severity, \
                coalesce(i.metadata->>'model', '') AS model, \
                coalesce(i.metadata->>'policy_id', '') AS policy_id, \
                coalesce(i.metadata->>'policy_version', '') AS policy_version, \
                coalesce(i.metadata->'input'->>'user', '') AS user_text, \
                coalesce(i.metadata->'input'->'context', 'null'::jsonb) AS context, \
                coalesce(i.metadata->>'output', '') AS output, \
                (SELECT metadata->>'tenant_name' FROM ops_events n \
                 WHERE n.tenant_id = i.tenant_id AND n.event_type = 'SUBSCRIPTION_STARTED' \
                 ORDER BY n.timestamp LIMIT 1) AS tenant_name \
         FROM ops_events i \
         WHERE i.event_type = 'INCIDENT_CREATED' AND (i.entity_id = $1 OR i.event_id = $1) \
         ORDER BY i.timestamp LIMIT 1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let at: DateTime<Utc> = row.try_get("timestamp")?;
    let session: Option<Uuid> = row.try_get("session_id")?;
    let tenant_id: Uuid = row.try_get("tenant_id")?;
    let name: Option<String> = row.try_get("tenant_name")?;
    let call = match session {
        None => None,
        Some(s) => sqlx::query(
            "SELECT cost_usd::float8 AS cost, latency_ms FROM ops_events \
             WHERE event_type = 'LLM_CALL_MADE' AND tenant_id = $1 AND session_id = $2 \
               AND timestamp <= $3 AND timestamp >= $3 - make_interval(secs => $4) \
             ORDER BY timestamp DESC LIMIT 1",
        )
        .bind(tenant_id)
        .bind(s)
        .bind(at)
        .bind(CALL_SPAN_SECS as f64)
        .fetch_optional(pool)
        .await?
        .map(|r| -> Result<_, sqlx::Error> {
            Ok((
                r.try_get::<Option<f64>, _>("cost")?.unwrap_or(0.0),
                i64::from(r.try_get::<Option<i32>, _>("latency_ms")?.unwrap_or(0)),
            ))
        })
        .transpose()?,
    };
    Ok(Some((
        ReplayIncident {
            incident_id: row.try_get("incident_id")?,
            tenant_id,
            tenant_name: crate::model::tenant_label(tenant_id, name.as_deref()),
            at,
            model: row.try_get("model")?,
            policy_id: row.try_get("policy_id")?,
            policy_version: row.try_get("policy_version")?,
            severity: row.try_get("severity")?,
            user: row.try_get("user_text")?,
            context: row.try_get("context")?,
            output: row.try_get("output")?,
        },
        call,
    )))
}

/// The stored versions of a policy, oldest first.
pub async fn versions(pool: &PgPool, policy: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT version FROM ops_policy_rules WHERE policy_id = $1 ORDER BY created_at, version",
    )
    .bind(policy)
    .fetch_all(pool)
    .await
}

async fn rules(
    pool: &PgPool,
    policy: &str,
    version: &str,
) -> Result<Option<PolicyRules>, sqlx::Error> {
    let rules: Option<Value> = sqlx::query_scalar(
        "SELECT rules FROM ops_policy_rules WHERE policy_id = $1 AND version = $2",
    )
    .bind(policy)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    Ok(rules.and_then(|r| serde_json::from_value(r).ok()))
}

/// What the page offers for an incident; `None` for an unknown one.
pub async fn options(
    pool: &PgPool,
    providers: &Providers,
    id: Uuid,
) -> Result<Option<ReplayOptions>, sqlx::Error> {
    let Some((incident, _)) = incident(pool, id).await? else {
        return Ok(None);
    };
    let versions = versions(pool, &incident.policy_id).await?;
    let original = rules(pool, &incident.policy_id, &incident.policy_version)
        .await?
        .map(|r| {
            evaluate(
                &as_delivered(&r),
                &incident.user,
                &incident.context,
                &incident.output,
            )
        });
    Ok(Some(ReplayOptions {
        original,
        incident,
        models: providers.models(),
        versions,
    }))
}

/// The rules with every failure let through: how an answer that reached the user is judged.
fn as_delivered(rules: &PolicyRules) -> PolicyRules {
    let mut r = rules.clone();
    match &mut r {
        PolicyRules::Grounding { on_fail, .. }
        | PolicyRules::Safety { on_fail, .. }
        | PolicyRules::Pii { on_fail, .. } => *on_fail = OnFail::Pass,
    }
    r
}

/// Replays `id` with `model` and `version` (the original's when `None`), `runs` times.
/// Nothing is recorded.
pub async fn compare(
    pool: &PgPool,
    providers: &Providers,
    id: Uuid,
    model: Option<&str>,
    version: Option<&str>,
    runs: usize,
) -> Result<Comparison, ReplayError> {
    if !(1..=MAX_RUNS).contains(&runs) {
        return Err(ReplayError::Runs);
    }
    let (inc, call) = incident(pool, id)
        .await?
        .ok_or(ReplayError::UnknownIncident(id))?;
    compare_incident(pool, providers, inc, call, model, version, runs).await
}

async fn compare_incident(
    pool: &PgPool,
    providers: &Providers,
    inc: ReplayIncident,
    call: Option<(f64, i64)>,
    model: Option<&str>,
    version: Option<&str>,
    runs: usize,
) -> Result<Comparison, ReplayError> {
    let model = model
        .filter(|m| !m.is_empty())
        .unwrap_or(&inc.model)
        .to_owned();
    let models = providers.models();
    if !models.contains(&model) {
        return Err(ReplayError::UnknownModel(model, models.join(", ")));
    }
    let version = version
        .filter(|v| !v.is_empty())
        .unwrap_or(&inc.policy_version)
        .to_owned();
    let unknown = |known: Vec<String>| ReplayError::UnknownVersion {
        policy: inc.policy_id.clone(),
        version: version.clone(),
        known: known.join(", "),
    };
    let Some(replay_rules) = rules(pool, &inc.policy_id, &version).await? else {
        return Err(unknown(versions(pool, &inc.policy_id).await?));
    };
    // The original is judged by its own version's rules when stored, else by the replay's.
    let original_rules = rules(pool, &inc.policy_id, &inc.policy_version)
        .await?
        .unwrap_or_else(|| replay_rules.clone());
    let judged = evaluate(
        &as_delivered(&original_rules),
        &inc.user,
        &inc.context,
        &inc.output,
    );
    let original = Side {
        model: inc.model.clone(),
        policy_version: inc.policy_version.clone(),
        output: inc.output.clone(),
        verdict: judged.verdict,
        severity: inc.severity,
        cost_usd: call.map(|c| c.0),
        latency_ms: call.map(|c| c.1),
        reason: judged.reason,
    };
    let (per_in, per_out) = providers.prices(&model);
    let mut results = Vec::with_capacity(runs);
    let mut first = None;
    for _ in 0..runs {
        let draft = providers.complete(&model, &inc.user, &inc.context).await?;
        let e = evaluate(&replay_rules, &inc.user, &inc.context, &draft.text);
        results.push((e.output.clone(), e.verdict));
        if first.is_none() {
            first = Some((draft, e));
        }
    }
    let Some((draft, e)) = first else {
        return Err(ReplayError::Runs);
    };
    let replay = Side {
        model,
        policy_version: version,
        output: e.output,
        verdict: e.verdict,
        severity: e.severity,
        cost_usd: Some(cost_usd(draft.tokens_in, draft.tokens_out, per_in, per_out)),
        latency_ms: Some(draft.latency_ms),
        reason: e.reason,
    };
    let cost_delta = original
        .cost_usd
        .zip(replay.cost_usd)
        .map(|(o, r)| ((r - o) * 1_000_000.0).round() / 1_000_000.0);
    let cost_pct = original
        .cost_usd
        .filter(|o| *o > 0.0)
        .zip(replay.cost_usd)
        .map(|(o, r)| ((r - o) / o * 1000.0).round() / 10.0);
    let delta = Delta {
        severity: replay.severity - original.severity,
        cost_usd: cost_delta,
        cost_pct,
        latency_ms: original
            .latency_ms
            .zip(replay.latency_ms)
            .map(|(o, r)| r - o),
        determinism: determinism(&results),
        runs,
    };
    let diff = super::incidents::word_diff(&original.output, &replay.output);
    Ok(Comparison {
        incident: inc,
        original,
        replay,
        delta,
        diff,
    })
}

/// Records a replay made in this console: `REPLAY_EXECUTED`, `source = operator`.
pub async fn record_replay(pool: &PgPool, c: &Comparison) -> Result<(), sqlx::Error> {
    let level = serde_json::to_value(c.delta.determinism)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let event = Event::replay_executed(
        c.incident.tenant_id,
        c.incident.incident_id,
        &level,
        c.delta.cost_usd.unwrap_or(0.0),
        "operator",
    )
    .meta("model", c.replay.model.clone())
    .meta("policy_version", c.replay.policy_version.clone());
    super::ingest::store(pool, &[event]).await.map(|_| ())
}

/// Records an export made in this console: `EXPORT_GENERATED`, `source = operator`.
pub async fn record_export(pool: &PgPool, c: &Comparison, format: &str) -> Result<(), sqlx::Error> {
    let event = Event::export_generated(
        c.incident.tenant_id,
        c.incident.incident_id,
        format,
        &["replay_comparison"],
        "operator",
    );
    super::ingest::store(pool, &[event]).await.map(|_| ())
}

/// Runs `candidate` over the latest `n` incidents of `policy` (each with its own model) and
/// sums up the change. Nothing is recorded.
pub async fn shadow(
    pool: &PgPool,
    providers: &Providers,
    policy: &str,
    candidate: &str,
    n: i64,
) -> Result<ShadowReport, ReplayError> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT coalesce(entity_id, event_id) FROM ops_events \
         WHERE event_type = 'INCIDENT_CREATED' AND metadata->>'policy_id' = $1 \
         ORDER BY timestamp DESC LIMIT $2",
    )
    .bind(policy)
    .bind(n.clamp(1, 500))
    .fetch_all(pool)
    .await?;
    if rules(pool, policy, candidate).await?.is_none() {
        return Err(ReplayError::UnknownVersion {
            policy: policy.to_owned(),
            version: candidate.to_owned(),
            known: versions(pool, policy).await?.join(", "),
        });
    }
    let mut report = ShadowReport {
        policy_id: policy.to_owned(),
        candidate: candidate.to_owned(),
        ..Default::default()
    };
    let (mut before, mut after) = (0i64, 0i64);
    let models = providers.models();
    for id in ids {
        let Some((inc, call)) = incident(pool, id).await? else {
            continue;
        };
        // Incidents of a model no provider serves cannot be re-run.
        if !models.contains(&inc.model) {
            continue;
        }
        let c = compare_incident(pool, providers, inc, call, None, Some(candidate), 1).await?;
        report.incidents += 1;
        before += i64::from(c.original.severity);
        after += i64::from(c.replay.severity);
        report.good_before += usize::from(c.original.verdict.good());
        report.good_after += usize::from(c.replay.verdict.good());
        report.cost_before_usd += c.original.cost_usd.unwrap_or(0.0);
        report.cost_after_usd += c.replay.cost_usd.unwrap_or(0.0);
        match c.delta.severity.signum() {
            -1 => report.better += 1,
            0 => report.same += 1,
            _ => report.worse += 1,
        }
    }
    if report.incidents > 0 {
        let n = report.incidents as f64;
        report.mean_severity_before = (before as f64 / n * 100.0).round() / 100.0;
        report.mean_severity_after = (after as f64 / n * 100.0).round() / 100.0;
    }
    report.cost_before_usd = (report.cost_before_usd * 1e6).round() / 1e6;
    report.cost_after_usd = (report.cost_after_usd * 1e6).round() / 1e6;
    Ok(report)
}
