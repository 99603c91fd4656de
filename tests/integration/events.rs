//! The event explorer's tenant filter: every tenant in the stream once, by its latest name.

use chrono::{Duration, TimeZone, Utc};
use ops_console::server::{events_query, ingest};
use ops_events::Event;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test]
async fn the_tenant_filter_lists_every_tenant_once_named_ones_first(pool: PgPool) {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let renamed = Uuid::from_u128(0x30);
    let named = Uuid::from_u128(0x10);
    let busy = Uuid::from_u128(0x20);
    let quiet = Uuid::from_u128(0x05);
    let sub = |t, name: &str, m| {
        Event::subscription_started(t, name, "Pro", "Organic", Decimal::from(49)).at(at(m))
    };
    let mut events = vec![
        sub(renamed, "zeta", 0),
        sub(renamed, "alpha", 10),
        sub(named, "beta", 5),
        Event::api_call_received(quiet, "/v1/guard", "POST", 200).at(at(1)),
    ];
    // Many events of one unnamed tenant, around the others in key order.
    events.extend(
        (0..200).map(|m| Event::api_call_received(busy, "/v1/guard", "POST", 200).at(at(m))),
    );
    ingest::store(&pool, &events).await.unwrap();

    let got: Vec<(Uuid, Option<String>)> = events_query::tenants(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.tenant_id, t.name))
        .collect();
    assert_eq!(
        got,
        vec![
            (renamed, Some("alpha".to_string())),
            (named, Some("beta".to_string())),
            (quiet, None),
            (busy, None),
        ]
    );
    // And nothing at all on an empty stream.
    sqlx::query("TRUNCATE ops_events")
        .execute(&pool)
        .await
        .unwrap();
    assert!(events_query::tenants(&pool).await.unwrap().is_empty());
}
