//! Alerts: thresholds from `ops_alert_thresholds`, the evaluation that turns a change of the
//! system state or of a card's threshold into one alert, and the delivery of each alert to each
//! webhook with retries and backoff.
//!
//! Raising is exactly once per transition: each subject's last value is a row locked while it
//! is compared and changed, so several instances evaluating at once raise it once. Delivery is
//! claimed with `SKIP LOCKED` and a lease, so one instance sends each message; a process that
//! dies mid-send leaves the lease to run out and the message to be tried again.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Row};
use tokio::sync::Notify;

use crate::model::alerts::{mask_url, AlertRecord, Delivery, Webhook};
use crate::model::pulse::{cards, Card, Pulse, SystemState, Thresholds};

/// Wakes the delivery worker when alerts were raised.
pub type Wake = Arc<Notify>;

/// The thresholds in force: the table's rows over the spec's values.
pub async fn thresholds(pool: &PgPool) -> Result<Thresholds, sqlx::Error> {
    let rows: Vec<(String, f64)> = sqlx::query_as("SELECT key, value FROM ops_alert_thresholds")
        .fetch_all(pool)
        .await?;
    let mut t = Thresholds::default();
    for (key, value) in rows {
        t.set(&key, value);
    }
    Ok(t)
}

pub async fn save_thresholds(pool: &PgPool, t: &Thresholds, by: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for field in crate::model::alerts::THRESHOLD_FIELDS {
        sqlx::query(
            "INSERT INTO ops_alert_thresholds (key, value, updated_at, updated_by) \
             VALUES ($1, $2, now(), $3) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by \
             WHERE ops_alert_thresholds.value IS DISTINCT FROM EXCLUDED.value",
        )
        .bind(field.key)
        .bind(t.get(field.key).unwrap_or_default())
        .bind(by)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

pub async fn webhooks(pool: &PgPool) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows: Vec<(i64, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, url, created_at FROM ops_alert_webhooks ORDER BY id")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, url, created_at)| Webhook {
            id,
            shown_url: mask_url(&url),
            created_at,
        })
        .collect())
}

/// Why a webhook address was not added.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Invalid(String),
    #[error("that webhook is already configured")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An absolute http(s) address with a host, at most 2,000 characters.
pub fn check_webhook_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("enter the webhook's address".into());
    }
    if url.len() > 2000 {
        return Err("the address is longer than 2,000 characters".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not an address: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the address must start with https:// or http://".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the address has no host".into());
    }
    Ok(url.to_owned())
}

pub async fn add_webhook(pool: &PgPool, url: &str) -> Result<i64, WebhookError> {
    let url = check_webhook_url(url).map_err(WebhookError::Invalid)?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO ops_alert_webhooks (url) VALUES ($1) ON CONFLICT (url) DO NOTHING RETURNING id",
    )
    .bind(url)
    .fetch_optional(pool)
    .await?;
    id.ok_or(WebhookError::Duplicate)
}

/// Removes a webhook; its pending deliveries are given up. `false` when there was none.
pub async fn remove_webhook(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let url: Option<String> =
        sqlx::query_scalar("DELETE FROM ops_alert_webhooks WHERE id = $1 RETURNING url")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(url) = &url {
        sqlx::query(
            "UPDATE ops_alert_deliveries SET status = 'failed', last_error = 'webhook removed' \
             WHERE url = $1 AND status = 'pending'",
        )
        .bind(url)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(url.is_some())
}

/// The url of a configured webhook, for a test message.
pub async fn webhook_url(pool: &PgPool, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT url FROM ops_alert_webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

fn state_value(s: SystemState) -> &'static str {
    match s {
        SystemState::Stable => "STABLE",
        SystemState::SilentDegradation => "SILENT_DEGRADATION",
        SystemState::ActiveFailure => "ACTIVE_FAILURE",
    }
}

fn state_label(value: &str) -> String {
    value.replace('_', " ")
}

/// One watched subject as it is now: its value, what counts as normal before anything was
/// recorded, and the message a change to this value sends.
struct Observed {
    subject: String,
    value: String,
    normal: &'static str,
    text: Box<dyn Fn(&str) -> String + Send>,
}

fn observe(pulse: &Pulse, cards: &[Card]) -> Vec<Observed> {
    let reasons = if pulse.reasons.is_empty() {
        "No alert rule holds.".to_owned()
    } else {
        format!("{}.", pulse.reasons.join("; "))
    };
    let to = state_value(pulse.system_state);
    let mut observed = vec![Observed {
        subject: "system_state".into(),
        value: to.into(),
        normal: "STABLE",
        text: Box::new(move |from| {
            format!(
                "Ops Console: system state {} → {}. {reasons}",
                state_label(from),
                state_label(to)
            )
        }),
    }];
    for card in cards {
        let c = card.clone();
        observed.push(Observed {
            subject: format!("threshold:{}", card.key),
            value: if card.crossed { "crossed" } else { "ok" }.into(),
            normal: "ok",
            text: Box::new(move |_| {
                let change = c
                    .delta_pct
                    .map(|d| format!(" ({d:+.1}%)"))
                    .unwrap_or_default();
                if c.crossed {
                    format!(
                        "Ops Console: {} crossed its alert threshold ({}): now {}, previous 24 h {}{change}.",
                        c.title, c.threshold, c.value, c.previous
                    )
                } else {
                    format!(
                        "Ops Console: {} is back within its alert threshold ({}): now {}, previous 24 h {}{change}.",
                        c.title, c.threshold, c.value, c.previous
                    )
                }
            }),
        });
    }
    observed
}

/// Evaluates the pulse at `now` with the thresholds in force and raises one alert for each
/// subject whose value changed since the last evaluation, queueing it for every webhook.
/// Returns the ids of the alerts raised.
pub async fn evaluate(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<i64>, sqlx::Error> {
    let t = thresholds(pool).await?;
    let pulse = super::pulse::pulse(pool, now, &t).await?;
    let cards = cards(&pulse, &t);
    let mut observed = observe(&pulse, &cards);
    // A fixed order of row locks, so two evaluations cannot deadlock.
    observed.sort_by(|a, b| a.subject.cmp(&b.subject));

    let mut tx = pool.begin().await?;
    let mut raised = Vec::new();
    for o in observed {
        sqlx::query(
            "INSERT INTO ops_alert_state (subject, value, changed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subject) DO NOTHING",
        )
        .bind(&o.subject)
        .bind(o.normal)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let from: String =
            sqlx::query_scalar("SELECT value FROM ops_alert_state WHERE subject = $1 FOR UPDATE")
                .bind(&o.subject)
                .fetch_one(&mut *tx)
                .await?;
        if from == o.value {
            continue;
        }
        sqlx::query("UPDATE ops_alert_state SET value = $2, changed_at = $3 WHERE subject = $1")
            .bind(&o.subject)
            .bind(&o.value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let text = (o.text)(&from);
        let payload = json!({
            "text": text,
            "alert": {
                "subject": o.subject,
                "from": from,
                "to": o.value,
                "raised_at": now,
                "system_state": pulse.system_state,
                "reasons": pulse.reasons,
            },
        });
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO ops_alerts (subject, from_value, to_value, text, payload, raised_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&o.subject)
        .bind(&from)
        .bind(&o.value)
        .bind(&text)
        .bind(&payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ops_alert_deliveries (alert_id, url) \
             SELECT $1, url FROM ops_alert_webhooks",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tracing::info!(subject = o.subject, from, to = o.value, "alert raised");
        raised.push(id);
    }
    tx.commit().await?;
    Ok(raised)
}

/// The latest alerts raised at or before `until`, newest first (of one evaluation, the change of
/// state before the cards that explain it), with their deliveries.
pub async fn history(
    pool: &PgPool,
    until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<AlertRecord>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.subject, a.from_value, a.to_value, a.text, a.raised_at, \
                coalesce(json_agg(json_build_object('url', d.url, 'status', d.status, \
                    'attempts', d.attempts, 'last_error', d.last_error) ORDER BY d.url) \
                    FILTER (WHERE d.url IS NOT NULL), '[]') AS deliveries \
         FROM ops_alerts a LEFT JOIN ops_alert_deliveries d ON d.alert_id = a.id \
         WHERE a.raised_at <= $1 \
         GROUP BY a.id \
         ORDER BY a.raised_at DESC, (a.subject = 'system_state') DESC, a.id DESC LIMIT $2",
    )
    .bind(until)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let deliveries: serde_json::Value = row.try_get("deliveries")?;
            let deliveries = deliveries
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|d| Delivery {
                            shown_url: mask_url(d["url"].as_str().unwrap_or_default()),
                            status: d["status"].as_str().unwrap_or_default().to_owned(),
                            attempts: d["attempts"].as_i64().unwrap_or_default() as i32,
                            last_error: d["last_error"].as_str().map(str::to_owned),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(AlertRecord {
                id: row.try_get("id")?,
                subject: row.try_get("subject")?,
                from_value: row.try_get("from_value")?,
                to_value: row.try_get("to_value")?,
                text: row.try_get("text")?,
                raised_at: row.try_get("raised_at")?,
                deliveries,
            })
        })
        .collect()
}

/// How deliveries are tried.
#[derive(Clone, Copy, Debug)]
pub struct DeliveryPolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub retry_base: Duration,
    /// The longest wait between two tries.
    pub retry_cap: Duration,
    /// Tries before a delivery is given up.
    pub max_attempts: i32,
    /// How long one try may take.
    pub timeout: Duration,
    /// How long a claimed delivery is kept from other workers.
    pub lease: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            retry_base: Duration::from_secs(5),
            retry_cap: Duration::from_secs(3600),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
        }
    }
}

impl DeliveryPolicy {
    /// The wait after the `attempts`-th failed try.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 30) as u32);
        self.retry_base.saturating_mul(factor).min(self.retry_cap)
    }
}

/// The webhook's answer, as a delivery records it.
enum Outcome {
    Delivered,
    /// Worth trying again (network, timeout, 5xx, 408, 429).
    Retry(String),
    /// The webhook refused the message for good (other 4xx).
    GiveUp(String),
}

pub async fn post(
    http: &reqwest::Client,
    url: &str,
    payload: &serde_json::Value,
) -> Result<(), String> {
    match send(http, url, payload, Duration::from_secs(10)).await {
        Outcome::Delivered => Ok(()),
        Outcome::Retry(e) | Outcome::GiveUp(e) => Err(e),
    }
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    payload: &serde_json::Value,
    timeout: Duration,
) -> Outcome {
    match http.post(url).json(payload).timeout(timeout).send().await {
        Ok(r) if r.status().is_success() => Outcome::Delivered,
        Ok(r) => {
            let status = r.status();
            let text = format!("HTTP {status}");
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Retry(text)
            } else {
                Outcome::GiveUp(text)
            }
        }
        Err(e) if e.is_timeout() => Outcome::Retry(format!("no answer within {timeout:?}")),
        Err(e) => Outcome::Retry(format!("cannot reach the webhook: {e}")),
    }
}

/// Tries every delivery that is due, once; returns how many were tried.
pub async fn deliver_due(
    pool: &PgPool,
    http: &reqwest::Client,
    policy: &DeliveryPolicy,
) -> Result<usize, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE ops_alert_deliveries d \
         SET next_attempt_at = now() + make_interval(secs => $1) \
         FROM ops_alerts a \
         WHERE a.id = d.alert_id AND (d.alert_id, d.url) IN ( \
             SELECT alert_id, url FROM ops_alert_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED) \
         RETURNING d.alert_id, d.url, d.attempts, a.payload",
    )
    .bind(policy.lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    for row in &claimed {
        let alert_id: i64 = row.try_get("alert_id")?;
        let url: String = row.try_get("url")?;
        let attempts: i32 = row.try_get::<i32, _>("attempts")? + 1;
        let payload: serde_json::Value = row.try_get("payload")?;
        let failure = match send(http, &url, &payload, policy.timeout).await {
            Outcome::Delivered => None,
            Outcome::GiveUp(error) => Some((error, true)),
            Outcome::Retry(error) => Some((error, attempts >= policy.max_attempts)),
        };
        let Some((error, give_up)) = failure else {
            sqlx::query(
                "UPDATE ops_alert_deliveries SET status = 'delivered', attempts = $3, \
                     delivered_at = now(), last_error = NULL \
                 WHERE alert_id = $1 AND url = $2",
            )
            .bind(alert_id)
            .bind(&url)
            .bind(attempts)
            .execute(pool)
            .await?;
            continue;
        };
        tracing::warn!(
            alert_id,
            attempts,
            error,
            give_up,
            "webhook delivery failed"
        );
        sqlx::query(
            "UPDATE ops_alert_deliveries SET attempts = $3, last_error = $4, \
                 status = CASE WHEN $5 THEN 'failed' ELSE 'pending' END, \
                 next_attempt_at = now() + make_interval(secs => $6) \
             WHERE alert_id = $1 AND url = $2",
        )
        .bind(alert_id)
        .bind(&url)
        .bind(attempts)
        .bind(&error)
        .bind(give_up)
        .bind(policy.backoff(attempts).as_secs_f64())
        .execute(pool)
        .await?;
    }
    Ok(claimed.len())
}

/// When the next pending delivery falls due, if any.
async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(next_attempt_at) FROM ops_alert_deliveries WHERE status = 'pending'",
    )
    .fetch_one(pool)
    .await
}

/// Starts the evaluation (every `evaluate_every`, if set) and the delivery worker.
pub fn start(pool: PgPool, wake: Wake, evaluate_every: Option<Duration>, policy: DeliveryPolicy) {
    if let Some(every) = evaluate_every {
        let (pool, wake) = (pool.clone(), wake.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match evaluate(&pool, Utc::now()).await {
                    Ok(raised) if !raised.is_empty() => wake.notify_one(),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not evaluate alerts"),
                }
            }
        });
    }
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let idle = Duration::from_secs(30);
        loop {
            if let Err(e) = deliver_due(&pool, &http, &policy).await {
                tracing::warn!(error = %e, "could not deliver alerts");
            }
            let wait = match next_due(&pool).await {
                Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or_default().min(idle),
                Ok(None) => idle,
                Err(_) => idle,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
                _ = wake.notified() => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let p = DeliveryPolicy {
            retry_base: Duration::from_secs(5),
            retry_cap: Duration::from_secs(60),
            ..DeliveryPolicy::default()
        };
        let waits: Vec<u64> = (1..=6).map(|a| p.backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(p.backoff(1000).as_secs(), 60);
    }

    #[test]
    fn webhook_addresses_must_be_http_with_a_host() {
        assert!(check_webhook_url(" https://hooks.slack.com/services/T/B/X ").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_webhook_url("").is_err());
        assert!(check_webhook_url("ftp://example.com/x").is_err());
        assert!(check_webhook_url("hooks.slack.com/services").is_err());
        assert!(check_webhook_url(&format!("https://a.b/{}", "x".repeat(2000))).is_err());
    }
}
