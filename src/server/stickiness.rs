//! Product Stickiness from the rollups: each tenant's first step of each kind in the window,
//! customer actions only; `model::stickiness` builds the funnel.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::customers::lifetimes;
use super::rollup::{self, Columns, Needs, Window};
use crate::model::stickiness::{funnel, Funnel, TenantSteps};

const STEPS: [&str; 5] = [
    "INCIDENT_CREATED",
    "INCIDENT_VIEWED",
    "REPLAY_EXECUTED",
    "EXPORT_GENERATED",
    "CERT_VERIFIED",
];

/// Each tenant's first step of each kind in the `window_days` days ending at `as_of`.
pub async fn steps(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Vec<TenantSteps>, sqlx::Error> {
    let as_of = rollup::micros(as_of);
    let windows = [Window::days_before(as_of, i64::from(window_days))];
    // Independent reads, each on its own connection.
    let (mut found, names) = futures::try_join!(
        rollup::activity(pool, &windows, None, Needs::Types(&STEPS), Columns::Times),
        lifetimes(pool, as_of, None, Needs::Types(&["SUBSCRIPTION_STARTED"]))
    )?;
    let found = found.pop().unwrap_or_default();
    let mut steps: Vec<TenantSteps> = found
        .into_iter()
        .filter_map(|(tenant_id, a)| {
            let first = [
                a.first_incident,
                a.first_view,
                a.first_replay,
                a.first_export,
                a.first_cert,
            ];
            first.iter().any(Option::is_some).then(|| {
                let name = names.get(&tenant_id).and_then(|l| l.terms.name.as_deref());
                TenantSteps {
                    tenant_id,
                    tenant_name: crate::model::tenant_label(tenant_id, name),
                    first,
                }
            })
        })
        .collect();
    steps.sort_by_key(|s| s.tenant_id);
    Ok(steps)
}

/// The funnel over the `window_days` days ending at `as_of`.
pub async fn stickiness(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Funnel, sqlx::Error> {
    let tenants = steps(pool, as_of, window_days).await?;
    Ok(funnel(&tenants, as_of, window_days))
}
