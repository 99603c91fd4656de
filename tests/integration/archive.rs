//! Retention round trip: archive what is older than the cutoff into one file per day with a
//! checksum manifest, delete it, restore it, and every event is back exactly; a second restore
//! changes nothing, late events make a further part, and a damaged file restores nothing.

use chrono::{DateTime, Duration, DurationRound, SubsecRound, TimeDelta, Utc};
use ops_console::server::{archive, ingest};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// Every column, as a sorted list of rows: what "exactly back" is compared on.
async fn snapshot(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(e) FROM ops_events e ORDER BY event_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn ingest_all(pool: &PgPool, values: Vec<Value>) {
    let events = ingest::validate_all(values, Utc::now()).expect("valid fixture events");
    ingest::store(pool, &events).await.unwrap();
}

/// An event at `at` with every kind of field filled, some left empty.
fn event(at: DateTime<Utc>, i: usize) -> Value {
    let tenant = Uuid::from_u128(1 + (i % 3) as u128);
    match i % 3 {
        0 => {
            json!({"event_id": Uuid::new_v4(), "tenant_id": tenant, "timestamp": at, "event_type": "LLM_CALL_MADE",
                    "session_id": Uuid::new_v4(), "latency_ms": 1200 + i, "cost_usd": "0.012345",
                    "metadata": {"model": "gpt-4o", "tokens": {"input": 812, "output": 97}, "note": "ünïcødé ✓"}})
        }
        1 => {
            json!({"event_id": Uuid::new_v4(), "tenant_id": tenant, "timestamp": at, "event_type": "INCIDENT_CREATED",
                    "entity_type": "incident", "entity_id": Uuid::new_v4(), "severity": 4,
                    "metadata": {"policy_id": "CONTENT_ACCURACY", "policy_version": "v12", "list": [1, 2.5, null, true]}})
        }
        _ => {
            json!({"event_id": Uuid::new_v4(), "tenant_id": tenant, "timestamp": at, "event_type": "LOGIN",
                    "user_id": Uuid::new_v4(), "metadata": {}})
        }
    }
}

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ops-archive-test-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[sqlx::test]
async fn archive_delete_restore_brings_every_event_back_exactly(pool: PgPool) {
    // Microseconds, as PostgreSQL stores them.
    let now = Utc::now().trunc_subsecs(6);
    let cutoff = archive::cutoff(now, 90);
    assert_eq!(
        cutoff,
        (now - Duration::days(90))
            .duration_trunc(TimeDelta::days(1))
            .unwrap()
    );

    // Three old days (4, 3 and 2 events, the last exactly 1 µs before the cutoff), and events
    // on and after the cutoff that stay.
    let old_days = [
        cutoff - Duration::days(9),
        cutoff - Duration::days(5),
        cutoff - Duration::days(1),
    ];
    let mut fixture = Vec::new();
    for (d, day) in old_days.iter().enumerate() {
        for k in 0..(4 - d) {
            let at = if d == 2 && k == 1 {
                cutoff - TimeDelta::microseconds(1)
            } else {
                *day + Duration::minutes(37 * k as i64 + 5) + TimeDelta::microseconds(123_457)
            };
            fixture.push(event(at, fixture.len()));
        }
    }
    let kept = [
        cutoff,
        cutoff + TimeDelta::microseconds(1),
        now - Duration::days(3),
    ];
    for at in kept {
        fixture.push(event(at, fixture.len()));
    }
    ingest_all(&pool, fixture).await;
    let before = snapshot(&pool).await;
    assert_eq!(before.len(), 4 + 3 + 2 + 3);

    let dir = scratch_dir();
    let report = archive::archive(&pool, &dir, cutoff).await.unwrap();
    assert_eq!(report.deleted, 9);
    let counts: Vec<(String, u64)> = report
        .files
        .iter()
        .map(|f| (f.day.to_string(), f.events))
        .collect();
    assert_eq!(
        counts,
        old_days
            .iter()
            .zip([4, 3, 2])
            .map(|(d, n)| (d.date_naive().to_string(), n))
            .collect::<Vec<_>>()
    );
    // What stays is exactly what is on or after the cutoff.
    let left: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT timestamp FROM ops_events ORDER BY timestamp")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(left, kept.to_vec());
    // The manifest lists each file with the checksum of its bytes.
    let manifest = archive::Manifest::load(&dir).unwrap();
    assert_eq!(manifest.files, report.files);
    for f in &manifest.files {
        let bytes = std::fs::read(dir.join(&f.file)).unwrap();
        assert_eq!(f.sha256, format!("{:x}", Sha256::digest(&bytes)));
        assert_eq!(f.bytes, bytes.len() as u64);
        assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    }
    // Nothing left to archive: a second run does nothing.
    assert_eq!(
        archive::archive(&pool, &dir, cutoff).await.unwrap().deleted,
        0
    );

    let restored = archive::restore(&pool, &dir).await.unwrap();
    assert_eq!(
        (restored.files, restored.restored, restored.already_stored),
        (3, 9, 0)
    );
    assert_eq!(
        snapshot(&pool).await,
        before,
        "every event back, every column equal"
    );
    let rollups: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_rollup_check()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rollups, 0, "the rollups follow the archive and the restore");

    // Idempotent: restoring again stores nothing new.
    let again = archive::restore(&pool, &dir).await.unwrap();
    assert_eq!((again.restored, again.already_stored), (0, 9));
    assert_eq!(snapshot(&pool).await, before);

    // Archive again, then a late event for an archived day: a second part, listed too.
    archive::archive(&pool, &dir, cutoff).await.unwrap();
    ingest_all(&pool, vec![event(old_days[0] + Duration::hours(20), 99)]).await;
    let late = archive::archive(&pool, &dir, cutoff).await.unwrap();
    assert_eq!(late.deleted, 1);
    assert!(
        late.files[0].file.contains(".part"),
        "{}",
        late.files[0].file
    );
    let one = archive::restore(&pool, &dir.join(&late.files[0].file))
        .await
        .unwrap();
    assert_eq!((one.files, one.restored), (1, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[sqlx::test]
async fn a_damaged_archive_restores_nothing(pool: PgPool) {
    let cutoff = archive::cutoff(Utc::now(), 90);
    ingest_all(
        &pool,
        vec![
            event(cutoff - Duration::days(3), 0),
            event(cutoff - Duration::days(2), 1),
        ],
    )
    .await;
    let dir = scratch_dir();
    let report = archive::archive(&pool, &dir, cutoff).await.unwrap();
    assert_eq!(report.files.len(), 2);

    // One byte of the second file changed: the whole restore stops before storing anything.
    let damaged = dir.join(&report.files[1].file);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&damaged, bytes).unwrap();
    let error = archive::restore(&pool, &dir).await.unwrap_err().to_string();
    assert!(
        error.contains(&report.files[1].file) && error.contains("checksum"),
        "{error}"
    );
    assert!(snapshot(&pool).await.is_empty(), "nothing restored");

    // A file the manifest does not list is refused by name.
    let error = archive::restore(&pool, &dir.join("events-1999-01-01.ndjson.gz"))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("lists no such archive file"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Archiving deletes in batches of its own and takes no lock that ingestion waits for: while
/// days of old events are archived and deleted, new batches keep being acknowledged, and
/// afterwards the archive holds every old event, the table every new one, and the rollups are
/// exact.
#[sqlx::test]
async fn ingestion_goes_on_while_old_days_are_archived(pool: PgPool) {
    let now = Utc::now().trunc_subsecs(6);
    // Each day's events span 11.7 hours from a UTC midnight, so they make one file per day at
    // any time of day the test runs.
    let old = (now - Duration::days(120))
        .duration_trunc(TimeDelta::days(1))
        .unwrap();
    let mut fixture = Vec::new();
    for day in 0..4 {
        for i in 0..6_000 {
            fixture.push(event(
                old + Duration::days(day) + Duration::seconds(i * 7),
                i as usize,
            ));
        }
    }
    for chunk in fixture.chunks(2_000) {
        ingest_all(&pool, chunk.to_vec()).await;
    }
    let dir = scratch_dir();
    let cutoff = archive::cutoff(now, 90);

    let archiving = {
        let (pool, dir) = (pool.clone(), dir.clone());
        tokio::spawn(async move { archive::archive(&pool, &dir, cutoff).await })
    };
    // Batches acknowledged before the archive run ended.
    let mut during = 0;
    let mut sent = 0;
    while !archiving.is_finished() {
        let batch: Vec<Value> = (0..50).map(|i| event(Utc::now(), sent + i)).collect();
        sent += batch.len();
        ingest_all(&pool, batch).await;
        if !archiving.is_finished() {
            during += 1;
        }
    }
    let report = archiving.await.unwrap().unwrap();
    println!(
        "{during} batches of 50 acknowledged while {} old events were archived",
        report.deleted
    );
    assert_eq!(report.files.len(), 4);
    assert_eq!(report.deleted, fixture.len() as u64);
    assert!(
        during >= 3,
        "only {during} ingestion batches were acknowledged while the archive ran"
    );
    let (old_left, new_stored): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE timestamp < $1), count(*) FILTER (WHERE timestamp >= $1) \
         FROM ops_events",
    )
    .bind(cutoff)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((old_left, new_stored), (0, sent as i64));
    let problems = ops_console::server::rollup::check(&pool).await.unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs a subcommand of the real binary against the test database, as cron or an operator
/// would, and returns what it printed.
async fn run_command(pool: &PgPool, args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ops-console"))
        .args(args)
        .env("DATABASE_URL", crate::common::database_url(pool))
        .env("LEPTOS_OUTPUT_NAME", "ops-console")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ops-console {args:?} failed: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `ops-console archive` and `ops-console restore`, the commands themselves: the old days leave
/// the database for their files, the recent ones stay, and restoring twice brings back every
/// event exactly once.
#[sqlx::test]
async fn the_archive_and_restore_commands_round_trip(pool: PgPool) {
    let now = Utc::now().trunc_subsecs(6);
    let old_day = (now - Duration::days(120))
        .duration_trunc(TimeDelta::days(1))
        .unwrap();
    let old: Vec<Value> = (0..30)
        .map(|i| {
            event(
                old_day + Duration::days(i as i64 % 3) + Duration::minutes(i as i64),
                i,
            )
        })
        .collect();
    let recent: Vec<Value> = (30..40)
        .map(|i| event(now - Duration::hours(i as i64), i))
        .collect();
    ingest_all(&pool, old.into_iter().chain(recent).collect()).await;
    let before = snapshot(&pool).await;
    let dir = scratch_dir();
    let dir_arg = dir.to_str().unwrap();

    let said = run_command(
        &pool,
        &["archive", "--older-than-days", "90", "--dir", dir_arg],
    )
    .await;
    assert!(
        said.contains("archived and deleted 30 events") && said.contains("into 3 files"),
        "{said}"
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM ops_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 10, "only the recent events stay");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest.to_string().matches(".ndjson.gz").count(),
        3,
        "{manifest}"
    );

    let said = run_command(&pool, &["restore", dir_arg]).await;
    assert!(said.contains("restored 30 events from 3 files"), "{said}");
    let said = run_command(&pool, &["restore", dir_arg]).await;
    assert!(
        said.contains("restored 0 events") && said.contains("30 were already stored"),
        "{said}"
    );
    assert_eq!(
        snapshot(&pool).await,
        before,
        "every event back exactly, once"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
