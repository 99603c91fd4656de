//! Customer Intelligence on a fixture whose answers are worked out by hand below: intent by
//! rule, stickiness windows at their exact boundaries, silent churn, risk, order, and the API.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::model::customers::{ChurnRisk, Intent};
use ops_console::server::{customers, ingest};
use ops_events::{Event, EventType};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

const LEGAL: Uuid = Uuid::from_u128(0xA);
const SILENT: Uuid = Uuid::from_u128(0xB);
const RELIABLE: Uuid = Uuid::from_u128(0xC);
const PROXY: Uuid = Uuid::from_u128(0xD);
const CANCELLED: Uuid = Uuid::from_u128(0xE);

fn sub(tenant: Uuid, name: &str, at: DateTime<Utc>, price: i64) -> Event {
    Event::subscription_started(tenant, name, "Pro", "Organic (HN)", Decimal::from(price)).at(at)
}

fn api(tenant: Uuid, at: DateTime<Utc>) -> Event {
    Event::api_call_received(tenant, "/v1/guard", "POST", 200).at(at)
}

fn view(tenant: Uuid, at: DateTime<Utc>) -> Event {
    Event::incident_viewed(tenant, Uuid::from_u128(1), 30).at(at)
}

async fn fixture(pool: &PgPool) {
    let d = Duration::days;
    let s = Duration::seconds;
    let legal_signup = t0() - d(20);
    let silent_signup = t0() - d(30);
    let events = vec![
        // Legal: an export 18 h after signup (0.95). Stickiness now: one view just inside the
        // last 3 days (0.2), one at exactly 3 days (older: 0.1), one just inside 7 days (0.1),
        // one at exactly 7 days (outside now; the week-earlier window's recent part: 0.2).
        sub(LEGAL, "legal-co", legal_signup, 149),
        Event::export_generated(LEGAL, Uuid::from_u128(1), "pdf", &[], "customer")
            .at(legal_signup + Duration::hours(18)),
        view(LEGAL, t0() - d(3) + s(1)),
        view(LEGAL, t0() - d(3)),
        view(LEGAL, t0() - d(7) + s(1)),
        view(LEGAL, t0() - d(7)),
        api(LEGAL, t0() - Duration::hours(1)),
        // Made in this console, or not yet happened: counts nowhere.
        Event::replay_executed(LEGAL, Uuid::from_u128(1), "EXACT", 0.0, "operator")
            .at(t0() - Duration::hours(2)),
        Event::export_generated(LEGAL, Uuid::from_u128(1), "pdf", &[], "customer")
            .at(t0() + Duration::hours(1)),
        // Silent: a replay on day 3 (Debugging 0.75), last look 9 days ago, API still in use.
        sub(SILENT, "silent-co", silent_signup, 99),
        Event::replay_executed(SILENT, Uuid::from_u128(2), "EXACT", 0.0, "customer")
            .at(silent_signup + d(2) + Duration::hours(3)),
        view(SILENT, t0() - d(9)),
        api(SILENT, t0() - Duration::hours(3)),
        // Reliable: no subscription event, so the first event is the signup; an incident 3 h
        // later, nothing else.
        api(RELIABLE, t0() - d(15)),
        Event::new(EventType::IncidentCreated, RELIABLE)
            .entity("incident", Uuid::from_u128(3))
            .at(t0() - d(15) + Duration::hours(3)),
        // Proxy: traffic only.
        sub(PROXY, "proxy-co", t0() - d(12), 49),
        api(PROXY, t0() - d(1)),
        // Cancelled two days ago after an export on day 3.
        sub(CANCELLED, "gone-co", t0() - d(25), 99),
        Event::export_generated(CANCELLED, Uuid::from_u128(4), "pdf", &[], "customer")
            .at(t0() - d(25) + d(2)),
        Event::subscription_cancelled(CANCELLED, "Too expensive", 23).at(t0() - d(2)),
        api(CANCELLED, t0() - d(2) - Duration::hours(1)),
    ];
    ingest::store(pool, &events).await.unwrap();
}

#[sqlx::test]
async fn each_customer_is_read_by_the_rules(pool: PgPool) {
    fixture(&pool).await;
    let list = customers::customers(&pool, t0()).await.unwrap().customers;
    let by = |id: Uuid| list.iter().find(|c| c.tenant_id == id).unwrap();

    let legal = by(LEGAL);
    assert_eq!(legal.tenant_name, "legal-co");
    assert_eq!(legal.price_usd_month, Decimal::from(149));
    assert_eq!(legal.day, 21);
    assert_eq!(
        (
            legal.inferred_intent,
            legal.intent_confidence,
            legal.intent_evidence.as_str()
        ),
        (
            Intent::LegalCompliance,
            0.95,
            "Export within 18 h of signup"
        )
    );
    // 0.2 + 0.1 + 0.1 now; a week earlier the view at exactly 7 days was recent: 0.2, plus the
    // export 18 h after signup is 19 days before t0, outside both windows.
    assert_eq!(legal.stickiness_score, 0.4);
    assert_eq!(legal.stickiness_last_week, 0.2);
    assert!(!legal.silent_churn);
    assert_eq!(legal.churn_risk, ChurnRisk::Low);
    assert_eq!(
        legal.last_investigation,
        Some(t0() - Duration::days(3) + Duration::seconds(1))
    );

    let silent = by(SILENT);
    assert_eq!(
        (silent.inferred_intent, silent.intent_confidence),
        (Intent::Debugging, 0.75)
    );
    assert_eq!(
        silent.intent_evidence,
        "Replay on day 3 after signup, no export in the first week"
    );
    assert!(silent.silent_churn);
    assert_eq!(silent.days_silent, Some(9));
    assert_eq!(silent.churn_risk, ChurnRisk::High);
    assert_eq!(
        silent.churn_reason,
        "API still in use, no investigation for 9 days"
    );

    let reliable = by(RELIABLE);
    assert_eq!(
        (reliable.inferred_intent, reliable.intent_confidence),
        (Intent::ReliabilityMonitoring, 0.65)
    );
    assert_eq!(reliable.signup_at, t0() - Duration::days(15));
    assert_eq!(reliable.tenant_name, "tenant 00000000");
    assert_eq!(reliable.price_usd_month, Decimal::from(99));

    let proxy = by(PROXY);
    assert_eq!(
        (proxy.inferred_intent, proxy.intent_confidence),
        (Intent::ProxyOnly, 0.5)
    );

    let gone = by(CANCELLED);
    assert_eq!(
        (gone.inferred_intent, gone.intent_confidence),
        (Intent::LegalCompliance, 0.85)
    );
    assert_eq!(gone.cancelled_at, Some(t0() - Duration::days(2)));
    assert_eq!(
        (gone.churn_risk, gone.churn_reason.as_str()),
        (ChurnRisk::High, "Cancelled: Too expensive")
    );

    // Silent churners first, cancelled last; the rest by risk, then name.
    let order: Vec<Uuid> = list.iter().map(|c| c.tenant_id).collect();
    assert_eq!(order, vec![SILENT, LEGAL, PROXY, RELIABLE, CANCELLED]);
}

#[sqlx::test]
async fn as_of_sees_only_what_had_happened(pool: PgPool) {
    fixture(&pool).await;
    let list = customers::customers(&pool, t0() - Duration::days(13))
        .await
        .unwrap()
        .customers;
    // Thirteen days earlier: the proxy tenant had not signed up; the silent one had not looked
    // at anything for 15 days, but its API calls had not happened yet, so it was not silent
    // churn; nobody had cancelled.
    assert!(list.iter().all(|c| c.tenant_id != PROXY));
    let silent = list.iter().find(|c| c.tenant_id == SILENT).unwrap();
    assert!(!silent.silent_churn);
    assert!(list.iter().all(|c| c.cancelled_at.is_none()));
}

#[sqlx::test]
async fn the_api_answers_the_contract_and_the_profile(pool: PgPool) {
    fixture(&pool).await;
    let server = crate::common::TestServer::start(pool, None).await;
    let at = t0().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let body = crate::common::api_json(&server, &format!("/api/v1/ops/customers?as_of={at}")).await;
    let first = &body["customers"][0];
    for field in [
        "tenant_id",
        "tenant_name",
        "inferred_intent",
        "intent_confidence",
        "stickiness_score",
        "silent_churn",
        "churn_risk",
    ] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert_eq!(first["tenant_name"], "silent-co");
    assert_eq!(first["inferred_intent"], "Debugging");
    assert_eq!(first["churn_risk"], "HIGH");

    let profile: Value = crate::common::api_json(
        &server,
        &format!("/api/v1/ops/customers/{RELIABLE}?as_of={at}"),
    )
    .await;
    assert_eq!(profile["inferred_intent"], "Reliability Monitoring");
    assert_eq!(profile["hours_to_first_incident"], 3.0);
    assert!(profile["hours_to_first_export"].is_null());
    let timeline = profile["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 30);
    // The API call 15 days before t0 sits in the window ending 15 days before t0 (index 14);
    // the incident 3 hours later in the next one.
    assert_eq!(timeline[14]["api_calls"], 1);
    assert_eq!(timeline[15]["incidents"], 1);
    let total: i64 = timeline
        .iter()
        .map(|d| d["api_calls"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 1);
    assert_eq!(profile["latest_incident"], Uuid::from_u128(3).to_string());
    assert_eq!(profile["trends"][0]["trend"], "stopped");

    let unknown = format!("/api/v1/ops/customers/{}", Uuid::from_u128(0xFF));
    assert_eq!(crate::common::api_status(&server, &unknown).await, 404);
    assert_eq!(
        crate::common::api_status(&server, "/api/v1/ops/customers/not-a-uuid").await,
        400
    );
    server.stop().await;
}

#[sqlx::test]
async fn the_profile_page_of_an_unknown_tenant_is_a_404(pool: PgPool) {
    use crate::common::*;
    fixture(&pool).await;
    create_admin(&pool).await;
    let server = TestServer::start(pool, None).await;
    let cookie = sign_in(&server).await;
    let get = |path: String| {
        browser()
            .get(server.url(&path))
            .header("cookie", &cookie)
            .send()
    };
    let missing = get(format!("/customers/{}", Uuid::from_u128(0xFF)))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Customer not found"));
    let known = get(format!("/customers/{SILENT}")).await.unwrap();
    assert_eq!(known.status(), 200);
    assert!(known.text().await.unwrap().contains("silent-co"));
    server.stop().await;
}
