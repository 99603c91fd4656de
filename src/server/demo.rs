//! Loading the demo world (`ops-demo`) through the ingestion path: every generated event is
//! validated exactly as an HTTP request's would be, then stored in batches, all in one
//! transaction so an interrupted load leaves nothing behind.

use chrono::{DateTime, SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use ops_demo::DemoWorld;
use sqlx::{PgPool, Row};

use super::ingest;

#[derive(Debug, PartialEq, Eq)]
pub enum DemoOutcome {
    /// A world with this seed is already loaded; nothing was changed.
    AlreadyLoaded { ends_at: DateTime<Utc>, events: i64 },
    Loaded {
        ends_at: DateTime<Utc>,
        events: i64,
        tenants: usize,
        replaced: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("a generated event failed validation: {0}")]
    Invalid(String),
}

/// Loads the world for `seed` ending at `now`, unless one is there already; with `replace`,
/// removes the one that is there first.
pub async fn load(
    pool: &PgPool,
    seed: u64,
    replace: bool,
    now: DateTime<Utc>,
    show_progress: bool,
) -> Result<DemoOutcome, DemoError> {
    // Whole seconds: PostgreSQL keeps microseconds, and the end stored in `demo_worlds` must
    // regenerate exactly the same event ids when the world is replaced.
    let now = now.trunc_subsecs(0);
    let seed_key = seed as i64;
    let mut tx = pool.begin().await?;
    // One loader at a time: a second one waits here and then sees the first one's row.
    sqlx::query("SELECT pg_advisory_xact_lock(105105)")
        .execute(&mut *tx)
        .await?;
    let existing = sqlx::query("SELECT ends_at, events FROM demo_worlds WHERE seed = $1")
        .bind(seed_key)
        .fetch_optional(&mut *tx)
        .await?;
    let mut replaced = false;
    if let Some(row) = existing {
        let ends_at: DateTime<Utc> = row.try_get("ends_at")?;
        let events: i64 = row.try_get("events")?;
        if !replace {
            return Ok(DemoOutcome::AlreadyLoaded { ends_at, events });
        }
        // The old world's event ids are a function of its seed and end, so they can be
        // regenerated and removed exactly, leaving every other event alone.
        let old = ops_demo::tenants(seed, ends_at);
        for day in old.events_by_day() {
            let ids: Vec<uuid::Uuid> = day.iter().map(|e| e.event_id).collect();
            sqlx::query("DELETE FROM ops_events WHERE event_id = ANY($1)")
                .bind(ids)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM demo_worlds WHERE seed = $1")
            .bind(seed_key)
            .execute(&mut *tx)
            .await?;
        replaced = true;
    }

    let world: DemoWorld = ops_demo::tenants(seed, now);
    let progress = if show_progress {
        let bar = ProgressBar::new(world.estimated_events());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("demo world");
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut stored = 0i64;
    for day in world.events_by_day() {
        for batch in day.chunks(ingest::MAX_EVENTS) {
            let values = batch
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| DemoError::Invalid(e.to_string()))?;
            let events = ingest::validate_all(values, now)
                .map_err(|errors| DemoError::Invalid(format!("{:?}", errors.first())))?;
            let outcome = ingest::store(&mut *tx, &events).await?;
            stored += outcome.accepted as i64;
            progress.inc(batch.len() as u64);
        }
    }
    progress.finish_and_clear();
    let tenant_ids = world.tenant_ids();
    sqlx::query(
        "INSERT INTO demo_worlds (seed, ends_at, tenant_ids, events) VALUES ($1, $2, $3, $4)",
    )
    .bind(seed_key)
    .bind(world.ends_at)
    .bind(&tenant_ids)
    .bind(stored)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(DemoOutcome::Loaded {
        ends_at: world.ends_at,
        events: stored,
        tenants: world.tenants.len(),
        replaced,
    })
}
