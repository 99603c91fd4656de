//! Alerts end to end on a real PostgreSQL and a real local webhook receiver: thresholds from
//! the table, one alert per transition however often or concurrently it is evaluated, delivery
//! retried with backoff until the webhook takes it, and the history that lists it.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ops_console::model::pulse::Thresholds;
use ops_console::server::alerts::{self, DeliveryPolicy};
use ops_console::server::ingest;
use ops_events::Event;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::webhook_receiver::Receiver;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn at(hours_before: i64) -> DateTime<Utc> {
    t0() - chrono::Duration::hours(hours_before)
}

/// One tenant exporting 10 times in the 24 hours before and `now` times in the last 24: with
/// `now = 5`, exports are down 50%, past the spec's 40%, so the pulse is SILENT DEGRADATION.
async fn exports(pool: &PgPool, now: usize) {
    let hours = (0..10)
        .map(|i| 30 + i)
        .chain((0..now as i64).map(|i| 1 + i));
    exports_at(pool, hours).await;
}

async fn exports_at(pool: &PgPool, hours_before: impl Iterator<Item = i64>) {
    let (tenant, incident) = (Uuid::from_u128(0xA), Uuid::from_u128(0x1));
    let events: Vec<Event> = hours_before
        .map(|h| Event::export_generated(tenant, incident, "pdf", &[], "customer").at(at(h)))
        .collect();
    ingest::store(pool, &events).await.unwrap();
}

fn fast() -> DeliveryPolicy {
    DeliveryPolicy {
        retry_base: Duration::from_millis(100),
        retry_cap: Duration::from_secs(1),
        max_attempts: 3,
        timeout: Duration::from_secs(2),
        lease: Duration::from_secs(30),
    }
}

async fn delivery(pool: &PgPool, url: &str) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT status, attempts, last_error FROM ops_alert_deliveries WHERE url = $1 ORDER BY alert_id",
    )
    .bind(url)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn texts(requests: &[(u16, Value)]) -> Vec<String> {
    let mut t: Vec<String> = requests
        .iter()
        .map(|(_, b)| b["text"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[sqlx::test]
async fn thresholds_start_as_the_spec_says_and_edits_are_what_the_pulse_uses(pool: PgPool) {
    assert_eq!(
        alerts::thresholds(&pool).await.unwrap(),
        Thresholds::default()
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_alert_thresholds")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 6);

    exports(&pool, 5).await;
    let server = crate::common::TestServer::start(pool.clone(), None).await;
    let path = format!(
        "/api/v1/ops/pulse?as_of={}",
        t0().format("%Y-%m-%dT%H:%M:%SZ")
    );
    let pulse_state = || async {
        let body = crate::common::api_json(&server, &path).await;
        body["system_state"].as_str().unwrap().to_owned()
    };
    assert_eq!(pulse_state().await, "SILENT_DEGRADATION");

    // A 50% drop is within a 60% threshold.
    let relaxed = Thresholds {
        export_drop_pct: 60.0,
        ..Thresholds::default()
    };
    alerts::save_thresholds(&pool, &relaxed, "founder@ops.test")
        .await
        .unwrap();
    assert_eq!(alerts::thresholds(&pool).await.unwrap(), relaxed);
    assert_eq!(pulse_state().await, "STABLE");
    let by: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT updated_by FROM ops_alert_thresholds WHERE key = 'export_drop_pct'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(by, vec![Some("founder@ops.test".to_owned())]);
    server.stop().await;
}

#[sqlx::test]
async fn a_change_raises_one_alert_per_transition_and_each_webhook_gets_it_once(pool: PgPool) {
    let receiver = Receiver::start().await;
    let (a, b) = (receiver.url("a"), receiver.url("b"));
    alerts::add_webhook(&pool, &a).await.unwrap();
    alerts::add_webhook(&pool, &b).await.unwrap();
    // The first try at `a` fails with a server error; it must be tried again.
    receiver.answer("a", &[500]);

    // Nothing is wrong yet: no alert.
    exports(&pool, 10).await;
    assert!(alerts::evaluate(&pool, t0()).await.unwrap().is_empty());
    sqlx::query("DELETE FROM ops_events WHERE timestamp > $1")
        .bind(at(6))
        .execute(&pool)
        .await
        .unwrap();
    // Exports are now 5 against 10: the state and the exports card change.
    let raised = alerts::evaluate(&pool, t0()).await.unwrap();
    assert_eq!(raised.len(), 2);
    // The same state evaluated again, and by four instances at once, raises nothing more.
    assert!(alerts::evaluate(&pool, t0()).await.unwrap().is_empty());
    let again = futures::future::join_all((0..4).map(|_| alerts::evaluate(&pool, t0()))).await;
    assert!(again.into_iter().all(|r| r.unwrap().is_empty()));

    let http = reqwest::Client::new();
    assert_eq!(alerts::deliver_due(&pool, &http, &fast()).await.unwrap(), 4);
    assert_eq!(
        delivery(&pool, &b).await,
        vec![
            ("delivered".to_owned(), 1, None),
            ("delivered".to_owned(), 1, None)
        ]
    );
    let failed_once = delivery(&pool, &a).await;
    assert!(failed_once.iter().any(|d| d
        == &(
            "pending".to_owned(),
            1,
            Some("HTTP 500 Internal Server Error".to_owned())
        )));
    // Before the backoff runs out nothing is due; after it the retry goes through.
    assert_eq!(alerts::deliver_due(&pool, &http, &fast()).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(alerts::deliver_due(&pool, &http, &fast()).await.unwrap(), 1);
    assert!(delivery(&pool, &a).await.iter().all(|d| d.0 == "delivered"));
    assert_eq!(alerts::deliver_due(&pool, &http, &fast()).await.unwrap(), 0);

    // Each webhook got each alert once, plus the refused try at `a`.
    let expected = vec![
        "Ops Console: Exports crossed its alert threshold (Drop > 40%): now 5, previous 24 h 10 (-50.0%).".to_owned(),
        "Ops Console: system state STABLE → SILENT DEGRADATION. Exports down 50% vs previous 24 h (10 → 5).".to_owned(),
    ];
    assert_eq!(texts(&receiver.requests("b")), expected);
    let at_a = receiver.requests("a");
    assert_eq!(at_a.len(), 3);
    let delivered_a: Vec<_> = at_a.into_iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(texts(&delivered_a), expected);
    let body = &receiver.requests("b")[0].1;
    assert_eq!(body["alert"]["system_state"], "SILENT_DEGRADATION");

    // The history lists both, newest first, delivered to both webhooks.
    let history = alerts::history(&pool, t0(), 20).await.unwrap();
    assert_eq!(history.len(), 2);
    // Raised together: the change of state is listed first.
    assert_eq!(history[0].subject, "system_state");
    assert!(history
        .iter()
        .all(|h| h.deliveries.len() == 2 && h.deliveries.iter().all(|d| d.status == "delivered")));
    let state = history
        .iter()
        .find(|h| h.subject == "system_state")
        .unwrap();
    assert_eq!(
        (state.from_value.as_str(), state.to_value.as_str()),
        ("STABLE", "SILENT_DEGRADATION")
    );
    assert!(state.worsened());

    // Recovery is a transition too: five more exports make it 10 against 10.
    exports_at(&pool, 7..12).await;
    let later = t0() + chrono::Duration::minutes(1);
    let recovered = alerts::evaluate(&pool, later).await.unwrap();
    assert_eq!(recovered.len(), 2);
    let history = alerts::history(&pool, later, 20).await.unwrap();
    assert_eq!(history.len(), 4);
    assert!(history[..2].iter().all(|h| !h.worsened()));
    assert_eq!(history[0].subject, "system_state");
    // A moment before the recovery, the history had only the first two.
    assert_eq!(alerts::history(&pool, t0(), 20).await.unwrap().len(), 2);
    assert!(history.iter().any(|h| h.text
        == "Ops Console: Exports is back within its alert threshold (Drop > 40%): now 10, previous 24 h 10 (+0.0%)."));
}

#[sqlx::test]
async fn a_webhook_that_refuses_for_good_or_never_answers_is_given_up(pool: PgPool) {
    let receiver = Receiver::start().await;
    let gone = receiver.url("gone");
    receiver.answer("gone", &[410, 410]);
    // Nobody listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let away = format!("http://127.0.0.1:{port}/hook");
    alerts::add_webhook(&pool, &gone).await.unwrap();
    alerts::add_webhook(&pool, &away).await.unwrap();
    exports(&pool, 5).await;
    assert_eq!(alerts::evaluate(&pool, t0()).await.unwrap().len(), 2);

    let http = reqwest::Client::new();
    let policy = fast();
    for _ in 0..policy.max_attempts {
        alerts::deliver_due(&pool, &http, &policy).await.unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    // 410 is final at once: one try per alert.
    assert_eq!(receiver.requests("gone").len(), 2);
    assert!(delivery(&pool, &gone)
        .await
        .iter()
        .all(|d| d.0 == "failed" && d.1 == 1 && d.2.as_deref() == Some("HTTP 410 Gone")));
    // A webhook that cannot be reached is tried max_attempts times, then given up.
    let away_rows = delivery(&pool, &away).await;
    assert!(
        away_rows
            .iter()
            .all(|d| d.0 == "failed" && d.1 == policy.max_attempts),
        "{away_rows:?}"
    );
    assert!(away_rows[0]
        .2
        .as_deref()
        .unwrap()
        .starts_with("cannot reach the webhook"));
}

#[sqlx::test]
async fn webhooks_are_checked_added_once_and_removed_with_their_queue(pool: PgPool) {
    assert!(matches!(
        alerts::add_webhook(&pool, "not a url").await,
        Err(alerts::WebhookError::Invalid(_))
    ));
    let id = alerts::add_webhook(&pool, "http://127.0.0.1:9/secretpath")
        .await
        .unwrap();
    assert!(matches!(
        alerts::add_webhook(&pool, "http://127.0.0.1:9/secretpath").await,
        Err(alerts::WebhookError::Duplicate)
    ));
    let listed = alerts::webhooks(&pool).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].shown_url, "http://127.0.0.1:9/…path");

    exports(&pool, 5).await;
    alerts::evaluate(&pool, t0()).await.unwrap();
    assert!(alerts::remove_webhook(&pool, id).await.unwrap());
    assert!(!alerts::remove_webhook(&pool, id).await.unwrap());
    let rows = delivery(&pool, "http://127.0.0.1:9/secretpath").await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|d| d.0 == "failed" && d.2.as_deref() == Some("webhook removed")));
    // Nothing is left to deliver.
    assert_eq!(
        alerts::deliver_due(&pool, &reqwest::Client::new(), &fast())
            .await
            .unwrap(),
        0
    );
}

/// The settings page's functions over real HTTP with a real session, as its forms post them.
#[sqlx::test]
async fn the_settings_forms_save_good_thresholds_and_refuse_bad_ones_unchanged(pool: PgPool) {
    use crate::common::*;
    let server = TestServer::start(pool.clone(), None).await;
    create_admin(&pool).await;
    let cookie = sign_in(&server).await;
    let path = |name: &str| {
        leptos::server_fn::axum::server_fn_paths()
            .map(|(p, _)| p.to_owned())
            .find(|p| p.contains(name))
            .unwrap_or_else(|| panic!("no server function {name}"))
    };
    let post = |name: &str, form: Vec<(&str, &str)>| {
        browser()
            .post(server.url(&path(name)))
            .header("cookie", &cookie)
            .header("accept", "application/json")
            .form(&form)
            .send()
    };
    let form = |infra: &'static str| {
        vec![
            ("tenant_drop_pct", "20"),
            ("incident_spike_pct", "50"),
            ("replay_drop_pct", "30"),
            ("export_drop_pct", "40"),
            ("llm_failure_rate", "7.5"),
            ("infra_saturation", infra),
        ]
    };

    let refused: Value = post("save_thresholds", form("150"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["ok"], false);
    assert_eq!(
        refused["messages"][0],
        "Infra saturation: must be more than 0% and at most 100%"
    );
    assert_eq!(
        alerts::thresholds(&pool).await.unwrap(),
        Thresholds::default()
    );

    let saved: Value = post("save_thresholds", form("90"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["ok"], true, "{saved}");
    let t = alerts::thresholds(&pool).await.unwrap();
    assert_eq!((t.llm_failure_rate, t.infra_saturation), (0.075, 0.9));
    let by: String = sqlx::query_scalar(
        "SELECT updated_by FROM ops_alert_thresholds WHERE key = 'infra_saturation'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(by, ADMIN_EMAIL);

    let added: Value = post("add_webhook", vec![("url", "javascript:alert(1)")])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["ok"], false);
    assert!(alerts::webhooks(&pool).await.unwrap().is_empty());
    server.stop().await;
}
