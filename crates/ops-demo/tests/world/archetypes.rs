//! Each archetype's defining behaviour, found in its events.

use crate::{count, first, generated, last, meta_str, within, INVESTIGATIONS};
use chrono::Duration;
use ops_demo::Archetype::*;
use ops_events::EventType::*;
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::str::FromStr;

#[test]
fn about_sixty_named_tenants_each_subscribing_once() {
    let g = generated();
    let tenants = &g.world.tenants;
    assert!((55..=65).contains(&tenants.len()));
    let names: HashSet<_> = tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), tenants.len());
    for name in ["acme-ai", "lexcorp-legal"] {
        assert!(names.contains(name));
    }
    let start = g.world.starts_at();
    for t in tenants {
        let subs: Vec<_> = g
            .of(t)
            .iter()
            .filter(|e| e.event_type == SubscriptionStarted)
            .collect();
        assert_eq!(subs.len(), 1, "{}", t.name);
        let s = subs[0];
        assert_eq!(s.timestamp, t.signup_at);
        assert_eq!(meta_str(s, "tenant_name"), t.name);
        assert_eq!(meta_str(s, "plan"), t.plan);
        assert!(!meta_str(s, "source").is_empty());
        assert_eq!(
            Decimal::from_str(meta_str(s, "price_usd_month")).unwrap(),
            t.price_usd_month
        );
        assert!([49, 99, 299, 999]
            .map(Decimal::from)
            .contains(&t.price_usd_month));
        assert!(
            t.signup_at >= start && t.signup_at < start + Duration::days(26),
            "{}",
            t.name
        );
        assert!(
            g.of(t).iter().all(|e| e.timestamp >= t.signup_at),
            "{} acts before signup",
            t.name
        );
    }
    let days: Vec<i64> = tenants
        .iter()
        .map(|t| (t.signup_at - start).num_days())
        .collect();
    assert!(
        *days.iter().min().unwrap() <= 1 && *days.iter().max().unwrap() >= 22,
        "{days:?}"
    );
}

#[test]
fn legal_buyers_export_within_a_day_and_keep_exporting() {
    let g = generated();
    let legal = g.tenants(LegalCompliance);
    assert!(legal.len() >= 10);
    for t in legal {
        let ev = g.of(t);
        let first_export = first(ev, ExportGenerated).unwrap();
        assert!(
            first_export - t.signup_at < Duration::hours(24),
            "{}",
            t.name
        );
        assert!(count(ev, ExportGenerated) >= 2, "{}", t.name);
        assert!(count(ev, CertVerified) >= 1, "{}", t.name);
        assert!(first(ev, CertVerified).unwrap() > first_export);
    }
}

#[test]
fn debuggers_replay_in_their_first_week_without_exporting() {
    let g = generated();
    let debuggers = g.tenants(Debugger);
    assert!(debuggers.len() >= 10);
    for t in debuggers {
        let ev = g.of(t);
        assert!(
            within(ev, ReplayExecuted, t.signup_at, Duration::days(7)) > 0,
            "{}",
            t.name
        );
        assert_eq!(
            within(ev, ExportGenerated, t.signup_at, Duration::days(7)),
            0,
            "{}",
            t.name
        );
    }
}

#[test]
fn reliability_monitors_watch_without_replaying_or_exporting_in_their_first_week() {
    let g = generated();
    let monitors = g.tenants(ReliabilityMonitor);
    assert!(monitors.len() >= 10);
    for t in monitors {
        let ev = g.of(t);
        let week = Duration::days(7);
        assert!(
            within(ev, IncidentCreated, t.signup_at, week) > 0,
            "{}",
            t.name
        );
        assert!(
            within(ev, IncidentViewed, t.signup_at, week) > 0,
            "{}",
            t.name
        );
        assert_eq!(
            within(ev, ReplayExecuted, t.signup_at, week),
            0,
            "{}",
            t.name
        );
        assert_eq!(
            within(ev, ExportGenerated, t.signup_at, week),
            0,
            "{}",
            t.name
        );
    }
}

#[test]
fn proxy_only_tenants_only_proxy() {
    let g = generated();
    let proxies = g.tenants(ProxyOnly);
    assert!(proxies.len() >= 8);
    for t in proxies {
        let ev = g.of(t);
        assert!(
            count(ev, ApiCallReceived) > 50 && count(ev, LlmCallMade) > 30,
            "{}",
            t.name
        );
        assert_eq!(
            within(ev, IncidentCreated, t.signup_at, Duration::days(7)),
            0,
            "{}",
            t.name
        );
        assert_eq!(
            count(ev, ReplayExecuted) + count(ev, ExportGenerated),
            0,
            "{}",
            t.name
        );
    }
}

#[test]
fn silent_churners_stop_investigating_but_keep_calling() {
    let g = generated();
    let end = g.end();
    let churners = g.tenants(SilentChurner);
    assert!(churners.len() >= 8);
    let mut cancelled = 0;
    for t in churners {
        let ev = g.of(t);
        let last_investigation = last(ev, &INVESTIGATIONS).unwrap();
        assert!(end - last_investigation >= Duration::days(8), "{}", t.name);
        let investigations = ev
            .iter()
            .filter(|e| INVESTIGATIONS.contains(&e.event_type))
            .count();
        assert!(investigations >= 5, "{}: {investigations}", t.name);
        match t.cancelled_at {
            None => assert!(
                within(
                    ev,
                    ApiCallReceived,
                    end - Duration::hours(48),
                    Duration::hours(48)
                ) > 0
            ),
            Some(at) => {
                cancelled += 1;
                assert!(end - at <= Duration::days(5) && at <= end, "{}", t.name);
                let c: Vec<_> = ev
                    .iter()
                    .filter(|e| e.event_type == SubscriptionCancelled)
                    .collect();
                assert_eq!(c.len(), 1);
                assert_eq!(c[0].timestamp, at);
                assert!(!meta_str(c[0], "reason").is_empty());
                assert_eq!(
                    c[0].metadata["tenure_days"].as_i64(),
                    Some((at - t.signup_at).num_days())
                );
                assert!(
                    ev.iter().all(|e| e.timestamp <= at),
                    "{} acts after cancelling",
                    t.name
                );
                assert!(last(ev, &[ApiCallReceived]).unwrap() > at - Duration::days(1));
            }
        }
    }
    assert_eq!(cancelled, 3);
    let others = g
        .world
        .tenants
        .iter()
        .filter(|t| t.archetype != SilentChurner);
    assert!(others.clone().all(|t| t.cancelled_at.is_none()));
    assert_eq!(
        g.events()
            .filter(|e| e.event_type == SubscriptionCancelled)
            .count(),
        3
    );

    // The spec's detector (API in the last 48 h, investigations but none for 7 days) finds
    // the churners that have not cancelled, and no one else.
    for t in others {
        let ev = g.of(t);
        let api_recent = within(
            ev,
            ApiCallReceived,
            end - Duration::hours(48),
            Duration::hours(48),
        ) > 0;
        let quiet = last(ev, &INVESTIGATIONS).is_some_and(|l| end - l > Duration::days(7));
        assert!(
            !(api_recent && quiet),
            "{} looks like a silent churner",
            t.name
        );
    }
}

#[test]
fn one_tenant_costs_more_than_it_pays() {
    let g = generated();
    let losing: Vec<_> = g
        .world
        .tenants
        .iter()
        .filter(|t| {
            let cost: Decimal = g
                .of(t)
                .iter()
                .filter(|e| e.event_type == LlmCallMade)
                .filter_map(|e| e.cost_usd)
                .sum();
            cost > t.price_usd_month
        })
        .collect();
    assert_eq!(losing.len(), 1);
    assert_eq!(losing[0].archetype, NegativeMargin);
}

#[test]
fn the_abuser_calls_over_ten_times_the_average() {
    let g = generated();
    let calls: Vec<(usize, _)> = g
        .world
        .tenants
        .iter()
        .map(|t| (count(g.of(t), ApiCallReceived), t))
        .collect();
    let mean = calls.iter().map(|c| c.0).sum::<usize>() as f64 / calls.len() as f64;
    let heavy: Vec<_> = calls.iter().filter(|c| c.0 as f64 > 10.0 * mean).collect();
    assert_eq!(heavy.len(), 1);
    assert_eq!(heavy[0].1.archetype, Abuser);
    let ratio = heavy[0].0 as f64 / mean;
    println!("abuser at {ratio:.1}x the mean");
    assert!((12.0..18.0).contains(&ratio), "{ratio}");
}

#[test]
fn two_tenants_export_a_lot_and_never_replay() {
    let g = generated();
    let exporters = g.tenants(ExportsWithoutReplays);
    assert_eq!(exporters.len(), 2);
    for t in exporters {
        let ev = g.of(t);
        assert!(count(ev, ExportGenerated) >= 15, "{}", t.name);
        assert_eq!(count(ev, ReplayExecuted), 0);
    }
}

#[test]
fn freezes_hit_the_abuser_and_a_few_others() {
    let g = generated();
    let freezes: Vec<_> = g
        .events()
        .filter(|e| e.event_type == FreezeActivated)
        .collect();
    assert!((2..=10).contains(&freezes.len()));
    assert!(freezes
        .iter()
        .all(|e| ["tenant", "key"].contains(&meta_str(e, "scope"))));
    let abuser = g.tenants(Abuser)[0].tenant_id;
    assert!(freezes.iter().any(|e| e.tenant_id == abuser));
}
