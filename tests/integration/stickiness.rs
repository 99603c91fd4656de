//! Product Stickiness on a fixture whose funnel is worked out by hand: a tenant that skips a
//! step, an operator's replay that must not count, and steps that fall outside the window.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::server::{ingest, stickiness};
use ops_events::{Event, EventType};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn ago(days: i64, plus_hours: i64) -> DateTime<Utc> {
    t0() - Duration::days(days) + Duration::hours(plus_hours)
}

async fn fixture(pool: &PgPool) {
    let (a, b, c, d, e) = (
        Uuid::from_u128(0xA),
        Uuid::from_u128(0xB),
        Uuid::from_u128(0xC),
        Uuid::from_u128(0xD),
        Uuid::from_u128(0xE),
    );
    let inc = Uuid::from_u128(1);
    let incident = |t: Uuid, at| {
        Event::new(EventType::IncidentCreated, t)
            .entity("incident", inc)
            .at(at)
    };
    let view = |t: Uuid, at| Event::incident_viewed(t, inc, 20).at(at);
    let events = vec![
        // A takes every step.
        Event::subscription_started(a, "alpha", "Pro", "Organic", Decimal::from(99)).at(ago(60, 0)),
        incident(a, ago(5, 0)),
        view(a, ago(5, 1)),
        Event::replay_executed(a, inc, "EXACT", 0.0, "customer").at(ago(5, 2)),
        Event::export_generated(a, inc, "pdf", &[], "customer").at(ago(5, 4)),
        Event::cert_verified(a, "203.0.113.9", "auditor.example").at(ago(4, 0)),
        // B views; the replay was made in this console and does not count.
        incident(b, ago(10, 0)),
        view(b, ago(10, 3)),
        Event::replay_executed(b, inc, "EXACT", 0.0, "operator").at(ago(9, 0)),
        // C exports without replaying.
        incident(c, ago(3, 0)),
        view(c, ago(3, 2)),
        Event::export_generated(c, inc, "pdf", &[], "customer").at(ago(2, 0)),
        // D's incident is 40 days old: inside 90 days, outside 30.
        incident(d, ago(40, 0)),
        view(d, ago(1, 0)),
        // E only has an incident.
        incident(e, ago(20, 0)),
        // After t0: not yet.
        view(e, t0() + Duration::hours(1)),
    ];
    ingest::store(pool, &events).await.unwrap();
}

fn counts(f: &ops_console::model::stickiness::Funnel) -> Vec<i64> {
    f.steps.iter().map(|s| s.tenants).collect()
}

#[sqlx::test]
async fn the_funnel_counts_only_tenants_that_took_every_step_before(pool: PgPool) {
    fixture(&pool).await;
    let f = stickiness::stickiness(&pool, t0(), 30).await.unwrap();
    assert_eq!(counts(&f), vec![4, 3, 1, 1, 1]);
    let conversions: Vec<Option<f64>> = f.steps.iter().map(|s| s.conversion_pct).collect();
    assert_eq!(
        conversions,
        vec![None, Some(75.0), Some(33.3), Some(100.0), Some(100.0)]
    );
    assert!(
        f.steps[1].worst_drop_off,
        "view → replay is the worst drop-off"
    );
    assert_eq!(
        f.steps[1].interpretation.as_deref(),
        Some("Replay UX too complex")
    );
    // D viewed without an incident in the window; C exported without replaying.
    assert_eq!(f.steps[0].skipped, 1);
    assert_eq!(f.steps[2].skipped, 1);
    // Incident → view: A 1 h, B 3 h, C 2 h.
    assert_eq!(f.steps[1].median_hours_from_previous, Some(2.0));
    let stuck = |k: usize| {
        f.steps[k]
            .stuck
            .iter()
            .map(|t| t.tenant_name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(stuck(0), vec!["tenant 00000000"]);
    assert_eq!(f.steps[0].stuck[0].tenant_id, Uuid::from_u128(0xE));
    assert_eq!(stuck(1).len(), 2);
    assert!(stuck(3).is_empty());
    assert_eq!(f.steps[4].stuck.len(), 0);
}

#[sqlx::test]
async fn the_window_decides_what_counts(pool: PgPool) {
    fixture(&pool).await;
    assert_eq!(
        counts(&stickiness::stickiness(&pool, t0(), 90).await.unwrap()),
        vec![5, 4, 1, 1, 1]
    );
    assert_eq!(
        counts(&stickiness::stickiness(&pool, t0(), 7).await.unwrap()),
        vec![2, 2, 1, 1, 1]
    );
    // Six days earlier, the 30 days before held B's and E's incidents; D's was older.
    assert_eq!(
        counts(&stickiness::stickiness(&pool, ago(6, 0), 30).await.unwrap()),
        vec![2, 1, 0, 0, 0]
    );
}

#[sqlx::test]
async fn the_api_answers_the_contract(pool: PgPool) {
    fixture(&pool).await;
    let server = crate::common::TestServer::start(pool, None).await;
    let at = t0().format("%Y-%m-%dT%H:%M:%SZ");
    let body = crate::common::api_json(
        &server,
        &format!("/api/v1/ops/stickiness?as_of={at}&days=90"),
    )
    .await;
    let steps = body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["step"], "Incident created");
    assert_eq!(steps[0]["tenants"], 5);
    assert!(steps[0]["conversion_pct"].is_null());
    assert_eq!(steps[1]["conversion_pct"], 80.0);
    assert_eq!(
        crate::common::api_status(&server, "/api/v1/ops/stickiness?days=8").await,
        400
    );
    server.stop().await;
}
