//! Load: many signed-in dashboard sessions at once, each with the live stream open and browsing
//! the pages with a pause between clicks, while a client ingests at a steady rate. Every error
//! is counted; page latencies are kept for percentiles. The benchmark reports what this
//! measures; the test suite runs it and requires zero errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

/// The pages a session visits, in turn.
pub const PAGES: [&str; 8] = [
    "/",
    "/customers",
    "/incidents",
    "/stickiness",
    "/revenue",
    "/infra",
    "/replay",
    "/events",
];

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub sessions: usize,
    pub duration: Duration,
    /// The pause between two page views of one session.
    pub think: Duration,
    /// Session `n` starts `n` times this after the first.
    pub stagger: Duration,
    /// Events per second posted through the ingestion API meanwhile (in batches of 100).
    pub ingest_per_sec: u32,
}

/// Where and as whom.
#[derive(Clone, Debug)]
pub struct Target {
    pub base: String,
    pub email: String,
    pub password: String,
    pub ingest_key: String,
}

#[derive(Debug, Default)]
pub struct LoadReport {
    pub sessions: usize,
    pub page_views: usize,
    /// Page latencies (whole HTML), in milliseconds, sorted.
    pub latencies_ms: Vec<f64>,
    pub events_ingested: u64,
    /// Live streams that stayed open for the whole run.
    pub live_streams: usize,
    /// Every failure: a sign-in, a page, a live stream or an ingestion request.
    pub errors: Vec<String>,
}

impl LoadReport {
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies_ms.len() as f64).ceil() as usize;
        self.latencies_ms[rank.clamp(1, self.latencies_ms.len()) - 1]
    }
}

#[derive(Default)]
struct Shared {
    latencies_ms: Vec<f64>,
    errors: Vec<String>,
    live_streams: usize,
}

async fn fail(shared: &Mutex<Shared>, error: String) {
    shared.lock().await.errors.push(error);
}

pub async fn run(target: &Target, o: &LoadOptions) -> LoadReport {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(o.sessions + 4)
        .build()
        .expect("an HTTP client");
    let shared = Arc::new(Mutex::new(Shared::default()));
    let deadline = Instant::now() + o.duration;
    let mut tasks = Vec::new();
    for n in 0..o.sessions {
        let (client, shared, target) = (client.clone(), shared.clone(), target.clone());
        let (think, stagger) = (o.think, o.stagger);
        tasks.push(tokio::spawn(async move {
            session(n, &client, &target, think, stagger, deadline, &shared).await
        }));
    }
    let ingester = {
        let (client, shared, target) = (client.clone(), shared.clone(), target.clone());
        let per_sec = o.ingest_per_sec;
        tokio::spawn(async move { ingest(&client, &target, per_sec, deadline, &shared).await })
    };
    for task in tasks {
        if let Err(e) = task.await {
            fail(&shared, format!("a session failed: {e}")).await;
        }
    }
    let events_ingested = ingester.await.unwrap_or(0);
    let mut shared = Arc::try_unwrap(shared)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    shared.latencies_ms.sort_by(f64::total_cmp);
    LoadReport {
        sessions: o.sessions,
        page_views: shared.latencies_ms.len(),
        latencies_ms: shared.latencies_ms,
        events_ingested,
        live_streams: shared.live_streams,
        errors: shared.errors,
    }
}

async fn session(
    n: usize,
    client: &reqwest::Client,
    target: &Target,
    think: Duration,
    stagger: Duration,
    deadline: Instant,
    shared: &Mutex<Shared>,
) {
    // People open the console over a few seconds, not all in the same millisecond.
    tokio::time::sleep(stagger * n as u32).await;
    let signed_in = client
        .post(format!("{}/login", target.base))
        .form(&[
            ("email", target.email.as_str()),
            ("password", target.password.as_str()),
        ])
        .send()
        .await;
    let cookie = match signed_in {
        Ok(r) if r.status().is_redirection() => {
            let cookie = r
                .headers()
                .get(reqwest::header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_owned);
            if cookie.is_none() {
                let to = r
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                fail(
                    shared,
                    format!("session {n}: sign-in refused, sent to {to}"),
                )
                .await;
            }
            cookie
        }
        Ok(r) => {
            fail(
                shared,
                format!("session {n}: sign-in answered {}", r.status()),
            )
            .await;
            None
        }
        Err(e) => {
            fail(shared, format!("session {n}: sign-in failed: {e}")).await;
            None
        }
    };
    let Some(cookie) = cookie else { return };

    // The live stream, open for the whole run, as the pulse page keeps it.
    let live = {
        let (client, cookie, url) = (
            client.clone(),
            cookie.clone(),
            format!("{}/api/v1/ops/stream", target.base),
        );
        tokio::spawn(async move {
            let response = client
                .get(url)
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await;
            let mut response = match response {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => return Err(format!("live stream answered {}", r.status())),
                Err(e) => return Err(format!("live stream failed: {e}")),
            };
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, response.chunk()).await {
                    Err(_) => return Ok(()),
                    Ok(Ok(Some(_))) => {}
                    Ok(Ok(None)) => return Err("live stream ended early".to_owned()),
                    Ok(Err(e)) => return Err(format!("live stream broke: {e}")),
                }
            }
        })
    };

    let mut page = n % PAGES.len();
    while Instant::now() < deadline {
        let path = PAGES[page];
        page = (page + 1) % PAGES.len();
        let started = Instant::now();
        let result = client
            .get(format!("{}{path}", target.base))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await;
        let outcome = match result {
            // A page whose computation failed shows the error panel; a streamed page may have
            // sent its 200 before, so the body is what tells, and it counts as an error.
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(body) if body.contains("class=\"error-panel\"") => {
                    Err("the page shows an error panel".to_owned())
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            },
            Ok(r) => Err(format!("answered {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        {
            let mut shared = shared.lock().await;
            match outcome {
                Ok(()) => shared.latencies_ms.push(ms),
                Err(e) => shared.errors.push(format!("session {n}: GET {path}: {e}")),
            }
        }
        tokio::time::sleep(think).await;
    }
    let mut shared = shared.lock().await;
    match live.await {
        Ok(Ok(())) => shared.live_streams += 1,
        Ok(Err(e)) => shared.errors.push(format!("session {n}: {e}")),
        Err(e) => shared.errors.push(format!("session {n}: live task: {e}")),
    }
}

/// Posts batches of 100 events at `per_sec` until the deadline; returns the events accepted.
async fn ingest(
    client: &reqwest::Client,
    target: &Target,
    per_sec: u32,
    deadline: Instant,
    shared: &Mutex<Shared>,
) -> u64 {
    if per_sec == 0 {
        return 0;
    }
    let every = Duration::from_secs_f64(100.0 / f64::from(per_sec));
    let mut tick = tokio::time::interval(every);
    let tenant = Uuid::new_v4();
    let mut accepted = 0;
    while Instant::now() < deadline {
        tick.tick().await;
        let batch: Vec<_> = (0..100)
            .map(|_| json!({"tenant_id": tenant, "event_type": "API_CALL_RECEIVED",
                            "metadata": {"endpoint": "/v1/guard", "method": "POST", "status_code": 200}}))
            .collect();
        let result = client
            .post(format!("{}/api/v1/ops/events", target.base))
            .bearer_auth(&target.ingest_key)
            .json(&batch)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => accepted += 100,
            Ok(r) => fail(shared, format!("ingestion answered {}", r.status())).await,
            Err(e) => fail(shared, format!("ingestion failed: {e}")).await,
        }
    }
    accepted
}
