//! The page analytics as the server functions and the read API ask for them: through
//! [`Shared`](super::shared::Shared), so that the viewers of one page at one moment share its
//! computation. `as_of = None` is now.

use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::db;
use super::incidents::{Change, ChangeError};
use super::state::AppState;
use crate::model::customers::Customers;
use crate::model::incidents::Patterns;
use crate::model::infra::Infra;
use crate::model::pulse::{Pulse, Thresholds};
use crate::model::revenue::Revenue;
use crate::model::stickiness::Funnel;

/// `compute` through [`Shared`](super::shared::Shared), and again while the database is merely
/// busy ([`db::patiently`]): viewers who joined wait for the one computing.
async fn run<T, F, Fut>(
    state: &AppState,
    page: &str,
    params: &str,
    as_of: Option<DateTime<Utc>>,
    compute: F,
) -> Result<T, sqlx::Error>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    state
        .shared
        .run(page, params, as_of, |t| {
            db::patiently(&state.pool, db::PATIENCE, move || compute(t))
        })
        .await
}

pub async fn pulse(
    state: &AppState,
    as_of: Option<DateTime<Utc>>,
    thresholds: &Thresholds,
) -> Result<Pulse, sqlx::Error> {
    let params = format!("{thresholds:?}");
    run(state, "pulse", &params, as_of, |t| {
        super::pulse::pulse(&state.pool, t, thresholds)
    })
    .await
}

pub async fn infra(state: &AppState, as_of: Option<DateTime<Utc>>) -> Result<Infra, sqlx::Error> {
    run(state, "infra", "", as_of, |t| {
        super::infra::infra(&state.pool, t)
    })
    .await
}

pub async fn customers(
    state: &AppState,
    as_of: Option<DateTime<Utc>>,
) -> Result<Customers, sqlx::Error> {
    run(state, "customers", "", as_of, |t| {
        super::customers::customers(&state.pool, t)
    })
    .await
}

pub async fn stickiness(
    state: &AppState,
    as_of: Option<DateTime<Utc>>,
    days: i32,
) -> Result<Funnel, sqlx::Error> {
    run(state, "stickiness", &days.to_string(), as_of, |t| {
        super::stickiness::stickiness(&state.pool, t, days)
    })
    .await
}

pub async fn revenue(
    state: &AppState,
    as_of: Option<DateTime<Utc>>,
    days: i32,
) -> Result<Revenue, sqlx::Error> {
    run(state, "revenue", &days.to_string(), as_of, |t| {
        super::revenue::revenue(&state.pool, t, days)
    })
    .await
}

pub async fn patterns(
    state: &AppState,
    as_of: Option<DateTime<Utc>>,
    hours: i32,
    tenant: Option<Uuid>,
) -> Result<Patterns, sqlx::Error> {
    let params = format!("{hours}|{tenant:?}");
    run(state, "patterns", &params, as_of, |t| {
        super::incidents::patterns(&state.pool, t, hours, tenant)
    })
    .await
}

/// Rollback and Promote. The incident pages read the active versions, so no page takes an
/// answer computed before the change.
pub async fn change_version(state: &AppState, change: Change<'_>) -> Result<i64, ChangeError> {
    let changed = super::incidents::change_version(&state.pool, change).await;
    state.shared.generation().bump();
    changed
}

/// Undo of a version change, as [`change_version`].
pub async fn undo(state: &AppState, actor: &str, id: i64) -> Result<i64, ChangeError> {
    let changed = super::incidents::undo(&state.pool, actor, id).await;
    state.shared.generation().bump();
    changed
}
