//! The plain definitions of the page analytics: each number computed straight from
//! `ops_events`, as the pages did before the rollups. Kept as the reference the rollup answers
//! must equal exactly (`tests/integration/rollups.rs`), and as the benchmark's baseline.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::model::customers::{ActionCounts, ActivityDay, TenantFacts};
use crate::model::pulse::DayCounts;
use crate::model::revenue::TenantUsage;
use crate::model::stickiness::TenantSteps;
use crate::server::customers::Terms;

/// Counts per 24-hour window: window `d` holds `(as_of - (d+1)·24h, as_of - d·24h]`.
pub async fn day_counts(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    days: i32,
) -> Result<Vec<DayCounts>, sqlx::Error> {
    let sql = concat!(
        "SELECT floor(extract(epoch FROM ($1 - timestamp)) / 86400)::int AS day, \
                count(DISTINCT tenant_id) AS active_tenants, \
                count(*) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS incidents, \
                count(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS replays, \
                count(*) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exports, \
                count(*) FILTER (WHERE event_type = 'LLM_CALL_FAILED') AS llm_failures, \
                count(*) FILTER (WHERE event_type = 'LLM_CALL_MADE') AS llm_calls \
         FROM ops_events \
         WHERE timestamp > $1 - make_interval(days => $2) AND timestamp <= $1 AND ",
        customer_event!(),
        " GROUP BY 1"
    );
    let rows = sqlx::query(sql)
        .bind(as_of)
        .bind(days)
        .fetch_all(pool)
        .await?;
    crate::server::pulse::day_counts_from(&rows, "day", days as usize)
}

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
    "                   (array_agg(metadata->>'reason' ORDER BY timestamp, event_id) FILTER (WHERE event_type = 'SUBSCRIPTION_CANCELLED'))[1] AS cancel_reason, \
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
struct Subscription {
    first_event: DateTime<Utc>,
    subscribed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    terms: Terms,
}

impl Subscription {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        let metadata: Option<serde_json::Value> = row.try_get("subscription")?;
        Ok(Subscription {
            first_event: row.try_get("first_event")?,
            subscribed_at: row.try_get("subscribed_at")?,
            cancelled_at: row.try_get("cancelled_at")?,
            terms: Terms::from_metadata(metadata.as_ref()),
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
                name: s.terms.name,
                plan: s.terms.plan,
                source: s.terms.source,
                price_usd_month: s.terms.price_usd_month,
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

const USAGE_SQL: &str = concat!(
    "SELECT tenant_id, ",
    subscription_columns!(),
    "                   coalesce(sum(cost_usd) FILTER (WHERE event_type = 'LLM_CALL_MADE' AND in_window), 0) AS llm_cost, \
            coalesce(sum(tokens) FILTER (WHERE event_type = 'LLM_CALL_MADE' AND in_window), 0)::bigint AS llm_tokens, \
            count(*) FILTER (WHERE event_type = 'API_CALL_RECEIVED' AND in_window) AS api_calls, \
            count(*) FILTER (WHERE event_type = 'INCIDENT_CREATED' AND in_window) AS incidents, \
            count(*) FILTER (WHERE event_type = 'EXPORT_GENERATED' AND in_window) AS exports, \
            count(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED' AND in_window) AS replays \
     FROM ( \
         SELECT *, timestamp > $1 - make_interval(days => $2) AS in_window, \
                CASE WHEN event_type = 'LLM_CALL_MADE' THEN \
                    (CASE WHEN jsonb_typeof(metadata->'tokens_in') = 'number' THEN (metadata->>'tokens_in')::numeric ELSE 0 END) + \
                    (CASE WHEN jsonb_typeof(metadata->'tokens_out') = 'number' THEN (metadata->>'tokens_out')::numeric ELSE 0 END) \
                END AS tokens \
         FROM ops_events \
         WHERE timestamp <= $1 AND ",
    customer_event!(),
    ") e \
     GROUP BY tenant_id"
);

/// Each tenant's subscription and its usage in the `window_days` days ending at `as_of`; every
/// tenant with a customer event up to `as_of`.
pub async fn usages(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Vec<TenantUsage>, sqlx::Error> {
    let rows = sqlx::query(USAGE_SQL)
        .bind(as_of)
        .bind(window_days)
        .fetch_all(pool)
        .await?;
    let mut usages = Vec::with_capacity(rows.len());
    for row in &rows {
        let s = Subscription::from_row(row)?;
        usages.push(TenantUsage {
            tenant_id: row.try_get("tenant_id")?,
            name: s.terms.name,
            plan: s.terms.plan,
            price_usd_month: s.terms.price_usd_month,
            signup_at: crate::model::customers::signup_at(s.subscribed_at, s.first_event),
            cancelled_at: s.cancelled_at,
            llm_cost_usd: row.try_get("llm_cost")?,
            llm_tokens: row.try_get("llm_tokens")?,
            api_calls: row.try_get("api_calls")?,
            incidents: row.try_get("incidents")?,
            exports: row.try_get("exports")?,
            replays: row.try_get("replays")?,
        });
    }
    Ok(usages)
}

const STEPS_SQL: &str = concat!(
    "WITH steps AS ( \
         SELECT tenant_id, \
                min(timestamp) FILTER (WHERE event_type = 'INCIDENT_CREATED') AS created, \
                min(timestamp) FILTER (WHERE event_type = 'INCIDENT_VIEWED') AS viewed, \
                min(timestamp) FILTER (WHERE event_type = 'REPLAY_EXECUTED') AS replayed, \
                min(timestamp) FILTER (WHERE event_type = 'EXPORT_GENERATED') AS exported, \
                min(timestamp) FILTER (WHERE event_type = 'CERT_VERIFIED') AS verified \
         FROM ops_events \
         WHERE event_type IN ('INCIDENT_CREATED', 'INCIDENT_VIEWED', 'REPLAY_EXECUTED', \
                              'EXPORT_GENERATED', 'CERT_VERIFIED') \
           AND timestamp > $1 - make_interval(days => $2) AND timestamp <= $1 AND ",
    customer_event!(),
    "    GROUP BY tenant_id), \
     names AS ( \
         SELECT DISTINCT ON (tenant_id) tenant_id, metadata AS subscription \
         FROM ops_events \
         WHERE event_type = 'SUBSCRIPTION_STARTED' AND timestamp <= $1 AND ",
    customer_event!(),
    "     AND tenant_id IN (SELECT tenant_id FROM steps) \
         ORDER BY tenant_id, timestamp, event_id) \
     SELECT steps.*, names.subscription FROM steps LEFT JOIN names USING (tenant_id)"
);

/// Each tenant's first step of each kind in the `window_days` days ending at `as_of`.
pub async fn steps(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Vec<TenantSteps>, sqlx::Error> {
    let rows = sqlx::query(STEPS_SQL)
        .bind(as_of)
        .bind(window_days)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let tenant_id: Uuid = row.try_get("tenant_id")?;
            let subscription: Option<serde_json::Value> = row.try_get("subscription")?;
            let name = Terms::from_metadata(subscription.as_ref()).name;
            Ok(TenantSteps {
                tenant_id,
                tenant_name: crate::model::tenant_label(tenant_id, name.as_deref()),
                first: [
                    row.try_get("created")?,
                    row.try_get("viewed")?,
                    row.try_get("replayed")?,
                    row.try_get("exported")?,
                    row.try_get("verified")?,
                ],
            })
        })
        .collect()
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

/// The window's incidents, classified, read from `ops_events` itself.
pub async fn incidents(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<Vec<crate::model::incidents::Incident>, sqlx::Error> {
    use crate::server::incidents::{listed, PLAIN_INCIDENTS_SQL};
    listed(pool, PLAIN_INCIDENTS_SQL, as_of, hours, tenant, None).await
}

/// The spec's day-over-day view, as written, over `ops_events`: the days whose mean severity
/// rose by more than `rise` (the spec's 0.5).
pub async fn day_over_day(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
    rise: f64,
) -> Result<Vec<crate::model::incidents::DayOverDay>, sqlx::Error> {
    use crate::server::incidents::{day_over_day_rows, DAY_OVER_DAY_SQL};
    let rows = sqlx::query(DAY_OVER_DAY_SQL)
        .bind(as_of)
        .bind(tenant)
        .bind(rise)
        .fetch_all(pool)
        .await?;
    day_over_day_rows(&rows)
}

/// The event explorer's histogram counted from the events themselves.
pub async fn histogram(
    pool: &PgPool,
    filter: &crate::model::events::EventFilter,
    now: DateTime<Utc>,
) -> Result<crate::model::events::EventHistogram, sqlx::Error> {
    use crate::server::events_query::{histogram_from, Source};
    histogram_from(pool, filter, now, Source::Events).await
}
