//! What a server function needs from the request it runs in.

use leptos::prelude::{use_context, ServerFnError};

use super::state::AppState;
use crate::model::auth::Operator;

/// The signed-in operator, put on the request by the gate. Every server function starts here,
/// so none can answer without a session even if the gate were bypassed.
pub async fn require_operator() -> Result<Operator, ServerFnError> {
    let axum::Extension(operator) = leptos_axum::extract::<axum::Extension<Operator>>()
        .await
        .map_err(|_| ServerFnError::new("sign in first"))?;
    Ok(operator)
}

/// The shared state, provided to every server function by the router.
pub fn state() -> Result<AppState, ServerFnError> {
    use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))
}

/// The moment a page asks about: the one in its address, never later than now; else now.
pub fn moment(as_of: Option<chrono::DateTime<chrono::Utc>>) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    as_of.map_or(now, |t| t.min(now))
}

/// A read for a page, repeated while the database is merely busy ([`db::patiently`]); its
/// error as the page may show it ([`db_error`]).
///
/// [`db::patiently`]: super::db::patiently
pub async fn read<T, F, Fut>(pool: &sqlx::PgPool, op: F) -> Result<T, ServerFnError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    super::db::patiently(pool, super::db::PATIENCE, op)
        .await
        .map_err(db_error)
}

/// A database error as the page may show it: "unavailable" when the database is down, a
/// generic failure otherwise (the detail goes to the log).
pub fn db_error(error: sqlx::Error) -> ServerFnError {
    if super::db::is_unavailable(&error) {
        tracing::warn!(error = %error, "database unavailable");
        ServerFnError::new("the database is unavailable")
    } else {
        tracing::error!(error = ?error, "query failed");
        ServerFnError::new("the query failed")
    }
}
