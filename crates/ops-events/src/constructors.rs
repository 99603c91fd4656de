//! Typed constructors: one per event type, taking the key metadata that the analytics read
//! (the table in `CONTRACT.md`), so a service cannot forget a key the console depends on.

use crate::{Event, EventType, PLATFORM_TENANT};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use uuid::Uuid;

/// What a guard knows about a policy violation when it records an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentDetails {
    pub model: String,
    pub policy_id: String,
    pub policy_version: String,
    /// 1 (cosmetic) to 5 (critical).
    pub severity: i32,
    /// The end user's message.
    pub input_user: String,
    /// The retrieval context the model saw (`null` or `{}` when retrieval returned nothing).
    pub input_context: Value,
    pub output: String,
    /// Every policy that fired on the call, including `policy_id`.
    pub policies_fired: Vec<String>,
    /// One of the six attribution classes, when the guard already knows it.
    pub attribution: Option<String>,
}

impl Event {
    pub fn api_call_received(
        tenant_id: Uuid,
        endpoint: &str,
        method: &str,
        status_code: u16,
    ) -> Self {
        Event::new(EventType::ApiCallReceived, tenant_id)
            .meta("endpoint", endpoint)
            .meta("method", method)
            .meta("status_code", status_code)
    }

    /// An incident; its `entity_id` is the incident id that views, replays and exports refer to.
    pub fn incident_created(tenant_id: Uuid, incident_id: Uuid, details: IncidentDetails) -> Self {
        let mut event = Event::new(EventType::IncidentCreated, tenant_id)
            .entity("incident", incident_id)
            .severity(details.severity)
            .meta("model", details.model)
            .meta("policy_id", details.policy_id)
            .meta("policy_version", details.policy_version)
            .meta(
                "input",
                json!({ "user": details.input_user, "context": details.input_context }),
            )
            .meta("output", details.output)
            .meta("policies_fired", details.policies_fired);
        if let Some(attribution) = details.attribution {
            event = event.meta("attribution", attribution);
        }
        event
    }

    pub fn incident_viewed(tenant_id: Uuid, incident_id: Uuid, time_on_page_s: u32) -> Self {
        Event::new(EventType::IncidentViewed, tenant_id)
            .entity("incident", incident_id)
            .meta("time_on_page", time_on_page_s)
    }

    /// `source` is `customer` for a tenant's own replay and `operator` for one made in the console.
    pub fn replay_executed(
        tenant_id: Uuid,
        incident_id: Uuid,
        match_level: &str,
        cost_delta: f64,
        source: &str,
    ) -> Self {
        Event::new(EventType::ReplayExecuted, tenant_id)
            .entity("incident", incident_id)
            .meta("match_level", match_level)
            .meta("cost_delta", cost_delta)
            .meta("source", source)
    }

    pub fn export_generated(
        tenant_id: Uuid,
        incident_id: Uuid,
        format: &str,
        include_flags: &[&str],
        source: &str,
    ) -> Self {
        Event::new(EventType::ExportGenerated, tenant_id)
            .entity("incident", incident_id)
            .meta("format", format)
            .meta("include_flags", include_flags)
            .meta("source", source)
    }

    pub fn cert_verified(tenant_id: Uuid, source_ip: &str, referrer: &str) -> Self {
        Event::new(EventType::CertVerified, tenant_id)
            .meta("source_ip", source_ip)
            .meta("referrer", referrer)
    }

    pub fn policy_evaluated(
        tenant_id: Uuid,
        policy_id: &str,
        result: &str,
        latency_ms: i32,
    ) -> Self {
        Event::new(EventType::PolicyEvaluated, tenant_id)
            .latency_ms(latency_ms)
            .meta("policy_id", policy_id)
            .meta("result", result)
            .meta("latency_ms", latency_ms)
    }

    pub fn policy_blocked(tenant_id: Uuid, policy_id: &str, reason: &str) -> Self {
        Event::new(EventType::PolicyBlocked, tenant_id)
            .meta("policy_id", policy_id)
            .meta("reason", reason)
    }

    pub fn llm_call_made(
        tenant_id: Uuid,
        model: &str,
        tokens_in: u32,
        tokens_out: u32,
        cost_usd: Decimal,
        latency_ms: i32,
    ) -> Self {
        Event::new(EventType::LlmCallMade, tenant_id)
            .cost_usd(cost_usd)
            .latency_ms(latency_ms)
            .meta("model", model)
            .meta("tokens_in", tokens_in)
            .meta("tokens_out", tokens_out)
    }

    /// `error_type` is `timeout`, `5xx`, `rate_limit`, …
    pub fn llm_call_failed(
        tenant_id: Uuid,
        model: &str,
        error_type: &str,
        retry_count: u32,
    ) -> Self {
        Event::new(EventType::LlmCallFailed, tenant_id)
            .meta("model", model)
            .meta("error_type", error_type)
            .meta("retry_count", retry_count)
    }

    /// A sample of a platform resource (`redis`, `db_connections`, `llm_rate_limit`,
    /// `sse_connections`, …): it belongs to [`PLATFORM_TENANT`].
    pub fn infra_limit_hit(resource: &str, current: f64, limit: f64, unit: Option<&str>) -> Self {
        let event = Event::new(EventType::InfraLimitHit, PLATFORM_TENANT)
            .meta("resource", resource)
            .meta("current", current)
            .meta("limit", limit);
        match unit {
            Some(unit) => event.meta("unit", unit),
            None => event,
        }
    }

    pub fn subscription_started(
        tenant_id: Uuid,
        tenant_name: &str,
        plan: &str,
        source: &str,
        price_usd_month: Decimal,
    ) -> Self {
        Event::new(EventType::SubscriptionStarted, tenant_id)
            .meta("tenant_name", tenant_name)
            .meta("plan", plan)
            .meta("source", source)
            .meta(
                "price_usd_month",
                Value::String(price_usd_month.to_string()),
            )
    }

    pub fn subscription_cancelled(tenant_id: Uuid, reason: &str, tenure_days: u32) -> Self {
        Event::new(EventType::SubscriptionCancelled, tenant_id)
            .meta("reason", reason)
            .meta("tenure_days", tenure_days)
    }

    /// `scope` is `tenant` or `key`.
    pub fn freeze_activated(tenant_id: Uuid, scope: &str) -> Self {
        Event::new(EventType::FreezeActivated, tenant_id).meta("scope", scope)
    }

    /// `source` is `guard` for a customer's login and `operator` for this console's.
    pub fn login(tenant_id: Uuid, source: &str) -> Self {
        Event::new(EventType::Login, tenant_id).meta("source", source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_carry_the_metadata_the_analytics_read() {
        let tenant = Uuid::new_v4();
        let incident = Uuid::new_v4();
        let event = Event::incident_created(
            tenant,
            incident,
            IncidentDetails {
                model: "gpt-4o-mini".into(),
                policy_id: "CONTENT_ACCURACY".into(),
                policy_version: "v12".into(),
                severity: 4,
                input_user: "Is my contract auto-renewed?".into(),
                input_context: json!({"contract_status": "active", "auto_renew": null}),
                output: "Yes, your contract is set to auto-renew.".into(),
                policies_fired: vec!["CONTENT_ACCURACY".into()],
                attribution: None,
            },
        );
        assert_eq!(event.event_type, EventType::IncidentCreated);
        assert_eq!(event.entity_id, Some(incident));
        assert_eq!(event.severity, Some(4));
        for key in [
            "model",
            "policy_id",
            "policy_version",
            "input",
            "output",
            "policies_fired",
        ] {
            assert!(event.metadata.contains_key(key), "missing {key}");
        }
        assert!(!event.metadata.contains_key("attribution"));

        let infra = Event::infra_limit_hit("redis", 780.0, 1000.0, Some("MB"));
        assert_eq!(infra.tenant_id, PLATFORM_TENANT);
        assert_eq!(infra.metadata["unit"], "MB");
    }
}
