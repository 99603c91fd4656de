//! `ops-console bench`: fills an empty database with a synthetic stream (500 tenants, 30 days,
//! a realistic mix), then measures in one run each page's analytics against the spec's SQL for
//! the same numbers, HTTP ingestion against PostgreSQL's own `COPY`, and peak memory, and prints
//! one Markdown table. A command, not a test: nothing here asserts a time.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use sqlx::postgres::PgPoolCopyExt;
use sqlx::PgPool;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;
use uuid::Uuid;

/// What to generate and how long to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub events: u64,
    pub tenants: u32,
    pub days: i64,
    pub runs: usize,
    /// Events sent through the HTTP API per batch size.
    pub ingest_events: u64,
    pub clients: usize,
    /// Measure the data already there instead of generating (the table must not be empty).
    pub reuse: bool,
    /// Skip the pages; measure ingestion only.
    pub ingest_only: bool,
    /// Seconds of the load phase (100 sessions plus ingestion); 0 skips it.
    pub load_secs: u64,
    /// The moment the pages are measured at; `None` is now.
    pub as_of: Option<DateTime<Utc>>,
}

/// Dashboard sessions of the load phase.
const LOAD_SESSIONS: usize = 100;

/// The stream's mix: (event type, weight).
const MIX: [(&str, f64); 12] = [
    ("API_CALL_RECEIVED", 52.0),
    ("LLM_CALL_MADE", 30.0),
    ("POLICY_EVALUATED", 10.0),
    ("INCIDENT_CREATED", 3.0),
    ("INCIDENT_VIEWED", 1.6),
    ("LLM_CALL_FAILED", 1.0),
    ("POLICY_BLOCKED", 0.8),
    ("REPLAY_EXECUTED", 0.4),
    ("EXPORT_GENERATED", 0.15),
    ("CERT_VERIFIED", 0.1),
    ("LOGIN", 0.1),
    ("FREEZE_ACTIVATED", 0.001),
];
const MODELS: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "claude-3-haiku", "llama-3-70b"];
const POLICIES: [(&str, &str); 3] = [
    ("CONTENT_ACCURACY", "v11"),
    ("SAFETY_BASIC", "v3"),
    ("PII_FILTER", "v5"),
];

fn tenant_id(i: u32) -> Uuid {
    Uuid::from_u128(0xbe7c_0000_0000_0000_0000_0000_0000_0000 | (u128::from(i) + 1))
}

/// One synthetic event: `(type, timestamp, tenant, session, severity, latency, cost, metadata)`.
struct Row {
    kind: &'static str,
    at: DateTime<Utc>,
    tenant: Uuid,
    session: Option<Uuid>,
    entity: Option<Uuid>,
    severity: Option<i32>,
    latency: Option<i32>,
    cost: Option<f64>,
    meta: serde_json::Value,
}

/// One event at `at`.
fn row(rng: &mut ChaCha8Rng, o: &BenchOptions, at: DateTime<Utc>) -> Row {
    let weights: Vec<f64> = MIX.iter().map(|m| m.1).collect();
    let kind = MIX[ops_demo::pick_weighted(rng, &weights)].0;
    // Busy tenants are busier: a square skews traffic towards low indexes.
    let t = (rng.random::<f64>().powi(2) * f64::from(o.tenants)) as u32;
    let model = MODELS[rng.random_range(0..MODELS.len())];
    let mut r = Row {
        kind,
        at,
        tenant: tenant_id(t),
        session: Some(Uuid::from_u128(rng.random())),
        entity: None,
        severity: None,
        latency: None,
        cost: None,
        meta: json!({}),
    };
    match kind {
        "API_CALL_RECEIVED" => {
            r.latency = Some(rng.random_range(20..2_000));
            r.meta =
                json!({"endpoint": "/v1/chat/completions", "method": "POST", "status_code": 200});
        }
        "LLM_CALL_MADE" => {
            let (i, out) = (rng.random_range(100..3_000), rng.random_range(20..800));
            r.latency = Some(rng.random_range(200..5_000));
            r.cost = Some(f64::from(i * 15 + out * 60) / 100_000_000.0 + 0.000001);
            r.meta = json!({"model": model, "tokens_in": i, "tokens_out": out});
        }
        "POLICY_EVALUATED" | "POLICY_BLOCKED" => {
            let p = POLICIES[rng.random_range(0..3)].0;
            r.meta = json!({"policy_id": p, "result": "pass", "reason": "pii_detected"});
        }
        "INCIDENT_CREATED" => {
            let (p, v) = POLICIES[rng.random_range(0..3)];
            r.entity = Some(Uuid::from_u128(rng.random()));
            r.severity = Some(rng.random_range(1..=5));
            r.meta = json!({"model": model, "policy_id": p, "policy_version": v,
                "input": {"user": "Is my contract auto-renewed?", "context": {"contract_status": "active"}},
                "output": "Yes.", "policies_fired": [p]});
        }
        "INCIDENT_VIEWED" | "REPLAY_EXECUTED" | "EXPORT_GENERATED" | "CERT_VERIFIED" => {
            r.entity = Some(Uuid::from_u128(rng.random()));
            r.meta = json!({"source": "customer", "format": "pdf", "time_on_page": 30});
        }
        "LLM_CALL_FAILED" => {
            let error_type = ["timeout", "5xx", "rate_limit"][rng.random_range(0..3)];
            r.meta = json!({"model": model, "error_type": error_type, "retry_count": 1});
        }
        _ => r.meta = json!({"source": "guard"}),
    }
    r
}

/// The tenants' subscriptions and an hourly Redis sample: what the pages' joins need.
fn fixed_rows(o: &BenchOptions, end: DateTime<Utc>) -> Vec<Row> {
    let mut rows = Vec::new();
    for t in 0..o.tenants {
        rows.push(Row {
            kind: "SUBSCRIPTION_STARTED",
            at: end - Duration::days(o.days + 30) + Duration::minutes(i64::from(t)),
            tenant: tenant_id(t),
            session: None,
            entity: None,
            severity: None,
            latency: None,
            cost: None,
            meta: json!({"plan": "Pro", "source": "Organic", "price_usd_month": 99, "tenant_name": format!("tenant-{t:04}")}),
        });
    }
    for h in 0..o.days * 24 {
        rows.push(Row {
            kind: "INFRA_LIMIT_HIT",
            at: end - Duration::hours(h),
            tenant: Uuid::nil(),
            session: None,
            entity: None,
            severity: None,
            latency: None,
            cost: None,
            meta: json!({"resource": "redis", "current": 300.0 + (o.days * 24 - h) as f64 * 0.2, "limit": 1024.0, "unit": "MB"}),
        });
    }
    rows
}

fn copy_line(out: &mut String, r: &Row, id: Uuid) {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "\\N".into());
    let _ = writeln!(
        out,
        "{id}\t{}\t{}\t\\N\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.at.to_rfc3339(),
        r.tenant,
        opt(r.session.map(|s| s.to_string())),
        r.kind,
        opt(r.entity.map(|_| "incident".to_owned())),
        opt(r.entity.map(|e| e.to_string())),
        opt(r.severity.map(|s| s.to_string())),
        opt(r.latency.map(|l| l.to_string())),
        opt(r.cost.map(|c| format!("{c:.6}"))),
        r.meta.to_string().replace('\\', "\\\\"),
    );
}

/// When a live event happened: within the minute before `end`, as a service sends them.
fn live_moment(rng: &mut ChaCha8Rng, end: DateTime<Utc>) -> DateTime<Utc> {
    end - Duration::milliseconds(rng.random_range(0..60_000))
}

/// Generates `o.events` events with `COPY` (the generator, not PostgreSQL, sets this pace).
pub async fn generate(pool: &PgPool, o: &BenchOptions, end: DateTime<Utc>) -> Result<(), String> {
    let bar = indicatif::ProgressBar::new(o.events);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .map_err(|e| e.to_string())?,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let started = Instant::now();
    let mut copy = pool
        .copy_in_raw(COPY_SQL)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = String::with_capacity(8 << 20);
    for r in fixed_rows(o, end) {
        copy_line(&mut buf, &r, Uuid::from_u128(rng.random()));
    }
    let fixed = fixed_rows(o, end).len() as u64;
    let mut done = fixed;
    // The stream is time-ordered, as services emit it: event i of n is at start + i/n of the span.
    let start = end - Duration::days(o.days);
    let span_ms = o.days * 86_400_000;
    let generated = o.events.saturating_sub(fixed).max(1) as i64;
    while done < o.events {
        let i = (done - fixed) as i64;
        let r = row(
            &mut rng,
            o,
            start + Duration::milliseconds(i * span_ms / generated),
        );
        copy_line(&mut buf, &r, Uuid::from_u128(rng.random()));
        done += 1;
        if buf.len() > 4 << 20 {
            copy.send(buf.as_bytes()).await.map_err(|e| e.to_string())?;
            buf.clear();
            bar.set_position(done);
        }
        // One COPY statement per million events: the rollup trigger then aggregates a million
        // rows at a time, not the whole stream in one transition table.
        if done.is_multiple_of(1_000_000) {
            copy.send(buf.as_bytes()).await.map_err(|e| e.to_string())?;
            buf.clear();
            copy.finish().await.map_err(|e| e.to_string())?;
            copy = pool
                .copy_in_raw(COPY_SQL)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    copy.send(buf.as_bytes()).await.map_err(|e| e.to_string())?;
    copy.finish().await.map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    sqlx::query("ANALYZE ops_events")
        .execute(pool)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "generated {done} events in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// PostgreSQL's own pace: `n` events made in memory first, then one timed `COPY` into the same
/// table with the same indexes. Events per second.
async fn copy_rate(pool: &PgPool, o: &BenchOptions, n: u64) -> Result<f64, String> {
    // Fresh ids on every run, so a run on `--reuse` data measures inserts, not conflicts.
    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    let end = Utc::now();
    let mut buf = String::new();
    for _ in 0..n {
        let at = live_moment(&mut rng, end);
        let r = row(&mut rng, o, at);
        copy_line(&mut buf, &r, Uuid::from_u128(rng.random()));
    }
    let started = Instant::now();
    let mut copy = pool
        .copy_in_raw(COPY_SQL)
        .await
        .map_err(|e| e.to_string())?;
    copy.send(buf.as_bytes()).await.map_err(|e| e.to_string())?;
    copy.finish().await.map_err(|e| e.to_string())?;
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

const COPY_SQL: &str = "COPY ops_events (event_id, timestamp, tenant_id, user_id, session_id, \
     event_type, entity_type, entity_id, severity, latency_ms, cost_usd, metadata) FROM STDIN";

type Job<'a> = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> + 'a>;

/// Warm p50 and p95 of `runs` runs, in milliseconds (after one run that warms the caches).
async fn measure(job: &Job<'_>, runs: usize) -> Result<(f64, f64), String> {
    job().await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        job().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(percentiles(&mut times))
}

/// The spec's queries for one page, run one after the other.
fn spec<'a>(pool: &'a PgPool, sqls: &'static [&'static str]) -> Job<'a> {
    Box::new(move || {
        Box::pin(async move {
            for &sql in sqls {
                sqlx::query(sql)
                    .fetch_all(pool)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    })
}

/// The spec's SQL for each page, as printed (with the fixes NOTES.md requires to run at all).
const SPEC_PULSE: &str = "WITH c AS (SELECT COUNT(DISTINCT tenant_id) AS active_tenants, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS incidents, \
  COUNT(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS replays, \
  COUNT(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exports, \
  COUNT(*) FILTER (WHERE event_type = 'LLM_CALL_FAILED') AS llm_failures, \
  COUNT(*) FILTER (WHERE event_type = 'LLM_CALL_MADE') AS llm_total \
  FROM ops_events WHERE timestamp > now() - interval '24 hours'), \
 p AS (SELECT COUNT(DISTINCT tenant_id) AS active_tenants, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS incidents, \
  COUNT(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS replays, \
  COUNT(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exports \
  FROM ops_events WHERE timestamp BETWEEN now() - interval '48 hours' AND now() - interval '24 hours') \
 SELECT c.*, p.* FROM c, p";
const SPEC_INTENT: &str = "SELECT tenant_id, MIN(timestamp) AS signup_time, \
  MIN(timestamp) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS first_incident, \
  MIN(timestamp) FILTER (WHERE event_type = 'INCIDENT_VIEWED') AS first_view, \
  MIN(timestamp) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS first_replay, \
  MIN(timestamp) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS first_export \
  FROM ops_events WHERE event_type IN ('SUBSCRIPTION_STARTED', 'INCIDENT_CREATED', \
  'INCIDENT_VIEWED', 'REPLAY_EXECUTED', 'EXPORT_GENERATED') GROUP BY tenant_id";
const SPEC_STICKINESS: &str = "SELECT tenant_id, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_VIEWED' AND timestamp > now() - interval '3 days') AS rv, \
  COUNT(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED' AND timestamp > now() - interval '3 days') AS rr, \
  COUNT(*) FILTER (WHERE event_type = 'EXPORT_GENERATED' AND timestamp > now() - interval '3 days') AS re \
  FROM ops_events WHERE timestamp > now() - interval '7 days' GROUP BY tenant_id";
const SPEC_FUNNEL: &str = "WITH f AS (SELECT tenant_id, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') > 0 AS i, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_VIEWED') > 0 AS v, \
  COUNT(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED') > 0 AS r, \
  COUNT(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') > 0 AS e, \
  COUNT(*) FILTER (WHERE event_type = 'CERT_VERIFIED') > 0 AS c \
  FROM ops_events WHERE timestamp > now() - interval '30 days' GROUP BY tenant_id) \
 SELECT COUNT(*) FILTER (WHERE i), COUNT(*) FILTER (WHERE v), COUNT(*) FILTER (WHERE r), \
  COUNT(*) FILTER (WHERE e), COUNT(*) FILTER (WHERE c) FROM f";
const SPEC_ECONOMICS: &str = "SELECT tenant_id, \
  SUM(cost_usd) FILTER (WHERE event_type = 'LLM_CALL_MADE') AS llm_cost, \
  COUNT(*) FILTER (WHERE event_type = 'API_CALL_RECEIVED') AS api_calls, \
  COUNT(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS incidents, \
  COUNT(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exports, \
  99.00 - SUM(cost_usd) FILTER (WHERE event_type = 'LLM_CALL_MADE') AS margin \
  FROM ops_events WHERE timestamp > now() - interval '30 days' GROUP BY tenant_id ORDER BY margin ASC";
const SPEC_INCIDENTS: &str = "SELECT metadata->>'model' AS model, COUNT(*) AS n, \
  ROUND(COUNT(*)::numeric / SUM(COUNT(*)) OVER () * 100, 1) AS pct \
  FROM ops_events WHERE event_type = 'INCIDENT_CREATED' AND timestamp > now() - interval '24 hours' \
  GROUP BY metadata->>'model' ORDER BY n DESC";
const SPEC_INFRA: &str = "SELECT DATE_TRUNC('hour', timestamp) AS hour, \
  AVG((metadata->>'current')::numeric) AS used, MAX((metadata->>'limit')::numeric) AS lim \
  FROM ops_events WHERE event_type = 'INFRA_LIMIT_HIT' AND metadata->>'resource' = 'redis' \
  AND timestamp > now() - interval '7 days' GROUP BY 1 ORDER BY 1";

/// Events per second through `POST /api/v1/ops/events` from `clients` clients in batches of
/// `batch`, `total` events in all.
async fn http_rate(
    base: &str,
    key: &str,
    o: &BenchOptions,
    batch: usize,
    total: u64,
) -> Result<f64, String> {
    let per_client = total / o.clients as u64;
    let run_seed: u64 = rand::random();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let (base, key, o) = (base.to_owned(), key.to_owned(), o.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            // Each batch size and client sends events of its own: a repeated id would be a
            // duplicate, which ingestion skips, and would flatter the rate.
            let mut rng = ChaCha8Rng::seed_from_u64(run_seed ^ (batch as u64 * 1_000 + c as u64));
            let end = Utc::now();
            let mut sent = 0u64;
            while sent < per_client {
                let n = batch.min((per_client - sent) as usize);
                let body: Vec<serde_json::Value> = (0..n)
                    .map(|_| {
                        let at = live_moment(&mut rng, end);
                        let r = row(&mut rng, &o, at);
                        json!({"event_id": Uuid::from_u128(rng.random()), "timestamp": r.at,
                            "tenant_id": r.tenant, "session_id": r.session, "event_type": r.kind,
                            "entity_type": r.entity.map(|_| "incident"), "entity_id": r.entity,
                            "severity": r.severity, "latency_ms": r.latency,
                            "cost_usd": r.cost.map(|c| format!("{c:.6}")), "metadata": r.meta})
                    })
                    .collect();
                let response = client
                    .post(format!("{base}/api/v1/ops/events"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !response.status().is_success() {
                    return Err(format!("ingestion answered {}", response.status()));
                }
                sent += n as u64;
            }
            Ok::<u64, String>(sent)
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.map_err(|e| e.to_string())??;
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

/// Peak resident memory of a process (`self` or a pid), in MB (Linux `VmHWM`).
fn peak_rss_mb(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

const BENCH_INGEST_KEY: &str = "bench-ingest-key";
const BENCH_TOKEN: &str = "bench-api-token";
const BENCH_EMAIL: &str = "bench@ops.local";
const BENCH_PASSWORD: &str = "bench-password-123";

/// `ops-console serve` as a child process on a free local port, on the same database; killed
/// when dropped, so no run leaves a server behind.
struct Served {
    child: tokio::process::Child,
    base: String,
}

impl Served {
    async fn start() -> Result<Served, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = tokio::process::Command::new(exe)
            .arg("serve")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("OPS_INGEST_KEYS", BENCH_INGEST_KEY)
            .env("OPS_API_TOKENS", BENCH_TOKEN)
            .env("OPS_ADMIN_EMAIL", BENCH_EMAIL)
            .env("OPS_ADMIN_PASSWORD", BENCH_PASSWORD)
            // Nothing but the benchmark's own traffic: no collector samples, no alert rounds.
            .env("OPS_COLLECT_INTERVAL_SECS", "0")
            .env("OPS_ALERT_INTERVAL_SECS", "0")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let served = Served {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let ready = client.get(served.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(served);
            }
            if Instant::now() > deadline {
                return Err("the server did not become ready within 120 s".into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's peak resident memory since the last call, then the peak reset to what it
    /// holds now (Linux `clear_refs` 5), so each phase of the run gets its own figure.
    fn phase_peak_mb(&self) -> Option<f64> {
        let pid = self.child.id()?.to_string();
        let peak = peak_rss_mb(&pid);
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        peak
    }

    /// A session cookie for the bench operator.
    async fn sign_in(&self) -> Result<String, String> {
        // The cookie comes with the redirect after signing in; following it would lose it.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .post(self.url("/login"))
            .form(&[("email", BENCH_EMAIL), ("password", BENCH_PASSWORD)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|c| c.contains('=')))
            .map(str::to_owned)
            .ok_or_else(|| format!("signing in answered {} without a cookie", response.status()))
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A `GET` with `authorization` that must succeed; the body is read whole.
async fn get_ok(client: &reqwest::Client, url: &str, authorization: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("GET {url} answered {}", response.status()));
    }
    response
        .bytes()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn percentiles(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

/// From posting one event to (a) the open stream saying `changed` and (b) the pulse read again:
/// what an open System Pulse page does. p50 and p95 of each, in milliseconds.
async fn live_latency(
    server: &Served,
    client: &reqwest::Client,
    runs: usize,
) -> Result<(f64, f64, f64, f64), String> {
    use futures::StreamExt;
    let token = format!("Bearer {BENCH_TOKEN}");
    let stream = client
        .get(server.url("/api/v1/ops/stream"))
        .header(reqwest::header::AUTHORIZATION, &token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = stream.bytes_stream();
    let mut seen = String::new();
    // Reads the stream until `event: <name>` arrives (after whatever came before).
    async fn until<B: AsRef<[u8]>>(
        stream: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
        seen: &mut String,
        name: &str,
    ) -> Result<(), String> {
        let marker = format!("event: {name}");
        loop {
            if let Some(i) = seen.find(&marker) {
                seen.drain(..i + marker.len());
                return Ok(());
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .map_err(|_| format!("no `{name}` within 10 s"))?
                .ok_or("the stream ended")?
                .map_err(|e| e.to_string())?;
            seen.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    }
    until(&mut stream, &mut seen, "ready").await?;
    let (mut told, mut refreshed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Let the previous change drain first, so each run sees its own.
        tokio::time::sleep(crate::server::live::COALESCE * 2).await;
        seen.clear();
        let t = Instant::now();
        let response = client
            .post(server.url("/api/v1/ops/events"))
            .bearer_auth(BENCH_INGEST_KEY)
            .json(&json!({"tenant_id": tenant_id(0), "event_type": "API_CALL_RECEIVED"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("posting an event answered {}", response.status()));
        }
        until(&mut stream, &mut seen, "changed").await?;
        told.push(t.elapsed().as_secs_f64() * 1000.0);
        get_ok(client, &server.url("/api/v1/ops/pulse"), &token).await?;
        refreshed.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (t50, t95) = percentiles(&mut told);
    let (r50, r95) = percentiles(&mut refreshed);
    Ok((t50, t95, r50, r95))
}

/// The whole benchmark; the Markdown it prints.
pub async fn run(pool: PgPool, o: BenchOptions) -> Result<String, String> {
    use super::{customers, incidents, infra, pulse, revenue, stickiness};
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events")
        .fetch_one(&pool)
        .await
        .map_err(|e| e.to_string())?;
    if o.reuse {
        if stored == 0 {
            return Err("--reuse needs events in the database".into());
        }
    } else {
        if stored > 0 {
            return Err(format!(
                "the database already holds {stored} events: point DATABASE_URL at an empty one, or pass --reuse"
            ));
        }
        eprintln!("generating {} events with COPY…", o.events);
        generate(&pool, &o, Utc::now()).await?;
    }
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events")
        .fetch_one(&pool)
        .await
        .map_err(|e| e.to_string())?;
    let now = o.as_of.unwrap_or_else(Utc::now);
    let thresholds = crate::model::pulse::Thresholds::default();
    let p = &pool;
    let t = &thresholds;
    let pages: Vec<(&str, Job<'_>, Job<'_>)> = vec![
        (
            "System Pulse",
            Box::new(move || {
                Box::pin(async move {
                    pulse::pulse(p, now, t)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_PULSE]),
        ),
        (
            "Customer Intelligence",
            Box::new(move || {
                Box::pin(async move {
                    customers::customers(p, now)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_INTENT, SPEC_STICKINESS]),
        ),
        (
            "Incident Intelligence",
            Box::new(move || {
                Box::pin(async move {
                    incidents::patterns(p, now, 24, None)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_INCIDENTS]),
        ),
        (
            "Product Stickiness",
            Box::new(move || {
                Box::pin(async move {
                    stickiness::stickiness(p, now, 30)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_FUNNEL]),
        ),
        (
            "Revenue & Risk",
            Box::new(move || {
                Box::pin(async move {
                    revenue::revenue(p, now, 30)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_ECONOMICS]),
        ),
        (
            "Infra & Limits",
            Box::new(move || {
                Box::pin(async move {
                    infra::infra(p, now)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            }),
            spec(p, &[SPEC_INFRA]),
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Events: {events} · tenants: {} · days: {} · warm runs per query: {} · as of {}\n",
        o.tenants,
        o.days,
        o.runs,
        now.to_rfc3339()
    );
    let _ = writeln!(out, "| page | console p50 ms | console p95 ms | spec SQL p50 ms | spec SQL p95 ms | console / spec (p95) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for (name, ours, theirs) in pages.iter().filter(|_| !o.ingest_only) {
        eprintln!("measuring {name}…");
        let (o50, o95) = measure(ours, o.runs).await?;
        let (s50, s95) = measure(theirs, o.runs).await?;
        let _ = writeln!(
            out,
            "| {name} | {o50:.1} | {o95:.1} | {s50:.1} | {s95:.1} | {:.2} |",
            o95 / s95
        );
    }
    drop(pages);

    // Everything else against the real server in its own process, so its memory is its own.
    // Whatever fails there, the tables measured so far are printed first.
    match served(&pool, &o, &mut out).await {
        Ok(()) => {
            // The site the server itself would serve (`LEPTOS_SITE_ROOT`, else Cargo.toml's).
            let site = leptos::config::get_configuration(None)
                .map_err(|e| e.to_string())
                .and_then(|c| wasm_table(std::path::Path::new(&*c.leptos_options.site_root)));
            match site {
                Ok(table) => out.push_str(&table),
                Err(e) => {
                    let _ = writeln!(out, "\nWASM + JS not measured: {e}");
                }
            }
            Ok(out)
        }
        Err(e) => {
            println!("{out}");
            Err(e)
        }
    }
}

async fn served(pool: &PgPool, o: &BenchOptions, out: &mut String) -> Result<(), String> {
    eprintln!("starting the server…");
    let server = Served::start().await?;
    let client = reqwest::Client::new();
    let token = format!("Bearer {BENCH_TOKEN}");
    let _ = writeln!(
        *out,
        "\n| read API over HTTP | p50 ms | p95 ms |\n|---|---:|---:|"
    );
    for path in [
        "/api/v1/ops/pulse",
        "/api/v1/ops/customers",
        "/api/v1/ops/incidents/patterns",
        "/api/v1/ops/stickiness",
        "/api/v1/ops/revenue",
        "/api/v1/ops/infra",
    ]
    .iter()
    .filter(|_| !o.ingest_only)
    {
        eprintln!("measuring GET {path}…");
        let (url, client, token) = (server.url(path), &client, &token);
        let job: Job<'_> = Box::new(move || {
            let url = url.clone();
            Box::pin(async move { get_ok(client, &url, token).await })
        });
        let (p50, p95) = measure(&job, o.runs).await?;
        let _ = writeln!(*out, "| `GET {path}` | {p50:.1} | {p95:.1} |");
    }
    if !o.ingest_only {
        eprintln!("measuring the pulse page's first byte…");
        let cookie = server.sign_in().await?;
        let mut first = Vec::new();
        let mut whole = Vec::new();
        for _ in 0..=o.runs {
            let t = Instant::now();
            let response = client
                .get(server.url("/"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            first.push(t.elapsed().as_secs_f64() * 1000.0);
            if !response.status().is_success() {
                return Err(format!("GET / answered {}", response.status()));
            }
            response.bytes().await.map_err(|e| e.to_string())?;
            whole.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (f50, f95) = percentiles(&mut first[1..].to_vec());
        let (w50, w95) = percentiles(&mut whole[1..].to_vec());
        let _ = writeln!(
            out,
            "| System Pulse page (`GET /`, signed in): first byte | {f50:.1} | {f95:.1} |\n\
             | System Pulse page (`GET /`, signed in): whole HTML | {w50:.1} | {w95:.1} |"
        );
        eprintln!("measuring live latency…");
        let (n50, n95, r50, r95) = live_latency(&server, &client, o.runs).await?;
        let _ = writeln!(
            out,
            "| live: event posted → open page told (`changed`) | {n50:.1} | {n95:.1} |\n\
             | live: event posted → page has the new pulse | {r50:.1} | {r95:.1} |"
        );
    }
    let mut phases = vec![("start, read API, pulse page, live", server.phase_peak_mb())];
    if !o.ingest_only && o.load_secs > 0 {
        eprintln!(
            "{} signed-in sessions browsing the pages with their live streams open, plus \
             ingestion, for {} s…",
            LOAD_SESSIONS, o.load_secs
        );
        let options = super::load::LoadOptions {
            sessions: LOAD_SESSIONS,
            duration: std::time::Duration::from_secs(o.load_secs),
            think: std::time::Duration::from_secs(1),
            stagger: std::time::Duration::from_millis(50),
            ingest_per_sec: 1_000,
        };
        let report = super::load::run(
            &super::load::Target {
                base: server.base.clone(),
                email: BENCH_EMAIL.into(),
                password: BENCH_PASSWORD.into(),
                ingest_key: BENCH_INGEST_KEY.into(),
            },
            &options,
        )
        .await;
        let _ = writeln!(
            out,
            "\n| load: {} sessions (a page a second each, live stream open) + 1,000 events/s, {} s | value |\n|---|---:|\n\
             | page views | {} |\n| page p50 / p95 / max ms | {:.0} / {:.0} / {:.0} |\n\
             | events ingested meanwhile | {} |\n| live streams open throughout | {} |\n| errors | {} |",
            LOAD_SESSIONS,
            o.load_secs,
            report.page_views,
            report.percentile(50.0),
            report.percentile(95.0),
            report.percentile(100.0),
            report.events_ingested,
            report.live_streams,
            report.errors.len()
        );
        for e in report.errors.iter().take(5) {
            eprintln!("load error: {e}");
        }
        phases.push(("load", server.phase_peak_mb()));
    }
    let _ = writeln!(
        *out,
        "\n| ingestion | events/s | share of COPY |\n|---|---:|---:|"
    );
    eprintln!("COPY of {} events made in memory first…", o.ingest_events);
    let copy = copy_rate(pool, o, o.ingest_events).await?;
    let _ = writeln!(
        *out,
        "| COPY of {} events (same table, same indexes) | {copy:.0} | 100% |",
        o.ingest_events
    );
    for batch in [1_000, 10_000] {
        eprintln!(
            "ingesting {} events over HTTP in batches of {batch}…",
            o.ingest_events
        );
        let rate = http_rate(&server.base, BENCH_INGEST_KEY, o, batch, o.ingest_events).await?;
        let _ = writeln!(
            out,
            "| HTTP, batches of {batch}, {} clients | {rate:.0} | {:.0}% |",
            o.clients,
            rate / copy * 100.0
        );
    }
    phases.push(("ingestion over HTTP", server.phase_peak_mb()));
    let now_mb = server.phase_peak_mb();
    server.stop().await;
    let _ = writeln!(
        *out,
        "\n| server peak resident memory, by phase | MB |\n|---|---:|"
    );
    for (phase, mb) in phases {
        let _ = writeln!(*out, "| {phase} | {:.0} |", mb.unwrap_or(f64::NAN));
    }
    let _ = writeln!(
        *out,
        "| held at the end | {:.0} |\n\nBench process peak (generator, page functions in \
         process, ingestion clients): {:.0} MB",
        now_mb.unwrap_or(f64::NAN),
        peak_rss_mb("self").unwrap_or(f64::NAN)
    );
    Ok(())
}

/// What a browser fetches, gzip-compressed file by file as the server sends it, to open each
/// page for the first time (`end2end/tests/weight.spec.ts` counts the same in a real browser): the WASM and JS every page needs, then each page's own chunks
/// (`pkg/__wasm_split_manifest.json` of a `cargo leptos build --split`). ECharts, fetched only
/// by pages with charts, is not counted.
fn wasm_table(site_root: &std::path::Path) -> Result<String, String> {
    use std::io::Write as _;
    let pkg = site_root.join("pkg");
    // Pages share most chunks: each file is read and compressed once.
    let mut sizes = std::collections::HashMap::<String, u64>::new();
    let mut gzipped = |name: &str| -> Result<u64, String> {
        if let Some(size) = sizes.get(name) {
            return Ok(*size);
        }
        let bytes = std::fs::read(pkg.join(name)).map_err(|e| format!("{name}: {e}"))?;
        // The server's own level (tower-http's default, 6), so the sizes are what it sends.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&bytes).map_err(|e| e.to_string())?;
        let size = gz.finish().map_err(|e| e.to_string())?.len() as u64;
        sizes.insert(name.to_owned(), size);
        Ok(size)
    };
    let mut shared = vec!["ops-console.wasm".to_owned(), "ops-console.js".to_owned()];
    let manifest: std::collections::BTreeMap<String, Vec<String>> =
        match std::fs::read_to_string(pkg.join("__wasm_split_manifest.json")) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| e.to_string())?,
            Err(_) => Default::default(),
        };
    for entry in std::fs::read_dir(&pkg)
        .map_err(|e| e.to_string())?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("__wasm_split.") && name.ends_with(".js") {
            shared.push(name);
        }
    }
    let mut base = 0;
    for name in &shared {
        base += gzipped(name)?;
    }
    let kb = |b: u64| b as f64 / 1000.0;
    let mut out = format!(
        "\n| WASM + JS, gzip | files | KB |\n|---|---:|---:|\n| every page: {} | {} | {:.1} |\n",
        shared.join(", "),
        shared.len(),
        kb(base)
    );
    // Route views are what a visit to a page loads; the other split points are `#[lazy]`
    // functions, fetched when first called (a dialog, a result, the charts' code).
    let (pages, on_demand): (Vec<_>, Vec<_>) = manifest
        .iter()
        .partition(|(split, _)| split.contains("_route_view_"));
    for (split, files) in pages {
        let mut own = 0;
        for f in files {
            own += gzipped(&format!("{f}.wasm"))?;
        }
        let page = split.trim_start_matches('_');
        let page = page.split("_route_view").next().unwrap_or(page);
        let _ = writeln!(
            out,
            "| {page} page, first visit: its {} chunks + every page's | {} | {:.1} |",
            files.len(),
            files.len() + shared.len(),
            kb(own + base)
        );
    }
    for (split, files) in on_demand {
        let mut own = 0;
        for f in files {
            own += gzipped(&format!("{f}.wasm"))?;
        }
        // The name ends in a hash of where it is defined.
        let name = split.trim_start_matches('_');
        let name = name.rsplit_once('_').map_or(name, |(n, _)| n);
        let _ = writeln!(
            out,
            "| on first use of `{name}`: its {} chunks, some perhaps already loaded | {} | {:.1} |",
            files.len(),
            files.len(),
            kb(own)
        );
    }
    Ok(out)
}
