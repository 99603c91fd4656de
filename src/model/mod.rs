//! Types shared by the server and the browser: the event vocabulary and each page's query and
//! result types. Nothing here touches the database or the clock.

pub mod alerts;
pub mod auth;
pub mod chart;
pub mod customers;
pub mod events;
pub mod incidents;
pub mod infra;
pub mod pulse;
pub mod replay;
pub mod revenue;
pub mod stickiness;

pub use ops_events::{Event, EventType, PLATFORM_TENANT};

/// How a tenant is named on every page: its `tenant_name`, else the start of its id.
pub fn tenant_label(tenant_id: uuid::Uuid, name: Option<&str>) -> String {
    name.map(str::to_owned)
        .unwrap_or_else(|| format!("tenant {}", &tenant_id.to_string()[..8]))
}

/// Percent-encodes `text` for a query string: everything but the unreserved characters.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
