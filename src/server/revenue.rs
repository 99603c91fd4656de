//! Revenue & Risk from the rollups: each tenant's subscription (whole history up to `as_of`) and
//! its usage in the window; `model::revenue` prices it and raises the flags.

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::RoundingStrategy;
use sqlx::PgPool;

use super::customers::lifetimes;
use super::rollup::{self, Columns, Needs, Window};
use crate::model::revenue::{economics, Revenue, TenantUsage};

/// Each tenant's subscription and its usage in the `window_days` days ending at `as_of`; every
/// tenant with a customer event up to `as_of`.
pub async fn usages(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Vec<TenantUsage>, sqlx::Error> {
    let as_of = rollup::micros(as_of);
    let windows = [Window::days_before(as_of, i64::from(window_days))];
    // Independent reads, each on its own connection.
    let (lives, mut used) = futures::try_join!(
        lifetimes(pool, as_of, None, Needs::All),
        rollup::activity(pool, &windows, None, Needs::All, Columns::Counts)
    )?;
    let used = used.pop().unwrap_or_default();
    let mut usages: Vec<TenantUsage> = lives
        .into_iter()
        .filter_map(|(t, l)| {
            let u = used.get(&t).cloned().unwrap_or_default();
            Some(TenantUsage {
                tenant_id: t,
                name: l.terms.name,
                plan: l.terms.plan,
                price_usd_month: l.terms.price_usd_month,
                signup_at: crate::model::customers::signup_at(
                    l.activity.first_subscription,
                    l.activity.first_event?,
                ),
                cancelled_at: l.activity.first_cancellation,
                llm_cost_usd: u.llm_cost,
                // As PostgreSQL casts numeric to bigint: to the nearest, halves away from zero.
                llm_tokens: u
                    .llm_tokens
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
                    .to_i64()
                    .unwrap_or(i64::MAX),
                api_calls: u.api_calls,
                incidents: u.incidents,
                exports: u.exports,
                replays: u.replays,
            })
        })
        .collect();
    usages.sort_by_key(|u| u.tenant_id);
    Ok(usages)
}

/// Unit economics and risk flags over the `window_days` days ending at `as_of`. Tenants that
/// neither paid nor did anything in the window are left out.
pub async fn revenue(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Revenue, sqlx::Error> {
    let mut usages = usages(pool, as_of, window_days).await?;
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
