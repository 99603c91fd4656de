//! Incident Intelligence from the stream: the window's incidents with what happened on their
//! calls, policy versions and their regressions, the spec's day-over-day view, and the active
//! versions the founder changes with Rollback (and the Replay Lab with Promote).

use chrono::{DateTime, Duration, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use crate::model::incidents::{
    attribute, breakdown_groups, detect, names_cost_limit, regression, ActivePolicy, AuditEntry,
    DayOverDay, Group, Incident, IncidentFacts, OutputDiff, Patterns, PolicyState, Regression,
    TenantPin, CALL_SPAN_SECS, RECENT_LIMIT,
};

/// The window's incidents, from `ops_incident_facts` (migration `…11`): one narrow row per
/// incident with its metadata's facts extracted, in time order.
const INCIDENTS_SQL: &str = "SELECT incident_id, timestamp, tenant_id, session_id, severity, \
            coalesce(nullif(model, ''), '(no model)') AS model, \
            coalesce(nullif(policy_id, ''), '(no policy)') AS policy_id, \
            coalesce(nullif(policy_version, ''), '(no version)') AS policy_version, \
            reported, policies_fired::int8 AS policies_fired, context_empty \
     FROM ops_incident_facts \
     WHERE customer AND timestamp > $1 - make_interval(hours => $2) AND timestamp <= $1 \
       AND ($3::uuid IS NULL OR tenant_id = $3) \
     ORDER BY timestamp DESC, event_id DESC LIMIT $4";

/// The window's incidents counted by what decides their class: their own facts from
/// `ops_incident_facts`, and whether their call (same session, the `$4` seconds up to the
/// incident) had an LLM timeout or 5xx, or named a cost or budget limit (`ops_call_causes`,
/// migration `…12`, defined as `causes` below). A test compares the result with the incidents
/// classified one by one.
const GROUPS_SQL: &str = "WITH incidents AS ( \
         SELECT event_id, timestamp, session_id, severity, \
                coalesce(nullif(model, ''), '(no model)') AS model, \
                coalesce(nullif(policy_id, ''), '(no policy)') AS policy_id, \
                reported, policies_fired, context_empty \
         FROM ops_incident_facts \
         WHERE customer AND timestamp > $1 - make_interval(hours => $2) AND timestamp <= $1 \
           AND ($3::uuid IS NULL OR tenant_id = $3)), \
     causes AS ( \
         SELECT session_id, timestamp, llm_failure, cost_limit FROM ops_call_causes \
         WHERE timestamp >= $1 - make_interval(hours => $2) - make_interval(secs => $4) \
           AND timestamp <= $1 \
           AND ($3::uuid IS NULL OR tenant_id = $3)), \
     classified AS ( \
         SELECT i.event_id, i.model, i.policy_id, i.reported, i.policies_fired, i.context_empty, \
                i.severity, \
                coalesce(bool_or(c.llm_failure), false) AS llm_failure, \
                coalesce(bool_or(c.cost_limit), false) AS cost_limit \
         FROM incidents i \
         LEFT JOIN causes c ON c.session_id = i.session_id \
              AND c.timestamp >= i.timestamp - make_interval(secs => $4) \
              AND c.timestamp <= i.timestamp \
         GROUP BY i.event_id, i.model, i.policy_id, i.reported, i.policies_fired, \
                  i.context_empty, i.severity) \
     SELECT model, policy_id, reported, policies_fired::int8 AS policies_fired, context_empty, \
            llm_failure, cost_limit, count(*) AS incidents, count(severity) AS severities, \
            coalesce(sum(severity), 0)::int8 AS severity_sum \
     FROM classified \
     GROUP BY 1, 2, 3, 4, 5, 6, 7";

/// The window's incidents straight from `ops_events`: the plain definition
/// [`INCIDENTS_SQL`] must equal (`crate::server::plain::incidents`).
pub const PLAIN_INCIDENTS_SQL: &str = concat!(
    "SELECT coalesce(entity_id, event_id) AS incident_id, timestamp, tenant_id, session_id, severity, \
            coalesce(nullif(metadata->>'model', ''), '(no model)') AS model, \
            coalesce(nullif(metadata->>'policy_id', ''), '(no policy)') AS policy_id, \
            coalesce(nullif(metadata->>'policy_version', ''), '(no version)') AS policy_version, \
            metadata->>'attribution' AS reported, \
            CASE WHEN jsonb_typeof(metadata->'policies_fired') = 'array' THEN \
                (SELECT count(DISTINCT p) FROM jsonb_array_elements_text(metadata->'policies_fired') p) \
            ELSE 0 END AS policies_fired, \
            CASE WHEN jsonb_typeof(metadata->'input') IS DISTINCT FROM 'object' THEN false \
                 ELSE coalesce(jsonb_typeof(metadata->'input'->'context'), 'null') = 'null' \
                   OR metadata->'input'->'context' IN ('{}'::jsonb, '[]'::jsonb) \
                   OR (jsonb_typeof(metadata->'input'->'context') = 'string' \
                       AND btrim(metadata->'input'->>'context') = '') \
            END AS context_empty \
     FROM ops_events \
     WHERE event_type = 'INCIDENT_CREATED' \
       AND timestamp > $1 - make_interval(hours => $2) AND timestamp <= $1 \
       AND ($3::uuid IS NULL OR tenant_id = $3) AND ",
    customer_event!(),
    " ORDER BY timestamp DESC, event_id DESC LIMIT $4"
);

/// What else happened on calls in `[$1, $2]` that can explain an incident, on every session or
/// only on the sessions `$4`.
const CAUSES_SQL: &str = "SELECT session_id, timestamp, event_type, \
            coalesce(metadata->>'error_type', '') AS error_type, \
            coalesce(metadata->>'resource', '') AS resource, \
            coalesce(metadata->>'reason', '') AS reason \
     FROM ops_events \
     WHERE event_type IN ('LLM_CALL_FAILED', 'INFRA_LIMIT_HIT', 'POLICY_BLOCKED') \
       AND session_id IS NOT NULL \
       AND timestamp >= $1 AND timestamp <= $2 \
       AND ($3::uuid IS NULL OR tenant_id = $3) \
       AND ($4::uuid[] IS NULL OR session_id = ANY($4))";

/// Every policy version the stream shows up to `$1`, with its first incident and whether any of
/// its incidents fall in the window. The versions are found by skipping through
/// `idx_events_incident_policy` one (policy, version) at a time, and each one's first incident
/// and first incident in the window are read from it too: a handful of index probes instead of
/// a scan of every incident ever (counting the window's incidents read a day's ~3,300 per
/// version).
const VERSIONS_SQL: &str = "WITH RECURSIVE pv(policy_id, policy_version) AS ( \
         (SELECT metadata->>'policy_id', metadata->>'policy_version' FROM ops_events \
          WHERE event_type = 'INCIDENT_CREATED' \
            AND metadata->>'policy_id' IS NOT NULL AND metadata->>'policy_version' IS NOT NULL \
          ORDER BY 1, 2 LIMIT 1) \
         UNION ALL \
         SELECT n.* FROM pv, LATERAL ( \
             SELECT metadata->>'policy_id', metadata->>'policy_version' FROM ops_events \
             WHERE event_type = 'INCIDENT_CREATED' \
               AND (metadata->>'policy_id', metadata->>'policy_version') > (pv.policy_id, pv.policy_version) \
               AND metadata->>'policy_id' IS NOT NULL AND metadata->>'policy_version' IS NOT NULL \
             ORDER BY 1, 2 LIMIT 1) n) \
     SELECT pv.policy_id, pv.policy_version, f.first_seen, w.in_window \
     FROM pv, \
          LATERAL (SELECT min(timestamp) AS first_seen FROM ops_events \
                   WHERE event_type = 'INCIDENT_CREATED' AND metadata->>'policy_id' = pv.policy_id \
                     AND metadata->>'policy_version' = pv.policy_version AND timestamp <= $1) f, \
          LATERAL (SELECT EXISTS (SELECT FROM ops_events \
                   WHERE event_type = 'INCIDENT_CREATED' AND metadata->>'policy_id' = pv.policy_id \
                     AND metadata->>'policy_version' = pv.policy_version \
                     AND timestamp > $1 - make_interval(hours => $2) AND timestamp <= $1) \
                   AS in_window) w \
     WHERE f.first_seen IS NOT NULL";

const VERSION_INCIDENTS_SQL: &str = "SELECT coalesce(entity_id, event_id) AS incident_id, \
            timestamp, tenant_id, severity \
     FROM ops_events \
     WHERE event_type = 'INCIDENT_CREATED' \
       AND metadata->>'policy_id' = $1 AND metadata->>'policy_version' = $2 \
       AND timestamp >= $3 AND timestamp <= $4 AND severity IS NOT NULL \
     ORDER BY timestamp, event_id";

/// The end of the day-over-day view: each day's mean against the day before, the days whose
/// mean rose by more than the parameter `$rise`.
macro_rules! rises_over_the_day_before {
    ($rise:literal) => {
        concat!(
            "deltas AS ( \
                 SELECT *, avg_severity - lag(avg_severity) OVER (PARTITION BY policy_id ORDER BY day) \
                           AS severity_delta \
                 FROM per_day) \
             SELECT policy_id, day, avg_severity, incidents, severity_delta \
             FROM deltas WHERE severity_delta > ",
            $rise,
            " ORDER BY day DESC, severity_delta DESC"
        )
    };
}

/// The spec's "did severity increase?" view (below) from the severity rollup: the week's whole
/// UTC hours `[$3, $4)` from `ops_rollup_severity_hour`, the incidents at its two ends from
/// `ops_incident_facts`; one tenant's week from its facts alone. Each day's mean is the same
/// `numeric` quotient `avg` computes, so the answers are equal to the last bit.
const DAY_OVER_DAY_ROLLUP_SQL: &str = concat!(
    "WITH cells AS ( \
         SELECT policy_id, bucket AS at, incidents::int8 AS incidents, severity_sum \
         FROM ops_rollup_severity_hour \
         WHERE $2::uuid IS NULL AND bucket >= $3 AND bucket < $4 \
         UNION ALL \
         SELECT policy_id, timestamp, 1, severity FROM ops_incident_facts \
         WHERE $2::uuid IS NULL AND severity IS NOT NULL AND policy_id IS NOT NULL \
           AND ((timestamp > $1 - interval '7 days' AND timestamp < $3) \
                OR (timestamp >= $4 AND timestamp <= $1)) \
         UNION ALL \
         SELECT policy_id, timestamp, 1, severity FROM ops_incident_facts \
         WHERE tenant_id = $2 AND severity IS NOT NULL AND policy_id IS NOT NULL \
           AND timestamp > $1 - interval '7 days' AND timestamp <= $1), \
     per_day AS ( \
         SELECT policy_id, date_trunc('day', at, 'UTC') AS day, \
                (sum(severity_sum)::numeric / sum(incidents))::float8 AS avg_severity, \
                sum(incidents)::int8 AS incidents \
         FROM cells GROUP BY 1, 2), \
",
    rises_over_the_day_before!("$5")
);

/// The spec's "did severity increase?" view, made to run: the window function is computed in
/// one step and filtered in the next (PostgreSQL does not allow it in `WHERE`), days are UTC
/// days, and it is a policy's mean severity against the day before (versions mixed), as the
/// spec has it.
pub const DAY_OVER_DAY_SQL: &str = concat!(
    "WITH per_day AS ( \
         SELECT metadata->>'policy_id' AS policy_id, \
                date_trunc('day', timestamp, 'UTC') AS day, \
                avg(severity)::float8 AS avg_severity, \
                count(*) AS incidents \
         FROM ops_events \
         WHERE event_type = 'INCIDENT_CREATED' AND severity IS NOT NULL \
           AND metadata->>'policy_id' IS NOT NULL \
           AND timestamp > $1 - interval '7 days' AND timestamp <= $1 \
           AND ($2::uuid IS NULL OR tenant_id = $2) \
         GROUP BY 1, 2), \
",
    rises_over_the_day_before!("$3")
);

/// Names of tenants, from their first `SUBSCRIPTION_STARTED` up to `as_of`.
async fn names(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenants: &[Uuid],
) -> Result<HashMap<Uuid, String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (tenant_id) tenant_id, metadata->>'tenant_name' AS name \
         FROM ops_events \
         WHERE event_type = 'SUBSCRIPTION_STARTED' AND timestamp <= $1 AND tenant_id = ANY($2) \
         ORDER BY tenant_id, timestamp",
    )
    .bind(as_of)
    .bind(tenants)
    .fetch_all(pool)
    .await?;
    let mut map = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get("tenant_id")?;
        let name: Option<String> = row.try_get("name")?;
        if let Some(name) = name {
            map.insert(id, name);
        }
    }
    Ok(map)
}

fn label(names: &HashMap<Uuid, String>, id: Uuid) -> String {
    crate::model::tenant_label(id, names.get(&id).map(String::as_str))
}

#[derive(Default)]
struct CallCauses {
    /// (time, LLM timeout or 5xx, cost or budget limit)
    events: Vec<(DateTime<Utc>, bool, bool)>,
}

impl CallCauses {
    fn around(&self, at: DateTime<Utc>) -> (bool, bool) {
        let from = at - Duration::seconds(CALL_SPAN_SECS);
        self.events
            .iter()
            .filter(|e| e.0 >= from && e.0 <= at)
            .fold((false, false), |acc, e| (acc.0 || e.1, acc.1 || e.2))
    }
}

async fn causes(
    pool: &PgPool,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    tenant: Option<Uuid>,
    sessions: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, CallCauses>, sqlx::Error> {
    let rows = sqlx::query(CAUSES_SQL)
        .bind(from)
        .bind(to)
        .bind(tenant)
        .bind(sessions)
        .fetch_all(pool)
        .await?;
    let mut by_session: HashMap<Uuid, CallCauses> = HashMap::new();
    for row in rows {
        let kind: String = row.try_get("event_type")?;
        let error_type: String = row.try_get("error_type")?;
        let resource: String = row.try_get("resource")?;
        let reason: String = row.try_get("reason")?;
        let llm_failure =
            kind == "LLM_CALL_FAILED" && matches!(error_type.as_str(), "timeout" | "5xx");
        let cost_limit = match kind.as_str() {
            "INFRA_LIMIT_HIT" => names_cost_limit(&resource),
            "POLICY_BLOCKED" => names_cost_limit(&reason),
            _ => names_cost_limit(&error_type),
        };
        if llm_failure || cost_limit {
            by_session
                .entry(row.try_get("session_id")?)
                .or_default()
                .events
                .push((row.try_get("timestamp")?, llm_failure, cost_limit));
        }
    }
    Ok(by_session)
}

/// What decides an incident's class: its own facts from `row`, what happened on its call.
fn facts_of(
    row: &sqlx::postgres::PgRow,
    llm_failure: bool,
    cost_limit: bool,
) -> Result<IncidentFacts, sqlx::Error> {
    let policies_fired: i64 = row.try_get("policies_fired")?;
    Ok(IncidentFacts {
        reported: row.try_get("reported")?,
        policy_id: row.try_get("policy_id")?,
        policies_fired: usize::try_from(policies_fired).unwrap_or(0),
        context_empty: row.try_get("context_empty")?,
        llm_failure,
        cost_limit,
    })
}

/// The window's incidents in groups that look the same to the heatmaps and the attribution.
pub async fn groups(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<Vec<Group>, sqlx::Error> {
    let rows = sqlx::query(GROUPS_SQL)
        .bind(as_of)
        .bind(hours)
        .bind(tenant)
        .bind(CALL_SPAN_SECS as f64)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let facts = facts_of(row, row.try_get("llm_failure")?, row.try_get("cost_limit")?)?;
            let (attribution, rule) = attribute(&facts);
            Ok(Group {
                model: row.try_get("model")?,
                policy_id: facts.policy_id,
                attribution,
                rule,
                count: row.try_get("incidents")?,
                severities: row.try_get("severities")?,
                severity_sum: row.try_get("severity_sum")?,
            })
        })
        .collect()
}

/// The window's incidents, newest first, each with its class and the rule that gave it.
pub async fn incidents(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<Vec<Incident>, sqlx::Error> {
    listed(pool, INCIDENTS_SQL, as_of, hours, tenant, None).await
}

/// The window's newest `limit` incidents, classified like the whole window's: only their
/// sessions' calls, and only since the oldest of them, are read for causes.
pub async fn latest(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    listed(pool, INCIDENTS_SQL, as_of, hours, None, Some(limit)).await
}

/// The incidents `statement` lists (`INCIDENTS_SQL` or its plain definition), classified.
pub(crate) async fn listed(
    pool: &PgPool,
    statement: &'static str,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
    limit: Option<i64>,
) -> Result<Vec<Incident>, sqlx::Error> {
    let listing = sqlx::query(statement)
        .bind(as_of)
        .bind(hours)
        .bind(tenant)
        .bind(limit)
        .fetch_all(pool);
    let span = Duration::seconds(CALL_SPAN_SECS);
    let (rows, causes) = if limit.is_some() {
        let rows = listing.await?;
        let mut sessions = Vec::with_capacity(rows.len());
        let mut oldest = as_of;
        for row in &rows {
            sessions.extend(row.try_get::<Option<Uuid>, _>("session_id")?);
            oldest = oldest.min(row.try_get("timestamp")?);
        }
        let causes = causes(pool, (oldest - span, as_of), tenant, Some(&sessions)).await?;
        (rows, causes)
    } else {
        // The whole window's causes do not depend on the list: both are read at once.
        let from = as_of - Duration::hours(i64::from(hours)) - span;
        futures::try_join!(listing, causes(pool, (from, as_of), tenant, None))?
    };
    let mut tenants: Vec<Uuid> = Vec::new();
    let mut list = Vec::with_capacity(rows.len());
    for row in &rows {
        let at: DateTime<Utc> = row.try_get("timestamp")?;
        let session: Option<Uuid> = row.try_get("session_id")?;
        let (llm_failure, cost_limit) = session
            .and_then(|s| causes.get(&s))
            .map_or((false, false), |c| c.around(at));
        let facts = facts_of(row, llm_failure, cost_limit)?;
        let (attribution, rule) = attribute(&facts);
        let tenant_id: Uuid = row.try_get("tenant_id")?;
        tenants.push(tenant_id);
        list.push(Incident {
            incident_id: row.try_get("incident_id")?,
            at,
            tenant_id,
            tenant_name: String::new(),
            model: row.try_get("model")?,
            policy_id: facts.policy_id,
            policy_version: row.try_get("policy_version")?,
            severity: row.try_get("severity")?,
            attribution,
            rule,
        });
    }
    tenants.sort_unstable();
    tenants.dedup();
    let names = names(pool, as_of, &tenants).await?;
    for i in &mut list {
        i.tenant_name = label(&names, i.tenant_id);
    }
    Ok(list)
}

/// A policy version as the stream shows it.
struct Version {
    policy_id: String,
    version: String,
    first_seen: DateTime<Utc>,
    /// It has incidents in the window.
    in_window: bool,
}

/// Every version up to `as_of`, grouped by policy, oldest first.
async fn versions(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
) -> Result<BTreeMap<String, Vec<Version>>, sqlx::Error> {
    let rows = sqlx::query(VERSIONS_SQL)
        .bind(as_of)
        .bind(hours)
        .fetch_all(pool)
        .await?;
    let mut by_policy: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for row in rows {
        let v = Version {
            policy_id: row.try_get("policy_id")?,
            version: row.try_get("policy_version")?,
            first_seen: row.try_get("first_seen")?,
            in_window: row.try_get("in_window")?,
        };
        by_policy.entry(v.policy_id.clone()).or_default().push(v);
    }
    for list in by_policy.values_mut() {
        list.sort_by(|a, b| {
            a.first_seen
                .cmp(&b.first_seen)
                .then(a.version.cmp(&b.version))
        });
    }
    Ok(by_policy)
}

struct Sample {
    id: Uuid,
    at: DateTime<Utc>,
    tenant: Uuid,
    severity: i32,
}

async fn version_incidents(
    pool: &PgPool,
    policy: &str,
    version: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Sample>, sqlx::Error> {
    let rows = sqlx::query(VERSION_INCIDENTS_SQL)
        .bind(policy)
        .bind(version)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Sample {
                id: row.try_get("incident_id")?,
                at: row.try_get("timestamp")?,
                tenant: row.try_get("tenant_id")?,
                severity: row.try_get("severity")?,
            })
        })
        .collect()
}

/// How many of a regressed version's latest incidents are offered to Replay Samples.
const SAMPLE_INCIDENTS: usize = 5;

/// Versions with incidents in the window that are markedly worse than their predecessor: each
/// version's incidents up to `as_of` against the predecessor's in the 7 days before the new
/// version's first incident.
pub async fn regressions(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
) -> Result<Vec<Regression>, sqlx::Error> {
    let by_policy = versions(pool, as_of, hours).await?;
    let mut found = Vec::new();
    for list in by_policy.values() {
        for pair in list.windows(2) {
            let (previous, new) = (&pair[0], &pair[1]);
            if !new.in_window {
                continue;
            }
            let baseline_from = new.first_seen - Duration::days(regression::BASELINE_DAYS);
            let base = version_incidents(
                pool,
                &previous.policy_id,
                &previous.version,
                baseline_from,
                new.first_seen - Duration::microseconds(1),
            )
            .await?;
            let samples =
                version_incidents(pool, &new.policy_id, &new.version, new.first_seen, as_of)
                    .await?;
            let baseline: Vec<i32> = base.iter().map(|s| s.severity).collect();
            let timed: Vec<(DateTime<Utc>, i32)> =
                samples.iter().map(|s| (s.at, s.severity)).collect();
            let Some((e, detected_at)) = detect(&timed, &baseline) else {
                continue;
            };
            let mut affected: Vec<Uuid> = samples.iter().map(|s| s.tenant).collect();
            affected.sort_unstable();
            affected.dedup();
            found.push(Regression {
                policy_id: new.policy_id.clone(),
                policy_version: new.version.clone(),
                previous_version: previous.version.clone(),
                severity_delta: (e.delta * 100.0).round() / 100.0,
                mean_severity: (e.mean * 100.0).round() / 100.0,
                baseline_severity: (e.baseline * 100.0).round() / 100.0,
                samples: e.samples as i64,
                baseline_samples: baseline.len() as i64,
                p_value: e.p_value,
                affected_tenants: affected,
                affected_names: Vec::new(),
                rollout_at: new.first_seen,
                detected_at,
                sample_incidents: samples
                    .iter()
                    .rev()
                    .take(SAMPLE_INCIDENTS)
                    .map(|s| s.id)
                    .collect(),
            });
        }
    }
    let mut tenants: Vec<Uuid> = found
        .iter()
        .flat_map(|r| r.affected_tenants.clone())
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    let names = names(pool, as_of, &tenants).await?;
    for r in &mut found {
        let mut named: Vec<(String, Uuid)> = r
            .affected_tenants
            .iter()
            .map(|&id| (label(&names, id), id))
            .collect();
        named.sort();
        r.affected_tenants = named.iter().map(|n| n.1).collect();
        r.affected_names = named.into_iter().map(|n| n.0).collect();
    }
    found.sort_by_key(|r| std::cmp::Reverse(r.detected_at));
    Ok(found)
}

/// How much a policy's mean severity must rise over the day before to be shown: the spec's
/// half a point.
pub const RISE: f64 = 0.5;

/// The spec's day-over-day view over the 7 days up to `as_of`.
pub async fn day_over_day(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
) -> Result<Vec<DayOverDay>, sqlx::Error> {
    day_over_day_rising(pool, as_of, tenant, RISE).await
}

/// The days whose mean severity rose by more than `rise` over the day before (any `rise`, so
/// that a test can compare every day).
pub async fn day_over_day_rising(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
    rise: f64,
) -> Result<Vec<DayOverDay>, sqlx::Error> {
    use crate::server::rollup::{micros, split, Window};
    let as_of = micros(as_of);
    // The week's whole hours [first, last); without any (never for a week), an empty range
    // just after it, so that its two ends cover the whole week.
    let (first, last) = match split(Window::days_before(as_of, 7), TimeDelta::hours(1)) {
        (Some((Some(first), last)), _) => (first, last),
        _ => {
            let after = as_of + TimeDelta::microseconds(1);
            (after, after)
        }
    };
    let rows = sqlx::query(DAY_OVER_DAY_ROLLUP_SQL)
        .bind(as_of)
        .bind(tenant)
        .bind(first)
        .bind(last)
        .bind(rise)
        .fetch_all(pool)
        .await?;
    day_over_day_rows(&rows)
}

/// The rows of the day-over-day view, as the page shows them.
pub(crate) fn day_over_day_rows(
    rows: &[sqlx::postgres::PgRow],
) -> Result<Vec<DayOverDay>, sqlx::Error> {
    rows.iter()
        .map(|row| {
            let avg: f64 = row.try_get("avg_severity")?;
            let delta: f64 = row.try_get("severity_delta")?;
            Ok(DayOverDay {
                policy_id: row.try_get("policy_id")?,
                day: row.try_get("day")?,
                avg_severity: (avg * 100.0).round() / 100.0,
                incidents: row.try_get("incidents")?,
                severity_delta: (delta * 100.0).round() / 100.0,
            })
        })
        .collect()
}

/// Everything the page and `GET /api/v1/ops/incidents/patterns` show for a window.
pub async fn patterns(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<Patterns, sqlx::Error> {
    let tenant_name = async {
        Ok::<_, sqlx::Error>(match tenant {
            Some(t) => Some(label(&names(pool, as_of, &[t]).await?, t)),
            None => None,
        })
    };
    // Independent reads, each on its own connection: the page waits for the slowest only.
    let (groups, recent, mut regressions, day_over_day, tenant_name) = futures::try_join!(
        groups(pool, as_of, hours, tenant),
        listed(
            pool,
            INCIDENTS_SQL,
            as_of,
            hours,
            tenant,
            Some(RECENT_LIMIT as i64)
        ),
        regressions(pool, as_of, hours),
        day_over_day(pool, as_of, tenant),
        tenant_name
    )?;
    let (by_model, by_policy, matrix, attribution, rules) = breakdown_groups(&groups);
    if let Some(t) = tenant {
        regressions.retain(|r| r.affected_tenants.contains(&t));
    }
    Ok(Patterns {
        as_of,
        window_hours: hours,
        tenant_id: tenant,
        tenant_name,
        total: groups.iter().map(|g| g.count).sum(),
        by_model,
        by_policy,
        matrix,
        attribution,
        rules,
        regressions,
        day_over_day,
        recent,
    })
}

/// Up to `limit` questions asked under both versions, each with the latest answer under each,
/// compared word by word.
pub async fn diff_outputs(
    pool: &PgPool,
    policy_id: &str,
    before: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<OutputDiff>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT * FROM ( \
             SELECT DISTINCT ON (n.metadata->'input'->>'user') \
                    n.metadata->'input'->>'user' AS question, \
                    coalesce(n.entity_id, n.event_id) AS after_id, coalesce(n.metadata->>'output', '') AS after_output, \
                    o.event_id AS before_id, o.output AS before_output, n.timestamp \
             FROM ops_events n \
             JOIN LATERAL ( \
                 SELECT coalesce(entity_id, event_id) AS event_id, \
                        coalesce(metadata->>'output', '') AS output FROM ops_events \
                 WHERE event_type = 'INCIDENT_CREATED' \
                   AND metadata->>'policy_id' = $1 AND metadata->>'policy_version' = $2 \
                   AND metadata->'input'->>'user' = n.metadata->'input'->>'user' \
                 ORDER BY timestamp DESC LIMIT 1) o ON true \
             WHERE n.event_type = 'INCIDENT_CREATED' \
               AND n.metadata->>'policy_id' = $1 AND n.metadata->>'policy_version' = $3 \
               AND n.metadata->'input'->>'user' IS NOT NULL \
             ORDER BY n.metadata->'input'->>'user', n.timestamp DESC) pairs \
         ORDER BY timestamp DESC LIMIT $4",
    )
    .bind(policy_id)
    .bind(before)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let before_output: String = row.try_get("before_output")?;
            let after_output: String = row.try_get("after_output")?;
            Ok(OutputDiff {
                question: row.try_get("question")?,
                before_incident: row.try_get("before_id")?,
                after_incident: row.try_get("after_id")?,
                before_version: before.to_owned(),
                after_version: after.to_owned(),
                segments: word_diff(&before_output, &after_output),
            })
        })
        .collect()
}

/// `(kind, text)` runs of a word diff: `=` in both, `-` only in `before`, `+` only in `after`.
/// Within a stretch of changes the spaces both sides share are not kept as matches, so a
/// rewritten phrase reads as one deletion followed by one insertion.
pub fn word_diff(before: &str, after: &str) -> Vec<(char, String)> {
    use similar::{Algorithm, ChangeTag, TextDiff};
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_words(before, after);
    let mut segments: Vec<(char, String)> = Vec::new();
    let (mut del, mut ins) = (String::new(), String::new());
    let push = |segments: &mut Vec<(char, String)>, kind: char, text: &str| {
        if text.is_empty() {
            return;
        }
        match segments.last_mut() {
            Some((k, t)) if *k == kind => t.push_str(text),
            _ => segments.push((kind, text.to_owned())),
        }
    };
    for change in diff.iter_all_changes() {
        let text = change.value();
        match change.tag() {
            ChangeTag::Delete => del.push_str(text),
            ChangeTag::Insert => ins.push_str(text),
            ChangeTag::Equal if text.trim().is_empty() && !(del.is_empty() && ins.is_empty()) => {
                del.push_str(text);
                ins.push_str(text);
            }
            ChangeTag::Equal => {
                push(&mut segments, '-', &std::mem::take(&mut del));
                push(&mut segments, '+', &std::mem::take(&mut ins));
                push(&mut segments, '=', text);
            }
        }
    }
    push(&mut segments, '-', &del);
    push(&mut segments, '+', &ins);
    segments
}

#[cfg(test)]
mod tests {
    use super::word_diff;

    fn seg(kind: char, text: &str) -> (char, String) {
        (kind, text.to_owned())
    }

    #[test]
    fn a_changed_number_is_one_deletion_and_one_insertion() {
        assert_eq!(
            word_diff(
                "The notice period is 30 days.",
                "The notice period is 14 days."
            ),
            vec![
                seg('=', "The notice period is "),
                seg('-', "30 "),
                seg('+', "14 "),
                seg('=', "days."),
            ]
        );
    }

    #[test]
    fn a_rewritten_sentence_is_not_confetti() {
        let d = word_diff(
            "The notice period is 14 days, and notice can be given by phone.",
            "I don't have enough information to answer that reliably.",
        );
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].0, '-');
        assert_eq!(
            d[1],
            seg(
                '+',
                "I don't have enough information to answer that reliably."
            )
        );
    }

    #[test]
    fn equal_texts_are_one_run() {
        assert_eq!(
            word_diff("same words", "same words"),
            vec![seg('=', "same words")]
        );
    }
}

// ---- Active versions, Rollback and its audit log ----

/// Why a change of active versions was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown policy {0}")]
    UnknownPolicy(String),
    #[error("{policy} has no version {version} in the stream")]
    UnknownVersion { policy: String, version: String },
    #[error("say why: the reason is kept in the audit log")]
    NoReason,
    #[error("choose at least one tenant, or every tenant")]
    NoTenants,
    #[error("nothing would change: {0} already run {1}")]
    Nothing(String, String),
    #[error("change #{0} does not exist")]
    UnknownEntry(i64),
    #[error("change #{0} was already undone by #{1}")]
    AlreadyUndone(i64, i64),
    #[error("{policy} was changed again since (#{later}); undo that first")]
    ChangedSince { policy: String, later: i64 },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A policy's rows of `ops_policy_active`, as the audit log keeps them.
async fn snapshot(
    tx: &mut Transaction<'_, Postgres>,
    policy: &str,
) -> Result<serde_json::Value, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(jsonb_build_object('tenant_id', tenant_id, 'version', version, \
                 'set_at', set_at, 'set_by', set_by) ORDER BY tenant_id NULLS FIRST), '[]'::jsonb) \
         FROM ops_policy_active WHERE policy_id = $1",
    )
    .bind(policy)
    .fetch_one(&mut **tx)
    .await
}

/// Changes to one policy are made one at a time, by whichever instance holds its lock.
async fn lock_policy(tx: &mut Transaction<'_, Postgres>, policy: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('ops_policy_active:' || $1))")
        .bind(policy)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Active versions of every policy the stream or the console knows.
pub async fn policy_state(pool: &PgPool) -> Result<PolicyState, sqlx::Error> {
    let versions = versions(pool, Utc::now(), 1).await?;
    let rows = sqlx::query(
        "SELECT policy_id, tenant_id, version FROM ops_policy_active ORDER BY policy_id, tenant_id",
    )
    .fetch_all(pool)
    .await?;
    // Per policy: the default row's version, and the tenants' own.
    type Rows = (Option<String>, Vec<(Uuid, String)>);
    let mut pins: BTreeMap<String, Rows> = BTreeMap::new();
    let mut tenants = Vec::new();
    for row in rows {
        let policy: String = row.try_get("policy_id")?;
        let tenant: Option<Uuid> = row.try_get("tenant_id")?;
        let version: String = row.try_get("version")?;
        let entry = pins.entry(policy).or_default();
        match tenant {
            None => entry.0 = Some(version),
            Some(t) => {
                tenants.push(t);
                entry.1.push((t, version));
            }
        }
    }
    let audit = audit_log(pool, 50).await?;
    tenants.extend(audit.iter().flat_map(|a| a.tenant_ids.clone()));
    tenants.sort_unstable();
    tenants.dedup();
    let names = names(pool, Utc::now(), &tenants).await?;
    let mut policies: BTreeMap<String, ActivePolicy> = BTreeMap::new();
    for (policy, list) in &versions {
        policies.insert(
            policy.clone(),
            ActivePolicy {
                policy_id: policy.clone(),
                versions: list.iter().map(|v| v.version.clone()).collect(),
                default_version: list.last().map(|v| v.version.clone()).unwrap_or_default(),
                default_pinned: false,
                pins: Vec::new(),
            },
        );
    }
    // Versions stored with their rules (the Replay Lab's) count too, after those seen.
    let stored = sqlx::query(
        "SELECT policy_id, version FROM ops_policy_rules ORDER BY policy_id, created_at, version",
    )
    .fetch_all(pool)
    .await?;
    for row in stored {
        let policy: String = row.try_get("policy_id")?;
        let only_stored = !versions.contains_key(&policy);
        let version: String = row.try_get("version")?;
        let p = policies
            .entry(policy.clone())
            .or_insert_with(|| ActivePolicy::new(policy));
        if !p.versions.contains(&version) {
            p.versions.push(version.clone());
        }
        if only_stored {
            // Never seen in the stream: the newest stored one is what tenants would run.
            p.default_version = version;
        }
    }
    for (policy, (default, tenant_pins)) in pins {
        let p = policies
            .entry(policy.clone())
            .or_insert_with(|| ActivePolicy::new(policy));
        if let Some(v) = default {
            p.default_version = v;
            p.default_pinned = true;
        }
        let mut list: Vec<TenantPin> = tenant_pins
            .into_iter()
            .map(|(tenant_id, version)| TenantPin {
                tenant_id,
                tenant_name: label(&names, tenant_id),
                version,
            })
            .collect();
        list.sort_by(|a, b| a.tenant_name.cmp(&b.tenant_name));
        p.pins = list;
    }
    let audit = audit
        .into_iter()
        .map(|mut a| {
            a.tenant_names = a.tenant_ids.iter().map(|&t| label(&names, t)).collect();
            a
        })
        .collect();
    Ok(PolicyState {
        policies: policies.into_values().collect(),
        audit,
    })
}

/// The latest changes, newest first.
pub async fn audit_log(pool: &PgPool, limit: i64) -> Result<Vec<AuditEntry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.at, a.actor, a.action, a.policy_id, a.from_version, a.to_version, \
                a.tenant_ids, a.reason, a.undoes, a.undone_by, \
                a.undone_by IS NULL AND a.id = (SELECT max(id) FROM ops_policy_audit l \
                                                WHERE l.policy_id = a.policy_id) AS undoable \
         FROM ops_policy_audit a ORDER BY a.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let tenant_ids: Option<Vec<Uuid>> = row.try_get("tenant_ids")?;
            Ok(AuditEntry {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                policy_id: row.try_get("policy_id")?,
                from_version: row.try_get("from_version")?,
                to_version: row.try_get("to_version")?,
                tenant_ids: tenant_ids.unwrap_or_default(),
                tenant_names: Vec::new(),
                reason: row.try_get("reason")?,
                undoes: row.try_get("undoes")?,
                undone_by: row.try_get("undone_by")?,
                undoable: row.try_get("undoable")?,
            })
        })
        .collect()
}

/// A change of the version some tenants (`Some`) or every tenant (`None`) run.
pub struct Change<'a> {
    pub actor: &'a str,
    /// `rollback` or `promote`.
    pub action: &'a str,
    pub policy_id: &'a str,
    pub to_version: &'a str,
    pub tenants: Option<&'a [Uuid]>,
    pub reason: &'a str,
}

/// Makes `to_version` the active one for the change's tenants and records it; the new audit
/// entry's id.
pub async fn change_version(pool: &PgPool, c: Change<'_>) -> Result<i64, ChangeError> {
    let reason = c.reason.trim();
    if reason.is_empty() {
        return Err(ChangeError::NoReason);
    }
    if c.tenants.is_some_and(<[Uuid]>::is_empty) {
        return Err(ChangeError::NoTenants);
    }
    let mut tx = pool.begin().await?;
    lock_policy(&mut tx, c.policy_id).await?;
    // Read under the lock, so no other change lands between the check and the write.
    let state = policy_state(pool).await?;
    let policy = state
        .policies
        .iter()
        .find(|p| p.policy_id == c.policy_id)
        .ok_or_else(|| ChangeError::UnknownPolicy(c.policy_id.to_owned()))?;
    if !policy.versions.iter().any(|v| v == c.to_version) {
        return Err(ChangeError::UnknownVersion {
            policy: c.policy_id.to_owned(),
            version: c.to_version.to_owned(),
        });
    }
    let mut from: Vec<String> = match c.tenants {
        Some(ts) => ts
            .iter()
            .map(|&t| policy.version_for(t).to_owned())
            .collect(),
        None => std::iter::once(policy.default_version.clone())
            .chain(policy.pins.iter().map(|p| p.version.clone()))
            .collect(),
    };
    from.sort();
    from.dedup();
    if from.iter().all(|v| v == c.to_version) && (c.tenants.is_some() || policy.default_pinned) {
        let who = match c.tenants {
            Some(ts) => format!("{} tenant(s)", ts.len()),
            None => "all tenants".into(),
        };
        return Err(ChangeError::Nothing(who, c.to_version.to_owned()));
    }
    let from_version = from.join(", ");
    let before = snapshot(&mut tx, c.policy_id).await?;
    match c.tenants {
        None => {
            sqlx::query("DELETE FROM ops_policy_active WHERE policy_id = $1")
                .bind(c.policy_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO ops_policy_active (policy_id, tenant_id, version, set_by) \
                 VALUES ($1, NULL, $2, $3)",
            )
            .bind(c.policy_id)
            .bind(c.to_version)
            .bind(c.actor)
            .execute(&mut *tx)
            .await?;
        }
        Some(ts) => {
            sqlx::query(
                "INSERT INTO ops_policy_active (policy_id, tenant_id, version, set_by) \
                 SELECT $1, t, $2, $3 FROM unnest($4::uuid[]) t \
                 ON CONFLICT (policy_id, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)) \
                 DO UPDATE SET version = excluded.version, set_at = now(), set_by = excluded.set_by",
            )
            .bind(c.policy_id)
            .bind(c.to_version)
            .bind(c.actor)
            .bind(ts)
            .execute(&mut *tx)
            .await?;
        }
    }
    let after = snapshot(&mut tx, c.policy_id).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ops_policy_audit \
             (actor, action, policy_id, from_version, to_version, tenant_ids, reason, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(c.actor)
    .bind(c.action)
    .bind(c.policy_id)
    .bind(&from_version)
    .bind(c.to_version)
    .bind(c.tenants)
    .bind(reason)
    .bind(&before)
    .bind(&after)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Puts a policy back exactly as it was before change `id`, if nothing changed it since; the
/// undo is itself an audit entry (and can be undone in turn).
pub async fn undo(pool: &PgPool, actor: &str, id: i64) -> Result<i64, ChangeError> {
    let policy: Option<String> =
        sqlx::query_scalar("SELECT policy_id FROM ops_policy_audit WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some(policy) = policy else {
        return Err(ChangeError::UnknownEntry(id));
    };
    let mut tx = pool.begin().await?;
    lock_policy(&mut tx, &policy).await?;
    let row = sqlx::query(
        "SELECT from_version, to_version, tenant_ids, reason, before, after, undone_by, \
                (SELECT max(id) FROM ops_policy_audit WHERE policy_id = $2) AS latest \
         FROM ops_policy_audit WHERE id = $1",
    )
    .bind(id)
    .bind(&policy)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(by) = row.try_get::<Option<i64>, _>("undone_by")? {
        return Err(ChangeError::AlreadyUndone(id, by));
    }
    let latest: i64 = row.try_get("latest")?;
    let after: serde_json::Value = row.try_get("after")?;
    if latest != id || snapshot(&mut tx, &policy).await? != after {
        return Err(ChangeError::ChangedSince {
            policy,
            later: latest,
        });
    }
    let before: serde_json::Value = row.try_get("before")?;
    sqlx::query("DELETE FROM ops_policy_active WHERE policy_id = $1")
        .bind(&policy)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ops_policy_active (policy_id, tenant_id, version, set_at, set_by) \
         SELECT $1, r.tenant_id, r.version, r.set_at, r.set_by \
         FROM jsonb_to_recordset($2) AS r(tenant_id uuid, version text, set_at timestamptz, set_by text)",
    )
    .bind(&policy)
    .bind(&before)
    .execute(&mut *tx)
    .await?;
    let restored = snapshot(&mut tx, &policy).await?;
    let reason: String = row.try_get("reason")?;
    let tenant_ids: Option<Vec<Uuid>> = row.try_get("tenant_ids")?;
    let new_id: i64 = sqlx::query_scalar(
        "INSERT INTO ops_policy_audit \
             (actor, action, policy_id, from_version, to_version, tenant_ids, reason, before, after, undoes) \
         VALUES ($1, 'undo', $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(actor)
    .bind(&policy)
    .bind(row.try_get::<String, _>("to_version")?)
    .bind(row.try_get::<String, _>("from_version")?)
    .bind(tenant_ids)
    .bind(format!("undo of #{id} ({reason})"))
    .bind(&after)
    .bind(&restored)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE ops_policy_audit SET undone_by = $2 WHERE id = $1")
        .bind(id)
        .bind(new_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(new_id)
}
