//! What the product sells access to: the models behind the proxy, with their prices and
//! speeds, and the API's endpoints.

pub(crate) struct Model {
    pub name: &'static str,
    /// Price per token in units of 1e-8 USD (so $0.15 per million is 15).
    pub price_in: i64,
    pub price_out: i64,
    pub first_token_ms: (i32, i32),
    pub ms_per_token: f64,
    /// Relative propensity to produce an incident.
    pub incident_factor: f64,
}

pub(crate) const MODELS: [Model; 4] = [
    Model {
        name: "gpt-4o-mini",
        price_in: 15,
        price_out: 60,
        first_token_ms: (250, 900),
        ms_per_token: 7.0,
        incident_factor: 1.3,
    },
    Model {
        name: "gpt-4o",
        price_in: 250,
        price_out: 1000,
        first_token_ms: (400, 1500),
        ms_per_token: 12.0,
        incident_factor: 0.6,
    },
    Model {
        name: "claude-3-haiku",
        price_in: 25,
        price_out: 125,
        first_token_ms: (200, 700),
        ms_per_token: 5.0,
        incident_factor: 0.9,
    },
    Model {
        name: "llama-3-70b",
        price_in: 59,
        price_out: 79,
        first_token_ms: (150, 600),
        ms_per_token: 4.0,
        incident_factor: 1.2,
    },
];

/// (path, method, goes to an LLM, weight)
pub(crate) const ENDPOINTS: [(&str, &str, bool, f64); 6] = [
    ("/v1/chat/completions", "POST", true, 0.72),
    ("/v1/completions", "POST", true, 0.08),
    ("/v1/guard/evaluate", "POST", false, 0.08),
    ("/v1/incidents", "GET", false, 0.05),
    ("/v1/models", "GET", false, 0.04),
    ("/v1/usage", "GET", false, 0.03),
];
