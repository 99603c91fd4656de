//! Customer activity over any time window, read from the rollups of migration `…08` instead of
//! the whole stream.
//!
//! A window `(lo, hi]` is split by [`cover`] into whole UTC days (`ops_rollup_day`), whole hours
//! at its edges (`ops_rollup_hour`) and the minutes left over at each end, read from the events
//! themselves through `ops_customer_cells`. The pieces partition the window exactly, and every
//! column is a sum, a minimum or a maximum, so the answer is the one a scan of `ops_events`
//! gives: `tests/integration/rollups.rs` checks both on the same data.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, SubsecRound, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// A time window `(lo, hi]`; `lo = None` reaches back to the first event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub lo: Option<DateTime<Utc>>,
    pub hi: DateTime<Utc>,
}

impl Window {
    /// The `days` days ending at `hi`.
    pub fn days_before(hi: DateTime<Utc>, days: i64) -> Self {
        Window {
            lo: Some(hi - Duration::days(days)),
            hi,
        }
    }

    /// Everything up to `hi`.
    pub fn until(hi: DateTime<Utc>) -> Self {
        Window { lo: None, hi }
    }
}

/// How a window is read: rollup buckets `[from, to)` (`from = None`: from the first bucket) and
/// raw spans `(lo, hi]` of the stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cover {
    pub days: Vec<Span>,
    pub hours: Vec<Span>,
    pub raw: Vec<Span>,
}

/// PostgreSQL keeps microseconds; every bound is cut to them first so that both sides of a
/// comparison see the same instant.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn floor(t: DateTime<Utc>, unit: TimeDelta) -> DateTime<Utc> {
    t.duration_trunc(unit)
        .expect("UTC hours and days divide any timestamp")
}

/// `w` as the buckets of `unit` wholly inside it (`[from, to)`, none when there are none) and
/// the raw spans `(lo, hi]` left at its ends.
pub(crate) fn split(w: Window, unit: TimeDelta) -> (Option<Span>, Vec<Span>) {
    let tick = TimeDelta::microseconds(1);
    let lo = w.lo.map(micros);
    let hi = micros(w.hi);
    if lo.is_some_and(|lo| lo >= hi) {
        return (None, Vec::new());
    }
    // Buckets b with lo < b and b + unit <= hi.
    let first = lo.map(|lo| floor(lo, unit) + unit);
    let last = floor(hi, unit);
    if first.is_some_and(|f| f >= last) {
        return (None, vec![(lo, hi)]);
    }
    let mut raw = Vec::new();
    if let (Some(lo), Some(f)) = (lo, first) {
        raw.push((Some(lo), f - tick));
    }
    raw.push((Some(last - tick), hi));
    (Some((first, last)), raw)
}

/// The pieces that read `w` exactly: buckets wholly inside it, raw events for the rest.
pub fn cover(w: Window) -> Cover {
    let (hours, raw) = split(w, TimeDelta::hours(1));
    let mut c = Cover {
        raw,
        ..Cover::default()
    };
    let Some((hour_lo, hour_hi)) = hours else {
        return c;
    };
    // The whole days inside the whole hours; the hours left at either end of them.
    if let (Some((day_lo, day_hi)), _) = split(w, TimeDelta::days(1)) {
        c.days.push((day_lo, day_hi));
        if let (Some(h), Some(d)) = (hour_lo, day_lo) {
            if h < d {
                c.hours.push((Some(h), d));
            }
        }
        if day_hi < hour_hi {
            c.hours.push((Some(day_hi), hour_hi));
        }
    } else {
        c.hours.push((hour_lo, hour_hi));
    }
    c
}

/// `w` with its upper end moved to the next UTC day boundary, or else the next hour boundary,
/// when no event lies between: `next` is the first event after `w.hi` (`None`: none). The
/// widened window holds the same events, and its upper edge is read from whole buckets
/// instead of raw events. For a window ending now, which is what most pages ask, that is the
/// whole of today from the day rollup.
pub fn widen(w: Window, next: Option<DateTime<Utc>>) -> Window {
    let hi = micros(w.hi);
    [TimeDelta::days(1), TimeDelta::hours(1)]
        .into_iter()
        .map(|unit| {
            let start = floor(hi, unit);
            if start == hi {
                hi
            } else {
                start + unit
            }
        })
        .find(|end| next.is_none_or(|n| *end < n))
        .map_or(w, |hi| Window { lo: w.lo, hi })
}

/// A read-only transaction whose statements all see one snapshot: what [`widened`] says
/// comes after a window holds for the read that follows it.
pub(crate) async fn snapshot(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
}

/// `windows`, each widened ([`widen`]) by the first event after its end that `snapshot`'s
/// transaction sees, so that the read which follows in it holds the same events.
pub(crate) async fn widened(
    snapshot: &mut sqlx::PgConnection,
    windows: &[Window],
) -> Result<Vec<Window>, sqlx::Error> {
    let his: Vec<DateTime<Utc>> = windows.iter().map(|w| micros(w.hi)).collect();
    let rows: Vec<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT m.i::int4, (SELECT min(e.timestamp) FROM ops_events e WHERE e.timestamp > m.at) \
         FROM unnest($1::timestamptz[]) WITH ORDINALITY AS m(at, i) ORDER BY m.i",
    )
    .bind(his)
    .fetch_all(snapshot)
    .await?;
    Ok(windows
        .iter()
        .zip(rows)
        .map(|(w, (_, next))| widen(*w, next))
        .collect())
}

/// Pieces read with a sign: `+1` adds the rows a piece reads, `-1` takes them away. Only counts
/// and sums can be read so; first and last times need [`cover`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Signed {
    pub days: Vec<(Span, i32)>,
    pub hours: Vec<(Span, i32)>,
    pub raw: Vec<(Span, i32)>,
}

/// A raw second of events costs about as much to read as this share of a rollup row: at the
/// benchmark's density a tenant has ~28 events an hour and one rollup row for it.
const RAW_SECONDS_PER_ROW: i64 = 150;

impl Signed {
    fn plus(c: Cover) -> Self {
        let signed = |spans: Vec<Span>| spans.into_iter().map(|s| (s, 1)).collect();
        Signed {
            days: signed(c.days),
            hours: signed(c.hours),
            raw: signed(c.raw),
        }
    }

    fn extend(&mut self, other: Signed) {
        self.days.extend(other.days);
        self.hours.extend(other.hours);
        self.raw.extend(other.raw);
    }

    /// Roughly what reading the pieces costs per tenant, in raw seconds; the rows before a
    /// window's first day, which every way of reading it shares, count nothing.
    fn cost(&self) -> i64 {
        let length = |pieces: &[(Span, i32)], unit: i64| -> i64 {
            pieces
                .iter()
                .map(|((lo, hi), _)| lo.map_or(0, |lo| (*hi - lo).num_seconds() / unit))
                .sum()
        };
        (length(&self.days, 86_400) + length(&self.hours, 3_600)) * RAW_SECONDS_PER_ROW
            + length(&self.raw, 1)
    }
}

/// The events in `[start of t's UTC day, t]`, with `sign`, as whichever reads less: the whole
/// hours of the day before `t`'s hour and the events of that hour up to `t`; or the whole day
/// less its whole hours after `t`'s hour and the events of that hour after `t`.
fn day_so_far(t: DateTime<Utc>, sign: i32) -> Signed {
    let (day, hour, tick) = (
        TimeDelta::days(1),
        TimeDelta::hours(1),
        TimeDelta::microseconds(1),
    );
    let (d, h) = (floor(t, day), floor(t, hour));
    let mut before = Signed::default();
    if d < h {
        before.hours.push(((Some(d), h), sign));
    }
    before.raw.push(((Some(h - tick), t), sign));
    let mut less = Signed::default();
    less.days.push(((Some(d), d + day), sign));
    if h + hour < d + day {
        less.hours.push(((Some(h + hour), d + day), -sign));
    }
    if t < h + hour - tick {
        less.raw.push(((Some(t), h + hour - tick), -sign));
    }
    if before.cost() <= less.cost() {
        before
    } else {
        less
    }
}

/// `w` as its whole days and the difference of two days so far: the days from the one holding
/// its start to the one holding its end, plus that last day up to `w.hi`, less the first day
/// up to `w.lo`.
pub fn signed(w: Window) -> Signed {
    let hi = micros(w.hi);
    let lo = w.lo.map(micros);
    let mut s = Signed::default();
    if lo.is_some_and(|lo| lo >= hi) {
        return s;
    }
    let day_hi = floor(hi, TimeDelta::days(1));
    match lo {
        None => s.days.push(((None, day_hi), 1)),
        Some(lo) => {
            let day_lo = floor(lo, TimeDelta::days(1));
            if day_lo < day_hi {
                s.days.push(((Some(day_lo), day_hi), 1));
            }
            s.extend(day_so_far(lo, -1));
        }
    }
    s.extend(day_so_far(hi, 1));
    s
}

/// The cheaper exact way to read `w`'s counts and sums: [`cover`] or [`signed`].
pub fn counts_cover(w: Window) -> Signed {
    let plain = Signed::plus(cover(w));
    let signed = signed(w);
    if signed.cost() < plain.cost() {
        signed
    } else {
        plain
    }
}

/// A tenant's customer activity in one window (the columns of `ops_customer_cell`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    pub events: i64,
    pub api_calls: i64,
    pub llm_calls: i64,
    pub llm_failures: i64,
    pub incidents: i64,
    pub views: i64,
    pub replays: i64,
    pub exports: i64,
    pub certs: i64,
    pub llm_cost: Decimal,
    pub llm_tokens: Decimal,
    pub first_event: Option<DateTime<Utc>>,
    pub first_incident: Option<DateTime<Utc>>,
    pub first_view: Option<DateTime<Utc>>,
    pub first_replay: Option<DateTime<Utc>>,
    pub first_export: Option<DateTime<Utc>>,
    pub first_cert: Option<DateTime<Utc>>,
    pub first_subscription: Option<DateTime<Utc>>,
    pub first_cancellation: Option<DateTime<Utc>>,
    pub last_api_call: Option<DateTime<Utc>>,
    pub last_investigation: Option<DateTime<Utc>>,
    pub last_export: Option<DateTime<Utc>>,
}

impl Activity {
    /// Adds `other`'s counts and sums times `sign`.
    fn add_counts(&mut self, other: &Activity, sign: i64) {
        let count = |a: &mut i64, b: i64| *a += sign * b;
        count(&mut self.events, other.events);
        count(&mut self.api_calls, other.api_calls);
        count(&mut self.llm_calls, other.llm_calls);
        count(&mut self.llm_failures, other.llm_failures);
        count(&mut self.incidents, other.incidents);
        count(&mut self.views, other.views);
        count(&mut self.replays, other.replays);
        count(&mut self.exports, other.exports);
        count(&mut self.certs, other.certs);
        self.llm_cost += Decimal::from(sign) * other.llm_cost;
        self.llm_tokens += Decimal::from(sign) * other.llm_tokens;
    }
}

/// A query over the pieces of several windows (`OFFSET 0` keeps each day and raw piece its own
/// index range scan: flattened, PostgreSQL scans the whole table or span once and filters every
/// row against every piece, which for Customer Intelligence's ten day pieces was a third of its
/// time): `$1..$9` are the windows' day, hour and raw
/// pieces (label, lower and upper bound: [`pieces`]), `$10` optional tenants and `$11` optional
/// event types for the raw edges. `$cols` are the columns each piece contributes (the planner
/// computes only those), `$select` and `$group` aggregate them.
macro_rules! window_sql {
    ($cols:literal, $select:literal, $group:literal) => {
        concat!(
            "WITH d AS (SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS d(w, lo, hi)), \
                  h AS (SELECT * FROM unnest($4::int[], $5::timestamptz[], $6::timestamptz[]) AS h(w, lo, hi)), \
                  r AS (SELECT * FROM unnest($7::int[], $8::timestamptz[], $9::timestamptz[]) AS r(w, lo, hi)), \
                  parts AS ( \
                      SELECT d.w, ", $cols, " FROM d CROSS JOIN LATERAL ( \
                          SELECT * FROM ops_rollup_day x \
                          WHERE x.bucket >= coalesce(d.lo, '-infinity') AND x.bucket < d.hi \
                            AND ($10::uuid[] IS NULL OR x.tenant_id = ANY($10)) \
                          OFFSET 0) x \
                      UNION ALL \
                      SELECT h.w, ", $cols, " FROM h JOIN ops_rollup_hour x \
                          ON x.bucket >= coalesce(h.lo, '-infinity') AND x.bucket < h.hi \
                      WHERE $10::uuid[] IS NULL OR x.tenant_id = ANY($10) \
                      UNION ALL \
                      SELECT r.w, ", $cols, " FROM r CROSS JOIN LATERAL ( \
                          SELECT * FROM ops_customer_cells c \
                          WHERE c.at > coalesce(r.lo, '-infinity') AND c.at <= r.hi \
                            AND ($10::uuid[] IS NULL OR c.tenant_id = ANY($10)) \
                            AND ($11::text[] IS NULL OR c.event_type = ANY($11)) \
                          OFFSET 0) c) \
             SELECT ", $select, " FROM parts GROUP BY ", $group
        )
    };
}

/// Each tenant's counts and sums per window ([`Columns::Counts`]).
const COUNTS_SQL: &str = window_sql!(
    "tenant_id, events, api_calls, llm_calls, llm_failures, incidents, views, replays, exports, \
     certs, llm_cost, llm_tokens",
    "w, tenant_id, \
     sum(events)::int8 AS events, sum(api_calls)::int8 AS api_calls, \
     sum(llm_calls)::int8 AS llm_calls, sum(llm_failures)::int8 AS llm_failures, \
     sum(incidents)::int8 AS incidents, sum(views)::int8 AS views, \
     sum(replays)::int8 AS replays, sum(exports)::int8 AS exports, sum(certs)::int8 AS certs, \
     sum(llm_cost) AS llm_cost, sum(llm_tokens) AS llm_tokens",
    "w, tenant_id"
);

/// Each tenant's investigation counts per window ([`Columns::Actions`]).
const ACTIONS_SQL: &str = window_sql!(
    "tenant_id, views, replays, exports",
    "w, tenant_id, sum(views)::int8 AS views, sum(replays)::int8 AS replays, \
     sum(exports)::int8 AS exports",
    "w, tenant_id"
);

/// Each tenant's first and last times per window ([`Columns::Times`]).
const TIMES_SQL: &str = window_sql!(
    "tenant_id, first_event, first_incident, first_view, first_replay, first_export, \
     first_cert, first_subscription, first_cancellation, last_api_call, last_investigation, \
     last_export",
    "w, tenant_id, \
     min(first_event) AS first_event, min(first_incident) AS first_incident, \
     min(first_view) AS first_view, min(first_replay) AS first_replay, \
     min(first_export) AS first_export, min(first_cert) AS first_cert, \
     min(first_subscription) AS first_subscription, \
     min(first_cancellation) AS first_cancellation, max(last_api_call) AS last_api_call, \
     max(last_investigation) AS last_investigation, max(last_export) AS last_export",
    "w, tenant_id"
);

/// The System Pulse's numbers per window (migration `…10`): the counts from the minute rollup
/// and the events of the partial minutes at each end (`$1..$6`: window index, lower and upper
/// bound of each piece); the tenants present from the day rollup (`$7..$9`: the windows), where a
/// tenant's first and last event in a day decide unless the window lies inside that day and
/// between them.
const TOTALS_SQL: &str = "\
    WITH m AS (SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS m(w, lo, hi)), \
         r AS (SELECT * FROM unnest($4::int[], $5::timestamptz[], $6::timestamptz[]) AS r(w, lo, hi)), \
         win AS (SELECT w, coalesce(lo, '-infinity') AS lo, hi \
                 FROM unnest($7::int[], $8::timestamptz[], $9::timestamptz[]) AS win(w, lo, hi)), \
         counts AS ( \
             SELECT m.w, x.incidents, x.replays, x.exports, x.llm_failures, x.llm_calls \
             FROM m JOIN ops_rollup_minute x \
                 ON x.bucket >= coalesce(m.lo, '-infinity') AND x.bucket < m.hi \
             UNION ALL \
             SELECT r.w, c.incidents, c.replays, c.exports, c.llm_failures, c.llm_calls \
             FROM r CROSS JOIN LATERAL ( \
                 SELECT * FROM ops_customer_cells c \
                 WHERE c.at > coalesce(r.lo, '-infinity') AND c.at <= r.hi OFFSET 0) c), \
         sums AS ( \
             SELECT w, sum(incidents)::int8 AS incidents, sum(replays)::int8 AS replays, \
                    sum(exports)::int8 AS exports, sum(llm_failures)::int8 AS llm_failures, \
                    sum(llm_calls)::int8 AS llm_calls \
             FROM counts GROUP BY w), \
         present AS ( \
             SELECT win.w, count(DISTINCT x.tenant_id) AS active_tenants \
             FROM win JOIN ops_rollup_day x \
                 ON x.bucket > win.lo - interval '1 day' AND x.bucket <= win.hi \
             WHERE x.first_event <= win.hi AND x.last_event > win.lo \
               AND (x.first_event > win.lo OR x.last_event <= win.hi OR EXISTS ( \
                    SELECT 1 FROM ops_customer_cells c \
                    WHERE c.tenant_id = x.tenant_id AND c.at > win.lo AND c.at <= win.hi)) \
             GROUP BY win.w) \
    SELECT win.w, coalesce(p.active_tenants, 0)::int8 AS active_tenants, \
           coalesce(s.incidents, 0) AS incidents, coalesce(s.replays, 0) AS replays, \
           coalesce(s.exports, 0) AS exports, coalesce(s.llm_failures, 0) AS llm_failures, \
           coalesce(s.llm_calls, 0) AS llm_calls \
    FROM win LEFT JOIN sums s ON s.w = win.w LEFT JOIN present p ON p.w = win.w";

/// A span `(lo, hi)` of buckets or of raw events; `lo = None` reaches back to the first.
pub type Span = (Option<DateTime<Utc>>, DateTime<Utc>);

type Spans = (Vec<i32>, Vec<Option<DateTime<Utc>>>, Vec<DateTime<Utc>>);

/// Which windows a label's rows count toward, and with which sign ([`pieces`]).
type Uses = Vec<(usize, i64)>;

/// The windows' pieces as the nine arrays of `window_sql!`, each piece labelled, and what each
/// label counts toward. Times are read by [`cover`], one label per window. Counts and sums are
/// read by [`counts_cover`], and a piece several windows share is read once: the day so far at
/// the boundary of two contiguous windows is added to the one that ends there and taken from
/// the one that starts there. Pieces that count toward the same windows with the same signs
/// share a label: for contiguous windows, one for each window's whole days and one for each
/// boundary, so the query returns about as many rows as one label per window would.
fn pieces(windows: &[Window], columns: Columns) -> ([Spans; 3], Vec<Uses>) {
    let mut out: [Spans; 3] = Default::default();
    if columns == Columns::Times {
        for (i, w) in windows.iter().enumerate() {
            let c = cover(*w);
            for (into, from) in out.iter_mut().zip([c.days, c.hours, c.raw]) {
                push(into, i as i32, from);
            }
        }
        return (out, (0..windows.len()).map(|i| vec![(i, 1)]).collect());
    }
    // Each distinct piece (kind, span), and its signs summed per window.
    let mut signs: BTreeMap<(usize, Span), BTreeMap<usize, i64>> = BTreeMap::new();
    for (i, w) in windows.iter().enumerate() {
        let s = counts_cover(*w);
        for (kind, from) in [s.days, s.hours, s.raw].into_iter().enumerate() {
            for (span, sign) in from {
                *signs.entry((kind, span)).or_default().entry(i).or_default() += i64::from(sign);
            }
        }
    }
    let mut labels: Vec<Uses> = Vec::new();
    for ((kind, span), by_window) in signs {
        let uses: Uses = by_window.into_iter().filter(|(_, s)| *s != 0).collect();
        if uses.is_empty() {
            // Added and taken away again within one window.
            continue;
        }
        let label = match labels.iter().position(|l| *l == uses) {
            Some(label) => label,
            None => {
                labels.push(uses);
                labels.len() - 1
            }
        };
        push(&mut out[kind], label as i32, [span]);
    }
    (out, labels)
}

/// Appends window `i`'s `spans` to the three arrays a query unnests.
fn push(into: &mut Spans, i: i32, spans: impl IntoIterator<Item = Span>) {
    for (lo, hi) in spans {
        into.0.push(i);
        into.1.push(lo);
        into.2.push(hi);
    }
}

fn bind_windows<'q>(
    sql: &'static str,
    [days, hours, raw]: [Spans; 3],
    tenants: Option<Vec<Uuid>>,
    types: Option<Vec<String>>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql)
        .bind(days.0)
        .bind(days.1)
        .bind(days.2)
        .bind(hours.0)
        .bind(hours.1)
        .bind(hours.2)
        .bind(raw.0)
        .bind(raw.1)
        .bind(raw.2)
        .bind(tenants)
        .bind(types)
}

/// Per window: tenants with customer events, and the System Pulse's counts; the counts are read
/// as whole UTC minutes and the raw events at each end ([`split`]).
pub async fn totals(
    pool: &PgPool,
    windows: &[Window],
) -> Result<Vec<crate::model::pulse::DayCounts>, sqlx::Error> {
    let [mut whole, mut raw, mut win] = <[Spans; 3]>::default();
    for (i, w) in windows.iter().enumerate() {
        let (m, r) = split(*w, TimeDelta::minutes(1));
        let i = i as i32;
        push(&mut whole, i, m);
        push(&mut raw, i, r);
        push(&mut win, i, [(w.lo.map(micros), micros(w.hi))]);
    }
    let rows = sqlx::query(TOTALS_SQL)
        .bind(whole.0)
        .bind(whole.1)
        .bind(whole.2)
        .bind(raw.0)
        .bind(raw.1)
        .bind(raw.2)
        .bind(win.0)
        .bind(win.1)
        .bind(win.2)
        .fetch_all(pool)
        .await?;
    super::pulse::day_counts_from(&rows, "w", windows.len())
}

/// Which raw events a query needs at the window edges: all of them, or only these types (every
/// count and time it reads comes from them; the other columns are then incomplete).
#[derive(Clone, Copy)]
pub enum Needs<'a> {
    All,
    Types(&'a [&'a str]),
}

/// Which of [`Activity`]'s fields a query computes; the others stay at their defaults. Every
/// page needs either the counts or the times of a window, and aggregating only those is about
/// half the work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// The counts and sums: `events` to `llm_tokens`.
    Counts,
    /// The investigation counts only: `views`, `replays` and `exports`. Summing three integer
    /// columns instead of eleven, two of them `numeric`, took Customer Intelligence's action
    /// counts from 62 to 36 ms on the benchmark's 10 M events.
    Actions,
    /// The first and last times: `first_event` to `last_export`.
    Times,
}

/// Each window's activity per tenant (tenants without customer events in a window are absent),
/// for every tenant or only `tenant`.
pub async fn activity(
    pool: &PgPool,
    windows: &[Window],
    tenant: Option<Uuid>,
    needs: Needs<'_>,
    columns: Columns,
) -> Result<Vec<HashMap<Uuid, Activity>>, sqlx::Error> {
    let mut tx = snapshot(pool).await?;
    let found = activity_in(&mut tx, windows, tenant.map(|t| vec![t]), needs, columns).await?;
    tx.commit().await?;
    Ok(found)
}

/// [`activity`] in `snapshot`'s transaction, for every tenant or only `tenants`.
async fn activity_in(
    snapshot: &mut sqlx::PgConnection,
    windows: &[Window],
    tenants: Option<Vec<Uuid>>,
    needs: Needs<'_>,
    columns: Columns,
) -> Result<Vec<HashMap<Uuid, Activity>>, sqlx::Error> {
    let types: Option<Vec<String>> = match needs {
        Needs::All => None,
        Needs::Types(t) => Some(t.iter().map(|s| s.to_string()).collect()),
    };
    let widened = widened(&mut *snapshot, windows).await?;
    let sql = match columns {
        Columns::Counts => COUNTS_SQL,
        Columns::Actions => ACTIONS_SQL,
        Columns::Times => TIMES_SQL,
    };
    let (spans, labels) = pieces(&widened, columns);
    let rows = bind_windows(sql, spans, tenants, types)
        .fetch_all(&mut *snapshot)
        .await?;
    let mut out: Vec<HashMap<Uuid, Activity>> = vec![HashMap::new(); windows.len()];
    for row in rows {
        let w: i32 = row.try_get("w")?;
        let a = match columns {
            Columns::Counts => Activity {
                events: row.try_get("events")?,
                api_calls: row.try_get("api_calls")?,
                llm_calls: row.try_get("llm_calls")?,
                llm_failures: row.try_get("llm_failures")?,
                incidents: row.try_get("incidents")?,
                views: row.try_get("views")?,
                replays: row.try_get("replays")?,
                exports: row.try_get("exports")?,
                certs: row.try_get("certs")?,
                llm_cost: row.try_get("llm_cost")?,
                llm_tokens: row.try_get("llm_tokens")?,
                ..Activity::default()
            },
            Columns::Actions => Activity {
                views: row.try_get("views")?,
                replays: row.try_get("replays")?,
                exports: row.try_get("exports")?,
                ..Activity::default()
            },
            Columns::Times => times(&row)?,
        };
        // `w` is the rows' label ([`pieces`]); times have one per window, so one row per
        // window and tenant.
        let tenant: Uuid = row.try_get("tenant_id")?;
        let uses = usize::try_from(w).ok().and_then(|l| labels.get(l));
        for &(i, sign) in uses.into_iter().flatten() {
            let map = &mut out[i];
            match columns {
                Columns::Counts | Columns::Actions => {
                    map.entry(tenant).or_default().add_counts(&a, sign)
                }
                Columns::Times => {
                    map.insert(tenant, a.clone());
                }
            }
        }
    }
    // As read by `cover`, a tenant is in a window exactly when it has an event there (with
    // `Actions`, an investigation).
    match columns {
        Columns::Counts => out.iter_mut().for_each(|m| m.retain(|_, a| a.events != 0)),
        Columns::Actions => out
            .iter_mut()
            .for_each(|m| m.retain(|_, a| a.views + a.replays + a.exports != 0)),
        Columns::Times => {}
    }
    Ok(out)
}

/// A row's first and last times (the columns of [`Columns::Times`]); the counts stay at zero.
fn times(row: &sqlx::postgres::PgRow) -> Result<Activity, sqlx::Error> {
    Ok(Activity {
        first_event: row.try_get("first_event")?,
        first_incident: row.try_get("first_incident")?,
        first_view: row.try_get("first_view")?,
        first_replay: row.try_get("first_replay")?,
        first_export: row.try_get("first_export")?,
        first_cert: row.try_get("first_cert")?,
        first_subscription: row.try_get("first_subscription")?,
        first_cancellation: row.try_get("first_cancellation")?,
        last_api_call: row.try_get("last_api_call")?,
        last_investigation: row.try_get("last_investigation")?,
        last_export: row.try_get("last_export")?,
        ..Activity::default()
    })
}

/// Up to this many tenants with events after the moment asked about are read from the day and
/// hour rollups by name; more, and the read covers every tenant (naming them costs an index
/// scan of the window's buckets each).
pub const FEW_TENANTS: usize = 16;

/// Every tenant's first and last times over its whole history up to `as_of` (or only
/// `tenant`'s), as [`activity`] reads them with [`Columns::Times`] over [`Window::until`]
/// `(as_of)`, and the same answer; tenants without a customer event by then are absent.
///
/// A tenant whose last event is not after `as_of` has its answer in `ops_rollup_tenant` (migration
/// `…14`) as it stands, one row; a tenant whose first event is after it has none. Only the
/// tenants in between, with events on both sides of `as_of`, are read from the day and hour
/// rollups, in the same snapshot. For a page of now that is usually none. With
/// [`Needs::Types`], a tenant answered from its row has every field, more than `needs` asks.
pub async fn lifetime_times(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    tenant: Option<Uuid>,
    needs: Needs<'_>,
) -> Result<HashMap<Uuid, Activity>, sqlx::Error> {
    let as_of = micros(as_of);
    let mut tx = snapshot(pool).await?;
    let rows =
        sqlx::query("SELECT * FROM ops_rollup_tenant WHERE $1::uuid IS NULL OR tenant_id = $1")
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
    let mut out = HashMap::with_capacity(rows.len());
    let mut between = Vec::new();
    for row in &rows {
        let t: Uuid = row.try_get("tenant_id")?;
        let first: DateTime<Utc> = row.try_get("first_event")?;
        let last: DateTime<Utc> = row.try_get("last_event")?;
        if last <= as_of {
            out.insert(t, times(row)?);
        } else if first <= as_of {
            between.push(t);
        }
    }
    if !between.is_empty() {
        let named = (between.len() <= FEW_TENANTS).then(|| between.clone());
        let windows = [Window::until(as_of)];
        let mut found = activity_in(&mut tx, &windows, named, needs, Columns::Times)
            .await?
            .pop()
            .unwrap_or_default();
        for t in between {
            if let Some(a) = found.remove(&t) {
                out.insert(t, a);
            }
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// The event at a `(tenant, type, time)` key that [`activity`] found (a first subscription or
/// cancellation).
#[derive(Debug, Clone)]
pub struct FirstEvent {
    pub metadata: Value,
    /// `metadata->>'reason'`, as PostgreSQL renders it.
    pub reason: Option<String>,
}

/// The customer events at these `(tenant, type, time)` keys, the lowest `event_id` among equal
/// times.
pub async fn first_events(
    pool: &PgPool,
    keys: &[(Uuid, &str, DateTime<Utc>)],
) -> Result<HashMap<(Uuid, String), FirstEvent>, sqlx::Error> {
    let tenants: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let types: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let times: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
    let rows = sqlx::query(concat!(
        "SELECT DISTINCT ON (e.tenant_id, e.event_type) e.tenant_id, e.event_type, e.metadata, \
                e.metadata->>'reason' AS reason \
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS k(k_tenant, k_type, k_at) \
         JOIN ops_events e ON e.tenant_id = k_tenant AND e.event_type = k_type \
                          AND e.timestamp = k_at \
         WHERE ",
        customer_event!(),
        " ORDER BY e.tenant_id, e.event_type, e.event_id"
    ))
    .bind(tenants)
    .bind(types)
    .bind(times)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get("tenant_id")?, r.try_get("event_type")?),
                FirstEvent {
                    metadata: r
                        .try_get::<Option<Value>, _>("metadata")?
                        .unwrap_or(Value::Null),
                    reason: r.try_get("reason")?,
                },
            ))
        })
        .collect()
}

/// What `ops_derived_tables` says about one derived table.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage {
    pub name: String,
    pub computed_from: String,
    pub grain: String,
    pub maintained_by: String,
    pub rebuilt_at: DateTime<Utc>,
    pub rebuilt_through: Option<DateTime<Utc>>,
    pub rebuilt_from_events: i64,
}

pub async fn lineage(pool: &PgPool) -> Result<Vec<Lineage>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT name, computed_from, grain, maintained_by, rebuilt_at, rebuilt_through, \
                rebuilt_from_events FROM ops_derived_tables ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Lineage {
                name: r.try_get("name")?,
                computed_from: r.try_get("computed_from")?,
                grain: r.try_get("grain")?,
                maintained_by: r.try_get("maintained_by")?,
                rebuilt_at: r.try_get("rebuilt_at")?,
                rebuilt_through: r.try_get("rebuilt_through")?,
                rebuilt_from_events: r.try_get("rebuilt_from_events")?,
            })
        })
        .collect()
}

/// Recomputes every rollup from `ops_events` alone (writers wait meanwhile).
pub async fn rebuild(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT ops_rollup_rebuild()")
        .execute(pool)
        .await
        .map(|_| ())
}

/// Where the rollups differ from a fresh computation: `(rollup, bucket, tenant, problem)` (no
/// tenant for the minute rollup);
/// empty when they are exact.
pub async fn check(
    pool: &PgPool,
) -> Result<Vec<(String, DateTime<Utc>, Option<Uuid>, String)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query("SELECT rollup, bucket, tenant_id, problem FROM ops_rollup_check()")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("rollup")?,
                r.try_get("bucket")?,
                r.try_get("tenant_id")?,
                r.try_get("problem")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(h: i64, m: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
            + Duration::hours(h)
            + Duration::minutes(m)
    }

    /// Whether instant `t` is read by `c`, and how many times.
    fn reads(c: &Cover, t: DateTime<Utc>) -> usize {
        let bucket = |spans: &[(Option<DateTime<Utc>>, DateTime<Utc>)], unit: TimeDelta| {
            let b = floor(t, unit);
            spans
                .iter()
                .filter(|(lo, hi)| lo.is_none_or(|lo| b >= lo) && b < *hi)
                .count()
        };
        bucket(&c.days, TimeDelta::days(1))
            + bucket(&c.hours, TimeDelta::hours(1))
            + c.raw
                .iter()
                .filter(|(lo, hi)| lo.is_none_or(|lo| t > lo) && t <= *hi)
                .count()
    }

    #[test]
    fn a_short_window_is_read_raw() {
        let w = Window {
            lo: Some(at(1, 10)),
            hi: at(1, 50),
        };
        assert_eq!(
            cover(w),
            Cover {
                raw: vec![(Some(at(1, 10)), at(1, 50))],
                ..Cover::default()
            }
        );
    }

    #[test]
    fn a_week_is_days_with_hours_and_minutes_at_the_edges() {
        let w = Window::days_before(at(24 * 9 + 5, 30), 7);
        let c = cover(w);
        let tick = TimeDelta::microseconds(1);
        assert_eq!(c.days, vec![(Some(at(24 * 3, 0)), at(24 * 9, 0))]);
        assert_eq!(
            c.hours,
            vec![
                (Some(at(24 * 2 + 6, 0)), at(24 * 3, 0)),
                (Some(at(24 * 9, 0)), at(24 * 9 + 5, 0))
            ]
        );
        assert_eq!(
            c.raw,
            vec![
                (Some(at(24 * 2 + 5, 30)), at(24 * 2 + 6, 0) - tick),
                (Some(at(24 * 9 + 5, 0) - tick), at(24 * 9 + 5, 30))
            ]
        );
    }

    #[test]
    fn everything_until_reads_all_days_before() {
        let c = cover(Window::until(at(50, 0)));
        assert_eq!(c.days, vec![(None, at(48, 0))]);
        assert_eq!(c.hours, vec![(Some(at(48, 0)), at(50, 0))]);
        assert_eq!(reads(&c, at(50, 0)), 1, "the upper bound is inside");
        assert_eq!(reads(&c, at(-1000, 7)), 1);
    }

    #[test]
    fn a_window_ending_before_a_quiet_stretch_reads_whole_buckets() {
        let w = Window::until(at(50, 30));
        // Nothing until tomorrow: the whole day.
        assert_eq!(widen(w, Some(at(72, 1))).hi, at(72, 0));
        assert_eq!(widen(w, None).hi, at(72, 0));
        // An event later today: the whole hour.
        assert_eq!(widen(w, Some(at(60, 0))).hi, at(51, 0));
        // An event at the day's first instant is inside a window ending there: the hour.
        assert_eq!(widen(w, Some(at(72, 0))).hi, at(51, 0));
        // An event before the hour ends: unchanged.
        assert_eq!(widen(w, Some(at(50, 31))), w);
        // Already on a day boundary: unchanged.
        let midnight = Window::until(at(48, 0));
        assert_eq!(widen(midnight, Some(at(48, 1))), midnight);
        let c = cover(widen(w, None));
        assert_eq!((c.days, c.hours.len()), (vec![(None, at(72, 0))], 0));
    }

    /// How many times instant `t` is read by `s`, net of the pieces taken away.
    fn net_reads(s: &Signed, t: DateTime<Utc>) -> i32 {
        let bucket = |pieces: &[(Span, i32)], unit: TimeDelta| -> i32 {
            let b = floor(t, unit);
            pieces
                .iter()
                .filter(|((lo, hi), _)| lo.is_none_or(|lo| b >= lo) && b < *hi)
                .map(|(_, sign)| sign)
                .sum()
        };
        bucket(&s.days, TimeDelta::days(1))
            + bucket(&s.hours, TimeDelta::hours(1))
            + s.raw
                .iter()
                .filter(|((lo, hi), _)| lo.is_none_or(|lo| t > lo) && t <= *hi)
                .map(|(_, sign)| sign)
                .sum::<i32>()
    }

    #[test]
    fn four_days_back_from_late_in_the_day_take_the_rest_of_the_day_away() {
        let w = Window::days_before(at(24 * 9 + 17, 57), 4);
        let s = signed(w);
        let tick = TimeDelta::microseconds(1);
        assert_eq!(
            s.days,
            vec![
                ((Some(at(24 * 5, 0)), at(24 * 9, 0)), 1),
                ((Some(at(24 * 5, 0)), at(24 * 6, 0)), -1),
                ((Some(at(24 * 9, 0)), at(24 * 10, 0)), 1)
            ]
        );
        // After 17:57 only six whole hours and three minutes are left in each end's day.
        assert_eq!(
            s.hours,
            vec![
                ((Some(at(24 * 5 + 18, 0)), at(24 * 6, 0)), 1),
                ((Some(at(24 * 9 + 18, 0)), at(24 * 10, 0)), -1)
            ]
        );
        assert_eq!(
            s.raw,
            vec![
                ((Some(at(24 * 5 + 17, 57)), at(24 * 5 + 18, 0) - tick), 1),
                ((Some(at(24 * 9 + 17, 57)), at(24 * 9 + 18, 0) - tick), -1)
            ]
        );
        assert!(counts_cover(w).cost() < Signed::plus(cover(w)).cost());
    }

    /// How many times instant `t` is read for window `i` by the labelled pieces of [`pieces`],
    /// net of the pieces taken away.
    fn labelled_reads(spans: &[Spans; 3], labels: &[Uses], i: usize, t: DateTime<Utc>) -> i64 {
        let units = [Some(TimeDelta::days(1)), Some(TimeDelta::hours(1)), None];
        let mut n = 0;
        for (s, unit) in spans.iter().zip(units) {
            for ((label, lo), hi) in s.0.iter().zip(&s.1).zip(&s.2) {
                let read = match unit {
                    Some(unit) => {
                        let b = floor(t, unit);
                        lo.is_none_or(|lo| b >= lo) && b < *hi
                    }
                    None => lo.is_none_or(|lo| t > lo) && t <= *hi,
                };
                if read {
                    let uses = &labels[*label as usize];
                    n += uses
                        .iter()
                        .filter(|(w, _)| *w == i)
                        .map(|(_, s)| s)
                        .sum::<i64>();
                }
            }
        }
        n
    }

    proptest! {
        /// Contiguous windows read with shared pieces: every instant counts once toward each
        /// window that holds it and nets to nothing in the others.
        #[test]
        fn shared_pieces_count_each_instant_once_per_window(
            start in 0i64..(20 * 86_400_000_000),
            lengths in proptest::collection::vec(1i64..(6 * 86_400_000_000), 1..6),
            probes in proptest::collection::vec(0i64..(52 * 86_400_000_000), 48),
        ) {
            let base = at(0, 0);
            let mut bounds = vec![base + TimeDelta::microseconds(start)];
            for len in &lengths {
                bounds.push(*bounds.last().unwrap() + TimeDelta::microseconds(*len));
            }
            let windows: Vec<Window> =
                bounds.windows(2).map(|b| Window { lo: Some(b[0]), hi: b[1] }).collect();
            let (spans, labels) = pieces(&windows, Columns::Counts);
            let tick = TimeDelta::microseconds(1);
            let mut instants: Vec<DateTime<Utc>> =
                probes.iter().map(|p| base + TimeDelta::microseconds(*p)).collect();
            for b in &bounds {
                instants.extend([*b, *b + tick, *b - tick, floor(*b, TimeDelta::hours(1))]);
            }
            for (i, w) in windows.iter().enumerate() {
                for t in &instants {
                    let inside = w.lo.is_none_or(|lo| *t > lo) && *t <= w.hi;
                    prop_assert_eq!(
                        labelled_reads(&spans, &labels, i, *t),
                        i64::from(inside),
                        "window {} at {}", i, t
                    );
                }
            }
        }
    }

    proptest! {
        /// Read with signs, every instant inside the window counts once and every instant
        /// outside it nets to nothing.
        #[test]
        fn signed_pieces_count_each_instant_once(
            lo in 0i64..(40 * 86_400_000_000),
            len in 0i64..(20 * 86_400_000_000),
            probes in proptest::collection::vec(-86_400_000_000i64..(62 * 86_400_000_000), 64),
            bounded in any::<bool>(),
        ) {
            let base = at(0, 0);
            let lo_t = base + TimeDelta::microseconds(lo);
            let hi = lo_t + TimeDelta::microseconds(len);
            let w = Window { lo: bounded.then_some(lo_t), hi };
            let tick = TimeDelta::microseconds(1);
            let mut instants: Vec<DateTime<Utc>> =
                probes.iter().map(|p| base + TimeDelta::microseconds(*p)).collect();
            instants.extend([lo_t, lo_t + tick, lo_t - tick, hi, hi + tick, hi - tick]);
            instants.extend([floor(hi, TimeDelta::hours(1)), floor(lo_t, TimeDelta::days(1))]);
            for s in [signed(w), counts_cover(w)] {
                for t in &instants {
                    let inside = (!bounded || *t > lo_t) && *t <= hi;
                    prop_assert_eq!(net_reads(&s, *t), i32::from(inside), "{:?} at {}", s, t);
                }
            }
        }

        /// Widening never changes which events a window holds: every instant where an event
        /// can be (up to the window's end, or from the next event on) is inside the widened
        /// window exactly when it is inside the window.
        #[test]
        fn widening_keeps_the_events(
            lo in 0i64..(4 * 86_400_000_000),
            len in 0i64..(4 * 86_400_000_000),
            gap in 1i64..(2 * 86_400_000_000),
            probes in proptest::collection::vec(0i64..(12 * 86_400_000_000), 64),
        ) {
            let base = at(0, 0);
            let lo_t = base + TimeDelta::microseconds(lo);
            let hi = lo_t + TimeDelta::microseconds(len);
            let next = hi + TimeDelta::microseconds(gap);
            let w = Window { lo: Some(lo_t), hi };
            let wide = widen(w, Some(next));
            prop_assert!(wide.hi >= w.hi && wide.hi < next);
            let tick = TimeDelta::microseconds(1);
            let edges = [hi, hi + tick, wide.hi, wide.hi + tick, next - tick, next];
            let instants = probes.iter().map(|p| base + TimeDelta::microseconds(*p)).chain(edges);
            for t in instants.filter(|t| *t <= hi || *t >= next) {
                let inside = |w: Window| w.lo.is_none_or(|lo| t > lo) && t <= w.hi;
                prop_assert_eq!(inside(w), inside(wide), "{:?} {:?} at {}", w, wide, t);
            }
        }

        /// Every instant inside the window is read exactly once and nothing outside is read.
        #[test]
        fn the_pieces_partition_the_window(
            lo in 0i64..(40 * 86_400_000_000),
            len in 0i64..(20 * 86_400_000_000),
            probes in proptest::collection::vec(-86_400_000_000i64..(62 * 86_400_000_000), 64),
            bounded in any::<bool>(),
        ) {
            let base = at(0, 0);
            let lo_t = base + TimeDelta::microseconds(lo);
            let hi = lo_t + TimeDelta::microseconds(len);
            let w = Window { lo: bounded.then_some(lo_t), hi };
            let c = cover(w);
            let tick = TimeDelta::microseconds(1);
            let mut instants: Vec<DateTime<Utc>> =
                probes.iter().map(|p| base + TimeDelta::microseconds(*p)).collect();
            instants.extend([lo_t, lo_t + tick, hi, hi + tick, hi - tick, floor(hi, TimeDelta::hours(1))]);
            for t in instants {
                let inside = (!bounded || t > lo_t) && t <= hi;
                prop_assert_eq!(reads(&c, t), usize::from(inside), "{:?} at {}", c, t);
                let (whole, raw) = split(w, TimeDelta::minutes(1));
                let by_minutes = Cover { hours: Vec::new(), days: Vec::new(), raw };
                let read = reads(&by_minutes, t)
                    + whole
                        .iter()
                        .filter(|(lo, hi)| {
                            let b = floor(t, TimeDelta::minutes(1));
                            lo.is_none_or(|lo| b >= lo) && b < *hi
                        })
                        .count();
                prop_assert_eq!(read, usize::from(inside), "minutes {:?} at {}", whole, t);
            }
        }
    }
}
