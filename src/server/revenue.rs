//! Revenue & Risk from the stream: each tenant's subscription (whole history up to `as_of`) and
//! its usage in the window; `model::revenue` prices it and raises the flags.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::model::revenue::{economics, Revenue, TenantUsage};

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

/// Unit economics and risk flags over the `window_days` days ending at `as_of`. Tenants that
/// neither paid nor did anything in the window are left out.
pub async fn revenue(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Revenue, sqlx::Error> {
    let rows = sqlx::query(USAGE_SQL)
        .bind(as_of)
        .bind(window_days)
        .fetch_all(pool)
        .await?;
    let mut usages = Vec::with_capacity(rows.len());
    for row in &rows {
        let s = super::customers::Subscription::from_row(row)?;
        usages.push(TenantUsage {
            tenant_id: row.try_get("tenant_id")?,
            name: s.name,
            plan: s.plan,
            price_usd_month: s.price_usd_month,
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
    let window_start = as_of - chrono::Duration::days(i64::from(window_days));
    usages.retain(|u| {
        let paid = u.cancelled_at.is_none_or(|c| c > window_start);
        let active = u.api_calls + u.incidents + u.exports + u.replays + u.llm_tokens > 0;
        paid || active
    });
    Ok(economics(&usages, as_of, window_days))
}

/// The table as CSV, one row per tenant in the page's order.
pub fn to_csv(r: &Revenue) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "tenant_id",
        "tenant_name",
        "plan",
        "price_usd_month",
        "revenue_usd",
        "llm_cost_usd",
        "margin_usd",
        "margin_pct",
        "api_calls",
        "incidents",
        "exports",
        "replays",
        "llm_tokens",
        "cancelled_at",
        "flags",
    ])?;
    for t in &r.tenants {
        let flags: Vec<&str> = t.flags.iter().map(|f| f.kind.code()).collect();
        w.write_record([
            t.tenant_id.to_string(),
            t.tenant_name.clone(),
            t.plan.clone().unwrap_or_default(),
            t.price_usd_month.to_string(),
            t.revenue_usd.to_string(),
            t.llm_cost_usd.to_string(),
            t.margin_usd.to_string(),
            t.margin_pct.map(|p| p.to_string()).unwrap_or_default(),
            t.api_calls.to_string(),
            t.incidents.to_string(),
            t.exports.to_string(),
            t.replays.to_string(),
            t.llm_tokens.to_string(),
            t.cancelled_at.map(|c| c.to_rfc3339()).unwrap_or_default(),
            flags.join(" "),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
