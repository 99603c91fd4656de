//! The Replay Lab: `POST /api/v1/ops/replays` for every answer of the contract, on the spec's
//! auto-renew incident with numbers worked out by hand; exports; the shadow test; and the
//! OpenAI-compatible provider against a fake server (success, timeout, 5xx with retry).

use crate::common::*;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use ops_console::server::config::LlmConfig;
use ops_console::server::ingest;
use ops_console::server::replay::{self, HttpProvider, ModelProvider, ProviderError};
use ops_events::{Event, IncidentDetails};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(0xACE);
const AUTO: &str = "Is my contract auto-renewed?";
const ORIGINAL: &str = "Yes, your contract is set to auto-renew...";

/// The spec's incident: gpt-4o-mini under CONTENT_ACCURACY v12, severity 4, after an LLM call
/// that cost $0.0023 and took 900 ms. Its id.
async fn auto_renew_incident(pool: &PgPool, minutes_ago: i64) -> Uuid {
    let id = Uuid::new_v4();
    let session = Uuid::new_v4();
    let at = Utc::now() - Duration::minutes(minutes_ago);
    let details = IncidentDetails {
        model: "gpt-4o-mini".into(),
        policy_id: "CONTENT_ACCURACY".into(),
        policy_version: "v12".into(),
        severity: 4,
        input_user: AUTO.into(),
        input_context: json!({"contract_status": "active", "auto_renew": null}),
        output: ORIGINAL.into(),
        policies_fired: vec!["CONTENT_ACCURACY".into()],
        attribution: None,
    };
    let events = vec![
        Event::subscription_started(TENANT, "acme-ai", "Pro", "Organic", Decimal::from(99))
            .at(at - Duration::days(10)),
        Event::llm_call_made(TENANT, "gpt-4o-mini", 300, 40, Decimal::new(23, 4), 900)
            .at(at - Duration::seconds(2))
            .session(session),
        Event::incident_created(TENANT, id, details)
            .at(at)
            .session(session),
    ];
    ingest::store(pool, &events).await.unwrap();
    id
}

async fn post_replay(server: &TestServer, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/v1/ops/replays"))
        .bearer_auth(API_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn operator_events(pool: &PgPool, kind: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('tenant', tenant_id, 'entity', entity_id, 'meta', metadata) \
         FROM ops_events WHERE event_type = $1 ORDER BY timestamp",
    )
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test]
async fn replaying_the_spec_incident_under_v11(pool: PgPool) {
    let id = auto_renew_incident(&pool, 10).await;
    let server = TestServer::start(pool.clone(), None).await;
    let response = post_replay(&server, json!({"incident_id": id, "policy_version": "v11"})).await;
    assert_eq!(response.status(), 200);
    let c: Value = response.json().await.unwrap();
    let o = &c["original"];
    assert_eq!(o["model"], "gpt-4o-mini");
    assert_eq!(o["policy_version"], "v12");
    assert_eq!(o["output"], ORIGINAL);
    assert_eq!(o["verdict"], "INACCURATE");
    assert_eq!(o["severity"], 4);
    assert_eq!(o["cost_usd"], 0.0023);
    assert_eq!(o["latency_ms"], 900);
    let r = &c["replay"];
    assert_eq!(r["model"], "gpt-4o-mini");
    assert_eq!(r["policy_version"], "v11");
    assert!(r["output"]
        .as_str()
        .unwrap()
        .starts_with("I don't have enough information about your auto-renew status"));
    assert_eq!(r["verdict"], "ACCURATE");
    assert_eq!(r["severity"], 1);
    // The simulator's draft: 40 + ⌊(4 question words + 3 context words) × 1.3⌋ = 49 tokens in,
    // ⌈7 answer words × 1.3⌉ = 10 out; at $0.15 / $0.60 per million: 13.35 µ$ → $0.000013.
    assert_eq!(r["cost_usd"], 0.000013);
    let d = &c["delta"];
    assert_eq!(d["severity"], -3);
    assert_eq!(d["cost_usd"], -0.002287);
    // (0.000013 − 0.0023) / 0.0023 = −99.43 %
    assert_eq!(d["cost_pct"], -99.4);
    assert_eq!(d["determinism"], "EXACT");
    assert_eq!(d["runs"], 3);

    // Recorded as the operator's replay, which is never customer behaviour.
    let replays = operator_events(&pool, "REPLAY_EXECUTED").await;
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0]["tenant"], TENANT.to_string());
    assert_eq!(replays[0]["entity"], id.to_string());
    assert_eq!(replays[0]["meta"]["source"], "operator");
    assert_eq!(replays[0]["meta"]["match_level"], "EXACT");
    let revenue = ops_console::server::revenue::revenue(&pool, Utc::now(), 30)
        .await
        .unwrap();
    assert_eq!(revenue.tenants[0].replays, 0);

    // Without overrides the original configuration runs again: the same answer, flagged.
    let same: Value = post_replay(&server, json!({"incident_id": id, "runs": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["replay"]["policy_version"], "v12");
    assert_eq!(same["replay"]["output"], ORIGINAL);
    assert_eq!(same["replay"]["verdict"], "INACCURATE");
    assert_eq!(same["delta"]["severity"], 0);
    assert!(same["diff"].as_array().unwrap().iter().all(|s| s[0] == "="));
    server.stop().await;
}

#[sqlx::test]
async fn every_refusal_of_the_contract(pool: PgPool) {
    let id = auto_renew_incident(&pool, 10).await;
    let server = TestServer::start(pool.clone(), None).await;
    for (body, status, says) in [
        (json!({"incident_id": Uuid::new_v4()}), 404, "no incident"),
        (
            json!({"incident_id": id, "model": "gpt-9"}),
            400,
            "unknown model",
        ),
        (
            json!({"incident_id": id, "policy_version": "v99"}),
            400,
            "no stored version",
        ),
        (json!({"incident_id": id, "runs": 11}), 400, "runs"),
        (json!({"model": "gpt-4o"}), 400, "incident_id"),
        (json!({"incident_id": "nope"}), 400, "body"),
    ] {
        let response = post_replay(&server, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains(says),
            "{body}: {error}"
        );
    }
    let anonymous = reqwest::Client::new()
        .post(server.url("/api/v1/ops/replays"))
        .json(&json!({"incident_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Nothing was recorded for any of them.
    assert!(operator_events(&pool, "REPLAY_EXECUTED").await.is_empty());
    server.stop().await;
}

#[sqlx::test]
async fn export_comparison_downloads_and_is_recorded(pool: PgPool) {
    let id = auto_renew_incident(&pool, 10).await;
    let server = TestServer::start(pool.clone(), None).await;
    let md = api_get(
        &server,
        &format!("/api/v1/ops/replays/export?incident_id={id}&policy_version=v11&format=md"),
    )
    .await;
    assert_eq!(md.status(), 200);
    let disposition = md.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.contains(&format!("replay-{}.md", &id.to_string()[..8])));
    let text = md.text().await.unwrap();
    assert!(text.starts_with(&format!("# Replay of incident {id}")));
    assert!(text.contains("- Severity: 4 → 1 (-3)"), "{text}");
    let json: Value = api_json(
        &server,
        &format!("/api/v1/ops/replays/export?incident_id={id}&policy_version=v11"),
    )
    .await;
    assert_eq!(json["replay"]["verdict"], "ACCURATE");
    let exports = operator_events(&pool, "EXPORT_GENERATED").await;
    let formats: Vec<&Value> = exports.iter().map(|e| &e["meta"]["format"]).collect();
    assert_eq!(formats, vec!["md", "json"]);
    assert!(exports.iter().all(|e| e["meta"]["source"] == "operator"));
    let bad = api_get(
        &server,
        &format!("/api/v1/ops/replays/export?incident_id={id}&format=pdf"),
    )
    .await;
    assert_eq!(bad.status(), 400);
    server.stop().await;
}

#[sqlx::test]
async fn the_shadow_test_sums_up_a_candidate(pool: PgPool) {
    for m in [5, 6, 7] {
        auto_renew_incident(&pool, m).await;
    }
    let providers = replay::Providers::new(None);
    let r = replay::shadow(&pool, &providers, "CONTENT_ACCURACY", "v11", 50)
        .await
        .unwrap();
    // Three incidents of severity 4, each rewritten to an abstention of severity 1 under v11.
    assert_eq!(r.incidents, 3);
    assert_eq!((r.mean_severity_before, r.mean_severity_after), (4.0, 1.0));
    assert_eq!((r.good_before, r.good_after), (0, 3));
    assert_eq!((r.better, r.same, r.worse), (3, 0, 0));
    assert_eq!(r.cost_before_usd, 0.0069);
    assert!(
        replay::shadow(&pool, &providers, "CONTENT_ACCURACY", "v99", 5)
            .await
            .is_err()
    );
    // Nothing recorded.
    assert!(operator_events(&pool, "REPLAY_EXECUTED").await.is_empty());
}

/// Each request's `Authorization` header and body.
type Seen = Arc<std::sync::Mutex<Vec<(Option<String>, Value)>>>;

#[derive(Clone)]
struct Fake {
    calls: Arc<AtomicUsize>,
    /// How many first calls fail with 503.
    failures: usize,
    /// Every call waits this long first.
    delay_ms: u64,
    seen: Seen,
}

async fn completions(
    State(f): State<Fake>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let n = f.calls.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    f.seen.lock().unwrap().push((auth, body));
    tokio::time::sleep(std::time::Duration::from_millis(f.delay_ms)).await;
    if n < f.failures {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    Json(json!({
        "choices": [{"message": {"role": "assistant", "content": "From the fake."}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3}
    }))
    .into_response()
}

async fn fake(failures: usize, delay_ms: u64) -> (String, Fake) {
    let state = Fake {
        calls: Arc::new(AtomicUsize::new(0)),
        failures,
        delay_ms,
        seen: Default::default(),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), state)
}

fn provider(base_url: String, timeout_ms: u64) -> HttpProvider {
    HttpProvider::new(LlmConfig {
        base_url,
        api_key: Some("sk-test".into()),
        models: vec!["fake-1".into()],
        prices: [("fake-1".to_owned(), (1.0, 2.0))].into(),
        timeout: std::time::Duration::from_millis(timeout_ms),
        retries: 2,
    })
}

#[tokio::test]
async fn the_http_provider_answers_with_usage() {
    let (url, f) = fake(0, 0).await;
    let p = provider(url, 2000);
    let d = p.complete("fake-1", AUTO, &json!({"a": 1})).await.unwrap();
    assert_eq!(
        (d.text.as_str(), d.tokens_in, d.tokens_out),
        ("From the fake.", 12, 3)
    );
    assert_eq!(p.prices("fake-1"), (1.0, 2.0));
    let seen = f.seen.lock().unwrap();
    assert_eq!(seen[0].0.as_deref(), Some("Bearer sk-test"));
    assert_eq!(seen[0].1["model"], "fake-1");
    assert_eq!(seen[0].1["messages"][1]["content"], AUTO);
}

#[tokio::test]
async fn the_http_provider_retries_a_5xx() {
    let (url, f) = fake(2, 0).await;
    let d = provider(url, 2000)
        .complete("fake-1", AUTO, &json!({}))
        .await
        .unwrap();
    assert_eq!(d.text, "From the fake.");
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
    // Three failures are one too many for two retries.
    let (url, f) = fake(3, 0).await;
    let err = provider(url, 2000)
        .complete("fake-1", AUTO, &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_http_provider_gives_up_after_timeouts() {
    let (url, f) = fake(0, 1500).await;
    let err = provider(url, 300)
        .complete("fake-1", AUTO, &json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
}

#[sqlx::test]
async fn a_failing_provider_is_a_502_and_nothing_is_recorded(pool: PgPool) {
    // A tenant's incident on a model only the (failing) endpoint serves.
    let id = Uuid::new_v4();
    let details = IncidentDetails {
        model: "fake-1".into(),
        policy_id: "CONTENT_ACCURACY".into(),
        policy_version: "v12".into(),
        severity: 3,
        input_user: AUTO.into(),
        input_context: json!({}),
        output: "Yes.".into(),
        policies_fired: vec!["CONTENT_ACCURACY".into()],
        attribution: None,
    };
    ingest::store(&pool, &[Event::incident_created(TENANT, id, details)])
        .await
        .unwrap();
    let (url, f) = fake(usize::MAX, 0).await;
    let mut config = config();
    config.llm = Some(LlmConfig {
        base_url: url,
        api_key: None,
        models: vec!["fake-1".into()],
        prices: Default::default(),
        timeout: std::time::Duration::from_millis(2000),
        retries: 2,
    });
    let server = TestServer::start_with(pool.clone(), None, config).await;
    let response = post_replay(&server, json!({"incident_id": id, "policy_version": "v11"})).await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("fake-1 failed"),
        "{error}"
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 3);
    assert!(operator_events(&pool, "REPLAY_EXECUTED").await.is_empty());
    // The endpoint's models are offered next to the simulator's.
    let ok = post_replay(
        &server,
        json!({"incident_id": id, "model": "gpt-4o", "runs": 1}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    server.stop().await;
}

/// Markup in what an incident or a change carries reaches the pages as text. The parts the
/// server renders to HTML escape it as every view does: the Replay Lab's original card, a
/// replay's comparison, and the policy log (Incident Intelligence, whose other rendered cards
/// name the tenant too).
#[sqlx::test]
async fn server_rendered_parts_show_markup_as_text(pool: PgPool) {
    const MARKUP: &str = "<img src=x onerror=alert(1)>";
    const ESCAPED: &str = "&lt;img src=x onerror=alert(1)&gt;";
    let at = Utc::now() - Duration::minutes(5);
    let incident = |policy_version: &str| IncidentDetails {
        model: "gpt-4o-mini".into(),
        policy_id: "CONTENT_ACCURACY".into(),
        policy_version: policy_version.into(),
        severity: 4,
        input_user: format!("question {MARKUP}"),
        input_context: json!({ "note": MARKUP }),
        output: format!("answer {MARKUP}"),
        policies_fired: vec!["CONTENT_ACCURACY".into()],
        attribution: None,
    };
    let id = Uuid::new_v4();
    let events = vec![
        Event::subscription_started(TENANT, MARKUP, "Pro", "Organic", Decimal::from(99))
            .at(at - Duration::days(10)),
        Event::incident_created(TENANT, Uuid::new_v4(), incident("v11")).at(at - Duration::days(1)),
        Event::incident_created(TENANT, id, incident("v12")).at(at),
    ];
    ingest::store(&pool, &events).await.unwrap();
    let change = ops_console::server::incidents::Change {
        actor: "founder@ops.test",
        action: "rollback",
        policy_id: "CONTENT_ACCURACY",
        to_version: "v11",
        tenants: Some(&[TENANT][..]),
        reason: MARKUP,
    };
    ops_console::server::incidents::change_version(&pool, change)
        .await
        .unwrap();
    create_admin(&pool).await;
    let server = TestServer::start(pool.clone(), None).await;
    let cookie = sign_in(&server).await;
    let page = |path: String| {
        let cookie = cookie.clone();
        let url = server.url(&path);
        async move {
            let response = browser()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            response.text().await.unwrap()
        }
    };

    let lab = page(format!("/replay/{id}")).await;
    assert!(
        lab.contains(&format!("question {ESCAPED}")),
        "the question, as text"
    );
    assert!(
        lab.contains(&format!("answer {ESCAPED}")),
        "the answer, as text"
    );
    assert!(!lab.contains(MARKUP), "markup in the Replay Lab");
    let incidents = page("/incidents".into()).await;
    assert!(
        incidents.contains(ESCAPED),
        "the reason and the tenant, as text"
    );
    assert!(
        !incidents.contains(MARKUP),
        "markup in Incident Intelligence"
    );

    let comparison = browser()
        .post(server.url(&server_function("run_replay")))
        .header("cookie", &cookie)
        .header("origin", &server.base)
        .json(&json!({
            "incident_id": id, "model": "claude-3-haiku", "policy_version": "v11", "runs": 1
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(comparison.status(), 200);
    let html: String = comparison.json().await.unwrap();
    assert!(html.contains("data-testid=\"comparison\""), "{html}");
    assert!(html.contains(&format!("answer {ESCAPED}")), "{html}");
    assert!(!html.contains(MARKUP), "markup in the comparison: {html}");
    server.stop().await;
}
