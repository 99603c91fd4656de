//! System Pulse numbers on a fixture whose answers are worked out by hand below.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::model::pulse::{SystemState, Thresholds};
use ops_console::server::{ingest, pulse};
use ops_events::Event;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn at(hours_before: i64) -> DateTime<Utc> {
    t0() - Duration::hours(hours_before)
}

async fn fixture(pool: &PgPool) {
    let (a, b, c) = (
        Uuid::from_u128(0xA),
        Uuid::from_u128(0xB),
        Uuid::from_u128(0xC),
    );
    let incident = Uuid::from_u128(0x1);
    let mut events = vec![
        // Last 24 hours: A and B are active; C only appears through an operator's replay.
        Event::api_call_received(a, "/v1/guard", "POST", 200).at(at(1)),
        Event::incident_viewed(b, incident, 30).at(at(2)),
        Event::replay_executed(b, incident, "EXACT", 0.0, "customer").at(at(3)),
        Event::export_generated(b, incident, "pdf", &[], "customer").at(at(4)),
        Event::replay_executed(c, incident, "EXACT", 0.0, "operator").at(at(1)),
        Event::new(ops_events::EventType::IncidentCreated, b).at(at(2)),
        // The 24 hours before: A, B and C active; 4 replays, 2 exports, 1 incident. The event
        // at exactly 24 h belongs to this earlier window.
        Event::api_call_received(c, "/v1/guard", "POST", 200).at(at(24)),
        Event::new(ops_events::EventType::IncidentCreated, a).at(at(30)),
        Event::export_generated(b, incident, "pdf", &[], "customer").at(at(30)),
        Event::export_generated(b, incident, "json", &[], "customer").at(at(31)),
        // Same weekday last week.
        Event::new(ops_events::EventType::IncidentCreated, a).at(at(7 * 24 + 1)),
        // Platform samples: the latest redis sample (85%) wins over an earlier, higher one.
        Event::infra_limit_hit("redis", 900.0, 1000.0, Some("MB")).at(at(5)),
        Event::infra_limit_hit("redis", 850.0, 1000.0, Some("MB")).at(at(2)),
        Event::infra_limit_hit("db_connections", 100.0, 200.0, None).at(at(2)),
        Event::infra_limit_hit("redis", 500.0, 1000.0, Some("MB")).at(at(26)),
        // Not yet happened at t0: must not count.
        Event::api_call_received(Uuid::from_u128(0xD), "/v1/guard", "POST", 200)
            .at(t0() + Duration::minutes(1)),
    ];
    for i in 0..4 {
        events.push(Event::replay_executed(a, incident, "EXACT", 0.0, "customer").at(at(25 + i)));
    }
    for i in 0..20 {
        events.push(
            Event::llm_call_made(a, "gpt-4o-mini", 10, 5, Decimal::new(1, 3), 100)
                .at(at(1 + i % 20)),
        );
    }
    for i in 0..2 {
        events.push(Event::llm_call_failed(a, "gpt-4o-mini", "timeout", 1).at(at(3 + i)));
    }
    ingest::store(pool, &events).await.unwrap();
}

#[sqlx::test]
async fn the_pulse_counts_compares_and_explains(pool: PgPool) {
    fixture(&pool).await;
    let p = pulse::pulse(&pool, t0(), &Thresholds::default())
        .await
        .unwrap();
    let m = p.metrics;
    // A and B now; A, B and C before (C's operator replay does not make it active).
    assert_eq!(
        (m.active_tenants.current, m.active_tenants.previous),
        (2, 3)
    );
    assert_eq!(m.active_tenants.delta_pct, Some(-33.3));
    assert_eq!(
        (
            m.incidents.current,
            m.incidents.previous,
            m.incidents.delta_pct
        ),
        (1, 1, Some(0.0))
    );
    assert_eq!(
        (m.replays.current, m.replays.previous, m.replays.delta_pct),
        (1, 4, Some(-75.0))
    );
    assert_eq!(
        (m.exports.current, m.exports.previous, m.exports.delta_pct),
        (1, 2, Some(-50.0))
    );
    assert_eq!((m.llm_calls.current, m.llm_failures.current), (20, 2));
    assert_eq!((m.llm_calls.previous, m.llm_calls.delta_pct), (0, None));
    assert_eq!(p.llm_failure_rate, Some(0.1));
    let saturation = p.infra_saturation.clone().unwrap();
    assert_eq!(
        (saturation.resource.as_str(), saturation.utilization),
        ("redis", 0.85)
    );
    assert_eq!(p.previous_infra_saturation.unwrap().utilization, 0.5);
    // Per window: 85% now, 50% the day before, no samples earlier.
    let mut saturation_days = vec![Some(0.85), Some(0.5)];
    saturation_days.extend([None; 6]);
    assert_eq!(p.saturation_days, saturation_days);
    assert_eq!(p.days.len(), 8);
    assert_eq!(p.days[7].incidents, 1, "same weekday last week");

    assert_eq!(p.system_state, SystemState::ActiveFailure);
    assert_eq!(
        p.reasons,
        vec![
            "LLM calls failing at 10.0% (threshold 5.0%)",
            "redis at 85.0% of its limit (threshold 80.0%)",
            "Replays down 75% vs previous 24 h (4 → 1)",
            "Exports down 50% vs previous 24 h (2 → 1)",
        ]
    );
}

#[sqlx::test]
async fn as_of_sees_only_what_had_happened(pool: PgPool) {
    fixture(&pool).await;
    // A day earlier, the earlier window is "now" and nothing came before it but last week's.
    let p = pulse::pulse(&pool, at(24), &Thresholds::default())
        .await
        .unwrap();
    assert_eq!(p.metrics.replays.current, 4);
    assert_eq!(p.metrics.exports.current, 2);
    assert_eq!(p.metrics.active_tenants.current, 3);
    assert_eq!(p.metrics.replays.previous, 0);
    assert_eq!(p.metrics.replays.delta_pct, None);
    assert_eq!(p.system_state, SystemState::Stable);
    assert!(p.reasons.is_empty());
}

#[sqlx::test]
async fn an_empty_stream_is_stable_with_nothing_to_say(pool: PgPool) {
    let p = pulse::pulse(&pool, t0(), &Thresholds::default())
        .await
        .unwrap();
    assert_eq!(p.system_state, SystemState::Stable);
    assert_eq!(p.metrics.active_tenants.current, 0);
    assert_eq!(p.llm_failure_rate, None);
    assert_eq!(p.infra_saturation, None);
}

#[sqlx::test]
async fn the_pulse_api_answers_the_contract_fields_and_honours_as_of(pool: PgPool) {
    fixture(&pool).await;
    let server = crate::common::TestServer::start(pool, None).await;
    let get = |query: &str| {
        let path = format!("/api/v1/ops/pulse{query}");
        let server = &server;
        async move { crate::common::api_get(server, &path).await }
    };
    let body: serde_json::Value = get("?as_of=2026-11-20T12:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["system_state"], "ACTIVE_FAILURE");
    assert_eq!(body["reasons"].as_array().unwrap().len(), 4);
    for metric in [
        "active_tenants",
        "incidents",
        "replays",
        "exports",
        "llm_failures",
        "llm_calls",
    ] {
        for field in ["current", "previous", "delta_pct"] {
            assert!(
                body["metrics"][metric].get(field).is_some(),
                "{metric}.{field}"
            );
        }
    }
    assert_eq!(body["metrics"]["replays"]["current"], 1);
    assert_eq!(body["metrics"]["replays"]["delta_pct"], -75.0);
    assert!(body["metrics"]["llm_calls"]["delta_pct"].is_null());

    let earlier: serde_json::Value = get("?as_of=2026-11-19T12:00:00Z")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(earlier["system_state"], "STABLE");
    assert_eq!(earlier["metrics"]["replays"]["current"], 4);

    let bad = get("?as_of=yesterday").await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("as_of"));
    assert_eq!(get("?colour=red").await.status(), 400);
    let anonymous = reqwest::get(server.url("/api/v1/ops/pulse")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    server.stop().await;
}
