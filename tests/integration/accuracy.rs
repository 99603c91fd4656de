//! Customer Intelligence against a world whose truth this test knows. The generator here is
//! its own, apart from the demo world, so the rules are not tuned to the demo: each tenant is
//! given a true intent and a true fate, behaves accordingly with noise, and the console must
//! infer the intent for at least 95% of tenants, flag every silent churner at least 3 days
//! before it cancels, and never flag a tenant that is still investigating.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ops_console::model::customers::Intent;
use ops_console::server::{customers, ingest};
use ops_events::{Event, EventType};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

const TENANTS: u128 = 120;
const DAYS: i64 = 45;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).unwrap()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fate {
    /// Investigates every 1–3 days to the end.
    Engaged,
    /// Investigates until `stop`, then only calls the API, and cancels 11–16 days later.
    SilentChurner {
        stop: DateTime<Utc>,
        cancel: DateTime<Utc>,
    },
    /// Never investigates at all.
    Quiet,
}

struct Truth {
    tenant: Uuid,
    intent: Intent,
    fate: Fate,
}

fn at(day: f64) -> DateTime<Utc> {
    start() + Duration::minutes((day * 1440.0) as i64)
}

fn generate(seed: u64) -> (Vec<Event>, Vec<Truth>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut truths = Vec::new();
    for n in 0..TENANTS {
        let tenant = Uuid::from_u128(0x1000 + n);
        let intent = Intent::ALL[(n % 4) as usize];
        let signup_day = rng.random_range(0.0..8.0);
        let signup = at(signup_day);
        events.push(
            Event::subscription_started(
                tenant,
                &format!("t{n}"),
                "Pro",
                "Organic",
                Decimal::from(99),
            )
            .at(signup),
        );
        let incident = |rng: &mut ChaCha8Rng, day: f64| {
            Event::new(EventType::IncidentCreated, tenant)
                .entity("incident", Uuid::from_u128(rng.random()))
                .at(at(day))
        };
        // What the first week looks like for each intent. A few Debugging tenants also export in
        // their first week: the rules call them Legal/Compliance, and that is the noise the
        // 95% allows for.
        let first_week = signup_day + rng.random_range(0.1..6.5);
        match intent {
            Intent::LegalCompliance => {
                events.push(incident(&mut rng, signup_day + 0.05));
                events.push(
                    Event::export_generated(tenant, Uuid::nil(), "pdf", &[], "customer")
                        .at(at(first_week)),
                );
            }
            Intent::Debugging => {
                events.push(incident(&mut rng, signup_day + 0.05));
                events.push(
                    Event::replay_executed(tenant, Uuid::nil(), "EXACT", 0.0, "customer")
                        .at(at(first_week)),
                );
                if rng.random_bool(0.03) {
                    events.push(
                        Event::export_generated(tenant, Uuid::nil(), "pdf", &[], "customer")
                            .at(at(first_week + 0.1)),
                    );
                }
            }
            Intent::ReliabilityMonitoring => events.push(incident(&mut rng, first_week)),
            Intent::ProxyOnly => {}
        }
        // Made in this console: must never change anything.
        if rng.random_bool(0.3) {
            events.push(
                Event::export_generated(tenant, Uuid::nil(), "pdf", &[], "operator")
                    .at(at(signup_day + 0.5)),
            );
        }
        let fate = if intent == Intent::ProxyOnly {
            Fate::Quiet
        } else if n % 3 == 0 {
            let stop = at(rng.random_range(signup_day + 9.0..DAYS as f64 - 17.0));
            let cancel = stop + Duration::hours(rng.random_range(11 * 24..16 * 24));
            Fate::SilentChurner { stop, cancel }
        } else {
            Fate::Engaged
        };
        // Investigations after the first week, every 1–3 days (views, sometimes a replay, for
        // proxies none), until the fate says stop.
        let until = match fate {
            Fate::SilentChurner { stop, .. } => stop,
            _ => at(DAYS as f64),
        };
        let mut day = signup_day + 7.0;
        while fate != Fate::Quiet && at(day) < until {
            let view = Event::incident_viewed(tenant, Uuid::nil(), 40).at(at(day));
            events.push(view);
            if intent == Intent::Debugging && rng.random_bool(0.3) {
                events.push(
                    Event::replay_executed(tenant, Uuid::nil(), "EXACT", 0.0, "customer")
                        .at(at(day + 0.01)),
                );
            }
            day += rng.random_range(1.0..3.0);
        }
        // API calls three times a day from signup to the end, or to the cancellation.
        let last_api = match fate {
            Fate::SilentChurner { cancel, .. } => cancel,
            _ => at(DAYS as f64),
        };
        let mut t = signup;
        while t < last_api {
            events.push(Event::api_call_received(tenant, "/v1/guard", "POST", 200).at(t));
            t += Duration::hours(8);
        }
        if let Fate::SilentChurner { cancel, .. } = fate {
            events.push(Event::subscription_cancelled(tenant, "Not using it", 30).at(cancel));
        }
        truths.push(Truth {
            tenant,
            intent,
            fate,
        });
    }
    (events, truths)
}

#[sqlx::test]
async fn intent_and_silent_churn_match_the_known_truth(pool: PgPool) {
    let (events, truths) = generate(2026);
    for chunk in events.chunks(10_000) {
        ingest::store(&pool, chunk).await.unwrap();
    }
    let end = at(DAYS as f64);

    // Intent, once every first week is over.
    let list = customers::customers(&pool, end).await.unwrap().customers;
    assert_eq!(list.len(), TENANTS as usize);
    let right = truths
        .iter()
        .filter(|t| {
            list.iter()
                .find(|c| c.tenant_id == t.tenant)
                .is_some_and(|c| c.inferred_intent == t.intent)
        })
        .count();
    let share = right as f64 / TENANTS as f64;
    assert!(share >= 0.95, "intent right for {right} of {TENANTS}");
    // Each intent's class is found for most of its tenants: not one class swallowing another.
    for intent in Intent::ALL {
        let (all, found) =
            truths
                .iter()
                .filter(|t| t.intent == intent)
                .fold((0, 0), |(a, f), t| {
                    let ok = list
                        .iter()
                        .any(|c| c.tenant_id == t.tenant && c.inferred_intent == intent);
                    (a + 1, f + usize::from(ok))
                });
        assert!(found * 10 >= all * 9, "{intent:?}: {found} of {all}");
    }

    // Silent churn, looked at every 12 hours as the founder would.
    let churners: Vec<&Truth> = truths
        .iter()
        .filter(|t| matches!(t.fate, Fate::SilentChurner { .. }))
        .collect();
    assert!(churners.len() >= 20, "{} churners", churners.len());
    let mut first_flag = std::collections::HashMap::new();
    let mut looks = 0;
    let mut moment = start() + Duration::days(8);
    while moment <= end {
        looks += 1;
        let list = customers::customers(&pool, moment).await.unwrap().customers;
        for c in list.iter().filter(|c| c.silent_churn) {
            let truth = truths.iter().find(|t| t.tenant == c.tenant_id).unwrap();
            assert!(
                matches!(truth.fate, Fate::SilentChurner { .. }),
                "{} flagged at {moment} while {:?}",
                c.tenant_name,
                truth.fate
            );
            first_flag.entry(c.tenant_id).or_insert(moment);
        }
        moment += Duration::hours(12);
    }
    assert!(looks > 60);
    for t in churners {
        let Fate::SilentChurner { stop, cancel } = t.fate else {
            unreachable!()
        };
        let flagged = first_flag.get(&t.tenant).unwrap_or_else(|| {
            panic!(
                "{} never flagged (stopped {stop}, cancelled {cancel})",
                t.tenant
            )
        });
        assert!(
            *flagged <= cancel - Duration::days(3),
            "{} flagged {flagged}, cancelled {cancel}",
            t.tenant
        );
        // The last look came at most 3 days before `stop`: a flag needs a full week after it.
        assert!(
            *flagged > stop + Duration::days(4),
            "flagged before a week of silence"
        );
    }
}
