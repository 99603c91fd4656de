//! The rollups answer exactly what the plain definitions compute from `ops_events`, on the same
//! data: the demo world (ingestion path), a generated stream (`COPY`), and events placed on the
//! very edges of the buckets and windows (plain `INSERT`), then after a delete and a rebuild.

use chrono::{DateTime, Duration, DurationRound, SubsecRound, TimeDelta, Utc};
use ops_console::model::events::EventFilter;
use ops_console::model::incidents::{breakdown, Incident, RECENT_LIMIT};
use ops_console::server::{
    bench, customers, demo, events_query, incidents, plain, pulse, revenue, rollup, stickiness,
};
use ops_events::EventType;
use sqlx::PgPool;
use uuid::Uuid;

/// Moments the answers are compared at: now, on an hour and on a day boundary, a microsecond
/// after one, and in the middle of the data.
fn moments(end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let day = end.duration_trunc(TimeDelta::days(1)).unwrap();
    let hour = end.duration_trunc(TimeDelta::hours(1)).unwrap();
    let minute = end.duration_trunc(TimeDelta::minutes(1)).unwrap();
    vec![
        end,
        hour,
        minute,
        minute + TimeDelta::microseconds(1),
        day,
        day + TimeDelta::microseconds(1),
        hour - TimeDelta::microseconds(1),
        end - Duration::days(6) - Duration::minutes(17) - Duration::microseconds(3),
        end - Duration::days(40),
    ]
}

/// Events on the edges of `as_of`'s windows and of the buckets, for one tenant: exactly at
/// `as_of`, exactly one, three, seven, ten and fourteen days before, a microsecond either side,
/// on hour and day boundaries; plus a console-made event and a platform event that count
/// nowhere, and a cancellation whose reason is a number.
async fn edge_events(pool: &PgPool, tenant: Uuid, as_of: DateTime<Utc>) {
    let day = as_of.duration_trunc(TimeDelta::days(1)).unwrap();
    // The week's first and last whole hours, where the severity rollup meets the raw facts.
    let hour = |t: DateTime<Utc>| t.duration_trunc(TimeDelta::hours(1)).unwrap();
    let week_first = hour(as_of - Duration::days(7)) + Duration::hours(1);
    let mut at = vec![
        as_of,
        day,
        day - Duration::hours(5),
        week_first,
        week_first - TimeDelta::microseconds(1),
        hour(as_of),
        hour(as_of) - TimeDelta::microseconds(1),
    ];
    for d in [1, 3, 7, 10, 14, 30] {
        let t = as_of - Duration::days(d);
        at.extend([
            t,
            t - TimeDelta::microseconds(1),
            t + TimeDelta::microseconds(1),
        ]);
    }
    let kinds = [
        "INCIDENT_VIEWED",
        "REPLAY_EXECUTED",
        "EXPORT_GENERATED",
        "INCIDENT_CREATED",
        "CERT_VERIFIED",
        "API_CALL_RECEIVED",
        "LLM_CALL_MADE",
        "LLM_CALL_FAILED",
    ];
    for (i, t) in at.iter().enumerate() {
        for (k, kind) in kinds.iter().enumerate() {
            if (i + k) % 3 == 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO ops_events (timestamp, tenant_id, event_type, cost_usd, severity, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(t)
            .bind(tenant)
            .bind(kind)
            .bind(rust_decimal::Decimal::new(1234 + i as i64, 6))
            .bind(1 + (i % 5) as i32)
            .bind(serde_json::json!({"tokens_in": 10 + i, "tokens_out": 2.5, "policy_id": "EDGE"}))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    sqlx::query(
        "INSERT INTO ops_events (timestamp, tenant_id, event_type, metadata) VALUES \
         ($1, $2, 'SUBSCRIPTION_STARTED', '{\"tenant_name\": \"edge\", \"plan\": \"Pro\", \"price_usd_month\": \"49.50\"}'), \
         ($3, $2, 'SUBSCRIPTION_CANCELLED', '{\"reason\": 42}'), \
         ($4, $2, 'EXPORT_GENERATED', '{\"source\": \"operator\"}'), \
         ($4, '00000000-0000-0000-0000-000000000000', 'INCIDENT_CREATED', '{}')",
    )
    .bind(as_of - Duration::days(20))
    .bind(tenant)
    .bind(as_of - Duration::days(2))
    .bind(as_of - Duration::hours(1))
    .execute(pool)
    .await
    .unwrap();
}

/// A generated stream of `events` over `tenants` and the `days` before `end` (`bench`'s).
async fn generate(pool: &PgPool, events: u64, tenants: u32, days: i64, end: DateTime<Utc>) {
    let options = bench::BenchOptions {
        events,
        tenants,
        days,
        runs: 1,
        ingest_events: 0,
        clients: 1,
        reuse: false,
        ingest_only: false,
        load_secs: 0,
        as_of: None,
    };
    bench::generate(pool, &options, end).await.unwrap();
}

async fn assert_exact(pool: &PgPool, when: &str) {
    let problems = rollup::check(pool).await.unwrap();
    assert!(problems.is_empty(), "{when}: {problems:?}");
}

/// Incident Intelligence counts in groups in SQL what the plain list classifies one by one.
async fn assert_patterns(
    pool: &PgPool,
    as_of: DateTime<Utc>,
    hours: i32,
    tenant: Option<Uuid>,
    list: &[Incident],
) {
    let p = incidents::patterns(pool, as_of, hours, tenant)
        .await
        .unwrap();
    let (by_model, by_policy, matrix, attribution, rules) = breakdown(list);
    let when = format!("{hours} hours at {as_of} for {tenant:?}");
    assert_eq!(p.total, list.len() as i64, "{when}");
    assert_eq!(p.by_model, by_model, "{when}");
    assert_eq!(p.by_policy, by_policy, "{when}");
    assert_eq!(p.matrix, matrix, "{when}");
    assert_eq!(p.attribution, attribution, "{when}");
    assert_eq!(p.rules, rules, "{when}");
    assert_eq!(p.recent, list[..list.len().min(RECENT_LIMIT)], "{when}");
}

async fn assert_same_answers(pool: &PgPool, as_of: DateTime<Utc>, tenants: &[Uuid]) {
    let as_of = as_of.trunc_subsecs(6);
    assert_eq!(
        pulse::day_counts(pool, as_of, 8).await.unwrap(),
        plain::day_counts(pool, as_of, 8).await.unwrap(),
        "pulse at {as_of}"
    );
    let mut facts = plain::facts(pool, as_of, None).await.unwrap();
    facts.sort_by_key(|f| f.tenant_id);
    assert_eq!(
        customers::facts(pool, as_of, None).await.unwrap(),
        facts,
        "customers at {as_of}"
    );
    for days in [7, 30] {
        let mut usages = plain::usages(pool, as_of, days).await.unwrap();
        usages.sort_by_key(|u| u.tenant_id);
        assert_eq!(
            revenue::usages(pool, as_of, days).await.unwrap(),
            usages,
            "revenue over {days} days at {as_of}"
        );
        let mut steps = plain::steps(pool, as_of, days).await.unwrap();
        steps.sort_by_key(|s| s.tenant_id);
        assert_eq!(
            stickiness::steps(pool, as_of, days).await.unwrap(),
            steps,
            "stickiness over {days} days at {as_of}"
        );
    }
    for hours in [1, 24, 168] {
        let list = plain::incidents(pool, as_of, hours, None).await.unwrap();
        assert_eq!(
            incidents::incidents(pool, as_of, hours, None)
                .await
                .unwrap(),
            list,
            "incidents over {hours} hours at {as_of}"
        );
        assert_patterns(pool, as_of, hours, None, &list).await;
    }
    // The event explorer's histogram over every tenant, by hour and by day, of every type and
    // of one.
    for (hours, event_type) in [
        (1, None),
        (24, None),
        (24, Some(EventType::IncidentCreated)),
        (24 * 10, None),
    ] {
        let filter = EventFilter {
            tenant_id: None,
            event_type,
            from: Some(as_of - Duration::hours(hours)),
            to: Some(as_of),
        };
        assert_eq!(
            events_query::histogram(pool, &filter, as_of).await.unwrap(),
            plain::histogram(pool, &filter, as_of).await.unwrap(),
            "histogram of {event_type:?} over {hours} hours at {as_of}"
        );
    }
    // Every day's mean, not only the rises the page shows.
    for rise in [incidents::RISE, f64::MIN] {
        assert_eq!(
            incidents::day_over_day_rising(pool, as_of, None, rise)
                .await
                .unwrap(),
            plain::day_over_day(pool, as_of, None, rise).await.unwrap(),
            "day over day above {rise:e} at {as_of}"
        );
    }
    for &t in tenants {
        let list = plain::incidents(pool, as_of, 168, Some(t)).await.unwrap();
        assert_eq!(
            incidents::incidents(pool, as_of, 168, Some(t))
                .await
                .unwrap(),
            list,
            "{t}'s incidents at {as_of}"
        );
        assert_patterns(pool, as_of, 168, Some(t), &list).await;
        assert_eq!(
            incidents::day_over_day_rising(pool, as_of, Some(t), f64::MIN)
                .await
                .unwrap(),
            plain::day_over_day(pool, as_of, Some(t), f64::MIN)
                .await
                .unwrap(),
            "{t}'s day over day at {as_of}"
        );
        assert_eq!(
            customers::facts(pool, as_of, Some(t)).await.unwrap(),
            plain::facts(pool, as_of, Some(t)).await.unwrap(),
            "{t}'s facts at {as_of}"
        );
        assert_eq!(
            customers::timeline(pool, t, as_of).await.unwrap(),
            plain::timeline(pool, t, as_of).await.unwrap(),
            "{t}'s timeline at {as_of}"
        );
    }
}

/// `rollup::totals` over windows of any length, from a microsecond to days, on and around the
/// edge events (so that some lie inside one day between a tenant's first and last event there),
/// against a plain count of the events in each.
async fn assert_totals_exact(pool: &PgPool, as_of: DateTime<Utc>) {
    let as_of = as_of.trunc_subsecs(6);
    let tick = TimeDelta::microseconds(1);
    let day = as_of.duration_trunc(TimeDelta::days(1)).unwrap();
    let three = as_of - Duration::days(3);
    let windows = [
        (as_of - tick, as_of),
        (as_of - Duration::minutes(7), as_of),
        (as_of - Duration::hours(5), as_of - Duration::hours(1)),
        (day - Duration::hours(5) - tick, day - Duration::hours(5)),
        (day - Duration::hours(6), day - Duration::hours(4)),
        (three - tick, three + tick),
        (three - Duration::seconds(90), three + Duration::seconds(30)),
        (as_of - Duration::days(1), as_of),
        (
            as_of - Duration::days(3) - Duration::minutes(1),
            as_of - Duration::days(1),
        ),
    ];
    let found = rollup::totals(
        pool,
        &windows
            .iter()
            .map(|&(lo, hi)| rollup::Window { lo: Some(lo), hi })
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    for (&(lo, hi), found) in windows.iter().zip(found) {
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT tenant_id), \
                    count(*) FILTER (WHERE event_type = 'INCIDENT_CREATED'), \
                    count(*) FILTER (WHERE event_type = 'REPLAY_EXECUTED'), \
                    count(*) FILTER (WHERE event_type = 'EXPORT_GENERATED'), \
                    count(*) FILTER (WHERE event_type = 'LLM_CALL_FAILED'), \
                    count(*) FILTER (WHERE event_type = 'LLM_CALL_MADE') \
             FROM ops_events WHERE timestamp > $1 AND timestamp <= $2 \
               AND tenant_id <> '00000000-0000-0000-0000-000000000000' \
               AND coalesce(metadata->>'source', '') <> 'operator'",
        )
        .bind(lo)
        .bind(hi)
        .fetch_one(pool)
        .await
        .unwrap();
        let counted = (
            found.active_tenants,
            found.incidents,
            found.replays,
            found.exports,
            found.llm_failures,
            found.llm_calls,
        );
        assert_eq!(counted, row, "totals over ({lo}, {hi}]");
    }
}

#[sqlx::test]
async fn rollup_answers_equal_the_plain_definitions(pool: PgPool) {
    let end = Utc::now().trunc_subsecs(6);
    demo::load(&pool, 7, false, end - Duration::hours(2), false)
        .await
        .unwrap();
    generate(&pool, 30_000, 25, 45, end).await;
    let edge = Uuid::from_u128(0xed9e);
    for as_of in moments(end) {
        edge_events(&pool, edge, as_of).await;
    }
    assert_exact(&pool, "after loading").await;

    let tenants: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM ops_events WHERE event_type = 'SUBSCRIPTION_CANCELLED' \
         UNION SELECT $1 UNION (SELECT tenant_id FROM ops_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 2)",
    )
    .bind(edge)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tenants.len() >= 3, "{tenants:?}");
    for as_of in moments(end) {
        assert_same_answers(&pool, as_of, &tenants).await;
        assert_totals_exact(&pool, as_of).await;
    }
    // The severity comparison compares something: the data has rises at some moments.
    let mut rises = 0;
    for as_of in moments(end) {
        rises += plain::day_over_day(&pool, as_of.trunc_subsecs(6), None, incidents::RISE)
            .await
            .unwrap()
            .len();
    }
    assert!(rises > 0, "no day-over-day rise in the data");

    // A delete recomputes the buckets it touched; answers stay equal.
    sqlx::query(
        "DELETE FROM ops_events WHERE tenant_id = $1 OR (event_type = 'INCIDENT_VIEWED' \
         AND timestamp > $2 - interval '4 days')",
    )
    .bind(edge)
    .bind(end)
    .execute(&pool)
    .await
    .unwrap();
    assert_exact(&pool, "after a delete").await;
    for as_of in moments(end).into_iter().take(3) {
        assert_same_answers(&pool, as_of, &tenants).await;
        assert_totals_exact(&pool, as_of).await;
    }

    // Events cannot be changed behind the rollups' back.
    let refused = sqlx::query("UPDATE ops_events SET severity = 1")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("immutable"), "{refused}");
}

#[sqlx::test]
async fn a_rebuild_reproduces_the_rollups_and_records_its_lineage(pool: PgPool) {
    let end = Utc::now().trunc_subsecs(6);
    demo::load(&pool, 7, false, end, false).await.unwrap();
    let snapshot = |pool: PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT string_agg(x::text, '|' ORDER BY x::text) FROM \
             (SELECT h::text AS x FROM ops_rollup_hour h UNION ALL SELECT d::text FROM ops_rollup_day d \
              UNION ALL SELECT m::text FROM ops_rollup_minute m \
              UNION ALL SELECT f::text FROM ops_incident_facts f \
              UNION ALL SELECT v::text FROM ops_rollup_severity_hour v \
              UNION ALL SELECT c::text FROM ops_call_causes c \
              UNION ALL SELECT t::text FROM ops_rollup_type_hour t \
              UNION ALL SELECT l::text FROM ops_rollup_tenant l) s",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    let maintained = snapshot(pool.clone()).await;
    // Damage a row, as a bug or a hand edit would; check finds it, rebuild mends it.
    sqlx::query("UPDATE ops_rollup_day SET incidents = incidents + 1 WHERE bucket = (SELECT max(bucket) FROM ops_rollup_day)")
        .execute(&pool)
        .await
        .unwrap();
    let problems = rollup::check(&pool).await.unwrap();
    assert!(!problems.is_empty());
    assert!(
        problems.iter().all(|p| p.0 == "ops_rollup_day"),
        "{problems:?}"
    );
    // And the incident facts, severities, causes, type counts and lifetimes: a lost fact, a
    // changed severity, a cause that names no cost limit said to, an hour's count one short, a
    // tenant's last API call a second late.
    sqlx::query("DELETE FROM ops_incident_facts WHERE timestamp = (SELECT min(timestamp) FROM ops_incident_facts)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE ops_rollup_severity_hour SET severity_sum = severity_sum + 1 \
                 WHERE bucket = (SELECT min(bucket) FROM ops_rollup_severity_hour)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ops_call_causes SET cost_limit = NOT cost_limit \
                 WHERE timestamp = (SELECT max(timestamp) FROM ops_call_causes)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ops_rollup_type_hour SET events = events - 1 \
                 WHERE bucket = (SELECT max(bucket) FROM ops_rollup_type_hour)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ops_rollup_tenant SET last_api_call = last_api_call + interval '1 second' \
                 WHERE tenant_id = (SELECT tenant_id FROM ops_rollup_tenant \
                                    WHERE last_api_call IS NOT NULL ORDER BY 1 LIMIT 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let damaged: std::collections::BTreeSet<String> = rollup::check(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(
        damaged.into_iter().collect::<Vec<_>>(),
        [
            "ops_call_causes",
            "ops_incident_facts",
            "ops_rollup_day",
            "ops_rollup_severity_hour",
            "ops_rollup_tenant",
            "ops_rollup_type_hour"
        ]
    );

    rollup::rebuild(&pool).await.unwrap();
    assert_exact(&pool, "after the rebuild").await;
    assert_eq!(snapshot(pool.clone()).await, maintained);

    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let newest: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT max(timestamp) FROM ops_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    let lineage = rollup::lineage(&pool).await.unwrap();
    assert_eq!(
        lineage.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        [
            "ops_call_causes",
            "ops_incident_facts",
            "ops_rollup_day",
            "ops_rollup_hour",
            "ops_rollup_minute",
            "ops_rollup_severity_hour",
            "ops_rollup_tenant",
            "ops_rollup_type_hour"
        ]
    );
    for l in &lineage {
        assert_eq!(l.rebuilt_from_events, events);
        assert_eq!(l.rebuilt_through, newest);
        assert!(l.computed_from.contains("ops_events"));
        assert!(Utc::now() - l.rebuilt_at < Duration::minutes(1));
    }
}

/// `lifetime_times` (the tenant rollup, and the day and hour rollups for tenants with events on
/// both sides of the moment) answers as the whole-history read of the day and hour rollups does:
/// at moments after every event, with a few such tenants (read by name) and with many (read with
/// everyone), for every tenant and for one.
#[sqlx::test]
async fn lifetimes_from_the_tenant_rollup_equal_the_whole_history_read(pool: PgPool) {
    use rollup::{Columns, Needs, Window};
    let end = Utc::now().trunc_subsecs(6);
    generate(&pool, 12_000, 40, 12, end).await;
    // Each tenant's last customer event, newest first: just before the 3rd newest, three
    // tenants at most have events after the moment; just before the 30th, about thirty.
    let lasts: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT max(at) FROM ops_customer_cells GROUP BY tenant_id ORDER BY 1 DESC",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(lasts.len() >= 35, "{} tenants", lasts.len());
    let tick = TimeDelta::microseconds(1);
    let mut at = moments(end);
    at.extend([
        lasts[2] - tick,
        lasts[29] - tick,
        lasts[0] + Duration::days(1),
    ]);
    let mut between_counts = Vec::new();
    for as_of in at {
        let whole = |tenant| {
            let pool = pool.clone();
            async move {
                rollup::activity(
                    &pool,
                    &[Window::until(as_of)],
                    tenant,
                    Needs::All,
                    Columns::Times,
                )
                .await
                .unwrap()
                .pop()
                .unwrap()
            }
        };
        let expected = whole(None).await;
        let got = rollup::lifetime_times(&pool, as_of, None, Needs::All)
            .await
            .unwrap();
        assert_eq!(got, expected, "every tenant at {as_of}");
        for tenant in expected.keys().take(3) {
            let one = rollup::lifetime_times(&pool, as_of, Some(*tenant), Needs::All)
                .await
                .unwrap();
            assert_eq!(one, whole(Some(*tenant)).await, "{tenant} at {as_of}");
        }
        let between: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT tenant_id FROM ops_customer_cells GROUP BY 1 \
             HAVING min(at) <= $1 AND max(at) > $1) t",
        )
        .bind(as_of)
        .fetch_one(&pool)
        .await
        .unwrap();
        between_counts.push(between);
    }
    // Both ways of reading the tenants in between were taken, and the plain one.
    assert!(between_counts.contains(&0), "{between_counts:?}");
    assert!(
        between_counts
            .iter()
            .any(|n| (1..=rollup::FEW_TENANTS as i64).contains(n)),
        "{between_counts:?}"
    );
    assert!(
        between_counts
            .iter()
            .any(|n| *n > rollup::FEW_TENANTS as i64),
        "{between_counts:?}"
    );
}
