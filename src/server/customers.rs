//! Customer Intelligence from the rollups: each tenant's [`TenantFacts`] up to `as_of`; the
//! rules in `model::customers` turn them into rows.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::rollup::{self, Activity, Columns, Needs, Window};
use crate::model::customers::{
    customer, hours_to, sort_for_attention, trends, ActionCounts, ActivityDay, CustomerProfile,
    Customers, TenantFacts,
};

/// What a tenant's first `SUBSCRIPTION_STARTED` says about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub source: Option<String>,
    pub price_usd_month: Option<Decimal>,
}

impl Terms {
    pub fn from_metadata(metadata: Option<&Value>) -> Self {
        let field = |key: &str| metadata.and_then(|m| m.get(key));
        let text = |key: &str| field(key).and_then(|v| v.as_str()).map(str::to_owned);
        Terms {
            name: text("tenant_name"),
            plan: text("plan"),
            source: text("source"),
            price_usd_month: field("price_usd_month").and_then(|v| match v {
                Value::String(s) => s.parse::<Decimal>().ok(),
                Value::Number(n) => n.to_string().parse::<Decimal>().ok(),
                _ => None,
            }),
        }
    }
}

/// A tenant's whole history up to a moment: its first and last times, the terms of its first
/// subscription and the reason given for its first cancellation.
#[derive(Debug, Clone)]
pub struct Lifetime {
    /// The times only ([`Columns::Times`]): the counts are left at zero.
    pub activity: Activity,
    pub terms: Terms,
    pub cancel_reason: Option<String>,
}

/// Every tenant with a customer event up to `as_of` (or only `tenant`), by `needs` as in
/// [`rollup::activity`].
pub async fn lifetimes(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
    needs: Needs<'_>,
) -> Result<HashMap<Uuid, Lifetime>, sqlx::Error> {
    let all = rollup::lifetime_times(pool, as_of, tenant, needs).await?;
    let mut keys = Vec::new();
    for (t, a) in &all {
        if let Some(at) = a.first_subscription {
            keys.push((*t, "SUBSCRIPTION_STARTED", at));
        }
        if let Some(at) = a.first_cancellation {
            keys.push((*t, "SUBSCRIPTION_CANCELLED", at));
        }
    }
    let firsts = rollup::first_events(pool, &keys).await?;
    let first = |t: Uuid, ty: &str| firsts.get(&(t, ty.to_owned()));
    Ok(all
        .into_iter()
        .map(|(t, activity)| {
            let terms = Terms::from_metadata(first(t, "SUBSCRIPTION_STARTED").map(|f| &f.metadata));
            let cancel_reason = first(t, "SUBSCRIPTION_CANCELLED").and_then(|f| f.reason.clone());
            (
                t,
                Lifetime {
                    activity,
                    terms,
                    cancel_reason,
                },
            )
        })
        .collect())
}

/// Every tenant's facts up to `as_of` (or only `tenant`'s).
pub async fn facts(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
) -> Result<Vec<TenantFacts>, sqlx::Error> {
    let as_of = rollup::micros(as_of);
    // The stickiness windows: the last 3 days and the 4 before them, now and a week earlier.
    let ago = |d| as_of - Duration::days(d);
    let windows = [(3, 0), (7, 3), (10, 7), (14, 10)].map(|(lo, hi)| Window {
        lo: Some(ago(lo)),
        hi: ago(hi),
    });
    let actions = ["INCIDENT_VIEWED", "REPLAY_EXECUTED", "EXPORT_GENERATED"];
    // Independent reads, each on its own connection: the page waits for the slower, not both.
    let (lives, counts) = futures::try_join!(
        lifetimes(pool, as_of, tenant, Needs::All),
        rollup::activity(
            pool,
            &windows,
            tenant,
            Needs::Types(&actions),
            Columns::Actions
        )
    )?;
    let action_counts = |t: &Uuid, recent: usize, older: usize| {
        let (r, o) = (counts[recent].get(t), counts[older].get(t));
        let n = |a: Option<&Activity>, f: fn(&Activity) -> i64| a.map_or(0, f);
        ActionCounts {
            recent_views: n(r, |a| a.views),
            older_views: n(o, |a| a.views),
            recent_replays: n(r, |a| a.replays),
            older_replays: n(o, |a| a.replays),
            recent_exports: n(r, |a| a.exports),
            older_exports: n(o, |a| a.exports),
        }
    };
    let mut facts: Vec<TenantFacts> = lives
        .into_iter()
        .filter_map(|(t, l)| {
            let a = &l.activity;
            Some(TenantFacts {
                tenant_id: t,
                name: l.terms.name,
                plan: l.terms.plan,
                source: l.terms.source,
                price_usd_month: l.terms.price_usd_month,
                subscribed_at: a.first_subscription,
                first_event: a.first_event?,
                cancelled_at: a.first_cancellation,
                cancel_reason: l.cancel_reason,
                first_incident: a.first_incident,
                first_replay: a.first_replay,
                first_export: a.first_export,
                last_api_call: a.last_api_call,
                last_investigation: a.last_investigation,
                last_export: a.last_export,
                now: action_counts(&t, 0, 1),
                week_ago: action_counts(&t, 2, 3),
            })
        })
        .collect();
    facts.sort_by_key(|f| f.tenant_id);
    Ok(facts)
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
    let as_of = rollup::micros(as_of);
    // Oldest first: index 0 is the window ending 29 days before `as_of`.
    let windows: Vec<Window> = (0..DAYS)
        .map(|i| Window::days_before(as_of - Duration::days(DAYS - 1 - i), 1))
        .collect();
    let types = [
        "API_CALL_RECEIVED",
        "INCIDENT_CREATED",
        "INCIDENT_VIEWED",
        "REPLAY_EXECUTED",
        "EXPORT_GENERATED",
    ];
    let found = rollup::activity(
        pool,
        &windows,
        Some(tenant),
        Needs::Types(&types),
        Columns::Counts,
    )
    .await?;
    Ok(windows
        .iter()
        .zip(found)
        .map(|(w, mut by_tenant)| {
            let a = by_tenant.remove(&tenant).unwrap_or_default();
            ActivityDay {
                until: w.hi,
                api_calls: a.api_calls,
                incidents: a.incidents,
                investigations: a.views + a.replays + a.exports,
                replays: a.replays,
                exports: a.exports,
            }
        })
        .collect())
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
