//! Retention (PIN-105: "90 days default, archive older"). Events older than the configured age
//! move to gzip-compressed NDJSON files, one per UTC day (a further part when late events for an
//! archived day turn up), each listed in `manifest.json` with its event count and SHA-256.
//!
//! Nothing acknowledged is lost on the way: a day's events are deleted only once their file is
//! written, synced and read back whole, and only the events in that file, by id, in batches of
//! their own transactions, so ingestion never waits for the archive. `restore` checks every file
//! against the manifest before storing anything, then re-ingests through the ingestion path's
//! validation and insert; events already stored are left alone, so a second restore changes
//! nothing.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::{events_query, ingest};

const MANIFEST: &str = "manifest.json";
/// Events deleted per statement once archived, and re-ingested per statement on restore.
const BATCH: usize = 5_000;
/// Only one archiver at a time, whichever server instance or command runs it.
const LOCK_KEY: i64 = 0x6f70_735f_6172_6368; // "ops_arch"

/// One archive file as the manifest lists it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ArchivedFile {
    pub file: String,
    /// The UTC day its events fall in.
    pub day: NaiveDate,
    pub events: u64,
    pub bytes: u64,
    pub sha256: String,
    pub first_event_at: DateTime<Utc>,
    pub last_event_at: DateTime<Utc>,
    pub archived_at: DateTime<Utc>,
}

/// `manifest.json`: every file of the archive directory, oldest day first.
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub struct Manifest {
    pub files: Vec<ArchivedFile>,
}

#[derive(Debug)]
pub enum ArchiveError {
    Io(String),
    Database(sqlx::Error),
    /// A file that does not match the manifest, or cannot be read back as events.
    Corrupt(String),
    /// Another archiver holds the lock.
    Busy,
}

impl std::fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveError::Io(e) => write!(f, "archive file error: {e}"),
            ArchiveError::Database(e) => write!(f, "database error: {e}"),
            ArchiveError::Corrupt(e) => write!(f, "{e}"),
            ArchiveError::Busy => write!(f, "another archive run is in progress"),
        }
    }
}

impl std::error::Error for ArchiveError {}

impl From<sqlx::Error> for ArchiveError {
    fn from(e: sqlx::Error) -> Self {
        ArchiveError::Database(e)
    }
}

fn io(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> ArchiveError {
    move |e| ArchiveError::Io(format!("{context}: {e}"))
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Manifest, ArchiveError> {
        let path = dir.join(MANIFEST);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ArchiveError::Corrupt(format!("{} is not a manifest: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(io(path.display())(e)),
        }
    }

    /// Replaces the manifest atomically: a reader sees the old one or the new one.
    fn store(&self, dir: &Path) -> Result<(), ArchiveError> {
        let bytes = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        write_durably(dir, MANIFEST, &bytes)
    }
}

/// Writes `name` in `dir` through a temporary file, synced, renamed, with the directory synced.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
    let partial = dir.join(format!("{name}.partial"));
    let mut file = File::create(&partial).map_err(io(partial.display()))?;
    file.write_all(bytes).map_err(io(partial.display()))?;
    file.sync_all().map_err(io(partial.display()))?;
    rename_durably(&partial, &dir.join(name))
}

fn rename_durably(from: &Path, to: &Path) -> Result<(), ArchiveError> {
    fs::rename(from, to).map_err(io(to.display()))?;
    if let Some(dir) = to.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir.display()))?;
    }
    Ok(())
}

/// What one archive run did.
#[derive(Debug, Default, PartialEq)]
pub struct ArchiveReport {
    pub files: Vec<ArchivedFile>,
    pub deleted: u64,
}

/// The cutoff for `retention_days`: the start of the UTC day that many days before `now`, so
/// that only whole days are archived.
pub fn cutoff(now: DateTime<Utc>, retention_days: u32) -> DateTime<Utc> {
    let back = now - Duration::days(i64::from(retention_days));
    back.duration_trunc(Duration::days(1)).unwrap_or(back)
}

/// Archives and then deletes every event before `cutoff` (rounded down to a UTC day), one day
/// at a time, oldest first.
pub async fn archive(
    pool: &PgPool,
    dir: &Path,
    cutoff: DateTime<Utc>,
) -> Result<ArchiveReport, ArchiveError> {
    let cutoff = cutoff.duration_trunc(Duration::days(1)).unwrap_or(cutoff);
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Err(ArchiveError::Busy);
    }
    let result = archive_days(pool, dir, cutoff).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *lock)
        .await?;
    result
}

async fn archive_days(
    pool: &PgPool,
    dir: &Path,
    cutoff: DateTime<Utc>,
) -> Result<ArchiveReport, ArchiveError> {
    let mut manifest = Manifest::load(dir)?;
    let mut report = ArchiveReport::default();
    loop {
        let oldest: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(timestamp) FROM ops_events WHERE timestamp < $1")
                .bind(cutoff)
                .fetch_one(pool)
                .await?;
        let Some(oldest) = oldest else {
            return Ok(report);
        };
        let day = oldest.duration_trunc(Duration::days(1)).unwrap_or(oldest);
        fs::create_dir_all(dir).map_err(io(dir.display()))?;
        let (entry, ids) = write_day(pool, dir, &manifest, day).await?;
        manifest.files.push(entry.clone());
        manifest.store(dir)?;
        let mut deleted = 0;
        for chunk in ids.chunks(BATCH) {
            deleted += sqlx::query("DELETE FROM ops_events WHERE event_id = ANY($1)")
                .bind(chunk)
                .execute(pool)
                .await?
                .rows_affected();
        }
        if deleted == 0 {
            return Err(ArchiveError::Corrupt(format!(
                "{} was written but none of its events could be deleted",
                entry.file
            )));
        }
        tracing::info!(file = %entry.file, events = entry.events, deleted, "archived a day of events");
        report.deleted += deleted;
        report.files.push(entry);
    }
}

/// Writes the events of the UTC `day` to a new file, reads it back, and returns its manifest
/// entry and the ids it holds.
async fn write_day(
    pool: &PgPool,
    dir: &Path,
    manifest: &Manifest,
    day: DateTime<Utc>,
) -> Result<(ArchivedFile, Vec<Uuid>), ArchiveError> {
    let date = day.date_naive();
    let parts = manifest.files.iter().filter(|f| f.day == date).count();
    let name = match parts {
        0 => format!("events-{date}.ndjson.gz"),
        n => format!("events-{date}.part{}.ndjson.gz", n + 1),
    };
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let file = File::create(&partial).map_err(io(partial.display()))?;
    let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut ids = Vec::new();
    let (mut first, mut last) = (None, None);
    let mut rows = sqlx::query(
        "SELECT * FROM ops_events WHERE timestamp >= $1 AND timestamp < $2 \
         ORDER BY timestamp, event_id",
    )
    .bind(day)
    .bind(day + Duration::days(1))
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        let event = events_query::event_from_row(&row)?;
        first.get_or_insert(event.timestamp);
        last = Some(event.timestamp);
        ids.push(event.event_id);
        serde_json::to_writer(&mut gz, &event).map_err(|e| ArchiveError::Io(e.to_string()))?;
        gz.write_all(b"\n").map_err(io(partial.display()))?;
    }
    let file = gz
        .finish()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(io(partial.display()))?;
    file.sync_all().map_err(io(partial.display()))?;
    drop(file);

    // Read back: the file must hold exactly the events streamed, nothing else.
    let bytes = fs::read(&partial).map_err(io(partial.display()))?;
    let read: Vec<Uuid> = read_events(&bytes, &name)?
        .iter()
        .map(|e| e.event_id)
        .collect();
    if read != ids {
        return Err(ArchiveError::Corrupt(format!(
            "{name} did not read back as written"
        )));
    }
    rename_durably(&partial, &path)?;
    let (Some(first_event_at), Some(last_event_at)) = (first, last) else {
        return Err(ArchiveError::Corrupt(format!(
            "{name}: the day had no events"
        )));
    };
    Ok((
        ArchivedFile {
            file: name,
            day: date,
            events: ids.len() as u64,
            bytes: bytes.len() as u64,
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            first_event_at,
            last_event_at,
            archived_at: Utc::now(),
        },
        ids,
    ))
}

/// The events of one archive file's bytes, each checked as ingestion checks a new one.
fn read_events(bytes: &[u8], name: &str) -> Result<Vec<ops_events::Event>, ArchiveError> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| ArchiveError::Corrupt(format!("{name} does not decompress: {e}")))?;
    let mut values = Vec::new();
    for (n, line) in BufReader::new(text.as_bytes()).lines().enumerate() {
        let line = line.map_err(io(name))?;
        let value = serde_json::from_str(&line).map_err(|e| {
            ArchiveError::Corrupt(format!("{name} line {}: not an event: {e}", n + 1))
        })?;
        values.push(value);
    }
    ingest::validate_all(values, Utc::now()).map_err(|errors| {
        ArchiveError::Corrupt(format!(
            "{name}: {} events fail validation, the first: {:?}",
            errors.len(),
            errors.first()
        ))
    })
}

/// The events of `f`, once its bytes match the manifest's checksum and count.
fn verified_events(dir: &Path, f: &ArchivedFile) -> Result<Vec<ops_events::Event>, ArchiveError> {
    let bytes = fs::read(dir.join(&f.file)).map_err(io(&f.file))?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    if sha256 != f.sha256 {
        return Err(ArchiveError::Corrupt(format!(
            "{}: checksum {sha256} does not match the manifest's {}; the restore stops before it",
            f.file, f.sha256
        )));
    }
    let events = read_events(&bytes, &f.file)?;
    let distinct: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    if events.len() as u64 != f.events || distinct.len() != events.len() {
        return Err(ArchiveError::Corrupt(format!(
            "{}: holds {} events ({} distinct), the manifest says {}; the restore stops before it",
            f.file,
            events.len(),
            distinct.len(),
            f.events
        )));
    }
    Ok(events)
}

/// What one restore did.
#[derive(Debug, Default, PartialEq)]
pub struct RestoreReport {
    pub files: usize,
    pub restored: u64,
    pub already_stored: u64,
}

/// Re-ingests an archive: `path` is its directory (every file of the manifest) or one of its
/// files. Every file is checked against the manifest before anything is stored.
pub async fn restore(pool: &PgPool, path: &Path) -> Result<RestoreReport, ArchiveError> {
    let (dir, only) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let dir = path.parent().map_or(PathBuf::from("."), Path::to_path_buf);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        (dir, name)
    };
    let manifest = Manifest::load(&dir)?;
    let files: Vec<&ArchivedFile> = manifest
        .files
        .iter()
        .filter(|f| only.as_ref().is_none_or(|name| &f.file == name))
        .collect();
    if files.is_empty() {
        return Err(ArchiveError::Corrupt(format!(
            "{} lists no such archive file",
            dir.join(MANIFEST).display()
        )));
    }
    // Every file first, so that a damaged one stops the restore before anything is stored;
    // then each again as it is stored (one file's events in memory at a time).
    for f in &files {
        verified_events(&dir, f)?;
    }
    let mut report = RestoreReport {
        files: files.len(),
        ..RestoreReport::default()
    };
    for f in &files {
        let events = verified_events(&dir, f)?;
        for chunk in events.chunks(BATCH) {
            let outcome = ingest::store(pool, chunk).await?;
            report.restored += outcome.accepted;
            report.already_stored += outcome.duplicates;
        }
    }
    Ok(report)
}

/// Archives what is older than the retention age every `retention.every`, the first time a
/// minute after start. Another instance archiving at the same moment is not an error.
pub fn start(pool: PgPool, retention: crate::server::config::Retention) {
    let Some(every) = retention.every else {
        return;
    };
    tokio::spawn(async move {
        let start = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(start, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let cutoff = cutoff(Utc::now(), retention.days);
            match archive(&pool, &retention.dir, cutoff).await {
                Ok(report) if report.deleted > 0 => tracing::info!(
                    files = report.files.len(),
                    events = report.deleted,
                    %cutoff,
                    "archived events past retention"
                ),
                Ok(_) | Err(ArchiveError::Busy) => {}
                Err(e) => tracing::warn!(error = %e, "archive run failed; the next run retries"),
            }
        }
    });
}
