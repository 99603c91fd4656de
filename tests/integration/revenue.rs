//! Revenue & Risk on a fixture worked out by hand: prorated revenue with a cancellation inside
//! the window, LLM cost and tokens from the stream, the flags, the order, the API and the CSV.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::model::revenue::FlagKind;
use ops_console::server::{ingest, revenue};
use ops_events::Event;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

const LOSS: Uuid = Uuid::from_u128(0xA);
const GONE: Uuid = Uuid::from_u128(0xB);
const PLAIN: Uuid = Uuid::from_u128(0xC);

fn llm(tenant: Uuid, tokens: u32, cents: i64, at: DateTime<Utc>) -> Event {
    Event::llm_call_made(tenant, "gpt-4o", tokens, 0, Decimal::new(cents, 2), 100).at(at)
}

async fn fixture(pool: &PgPool) {
    let d = Duration::days;
    let mut events = vec![
        // Loss: $99 plan, $120 of LLM calls in the window and $500 before it.
        Event::subscription_started(LOSS, "loss, inc.", "Pro", "Organic", Decimal::from(99))
            .at(t0() - d(90)),
        llm(LOSS, 800, 12_000, t0() - d(2)),
        llm(LOSS, 100, 50_000, t0() - d(31)),
        Event::export_generated(LOSS, Uuid::nil(), "pdf", &[], "customer").at(t0() - d(1)),
        // Gone: $49 plan, cancelled 15 days ago: half a month of revenue.
        Event::subscription_started(GONE, "gone-co", "Starter", "Outbound", Decimal::from(49))
            .at(t0() - d(60)),
        Event::subscription_cancelled(GONE, "Too expensive", 45).at(t0() - d(15)),
        llm(GONE, 100, 450, t0() - d(20)),
        Event::export_generated(GONE, Uuid::nil(), "pdf", &[], "customer").at(t0() - d(20)),
        Event::replay_executed(GONE, Uuid::nil(), "EXACT", 0.0, "customer").at(t0() - d(20)),
        // Plain: $99, cheap, an export made in this console (not customer behaviour).
        Event::subscription_started(PLAIN, "plain-co", "Pro", "Organic", Decimal::from(99))
            .at(t0() - d(45)),
        llm(PLAIN, 100, 100, t0() - d(3)),
        Event::export_generated(PLAIN, Uuid::nil(), "pdf", &[], "operator").at(t0() - d(1)),
    ];
    for h in 0..30 {
        events.push(
            Event::api_call_received(PLAIN, "/v1/guard", "POST", 200)
                .at(t0() - Duration::hours(h + 1)),
        );
    }
    ingest::store(pool, &events).await.unwrap();
}

#[sqlx::test]
async fn economics_and_flags_from_the_stream(pool: PgPool) {
    fixture(&pool).await;
    let r = revenue::revenue(&pool, t0(), 30).await.unwrap();
    let order: Vec<Uuid> = r.tenants.iter().map(|t| t.tenant_id).collect();
    // Margins: loss 99 − 120 = −21; gone 24.50 − 4.50 = 20; plain 99 − 1 = 98.
    assert_eq!(order, vec![LOSS, GONE, PLAIN]);
    let loss = &r.tenants[0];
    assert_eq!(
        (loss.revenue_usd, loss.llm_cost_usd, loss.margin_usd),
        (Decimal::from(99), Decimal::from(120), Decimal::from(-21))
    );
    let kinds: Vec<FlagKind> = loss.flags.iter().map(|f| f.kind).collect();
    // 800 of 1,000 tokens: a hog; an export and no replay: legal exposure.
    assert_eq!(
        kinds,
        vec![
            FlagKind::MarginNegative,
            FlagKind::ResourceHog,
            FlagKind::LegalExposure
        ]
    );
    assert_eq!(
        loss.flags[0].detail,
        "LLM cost $120.00 is more than revenue $99.00"
    );
    assert_eq!(
        loss.flags[1].detail,
        "80.0% of all LLM tokens (800 of 1000)"
    );
    let gone = &r.tenants[1];
    assert_eq!(gone.revenue_usd, Decimal::new(2450, 2));
    assert!(gone.flags.is_empty());
    assert_eq!(gone.cancelled_at, Some(t0() - Duration::days(15)));
    let plain = &r.tenants[2];
    assert_eq!((plain.exports, plain.api_calls), (0, 30));
    assert!(plain.flags.is_empty());
    assert_eq!(r.totals.mrr_usd, Decimal::from(198));
    assert_eq!(r.totals.revenue_usd, Decimal::new(22250, 2));
    assert_eq!(r.totals.llm_cost_usd, Decimal::new(12550, 2));
    assert_eq!(r.totals.api_calls_average, 10.0);
    // A week earlier than the cancellation, the gone tenant still paid in full for its days.
    let earlier = revenue::revenue(&pool, t0() - Duration::days(16), 30)
        .await
        .unwrap();
    let gone = earlier
        .tenants
        .iter()
        .find(|t| t.tenant_id == GONE)
        .unwrap();
    assert_eq!(gone.revenue_usd, Decimal::from(49));
    assert!(gone.cancelled_at.is_none());
}

#[sqlx::test]
async fn the_api_and_the_csv(pool: PgPool) {
    fixture(&pool).await;
    let server = crate::common::TestServer::start(pool, None).await;
    let at = t0().format("%Y-%m-%dT%H:%M:%SZ");
    let body = crate::common::api_json(&server, &format!("/api/v1/ops/revenue?as_of={at}")).await;
    let first = &body["tenants"][0];
    for field in [
        "tenant_id",
        "revenue_usd",
        "llm_cost_usd",
        "margin_usd",
        "api_calls",
        "incidents",
        "exports",
        "flags",
    ] {
        assert!(!first[field].is_null(), "{field}");
    }
    assert_eq!(first["flags"][0]["kind"], "MARGIN_NEGATIVE");
    assert_eq!(first["flags"][0]["severity"], "CRITICAL");
    assert_eq!(first["margin_usd"], "-21.00");

    let csv = crate::common::api_get(
        &server,
        &format!("/api/v1/ops/revenue.csv?as_of={at}&days=30"),
    )
    .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("tenant_id,tenant_name,plan,price_usd_month,revenue_usd"));
    // The comma in the name is quoted, not a new column.
    assert!(
        lines[1].contains(",\"loss, inc.\",Pro,99,99.00,120.00,-21.00,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("MARGIN_NEGATIVE RESOURCE_HOG LEGAL_EXPOSURE"));
    assert_eq!(
        crate::common::api_status(&server, "/api/v1/ops/revenue?days=5").await,
        400
    );
    server.stop().await;
}
