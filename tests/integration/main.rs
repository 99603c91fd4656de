//! The integration tests, as one binary: each module starts the real server and talks to a real
//! PostgreSQL (`DATABASE_URL`; `#[sqlx::test]` makes a database per test). One binary links the
//! application once instead of once per file.

mod common;
mod redis_server;
mod webhook_receiver;

mod accuracy;
mod alerts;
mod archive;
mod auth;
mod crash;
mod customers;
mod demo;
mod emitter;
mod events;
mod incidents;
mod infra;
mod ingest;
mod injection;
mod live;
mod load;
mod logs;
mod outage;
mod patience;
mod pulse;
mod redis_collector;
mod replay;
mod revenue;
mod rollups;
mod stickiness;
