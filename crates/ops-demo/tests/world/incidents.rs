//! Incidents and what refers to them: metadata, sessions, attribution, the v12 regression.

use crate::{generated, meta_str};
use chrono::Duration;
use ops_events::{Event, EventType::*};
use std::collections::{HashMap, HashSet};

fn incidents() -> Vec<&'static Event> {
    generated()
        .events()
        .filter(|e| e.event_type == IncidentCreated)
        .collect()
}

fn mean(xs: &[i32]) -> f64 {
    xs.iter().sum::<i32>() as f64 / xs.len() as f64
}

#[test]
fn incidents_carry_what_the_analytics_read() {
    let models = ["gpt-4o-mini", "gpt-4o", "claude-3-haiku", "llama-3-70b"];
    let mut attributions = HashSet::new();
    let (mut empty_context, mut conflicts, mut auto_renew) = (0, 0, 0);
    for e in incidents() {
        assert_eq!(e.entity_type.as_deref(), Some("incident"));
        assert!(e.entity_id.is_some() && e.session_id.is_some());
        assert!((1..=5).contains(&e.severity.unwrap()));
        assert!(models.contains(&meta_str(e, "model")));
        assert!(!meta_str(e, "policy_version").is_empty() && !meta_str(e, "output").is_empty());
        let input = &e.metadata["input"];
        assert!(input["user"].is_string() && input.get("context").is_some());
        let ctx = &input["context"];
        if ctx.is_null() || ctx.as_object().is_some_and(|o| o.is_empty()) {
            empty_context += 1;
        }
        let fired = e.metadata["policies_fired"].as_array().unwrap();
        assert!(fired.iter().any(|p| p == meta_str(e, "policy_id")));
        if fired.len() >= 2 {
            conflicts += 1;
        }
        if let Some(a) = e.metadata.get("attribution") {
            attributions.insert(a.as_str().unwrap().to_owned());
        }
        if input["user"] == "Is my contract auto-renewed?" {
            assert_eq!(
                ctx,
                &serde_json::json!({"contract_status": "active", "auto_renew": null})
            );
            assert!(meta_str(e, "output").starts_with("Yes, your contract is set to auto-renew"));
            auto_renew += 1;
        }
    }
    assert!(empty_context > 0 && conflicts > 0 && auto_renew > 0);
    let expected = [
        "MODEL_HALLUCINATION",
        "POLICY_CONFLICT",
        "CONTEXT_MISSING",
        "INFRA_TIMEOUT",
        "BUDGET_EXCEEDED",
        "USER_MISUSE",
    ];
    assert_eq!(
        attributions,
        expected.iter().map(|s| s.to_string()).collect()
    );
    let without = incidents()
        .iter()
        .filter(|e| !e.metadata.contains_key("attribution"))
        .count();
    assert!(without > 0);
}

#[test]
fn an_incident_shares_its_session_with_the_calls_that_caused_it() {
    let g = generated();
    let mut calls: HashMap<_, HashSet<_>> = HashMap::new();
    for e in g
        .events()
        .filter(|e| matches!(e.event_type, ApiCallReceived | LlmCallMade))
    {
        calls
            .entry((e.tenant_id, e.session_id))
            .or_default()
            .insert(e.event_type);
    }
    for e in incidents() {
        let kinds = calls
            .get(&(e.tenant_id, e.session_id))
            .expect("incident without calls");
        assert!(kinds.contains(&ApiCallReceived) && kinds.contains(&LlmCallMade));
    }
}

#[test]
fn views_replays_and_exports_refer_to_earlier_incidents_of_the_same_tenant() {
    let g = generated();
    let created: HashMap<_, _> = incidents()
        .iter()
        .map(|e| (e.entity_id, (e.tenant_id, e.timestamp)))
        .collect();
    for e in g.events().filter(|e| {
        matches!(
            e.event_type,
            IncidentViewed | ReplayExecuted | ExportGenerated
        )
    }) {
        assert_eq!(e.entity_type.as_deref(), Some("incident"));
        let (tenant, at) = created[&e.entity_id];
        assert!(tenant == e.tenant_id && at < e.timestamp);
        assert_eq!(meta_str(e, "source"), "customer");
        match e.event_type {
            IncidentViewed => assert!(e.metadata["time_on_page"].is_u64()),
            ReplayExecuted => {
                assert!(["EXACT", "SEMANTIC", "DIFFERENT"].contains(&meta_str(e, "match_level")));
                assert!(e.metadata["cost_delta"].is_f64());
            }
            _ => {
                assert!(["pdf", "json"].contains(&meta_str(e, "format")));
                assert!(e.metadata["include_flags"].is_array());
            }
        }
    }
}

#[test]
fn content_accuracy_v12_regresses_on_four_tenants() {
    let g = generated();
    let rollout = g.end() - Duration::hours(30);
    let (mut v11, mut v12) = (Vec::new(), Vec::new());
    let mut v12_tenants = HashSet::new();
    for e in incidents()
        .into_iter()
        .filter(|e| meta_str(e, "policy_id") == "CONTENT_ACCURACY")
    {
        match meta_str(e, "policy_version") {
            "v11" => v11.push(e.severity.unwrap()),
            "v12" => {
                assert!(e.timestamp >= rollout);
                v12.push(e.severity.unwrap());
                v12_tenants.insert(e.tenant_id);
            }
            other => panic!("CONTENT_ACCURACY {other}"),
        }
    }
    let names: HashSet<_> = g
        .world
        .tenants
        .iter()
        .filter(|t| v12_tenants.contains(&t.tenant_id))
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        HashSet::from(["acme-ai", "beta-corp", "gamma-inc", "delta-io"])
    );
    let (m11, m12) = (mean(&v11), mean(&v12));
    println!(
        "v11: {} incidents, mean {m11:.2}; v12: {} incidents, mean {m12:.2}",
        v11.len(),
        v12.len()
    );
    assert!((1.7..2.3).contains(&m11));
    assert!(v12.len() >= 30);
    assert!(m12 - m11 >= 1.0);
    // Before the rollout, the four tenants were on v11 like everyone else.
    let before = incidents()
        .into_iter()
        .filter(|e| v12_tenants.contains(&e.tenant_id) && e.timestamp < rollout)
        .filter(|e| meta_str(e, "policy_id") == "CONTENT_ACCURACY")
        .count();
    assert!(before > 10);
    for e in incidents() {
        match meta_str(e, "policy_id") {
            "SAFETY_BASIC" => assert_eq!(meta_str(e, "policy_version"), "v3"),
            "PII_FILTER" => assert_eq!(meta_str(e, "policy_version"), "v5"),
            _ => {}
        }
    }
}

#[test]
fn blocks_name_their_policy_and_reason() {
    let g = generated();
    let blocks: Vec<_> = g
        .events()
        .filter(|e| e.event_type == PolicyBlocked)
        .collect();
    assert!(!blocks.is_empty());
    assert!(blocks
        .iter()
        .all(|e| !meta_str(e, "policy_id").is_empty() && !meta_str(e, "reason").is_empty()));
}
