//! Product Stickiness from the stream: each tenant's first step of each kind in the window,
//! customer actions only; `model::stickiness` builds the funnel.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::model::stickiness::{funnel, Funnel, TenantSteps};

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
         SELECT DISTINCT ON (tenant_id) tenant_id, metadata->>'tenant_name' AS name \
         FROM ops_events \
         WHERE event_type = 'SUBSCRIPTION_STARTED' AND timestamp <= $1 \
           AND tenant_id IN (SELECT tenant_id FROM steps) \
         ORDER BY tenant_id, timestamp) \
     SELECT steps.*, names.name FROM steps LEFT JOIN names USING (tenant_id)"
);

/// The funnel over the `window_days` days ending at `as_of`.
pub async fn stickiness(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    window_days: i32,
) -> Result<Funnel, sqlx::Error> {
    let rows = sqlx::query(STEPS_SQL)
        .bind(as_of)
        .bind(window_days)
        .fetch_all(pool)
        .await?;
    let tenants = rows
        .iter()
        .map(|row| {
            let tenant_id: uuid::Uuid = row.try_get("tenant_id")?;
            let name: Option<String> = row.try_get("name")?;
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
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(funnel(&tenants, as_of, window_days))
}
