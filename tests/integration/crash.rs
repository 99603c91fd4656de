//! `kill -9` of the real server process while events stream in at full speed: every event it
//! acknowledged is stored exactly once, and once it is back the emitter's retries deliver every
//! event it was given, each exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use ops_emitter::{EmitterConfig, EventEmitter};
use ops_events::Event;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn stored(pool: &PgPool, ids: &[Uuid]) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ops_events WHERE event_id = ANY($1)")
        .bind(ids)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_killed_server_loses_nothing_it_acknowledged(pool: PgPool) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = spawn_server(&pool, port);
    wait_ready(&base).await;

    // A client that remembers what was acknowledged: batches of 500, as fast as they are taken.
    let acked: Arc<Mutex<Vec<Uuid>>> = Default::default();
    let stop = Arc::new(AtomicBool::new(false));
    let poster = {
        let (acked, stop, base) = (acked.clone(), stop.clone(), base.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let tenant = Uuid::new_v4();
            let mut refused = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ids: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
                let batch: Vec<_> = ids
                    .iter()
                    .map(|id| json!({"event_id": id, "tenant_id": tenant, "event_type": "API_CALL_RECEIVED", "metadata": {"endpoint": "/v1/guard", "method": "POST", "status_code": 200}}))
                    .collect();
                let sent = client
                    .post(format!("{base}/api/v1/ops/events"))
                    .bearer_auth(INGEST_KEY)
                    .json(&batch)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().extend(ids),
                    _ => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            refused
        })
    };

    // The emitter, given events as fast as it takes them: the feeder holds back while the queue
    // is over half full, as a service watching `stats().queued` would, so any drop is the
    // emitter's own fault and not a queue a slow machine filled during the outage.
    const CAPACITY: u64 = 200_000;
    let mut config = EmitterConfig::new(&base, INGEST_KEY);
    config.queue_capacity = CAPACITY as usize;
    config.max_backoff = Duration::from_millis(300);
    let emitter = EventEmitter::start(config);
    let given: Arc<Mutex<Vec<Uuid>>> = Default::default();
    let feeder = {
        let (emitter, given, stop) = (emitter.clone(), given.clone(), stop.clone());
        let tenant = Uuid::new_v4();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if emitter.stats().queued > CAPACITY / 2 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                for _ in 0..200 {
                    let event = Event::api_call_received(tenant, "/v1/guard", "POST", 200);
                    let id = event.event_id;
                    if emitter.emit(event) {
                        given.lock().unwrap().push(id);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    // Kill it mid-stream, once a good amount has been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 20_000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_kill().expect("SIGKILL");
    server.wait().await.unwrap();
    let acked_at_kill: Vec<Uuid> = acked.lock().unwrap().clone();
    assert!(
        acked_at_kill.len() >= 20_000,
        "too little acknowledged before the kill"
    );
    assert_eq!(
        stored(&pool, &acked_at_kill).await,
        acked_at_kill.len() as i64,
        "every acknowledged event survives the kill"
    );

    // Down for a moment: the emitter keeps taking events and retrying.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut server = spawn_server(&pool, port);
    wait_ready(&base).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    feeder.await.unwrap();
    let refused = poster.await.unwrap();
    let stats = emitter.clone();
    emitter
        .shutdown(Duration::from_secs(120))
        .await
        .expect("the emitter delivers its backlog");
    assert!(refused > 0, "the client saw the server gone");
    assert!(
        stats.stats().retries > 0,
        "the emitter retried while the server was gone"
    );
    assert_eq!(stats.stats().dropped, 0);

    let acked: Vec<Uuid> = acked.lock().unwrap().clone();
    let given: Vec<Uuid> = given.lock().unwrap().clone();
    assert_eq!(given.iter().collect::<HashSet<_>>().len(), given.len());
    assert_eq!(stored(&pool, &acked).await, acked.len() as i64);
    assert_eq!(
        stored(&pool, &given).await,
        given.len() as i64,
        "every event the emitter was given arrived"
    );
    println!(
        "killed after {} acknowledged; {} acknowledged and {} given in all, {} refused batches, {} emitter retries",
        acked_at_kill.len(),
        acked.len(),
        given.len(),
        refused,
        stats.stats().retries
    );
    // Exactly once: the table holds nothing but these, one row each.
    assert_eq!(
        count_events(&pool).await,
        (acked.len() + given.len()) as i64
    );
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}
