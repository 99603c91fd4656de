//! Customer Intelligence from the stream: one grouped scan gathers each tenant's
//! [`TenantFacts`] up to `as_of`; the rules in `model::customers` turn them into rows.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::model::customers::{
    customer, hours_to, sort_for_attention, trends, ActionCounts, ActivityDay, CustomerProfile,
    Customers, TenantFacts,
};

/// Counts of one action type in the stickiness windows before `$1` (now) and `$1 - 7 days`
/// (a week earlier): recent is the last 3 days, older the 4 days before.
macro_rules! stickiness_counts {
    ($ty:literal, $name:literal) => {
        concat!(
            "count(*) FILTER (WHERE event_type = '", $ty, "' AND timestamp > $1 - interval '3 days') AS recent_", $name, "_now, ",
            "count(*) FILTER (WHERE event_type = '", $ty, "' AND timestamp > $1 - interval '7 days' AND timestamp <= $1 - interval '3 days') AS older_", $name, "_now, ",
            "count(*) FILTER (WHERE event_type = '", $ty, "' AND timestamp > $1 - interval '10 days' AND timestamp <= $1 - interval '7 days') AS recent_", $name, "_week, ",
            "count(*) FILTER (WHERE event_type = '", $ty, "' AND timestamp > $1 - interval '14 days' AND timestamp <= $1 - interval '10 days') AS older_", $name, "_week, "
        )
    };
}

const FACTS_SQL: &str = concat!(
    "SELECT tenant_id, ",
    subscription_columns!(),
    "                   (array_agg(metadata->>'reason' ORDER BY timestamp) FILTER (WHERE event_type = 'SUBSCRIPTION_CANCELLED'))[1] AS cancel_reason, \
            min(timestamp) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS first_incident, \
            min(timestamp) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS first_replay, \
            min(timestamp) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS first_export, \
            max(timestamp) FILTER (WHERE event_type = 'API_CALL_RECEIVED') AS last_api_call, \
            max(timestamp) FILTER (WHERE event_type IN ('INCIDENT_VIEWED', 'REPLAY_EXECUTED', 'EXPORT_GENERATED')) AS last_investigation, \
            max(timestamp) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS last_export, ",
    stickiness_counts!("INCIDENT_VIEWED", "views"),
    stickiness_counts!("REPLAY_EXECUTED", "replays"),
    stickiness_counts!("EXPORT_GENERATED", "exports"),
    "       true AS present \
     FROM ops_events \
     WHERE timestamp <= $1 AND ",
    customer_event!(),
    " AND ($2::uuid IS NULL OR tenant_id = $2) \
     GROUP BY tenant_id"
);

/// A tenant's subscription, from the columns of `subscription_columns!`.
pub(crate) struct Subscription {
    pub first_event: DateTime<Utc>,
    pub subscribed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub name: Option<String>,
    pub plan: Option<String>,
    pub source: Option<String>,
    pub price_usd_month: Option<Decimal>,
}

impl Subscription {
    pub(crate) fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        let metadata: Option<serde_json::Value> = row.try_get("subscription")?;
        let field = |key: &str| metadata.as_ref().and_then(|m| m.get(key));
        let text = |key: &str| field(key).and_then(|v| v.as_str()).map(str::to_owned);
        Ok(Subscription {
            first_event: row.try_get("first_event")?,
            subscribed_at: row.try_get("subscribed_at")?,
            cancelled_at: row.try_get("cancelled_at")?,
            name: text("tenant_name"),
            plan: text("plan"),
            source: text("source"),
            price_usd_month: field("price_usd_month").and_then(|v| match v {
                serde_json::Value::String(s) => s.parse::<Decimal>().ok(),
                serde_json::Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
                _ => None,
            }),
        })
    }
}

fn counts(row: &sqlx::postgres::PgRow, when: &str) -> Result<ActionCounts, sqlx::Error> {
    let get = |name: &str| row.try_get::<i64, _>(format!("{name}_{when}").as_str());
    Ok(ActionCounts {
        recent_views: get("recent_views")?,
        older_views: get("older_views")?,
        recent_replays: get("recent_replays")?,
        older_replays: get("older_replays")?,
        recent_exports: get("recent_exports")?,
        older_exports: get("older_exports")?,
    })
}

/// Every tenant's facts up to `as_of` (or only `tenant`'s).
pub async fn facts(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
) -> Result<Vec<TenantFacts>, sqlx::Error> {
    let rows = sqlx::query(FACTS_SQL)
        .bind(as_of)
        .bind(tenant)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let s = Subscription::from_row(row)?;
            Ok(TenantFacts {
                tenant_id: row.try_get("tenant_id")?,
                name: s.name,
                plan: s.plan,
                source: s.source,
                price_usd_month: s.price_usd_month,
                subscribed_at: s.subscribed_at,
                first_event: s.first_event,
                cancelled_at: s.cancelled_at,
                cancel_reason: row.try_get("cancel_reason")?,
                first_incident: row.try_get("first_incident")?,
                first_replay: row.try_get("first_replay")?,
                first_export: row.try_get("first_export")?,
                last_api_call: row.try_get("last_api_call")?,
                last_investigation: row.try_get("last_investigation")?,
                last_export: row.try_get("last_export")?,
                now: counts(row, "now")?,
                week_ago: counts(row, "week")?,
            })
        })
        .collect()
}

/// The customer list as of `as_of`, intervention moments first.
pub async fn customers(pool: &PgPool, as_of: DateTime<Utc>) -> Result<Customers, sqlx::Error> {
    let mut customers: Vec<_> = facts(pool, as_of, None)
        .await?
        .iter()
        .map(|f| customer(f, as_of))
        .collect();
    sort_for_attention(&mut customers);
    Ok(Customers { as_of, customers })
}

/// Thirty 24-hour windows of one tenant's activity ending at `as_of`, oldest first.
pub async fn timeline(
    pool: &PgPool,
    tenant: Uuid,
    as_of: DateTime<Utc>,
) -> Result<Vec<ActivityDay>, sqlx::Error> {
    const DAYS: i64 = 30;
    let sql = concat!(
        "SELECT floor(extract(epoch FROM ($1 - timestamp)) / 86400)::int AS day, \
                count(*) FILTER (WHERE event_type = 'API_CALL_RECEIVED') AS api_calls, \
                count(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS incidents, \
                count(*) FILTER (WHERE event_type IN ('INCIDENT_VIEWED', 'REPLAY_EXECUTED', 'EXPORT_GENERATED')) AS investigations, \
                count(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS replays, \
                count(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exports \
         FROM ops_events \
         WHERE tenant_id = $2 AND timestamp > $1 - interval '30 days' AND timestamp <= $1 AND ",
        customer_event!(),
        " GROUP BY 1"
    );
    let rows = sqlx::query(sql)
        .bind(as_of)
        .bind(tenant)
        .fetch_all(pool)
        .await?;
    // Oldest first: index 0 is the window ending 29 days before `as_of`.
    let mut days: Vec<ActivityDay> = (0..DAYS)
        .map(|i| ActivityDay {
            until: as_of - Duration::days(DAYS - 1 - i),
            ..ActivityDay::default()
        })
        .collect();
    for row in rows {
        let back: i32 = row.try_get("day")?;
        let Some(slot) = usize::try_from(DAYS - 1 - i64::from(back))
            .ok()
            .and_then(|i| days.get_mut(i))
        else {
            continue;
        };
        slot.api_calls = row.try_get("api_calls")?;
        slot.incidents = row.try_get("incidents")?;
        slot.investigations = row.try_get("investigations")?;
        slot.replays = row.try_get("replays")?;
        slot.exports = row.try_get("exports")?;
    }
    Ok(days)
}

/// A tenant's profile as of `as_of`; `None` for a tenant the stream has not seen by then.
pub async fn profile(
    pool: &PgPool,
    tenant: Uuid,
    as_of: DateTime<Utc>,
) -> Result<Option<CustomerProfile>, sqlx::Error> {
    let Some(f) = facts(pool, as_of, Some(tenant)).await?.into_iter().next() else {
        return Ok(None);
    };
    let c = customer(&f, as_of);
    let timeline = timeline(pool, tenant, as_of).await?;
    let latest_incident: Option<Uuid> = sqlx::query_scalar(
        "SELECT entity_id FROM ops_events \
         WHERE tenant_id = $1 AND event_type = 'INCIDENT_CREATED' AND timestamp <= $2 \
           AND entity_id IS NOT NULL \
         ORDER BY timestamp DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(as_of)
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(Some(CustomerProfile {
        as_of,
        source: f.source.clone(),
        hours_to_first_incident: hours_to(c.signup_at, f.first_incident),
        hours_to_first_replay: hours_to(c.signup_at, f.first_replay),
        hours_to_first_export: hours_to(c.signup_at, f.first_export),
        trends: trends(&timeline, c.signup_at),
        timeline,
        latest_incident,
        customer: c,
    }))
}
