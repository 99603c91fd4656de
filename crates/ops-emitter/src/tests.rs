use super::*;
use crate::test_server::TestServer;
use ops_events::EventType;
use rust_decimal::Decimal;
use std::collections::HashSet;
use uuid::Uuid;

fn event() -> Event {
    Event::llm_call_made(
        Uuid::new_v4(),
        "gpt-4o-mini",
        120,
        40,
        Decimal::new(23, 4),
        850,
    )
}

fn fast_config(base_url: &str) -> EmitterConfig {
    let mut config = EmitterConfig::new(base_url, "test-ingest-key");
    config.flush_interval = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(40);
    config.request_timeout = Duration::from_secs(2);
    config
}

/// Nothing listens on the discard port of the loopback interface, so every send fails at once.
const CLOSED_PORT: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn a_full_queue_drops_and_counts_events() {
    let mut config = fast_config(CLOSED_PORT);
    config.queue_capacity = 3;
    let emitter = EventEmitter::start(config);
    let kept: Vec<bool> = (0..5).map(|_| emitter.emit(event())).collect();
    assert_eq!(kept, [true, true, true, false, false]);
    let stats = emitter.stats();
    assert_eq!((stats.queued, stats.dropped, stats.delivered), (3, 2, 0));

    // Retrying a batch keeps it counted against the capacity.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(emitter.stats().retries > 0);
    assert!(!emitter.emit(event()));
    assert_eq!(emitter.stats().dropped, 3);

    assert!(matches!(
        emitter.flush_timeout(Duration::from_millis(50)).await,
        Err(EmitError::Timeout)
    ));
    let other = emitter.clone();
    assert!(matches!(
        emitter.shutdown(Duration::from_millis(50)).await,
        Err(EmitError::Timeout)
    ));
    // The three events still held when it stopped are lost too.
    let stats = other.stats();
    assert_eq!((stats.queued, stats.dropped), (0, 6));
    assert!(!other.emit(event()));
    assert!(matches!(other.flush().await, Err(EmitError::Stopped)));
}

#[tokio::test]
async fn flushing_an_idle_emitter_returns_at_once() {
    let emitter = EventEmitter::start(fast_config(CLOSED_PORT));
    emitter
        .flush_timeout(Duration::from_millis(100))
        .await
        .unwrap();
    emitter.shutdown(Duration::from_millis(100)).await.unwrap();
}

#[tokio::test]
async fn events_arrive_in_batches_with_the_key_and_their_ids() {
    let server = TestServer::start(|_, body| TestServer::accept_all(body)).await;
    let mut config = fast_config(&server.base_url);
    config.batch_size = 4;
    config.flush_interval = Duration::from_secs(60);
    let emitter = EventEmitter::start(config);
    let events: Vec<Event> = (0..10).map(|_| event()).collect();
    for e in &events {
        assert!(emitter.emit(e.clone()));
    }
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();

    let requests = server.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.event_ids().len()).collect();
    assert_eq!(sizes, [4, 4, 2], "full batches, then the rest on flush");
    for request in &requests {
        assert_eq!(request.path, "/api/v1/ops/events");
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer test-ingest-key")
        );
        assert_eq!(
            request.body[0]["event_type"],
            EventType::LlmCallMade.as_str()
        );
    }
    let sent: Vec<String> = requests.iter().flat_map(|r| r.event_ids()).collect();
    let emitted: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(sent, emitted);

    let stats = emitter.stats();
    assert_eq!(
        stats,
        EmitterStats {
            delivered: 10,
            ..EmitterStats::default()
        }
    );
    emitter.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn a_partial_batch_goes_out_after_the_flush_interval() {
    let server = TestServer::start(|_, body| TestServer::accept_all(body)).await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    emitter.emit(event());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while emitter.stats().delivered == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_unavailable_console_gets_the_same_batch_again() {
    // 503 twice, then the console is back and had in fact stored one of the events.
    let server = TestServer::start(|i, body| match i {
        0 => (503, r#"{"error":"database unavailable"}"#.into()),
        1 => (500, String::new()),
        _ => {
            let n = body.as_array().unwrap().len();
            (200, format!(r#"{{"accepted":{},"duplicates":1}}"#, n - 1))
        }
    })
    .await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    for _ in 0..3 {
        emitter.emit(event());
    }
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].event_ids(), requests[1].event_ids());
    assert_eq!(requests[0].event_ids(), requests[2].event_ids());
    let stats = emitter.stats();
    assert_eq!(
        stats,
        EmitterStats {
            delivered: 3,
            duplicates: 1,
            retries: 2,
            ..EmitterStats::default()
        }
    );
}

#[tokio::test]
async fn a_refused_batch_is_counted_and_not_retried() {
    let server = TestServer::start(|_, _| (401, r#"{"error":"unknown ingest key"}"#.into())).await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    emitter.emit(event());
    emitter.emit(event());
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();
    let stats = emitter.stats();
    assert_eq!(
        stats,
        EmitterStats {
            rejected: 2,
            ..EmitterStats::default()
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn invalid_events_are_rejected_and_their_neighbours_sent_again() {
    let server = TestServer::start(|_, body| {
        let events = body.as_array().unwrap();
        let errors: Vec<String> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["severity"] == 9)
            .map(|(i, _)| format!(r#"{{"index":{i},"field":"severity","message":"must be 1-5"}}"#))
            .collect();
        if errors.is_empty() {
            TestServer::accept_all(body)
        } else {
            (422, format!(r#"{{"errors":[{}]}}"#, errors.join(",")))
        }
    })
    .await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    let bad = event().severity(9);
    let good: Vec<Event> = (0..3).map(|_| event()).collect();
    emitter.emit(good[0].clone());
    emitter.emit(bad.clone());
    emitter.emit(good[1].clone());
    emitter.emit(good[2].clone());
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();

    let stats = emitter.stats();
    assert_eq!(
        stats,
        EmitterStats {
            delivered: 3,
            rejected: 1,
            ..EmitterStats::default()
        }
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let resent: Vec<String> = requests[1].event_ids();
    let expected: Vec<String> = good.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(resent, expected);
}

#[tokio::test]
async fn a_batch_that_is_too_large_is_sent_in_halves() {
    let server = TestServer::start(|_, body| {
        if body.as_array().unwrap().len() > 2 {
            (413, r#"{"error":"too large"}"#.into())
        } else {
            TestServer::accept_all(body)
        }
    })
    .await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    let events: Vec<Event> = (0..5).map(|_| event()).collect();
    for e in &events {
        emitter.emit(e.clone());
    }
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        emitter.stats(),
        EmitterStats {
            delivered: 5,
            ..EmitterStats::default()
        }
    );

    let delivered: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.event_ids().len() <= 2)
        .flat_map(|r| r.event_ids())
        .collect();
    let expected: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(delivered, expected, "every event once, in order");
}

#[tokio::test]
async fn clones_share_one_queue() {
    let server = TestServer::start(|_, body| TestServer::accept_all(body)).await;
    let emitter = EventEmitter::start(fast_config(&server.base_url));
    let clones: Vec<EventEmitter> = (0..4).map(|_| emitter.clone()).collect();
    for clone in &clones {
        clone.emit(event());
    }
    emitter.flush_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(clones[0].stats().delivered, 4);
    let ids: HashSet<String> = server
        .requests()
        .iter()
        .flat_map(|r| r.event_ids())
        .collect();
    assert_eq!(ids.len(), 4);
    drop(clones);
    emitter.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn an_unusable_base_url_gives_an_emitter_that_drops() {
    let emitter = EventEmitter::start(fast_config("ftp://console"));
    assert!(!emitter.emit(event()));
    assert_eq!(emitter.stats().dropped, 1);
    emitter
        .flush_timeout(Duration::from_millis(100))
        .await
        .unwrap();
    emitter.shutdown(Duration::from_millis(100)).await.unwrap();
}
