//! Incident Intelligence on fixtures worked out by hand: the heatmaps and their percentages,
//! each attribution rule and their order, the regression detector (a rollout that regresses,
//! one that does not, one with too few incidents), the day-over-day SQL, Rollback with its
//! audit log and undo, and the API with `as_of`.

use crate::common::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::model::incidents::{Attribution, Rule};
use ops_console::server::incidents::{self, Change, ChangeError};
use ops_console::server::ingest;
use ops_events::{Event, IncidentDetails};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

const A: Uuid = Uuid::from_u128(0xA);
const B: Uuid = Uuid::from_u128(0xB);
const C: Uuid = Uuid::from_u128(0xC);

struct Inc {
    model: &'static str,
    policy: &'static str,
    version: &'static str,
    severity: i32,
    context: Value,
    fired: Vec<&'static str>,
    attribution: Option<&'static str>,
}

fn inc(policy: &'static str, version: &'static str, severity: i32) -> Inc {
    Inc {
        model: "gpt-a",
        policy,
        version,
        severity,
        context: json!({"doc": "present"}),
        fired: vec![policy],
        attribution: None,
    }
}

impl Inc {
    fn event(self, tenant: Uuid, at: DateTime<Utc>, session: Uuid) -> Event {
        let details = IncidentDetails {
            model: self.model.into(),
            policy_id: self.policy.into(),
            policy_version: self.version.into(),
            severity: self.severity,
            input_user: format!("question for {}", self.policy),
            input_context: self.context,
            output: format!("answer under {}", self.version),
            policies_fired: self.fired.iter().map(|s| s.to_string()).collect(),
            attribution: self.attribution.map(str::to_owned),
        };
        Event::incident_created(tenant, Uuid::new_v4(), details)
            .at(at)
            .session(session)
    }
}

fn names() -> Vec<Event> {
    use rust_decimal::Decimal;
    [(A, "acme"), (B, "beta"), (C, "gamma")]
        .into_iter()
        .map(|(t, n)| {
            Event::subscription_started(t, n, "Pro", "Organic", Decimal::from(99))
                .at(t0() - Duration::days(60))
        })
        .collect()
}

/// Ten incidents, one per rule case, each in its own session, case k (from 0) at
/// t0 − k h − 30 min.
async fn attribution_fixture(pool: &PgPool) -> Vec<(Attribution, Rule)> {
    let h = Duration::hours;
    let s = Duration::seconds;
    let mut events = names();
    let mut expected = Vec::new();
    let mut add = |i: Inc, extra: Vec<(Duration, Event)>, want: (Attribution, Rule)| {
        let n = expected.len() as i64;
        let at = t0() - h(n) - Duration::minutes(30);
        let session = Uuid::new_v4();
        events.push(i.event(A, at, session));
        for (before, e) in extra {
            events.push(e.at(at - before).session(session));
        }
        expected.push(want);
    };
    // 1. A valid class sent by the guard is kept, whatever else holds.
    add(
        Inc {
            attribution: Some("POLICY_CONFLICT"),
            ..inc("CONTENT_ACCURACY", "v1", 2)
        },
        vec![],
        (Attribution::PolicyConflict, Rule::Reported),
    );
    // 2. An invalid one is ignored; CONTENT_ACCURACY comes before "several policies".
    add(
        Inc {
            attribution: Some("UNCLASSIFIED"),
            fired: vec!["CONTENT_ACCURACY", "PII_FILTER"],
            model: "gpt-b",
            ..inc("CONTENT_ACCURACY", "v1", 4)
        },
        vec![],
        (Attribution::ModelHallucination, Rule::ContentAccuracy),
    );
    // 3. Several policies before an empty context.
    add(
        Inc {
            fired: vec!["PII_FILTER", "SAFETY_BASIC", "PII_FILTER"],
            context: json!({}),
            ..inc("PII_FILTER", "v1", 3)
        },
        vec![],
        (Attribution::PolicyConflict, Rule::SeveralPolicies),
    );
    // 4. An empty context before an LLM timeout on the same call.
    add(
        Inc {
            context: Value::Null,
            ..inc("PII_FILTER", "v1", 3)
        },
        vec![(s(5), Event::llm_call_failed(A, "gpt-a", "timeout", 1))],
        (Attribution::ContextMissing, Rule::EmptyContext),
    );
    // 5. A 5xx on the same call, 30 s before: the call's first instant.
    add(
        inc("PII_FILTER", "v1", 2),
        vec![(s(30), Event::llm_call_failed(A, "gpt-a", "5xx", 0))],
        (Attribution::InfraTimeout, Rule::LlmFailure),
    );
    // 6. A timeout two minutes before is another call; a rate limit is not infra: misuse.
    add(
        inc("PII_FILTER", "v1", 2),
        vec![
            (s(120), Event::llm_call_failed(A, "gpt-a", "timeout", 0)),
            (s(1), Event::llm_call_failed(A, "gpt-a", "rate_limit", 0)),
        ],
        (Attribution::UserMisuse, Rule::InputPolicy),
    );
    // 7. A budget block on the same call comes before the input-policy rule.
    add(
        Inc {
            model: "gpt-b",
            ..inc("SAFETY_BASIC", "v1", 5)
        },
        vec![(
            s(1),
            Event::policy_blocked(A, "COST_GUARD", "budget_exceeded"),
        )],
        (Attribution::BudgetExceeded, Rule::CostLimit),
    );
    // 8. An input policy alone.
    add(
        inc("SAFETY_BASIC", "v1", 4),
        vec![],
        (Attribution::UserMisuse, Rule::InputPolicy),
    );
    // 9. An output policy with nothing else: the last resort.
    add(
        inc("TONE", "v1", 1),
        vec![],
        (Attribution::ModelHallucination, Rule::LastResort),
    );
    // 10. A 5xx at the same moment but in another session does not explain it.
    let n = expected.len() as i64;
    let at = t0() - h(n) - Duration::minutes(30);
    events.push(inc("TONE", "v1", 1).event(A, at, Uuid::new_v4()));
    events.push(
        Event::llm_call_failed(A, "gpt-a", "5xx", 0)
            .at(at - s(1))
            .session(Uuid::new_v4()),
    );
    expected.push((Attribution::ModelHallucination, Rule::LastResort));
    // Outside the 24 h window: counts nowhere.
    events.push(inc("TONE", "v1", 5).event(B, t0() - h(25), Uuid::new_v4()));
    ingest::store(pool, &events).await.unwrap();
    expected
}

#[sqlx::test]
async fn every_incident_gets_one_class_by_the_rules_in_order(pool: PgPool) {
    let expected = attribution_fixture(&pool).await;
    let list = incidents::incidents(&pool, t0(), 24, None).await.unwrap();
    // Newest first, in the fixture's order.
    let got: Vec<(Attribution, Rule)> = list.iter().map(|i| (i.attribution, i.rule)).collect();
    assert_eq!(got, expected);
    assert!(list.iter().all(|i| i.tenant_name == "acme"));

    // The page counts the same classes, in groups.
    let mut counted: std::collections::BTreeMap<Rule, i64> = Default::default();
    for (_, rule) in &expected {
        *counted.entry(*rule).or_default() += 1;
    }
    let p = incidents::patterns(&pool, t0(), 24, None).await.unwrap();
    assert_eq!(
        p.rules
            .iter()
            .map(|r| (r.rule, r.count))
            .collect::<Vec<_>>(),
        counted.into_iter().collect::<Vec<_>>()
    );
}

/// The Replay Lab lists the newest incidents, reading causes only for their sessions and only
/// back to the oldest of them: with the fifth newest last, its cause lies exactly on that edge.
#[sqlx::test]
async fn the_newest_incidents_are_classified_like_the_whole_window(pool: PgPool) {
    let expected = attribution_fixture(&pool).await;
    let whole = incidents::incidents(&pool, t0(), 24, None).await.unwrap();
    for n in 1..=expected.len() + 1 {
        let newest = incidents::latest(&pool, t0(), 24, n as i64).await.unwrap();
        let got: Vec<(Attribution, Rule)> =
            newest.iter().map(|i| (i.attribution, i.rule)).collect();
        assert_eq!(got, expected[..n.min(expected.len())], "the newest {n}");
        let ids = |l: &[ops_console::model::incidents::Incident]| {
            l.iter().map(|i| i.incident_id).collect::<Vec<_>>()
        };
        assert_eq!(ids(&newest), ids(&whole[..n.min(whole.len())]));
    }
}

#[sqlx::test]
async fn heatmap_shares_add_up_and_match_the_counts(pool: PgPool) {
    attribution_fixture(&pool).await;
    let p = incidents::patterns(&pool, t0(), 24, None).await.unwrap();
    assert_eq!(p.total, 10);
    // gpt-b: cases 2 and 7 (severities 4 and 5); gpt-a: the other eight.
    let models: Vec<(&str, i64, f64, Option<f64>)> = p
        .by_model
        .iter()
        .map(|m| (m.model.as_str(), m.incident_count, m.pct, m.avg_severity))
        .collect();
    // gpt-a severities: 2, 3, 3, 2, 2, 4, 1, 1 = 18 / 8 = 2.25.
    assert_eq!(
        models,
        vec![
            ("gpt-a", 8, 80.0, Some(2.25)),
            ("gpt-b", 2, 20.0, Some(4.5))
        ]
    );
    // PII_FILTER 4 (3, 3, 2, 2), SAFETY_BASIC 2 (5, 4), CONTENT_ACCURACY 2 (2, 4), TONE 2 (1, 1).
    let policies: Vec<(&str, i64, f64, Option<f64>)> = p
        .by_policy
        .iter()
        .map(|m| {
            (
                m.policy_id.as_str(),
                m.incident_count,
                m.pct,
                m.avg_severity,
            )
        })
        .collect();
    assert_eq!(
        policies,
        vec![
            ("PII_FILTER", 4, 40.0, Some(2.5)),
            ("CONTENT_ACCURACY", 2, 20.0, Some(3.0)),
            ("SAFETY_BASIC", 2, 20.0, Some(4.5)),
            ("TONE", 2, 20.0, Some(1.0)),
        ]
    );
    // Attribution: hallucination 3 (cases 2, 9, 10), conflict 2 (1, 3), misuse 2 (6, 8),
    // context 1, infra 1, budget 1: ties in the contract's order of classes.
    let classes: Vec<(Attribution, i64, f64)> = p
        .attribution
        .iter()
        .map(|a| (a.attribution, a.count, a.pct))
        .collect();
    assert_eq!(
        classes,
        vec![
            (Attribution::ModelHallucination, 3, 30.0),
            (Attribution::PolicyConflict, 2, 20.0),
            (Attribution::UserMisuse, 2, 20.0),
            (Attribution::ContextMissing, 1, 10.0),
            (Attribution::InfraTimeout, 1, 10.0),
            (Attribution::BudgetExceeded, 1, 10.0),
        ]
    );
    for shares in [
        p.by_model.iter().map(|m| m.pct).collect::<Vec<_>>(),
        p.by_policy.iter().map(|m| m.pct).collect(),
        p.attribution.iter().map(|m| m.pct).collect(),
    ] {
        let tenths: i64 = shares.iter().map(|s| (s * 10.0).round() as i64).sum();
        assert_eq!(tenths, 1000);
    }
    // The matrix holds every pair that occurred, and its counts add up to the total.
    assert_eq!(p.matrix.models, vec!["gpt-a", "gpt-b"]);
    let cells: i64 = p.matrix.cells.iter().map(|c| c.incident_count).sum();
    assert_eq!(cells, 10);
    let b_safety = p
        .matrix
        .cells
        .iter()
        .find(|c| c.model == "gpt-b" && c.policy_id == "SAFETY_BASIC")
        .unwrap();
    assert_eq!(b_safety.incident_count, 1);
    // The last hour holds only the first case.
    let one_hour = incidents::patterns(&pool, t0(), 1, None).await.unwrap();
    assert_eq!(one_hour.total, 1);
    // The tenant filter: B's only incident is outside the window.
    let b = incidents::patterns(&pool, t0(), 24, Some(B)).await.unwrap();
    assert_eq!((b.total, b.tenant_name.as_deref()), (0, Some("beta")));
    assert!(b.attribution.is_empty() && b.by_model.is_empty());
    let b_week = incidents::patterns(&pool, t0(), 168, Some(B))
        .await
        .unwrap();
    assert_eq!(b_week.total, 1);
}

/// Baseline of `policy` v1: [1, 2, 2, 3, 2] four times (mean 2.0, variance 8/19), spread over
/// the days before `rollout`; then v2's `severities`, every 5 minutes from `rollout`, dealt to
/// A, B and C in turn.
fn rollout(policy: &'static str, at: DateTime<Utc>, severities: &[i32]) -> Vec<Event> {
    let mut events = Vec::new();
    for (k, s) in [1, 2, 2, 3, 2].repeat(4).into_iter().enumerate() {
        let when = at - Duration::hours(6 + 6 * k as i64);
        events.push(inc(policy, "v1", s).event(C, when, Uuid::new_v4()));
    }
    for (k, &s) in severities.iter().enumerate() {
        let tenant = [A, B, C][k % 3];
        let when = at + Duration::minutes(5 * k as i64);
        events.push(inc(policy, "v2", s).event(tenant, when, Uuid::new_v4()));
    }
    events
}

#[sqlx::test]
async fn the_detector_finds_the_rollout_that_regresses_and_only_it(pool: PgPool) {
    let at = t0() - Duration::hours(3);
    let mut events = names();
    // Regresses: mean 4.125 against 2.0. With the first five (4, 4, 5, 4, 3: mean 4, variance
    // 0.5) Welch's t = 2.0 / √(0.5/5 + 0.421/20) = 5.75 on about 5.8 degrees of freedom, p ≈
    // 0.0007 < 0.01: detectable at the fifth incident, 20 minutes after the rollout.
    events.extend(rollout("REG", at, &[4, 4, 5, 4, 3, 4, 5, 4]));
    // Does not: 2.25 against 2.0 is under the 0.5 bar.
    events.extend(rollout("CALM", at, &[2, 2, 3, 2, 2, 3, 2, 2]));
    // Too few: four incidents of severity 5.
    events.extend(rollout("FEW", at, &[5, 5, 5, 5]));
    ingest::store(&pool, &events).await.unwrap();

    let found = incidents::regressions(&pool, t0(), 24).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let r = &found[0];
    assert_eq!(
        (
            r.policy_id.as_str(),
            r.policy_version.as_str(),
            r.previous_version.as_str()
        ),
        ("REG", "v2", "v1")
    );
    assert_eq!(r.severity_delta, 2.13); // 4.125 − 2.0, to two decimals
    assert_eq!((r.samples, r.baseline_samples), (8, 20));
    assert_eq!(r.affected_tenants, vec![A, B, C]);
    assert_eq!(r.affected_names, vec!["acme", "beta", "gamma"]);
    assert_eq!(r.rollout_at, at);
    assert_eq!(r.detected_at, at + Duration::minutes(20));
    assert!(r.detected_at - r.rollout_at <= Duration::hours(1));
    assert_eq!(r.sample_incidents.len(), 5);

    // As it stood with four incidents of v2: too few, nothing to report.
    let early = incidents::regressions(&pool, at + Duration::minutes(19), 24)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let just = incidents::regressions(&pool, at + Duration::minutes(20), 24)
        .await
        .unwrap();
    assert_eq!(just.len(), 1);

    // A window that holds no v2 incident reports nothing; a tenant filter keeps its own.
    let hour_before = incidents::regressions(&pool, at - Duration::minutes(1), 1)
        .await
        .unwrap();
    assert!(hour_before.is_empty());
    let for_b = incidents::patterns(&pool, t0(), 24, Some(B)).await.unwrap();
    assert_eq!(for_b.regressions.len(), 1);
    let other = Uuid::from_u128(0xD);
    let for_other = incidents::patterns(&pool, t0(), 24, Some(other))
        .await
        .unwrap();
    assert!(for_other.regressions.is_empty());
}

#[sqlx::test]
async fn the_day_over_day_sql_runs_and_keeps_rises_above_half_a_point(pool: PgPool) {
    let day =
        |d: i64, h: u32| Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap() - Duration::days(d);
    let mut events = Vec::new();
    let mut at = |policy: &'static str, t: DateTime<Utc>, s: i32| {
        events.push(inc(policy, "v1", s).event(A, t, Uuid::new_v4()));
    };
    // UP: 1.0 on the 17th, 3.0 on the 18th (+2.0), 3.4 on the 19th (+0.4).
    at("UP", day(3, 9), 1);
    at("UP", day(3, 23), 1);
    at("UP", day(2, 1), 3);
    at("UP", day(2, 2), 3);
    at("UP", day(1, 5), 3);
    at("UP", day(1, 6), 4);
    at("UP", day(1, 7), 3);
    at("UP", day(1, 8), 4);
    at("UP", day(1, 9), 3);
    // EDGE: exactly +0.5 is not more than 0.5.
    at("EDGE", day(2, 3), 2);
    at("EDGE", day(1, 3), 2);
    at("EDGE", day(1, 4), 3);
    ingest::store(&pool, &events).await.unwrap();
    let rows = incidents::day_over_day(&pool, t0(), None).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r.policy_id, "UP");
    assert_eq!(r.day, Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap());
    assert_eq!(
        (r.avg_severity, r.incidents, r.severity_delta),
        (3.0, 2, 2.0)
    );
    // The spec's own query, as printed, does not run: this is why ours is written differently.
    let spec = "WITH policy_versions AS ( \
                  SELECT metadata->>'policy_id' AS policy, DATE_TRUNC('day', timestamp) AS day, \
                         AVG(severity) AS avg_severity, COUNT(*) AS incidents \
                  FROM ops_events WHERE event_type = 'INCIDENT_CREATED' \
                    AND timestamp > now() - interval '7 days' \
                  GROUP BY metadata->>'policy_id', DATE_TRUNC('day', timestamp)) \
                SELECT policy, day, avg_severity, incidents, \
                  avg_severity - LAG(avg_severity) OVER (PARTITION BY policy ORDER BY day) AS severity_delta \
                FROM policy_versions \
                WHERE avg_severity - LAG(avg_severity) OVER (PARTITION BY policy ORDER BY day) > 0.5 \
                ORDER BY day DESC, severity_delta DESC";
    let err = sqlx::query(spec).fetch_all(&pool).await.unwrap_err();
    assert!(err.to_string().contains("not allowed in WHERE"), "{err}");
}

async fn audit_count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ops_policy_audit")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn rollback_is_logged_changes_the_active_version_and_can_be_undone(pool: PgPool) {
    let mut events = names();
    events.extend(rollout("REG", t0() - Duration::hours(3), &[4, 4, 5, 4, 3]));
    ingest::store(&pool, &events).await.unwrap();
    let before = incidents::policy_state(&pool).await.unwrap();
    let reg = before
        .policies
        .iter()
        .find(|p| p.policy_id == "REG")
        .unwrap();
    assert_eq!(reg.versions, vec!["v1", "v2"]);
    assert_eq!(
        (reg.default_version.as_str(), reg.default_pinned),
        ("v2", false)
    );

    let change =
        |to: &'static str, tenants: Option<&'static [Uuid]>, reason: &'static str| Change {
            actor: "founder@ops.test",
            action: "rollback",
            policy_id: "REG",
            to_version: to,
            tenants,
            reason,
        };
    // Refusals change nothing.
    for (c, want) in [
        (change("v1", Some(&[A, B]), "  "), "say why"),
        (change("v9", Some(&[A, B]), "bad"), "no version v9"),
        (change("v1", Some(&[]), "bad"), "at least one tenant"),
        (change("v2", Some(&[A]), "already"), "nothing would change"),
    ] {
        let err = incidents::change_version(&pool, c).await.unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }
    assert_eq!(audit_count(&pool).await, 0);

    const AB: &[Uuid] = &[A, B];
    let first = incidents::change_version(&pool, change("v1", Some(AB), "severity +2"))
        .await
        .unwrap();
    let s = incidents::policy_state(&pool).await.unwrap();
    let reg = s.policies.iter().find(|p| p.policy_id == "REG").unwrap();
    assert_eq!(
        (reg.version_for(A), reg.version_for(B), reg.version_for(C)),
        ("v1", "v1", "v2")
    );
    let entry = &s.audit[0];
    assert_eq!(entry.id, first);
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.from_version.as_str(),
            entry.to_version.as_str()
        ),
        ("founder@ops.test", "rollback", "v2", "v1")
    );
    assert_eq!(entry.tenant_names, vec!["acme", "beta"]);
    assert_eq!(entry.reason, "severity +2");
    assert!(entry.undoable);

    // Undo: back exactly as before, logged, and not twice.
    let undo = incidents::undo(&pool, "founder@ops.test", first)
        .await
        .unwrap();
    let s = incidents::policy_state(&pool).await.unwrap();
    let reg = s.policies.iter().find(|p| p.policy_id == "REG").unwrap();
    assert!(reg.pins.is_empty());
    assert_eq!(reg.version_for(A), "v2");
    assert_eq!(s.audit[0].id, undo);
    assert_eq!(s.audit[0].undoes, Some(first));
    assert_eq!(
        (
            s.audit[0].from_version.as_str(),
            s.audit[0].to_version.as_str()
        ),
        ("v1", "v2")
    );
    assert_eq!(s.audit[1].undone_by, Some(undo));
    assert!(!s.audit[1].undoable);
    assert!(matches!(
        incidents::undo(&pool, "x", first).await,
        Err(ChangeError::AlreadyUndone(..))
    ));

    // For every tenant, then another change: the first can no longer be undone.
    let all = incidents::change_version(&pool, change("v1", None, "everyone"))
        .await
        .unwrap();
    let s = incidents::policy_state(&pool).await.unwrap();
    let reg = s.policies.iter().find(|p| p.policy_id == "REG").unwrap();
    assert_eq!(
        (reg.default_version.as_str(), reg.default_pinned),
        ("v1", true)
    );
    assert_eq!(reg.version_for(C), "v1");
    const JUST_C: &[Uuid] = &[C];
    incidents::change_version(&pool, change("v2", Some(JUST_C), "c wants v2"))
        .await
        .unwrap();
    assert!(matches!(
        incidents::undo(&pool, "x", all).await,
        Err(ChangeError::ChangedSince { .. })
    ));
    assert!(matches!(
        incidents::undo(&pool, "x", 999).await,
        Err(ChangeError::UnknownEntry(999))
    ));
}

#[sqlx::test]
async fn the_api_answers_the_contract_fields_and_honours_as_of(pool: PgPool) {
    let at = t0() - Duration::hours(3);
    let mut events = names();
    events.extend(rollout("REG", at, &[4, 4, 5, 4, 3, 4, 5, 4]));
    ingest::store(&pool, &events).await.unwrap();
    let server = TestServer::start(pool.clone(), None).await;

    let as_of = t0().to_rfc3339();
    let body = api_json(
        &server,
        &format!("/api/v1/ops/incidents/patterns?as_of={}", urlencode(&as_of)),
    )
    .await;
    assert_eq!(body["window_hours"], 24);
    // In the last 24 h: the eight v2 incidents and the v1 ones at t0 − 9, 15 and 21 h.
    assert_eq!(body["by_model"][0]["model"], "gpt-a");
    assert_eq!(body["by_model"][0]["incident_count"], 11);
    assert_eq!(body["by_model"][0]["pct"], 100.0);
    assert_eq!(body["by_policy"][0]["policy_id"], "REG");
    assert_eq!(body["by_policy"][0]["incident_count"], 11);
    // (4+4+5+4+3+4+5+4 + 1+2+2) / 11 = 38 / 11 = 3.4545…
    assert_eq!(body["by_policy"][0]["avg_severity"], 3.45);
    let attribution = body["attribution"].as_array().unwrap();
    assert_eq!(attribution.len(), 6);
    assert_eq!(attribution[0]["attribution"], "MODEL_HALLUCINATION");
    assert_eq!(attribution[0]["count"], 11);
    assert_eq!(attribution[0]["pct"], 100.0);
    let r = &body["regressions"][0];
    assert_eq!(r["policy_id"], "REG");
    assert_eq!(r["policy_version"], "v2");
    assert_eq!(r["previous_version"], "v1");
    assert_eq!(r["severity_delta"], 2.13);
    assert_eq!(
        r["affected_tenants"],
        json!([A.to_string(), B.to_string(), C.to_string()])
    );
    let detected: DateTime<Utc> = r["detected_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(detected, at + Duration::minutes(20));

    // Before the fifth v2 incident there was no regression to report.
    let early = (at + Duration::minutes(19)).to_rfc3339();
    let body = api_json(
        &server,
        &format!(
            "/api/v1/ops/incidents/patterns?hours=1&as_of={}",
            urlencode(&early)
        ),
    )
    .await;
    assert_eq!(body["window_hours"], 1);
    assert_eq!(body["regressions"], json!([]));
    assert_eq!(body["by_policy"][0]["incident_count"], 4);

    for (query, named) in [
        ("hours=5", "hours"),
        ("tenant_id=nope", "tenant_id"),
        ("as_of=yesterday", "as_of"),
        ("window=24", "window"),
    ] {
        let response = api_get(&server, &format!("/api/v1/ops/incidents/patterns?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(named), "{error}");
    }
    let anonymous = reqwest::get(server.url("/api/v1/ops/incidents/patterns"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    server.stop().await;
}
