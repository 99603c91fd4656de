//! Reading the raw stream: pages of events, the per-hour histogram and the tenant list.

use chrono::{DateTime, Duration, TimeDelta, Utc};
use ops_events::{Event, EventType};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use std::str::FromStr;

use super::rollup::{self, Window};
use crate::model::events::{
    Cursor, EventFilter, EventHistogram, EventsPage, HistogramSeries, TenantOption,
};

/// The histogram's window when the filter gives no start.
const DEFAULT_WINDOW: Duration = Duration::hours(24);
/// Hourly buckets up to this window, daily beyond it.
const HOURLY_UP_TO: Duration = Duration::days(7);
/// The longest window the histogram draws.
const MAX_WINDOW: Duration = Duration::days(92);

fn push_filter(query: &mut QueryBuilder<Postgres>, filter: &EventFilter) {
    query.push(" WHERE true");
    if let Some(tenant_id) = filter.tenant_id {
        query.push(" AND tenant_id = ").push_bind(tenant_id);
    }
    if let Some(event_type) = filter.event_type {
        query
            .push(" AND event_type = ")
            .push_bind(event_type.as_str());
    }
    if let Some(from) = filter.from {
        query.push(" AND timestamp >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND timestamp <= ").push_bind(to);
    }
}

/// Events matching `filter`, newest first, `limit` at most, strictly older than `cursor`.
pub async fn page(
    pool: &PgPool,
    filter: &EventFilter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<EventsPage, sqlx::Error> {
    let mut query = QueryBuilder::new(
        "SELECT event_id, timestamp, tenant_id, user_id, session_id, event_type, entity_type, \
         entity_id, severity, latency_ms, cost_usd, metadata FROM ops_events",
    );
    push_filter(&mut query, filter);
    if let Some(cursor) = cursor {
        query
            .push(" AND (timestamp, event_id) < (")
            .push_bind(cursor.timestamp)
            .push(", ")
            .push_bind(cursor.event_id)
            .push(")");
    }
    // One extra row tells whether an older page exists.
    query
        .push(" ORDER BY timestamp DESC, event_id DESC LIMIT ")
        .push_bind(limit + 1);
    let rows = query.build().fetch_all(pool).await?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| Cursor::after(e).encode())
    } else {
        None
    };
    Ok(EventsPage {
        events,
        next_cursor,
    })
}

pub(crate) fn event_from_row(row: &PgRow) -> Result<Event, sqlx::Error> {
    let event_type: String = row.try_get("event_type")?;
    let event_type = EventType::from_str(&event_type).map_err(|e| sqlx::Error::ColumnDecode {
        index: "event_type".into(),
        source: Box::new(e),
    })?;
    let metadata: Option<serde_json::Value> = row.try_get("metadata")?;
    Ok(Event {
        event_id: row.try_get("event_id")?,
        timestamp: row.try_get("timestamp")?,
        tenant_id: row.try_get("tenant_id")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        event_type,
        entity_type: row.try_get("entity_type")?,
        entity_id: row.try_get("entity_id")?,
        severity: row.try_get("severity")?,
        latency_ms: row.try_get("latency_ms")?,
        cost_usd: row.try_get("cost_usd")?,
        metadata: match metadata {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        },
    })
}

/// Events per bucket and type over the filter's window (the last 24 hours before `to`, or
/// before `now`, when the filter has no start).
pub async fn histogram(
    pool: &PgPool,
    filter: &EventFilter,
    now: DateTime<Utc>,
) -> Result<EventHistogram, sqlx::Error> {
    let source = match filter.tenant_id {
        None => Source::Rollup,
        Some(_) => Source::Events,
    };
    histogram_from(pool, filter, now, source).await
}

/// Where [`histogram_from`] counts: the type rollup where it can, or the events themselves
/// (the plain definition, which the tests compare the rollup with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Rollup,
    Events,
}

/// [`histogram`], counted from `source`; a filter of one tenant is always counted from the
/// events.
pub async fn histogram_from(
    pool: &PgPool,
    filter: &EventFilter,
    now: DateTime<Utc>,
    source: Source,
) -> Result<EventHistogram, sqlx::Error> {
    let to = filter.to.unwrap_or(now);
    let from = filter
        .from
        .unwrap_or(to - DEFAULT_WINDOW)
        .max(to - MAX_WINDOW);
    let bucket = if to - from <= HOURLY_UP_TO {
        "hour"
    } else {
        "day"
    };
    let windowed = EventFilter {
        from: Some(from),
        to: Some(to),
        ..filter.clone()
    };
    let rows = match (source, filter.tenant_id) {
        (Source::Rollup, None) => by_type_hour(pool, &windowed, bucket).await?,
        _ => {
            let mut query = QueryBuilder::new("SELECT date_trunc(");
            query
                .push_bind(bucket)
                .push(", timestamp, 'UTC') AS bucket, event_type, count(*) AS n FROM ops_events");
            push_filter(&mut query, &windowed);
            query.push(" GROUP BY 1, 2");
            query.build().fetch_all(pool).await?
        }
    };

    let step = if bucket == "hour" {
        Duration::hours(1)
    } else {
        Duration::days(1)
    };
    let first = truncate(from, bucket);
    let mut buckets = Vec::new();
    let mut at = first;
    while at <= to {
        buckets.push(at);
        at += step;
    }
    let mut counts: BTreeMap<EventType, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let Ok(event_type) = EventType::from_str(row.try_get::<&str, _>("event_type")?) else {
            continue;
        };
        let at: DateTime<Utc> = row.try_get("bucket")?;
        let n: i64 = row.try_get("n")?;
        let slot = ((at - first).num_seconds() / step.num_seconds()) as usize;
        if let Some(count) = counts
            .entry(event_type)
            .or_insert_with(|| vec![0; buckets.len()])
            .get_mut(slot)
        {
            *count += n;
        }
    }
    Ok(EventHistogram {
        from,
        to,
        bucket: bucket.to_owned(),
        buckets,
        series: counts
            .into_iter()
            .map(|(event_type, counts)| HistogramSeries { event_type, counts })
            .collect(),
    })
}

/// The histogram's counts over all tenants: whole hours from `ops_rollup_type_hour` (migration
/// `…13`), the events of the partial hours at the window's ends; `$1` the bucket unit, `$2..$3`
/// the whole hours `[lo, hi)` (none when NULL), `$4..$5` the raw spans `(lo, hi]`, `$6` a type.
const TYPE_HOURS_SQL: &str = "\
    SELECT date_trunc($1, x.bucket, 'UTC') AS bucket, x.event_type, sum(x.n)::int8 AS n \
    FROM (SELECT r.bucket, r.event_type, r.events AS n FROM ops_rollup_type_hour r \
          WHERE r.bucket >= $2 AND r.bucket < $3 AND ($6::text IS NULL OR r.event_type = $6) \
          UNION ALL \
          SELECT date_trunc('hour', e.timestamp, 'UTC'), e.event_type, 1 \
          FROM unnest($4::timestamptz[], $5::timestamptz[]) AS s(lo, hi) \
          CROSS JOIN LATERAL ( \
              SELECT e.timestamp, e.event_type FROM ops_events e \
              WHERE e.timestamp > s.lo AND e.timestamp <= s.hi \
                AND ($6::text IS NULL OR e.event_type = $6) OFFSET 0) e) x \
    GROUP BY 1, 2";

/// [`histogram`]'s rows for a filter of every tenant over `[from, to]`, read as
/// [`TYPE_HOURS_SQL`] says, in one snapshot: the window's upper end is widened to whole buckets
/// when no event follows it there ([`rollup::widen`]).
async fn by_type_hour(
    pool: &PgPool,
    filter: &EventFilter,
    bucket: &str,
) -> Result<Vec<PgRow>, sqlx::Error> {
    let (Some(from), Some(to)) = (filter.from, filter.to) else {
        return Ok(Vec::new());
    };
    // `[from, to]` is `(from - 1 µs, to]` at PostgreSQL's precision.
    let exact = Window {
        lo: Some(rollup::micros(from) - TimeDelta::microseconds(1)),
        hi: rollup::micros(to),
    };
    let mut tx = rollup::snapshot(pool).await?;
    let window = rollup::widened(&mut tx, &[exact])
        .await?
        .pop()
        .unwrap_or(exact);
    let (whole, raw) = rollup::split(window, TimeDelta::hours(1));
    let (whole_lo, whole_hi) = whole.map_or((None, None), |(lo, hi)| (lo, Some(hi)));
    let (raw_lo, raw_hi): (Vec<_>, Vec<_>) = raw.into_iter().unzip();
    let rows = sqlx::query(TYPE_HOURS_SQL)
        .bind(bucket)
        .bind(whole_lo)
        .bind(whole_hi)
        .bind(raw_lo)
        .bind(raw_hi)
        .bind(filter.event_type.map(|t| t.as_str()))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

fn truncate(t: DateTime<Utc>, bucket: &str) -> DateTime<Utc> {
    let secs = if bucket == "hour" { 3600 } else { 86_400 };
    DateTime::from_timestamp(t.timestamp().div_euclid(secs) * secs, 0).unwrap_or(t)
}

/// Every tenant that has events, named by its latest `SUBSCRIPTION_STARTED` when it has one;
/// named tenants first, by name.
pub async fn tenants(pool: &PgPool) -> Result<Vec<TenantOption>, sqlx::Error> {
    let rows = sqlx::query(
        // Every tenant in the stream, found by skipping through `idx_events_tenant_time` one
        // tenant at a time: a probe per tenant instead of a scan of every event.
        "WITH RECURSIVE t(tenant_id) AS ( \
             (SELECT tenant_id FROM ops_events ORDER BY tenant_id LIMIT 1) \
             UNION ALL \
             SELECT (SELECT e.tenant_id FROM ops_events e WHERE e.tenant_id > t.tenant_id \
                     ORDER BY e.tenant_id LIMIT 1) \
             FROM t WHERE t.tenant_id IS NOT NULL), \
         named AS ( \
             SELECT DISTINCT ON (tenant_id) tenant_id, metadata->>'tenant_name' AS name \
             FROM ops_events WHERE event_type = 'SUBSCRIPTION_STARTED' \
             ORDER BY tenant_id, timestamp DESC) \
         SELECT t.tenant_id, n.name \
         FROM t LEFT JOIN named n USING (tenant_id) \
         WHERE t.tenant_id IS NOT NULL \
         ORDER BY n.name NULLS LAST, t.tenant_id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TenantOption {
                tenant_id: row.try_get("tenant_id")?,
                name: row.try_get("name")?,
            })
        })
        .collect()
}
