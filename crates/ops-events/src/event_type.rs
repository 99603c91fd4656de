use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The fifteen canonical event types of PIN-105; there are no others.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    ApiCallReceived,
    IncidentCreated,
    IncidentViewed,
    ReplayExecuted,
    ExportGenerated,
    CertVerified,
    PolicyEvaluated,
    PolicyBlocked,
    LlmCallMade,
    LlmCallFailed,
    InfraLimitHit,
    SubscriptionStarted,
    SubscriptionCancelled,
    FreezeActivated,
    Login,
}

impl EventType {
    pub const ALL: [EventType; 15] = [
        EventType::ApiCallReceived,
        EventType::IncidentCreated,
        EventType::IncidentViewed,
        EventType::ReplayExecuted,
        EventType::ExportGenerated,
        EventType::CertVerified,
        EventType::PolicyEvaluated,
        EventType::PolicyBlocked,
        EventType::LlmCallMade,
        EventType::LlmCallFailed,
        EventType::InfraLimitHit,
        EventType::SubscriptionStarted,
        EventType::SubscriptionCancelled,
        EventType::FreezeActivated,
        EventType::Login,
    ];

    /// The name stored in `ops_events.event_type` and used on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::ApiCallReceived => "API_CALL_RECEIVED",
            EventType::IncidentCreated => "INCIDENT_CREATED",
            EventType::IncidentViewed => "INCIDENT_VIEWED",
            EventType::ReplayExecuted => "REPLAY_EXECUTED",
            EventType::ExportGenerated => "EXPORT_GENERATED",
            EventType::CertVerified => "CERT_VERIFIED",
            EventType::PolicyEvaluated => "POLICY_EVALUATED",
            EventType::PolicyBlocked => "POLICY_BLOCKED",
            EventType::LlmCallMade => "LLM_CALL_MADE",
            EventType::LlmCallFailed => "LLM_CALL_FAILED",
            EventType::InfraLimitHit => "INFRA_LIMIT_HIT",
            EventType::SubscriptionStarted => "SUBSCRIPTION_STARTED",
            EventType::SubscriptionCancelled => "SUBSCRIPTION_CANCELLED",
            EventType::FreezeActivated => "FREEZE_ACTIVATED",
            EventType::Login => "LOGIN",
        }
    }

    /// What triggers the event, in the spec's words.
    pub const fn trigger(self) -> &'static str {
        match self {
            EventType::ApiCallReceived => "Any API request",
            EventType::IncidentCreated => "Policy violation detected",
            EventType::IncidentViewed => "User opens incident detail",
            EventType::ReplayExecuted => "Replay button clicked",
            EventType::ExportGenerated => "PDF/JSON export created",
            EventType::CertVerified => "Certificate verification hit",
            EventType::PolicyEvaluated => "Policy check completed",
            EventType::PolicyBlocked => "Policy blocked output",
            EventType::LlmCallMade => "Upstream LLM called",
            EventType::LlmCallFailed => "LLM call error",
            EventType::InfraLimitHit => "Resource threshold crossed",
            EventType::SubscriptionStarted => "New paying customer",
            EventType::SubscriptionCancelled => "Customer cancelled",
            EventType::FreezeActivated => "Kill switch triggered",
            EventType::Login => "User logged into console",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the fifteen canonical event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event type {:?}", self.0)
    }
}

impl std::error::Error for UnknownEventType {}

impl FromStr for EventType {
    type Err = UnknownEventType;

    /// Exact match only: `api_call_received` is not `API_CALL_RECEIVED`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| UnknownEventType(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_from_its_own_name_and_serde_agrees() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn names_are_matched_exactly() {
        assert!("api_call_received".parse::<EventType>().is_err());
        assert!("API_CALL_RECEIVED ".parse::<EventType>().is_err());
        assert!("UNKNOWN".parse::<EventType>().is_err());
    }
}
