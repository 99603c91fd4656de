use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use super::config::Config;
use super::live::Live;

/// What every handler and server function shares: the pools, the configuration and Leptos's
/// own options. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Page analytics and everything else.
    pub pool: PgPool,
    /// Connections of their own for ingestion, so that it never waits behind page analytics
    /// when many pages are computed at once.
    pub intake: PgPool,
    /// Connections of their own for sign-in, sign-out, session checks and readiness, so that
    /// they never queue behind ingestion batches. (Alone this did not cure the session-check
    /// timeouts under load; bounding concurrent password checks did, see `auth::VERIFYING`.)
    pub auth: PgPool,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub live: Live,
    /// Wakes the alert delivery worker.
    pub alert_wake: super::alerts::Wake,
    /// Page computations in flight, shared by concurrent viewers.
    pub shared: super::shared::Shared,
    /// The models the Replay Lab can call.
    pub providers: Arc<super::replay::Providers>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
