//! Types shared by the server and the browser: the event vocabulary and each page's query and
//! result types. Nothing here touches the database or the clock.

pub mod alerts;
pub mod auth;
pub mod customers;
pub mod events;
pub mod infra;
pub mod pulse;
pub mod revenue;
pub mod stickiness;

pub use ops_events::{Event, EventType, PLATFORM_TENANT};
