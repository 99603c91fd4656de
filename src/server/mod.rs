//! Everything that touches the database, HTTP or the clock.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod collector;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod events_query;
pub mod http;
pub mod infra;
pub mod ingest;
pub mod live;
pub mod pulse;
pub mod session;
pub mod state;
