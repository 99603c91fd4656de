//! The ingestion contract against the real server and a real PostgreSQL.

use crate::common::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

fn event(i: usize) -> Value {
    json!({
        "event_id": Uuid::new_v4(),
        "tenant_id": "6f1c1b9e-8d43-4c1a-9b7e-2f5d3c4b5a61",
        "event_type": "API_CALL_RECEIVED",
        "latency_ms": i % 500,
        "metadata": {"endpoint": "/v1/guard", "method": "POST", "status_code": 200}
    })
}

async fn post(
    server: &TestServer,
    body: Vec<u8>,
    content_type: &str,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(server.url("/api/v1/ops/events"))
        .header("content-type", content_type)
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn post_json(server: &TestServer, body: &Value) -> (u16, Value) {
    post(
        server,
        serde_json::to_vec(body).unwrap(),
        "application/json",
        Some(INGEST_KEY),
    )
    .await
}

#[sqlx::test]
async fn one_object_an_array_and_ndjson_are_stored(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let (status, body) = post_json(&server, &event(0)).await;
    assert_eq!(
        (status, body),
        (200, json!({"accepted": 1, "duplicates": 0}))
    );

    let (status, body) = post_json(&server, &json!([event(1), event(2), event(3)])).await;
    assert_eq!(
        (status, body),
        (200, json!({"accepted": 3, "duplicates": 0}))
    );

    let ndjson = [event(4), event(5)]
        .iter()
        .map(|e| e.to_string() + "\n")
        .collect::<String>();
    let (status, body) = post(
        &server,
        ndjson.into_bytes(),
        "application/x-ndjson",
        Some(INGEST_KEY),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"accepted": 2, "duplicates": 0}))
    );
    assert_eq!(count_events(&pool).await, 6);

    // Stored as sent: every column round-trips.
    let sent = json!({
        "event_id": "0d7c5f1e-1111-4a4a-8b8b-123456789abc",
        "timestamp": "2026-11-20T10:00:00.123456Z",
        "tenant_id": "6f1c1b9e-8d43-4c1a-9b7e-2f5d3c4b5a61",
        "user_id": "0d7c5f1e-2222-4a4a-8b8b-123456789abc",
        "session_id": "0d7c5f1e-3333-4a4a-8b8b-123456789abc",
        "event_type": "INCIDENT_CREATED",
        "entity_type": "incident",
        "entity_id": "0d7c5f1e-4444-4a4a-8b8b-123456789abc",
        "severity": 4,
        "latency_ms": 1200,
        "cost_usd": "0.002300",
        "metadata": {"model": "gpt-4o-mini", "policy_id": "CONTENT_ACCURACY", "policy_version": "v12"}
    });
    assert_eq!(post_json(&server, &sent).await.0, 200);
    let row: (String, i32, i32, rust_decimal::Decimal, Value, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "SELECT event_type, severity, latency_ms, cost_usd, metadata, timestamp FROM ops_events WHERE event_id = $1",
    )
    .bind(Uuid::parse_str("0d7c5f1e-1111-4a4a-8b8b-123456789abc").unwrap())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.0, "INCIDENT_CREATED");
    assert_eq!((row.1, row.2), (4, 1200));
    assert_eq!(row.3.to_string(), "0.002300");
    assert_eq!(row.4["policy_version"], "v12");
    assert_eq!(row.5.to_rfc3339(), "2026-11-20T10:00:00.123456+00:00");
    server.stop().await;
}

#[sqlx::test]
async fn a_resend_is_counted_as_duplicates_and_not_stored_twice(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let batch = json!([event(0), event(1), event(2)]);
    assert_eq!(
        post_json(&server, &batch).await.1,
        json!({"accepted": 3, "duplicates": 0})
    );
    assert_eq!(
        post_json(&server, &batch).await.1,
        json!({"accepted": 0, "duplicates": 3})
    );
    // A repeat inside one request is the sender's mistake: named, and nothing stored.
    let one = event(9);
    let (status, body) = post_json(&server, &json!([one, one, batch[0], event(10)])).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"],
        json!([{"index": 1, "field": "event_id", "message": "repeats the event_id of event 0 in this request"}])
    );
    assert_eq!(count_events(&pool).await, 3);
    // An event already stored, plus new ones.
    assert_eq!(
        post_json(&server, &json!([one, batch[0], event(10)]))
            .await
            .1,
        json!({"accepted": 2, "duplicates": 1})
    );
    assert_eq!(count_events(&pool).await, 5);
    server.stop().await;
}

#[sqlx::test]
async fn every_refusal_stores_nothing(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let good = serde_json::to_vec(&json!([event(0)])).unwrap();

    assert_eq!(
        post(&server, good.clone(), "application/json", None)
            .await
            .0,
        401
    );
    assert_eq!(
        post(&server, good.clone(), "application/json", Some("wrong"))
            .await
            .0,
        401
    );
    assert_eq!(
        post(&server, good.clone(), "text/plain", Some(INGEST_KEY))
            .await
            .0,
        415
    );

    let (status, body) = post(
        &server,
        b"{not json".to_vec(),
        "application/json",
        Some(INGEST_KEY),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));
    assert_eq!(
        post(
            &server,
            b"[]".to_vec(),
            "application/json",
            Some(INGEST_KEY)
        )
        .await
        .0,
        400
    );
    assert_eq!(
        post(
            &server,
            b"{}\nnope".to_vec(),
            "application/x-ndjson",
            Some(INGEST_KEY)
        )
        .await
        .0,
        400
    );

    // One bad event among good ones: nothing from the request is stored, and each bad event
    // is named by its index and field.
    let mut bad_type = event(1);
    bad_type["event_type"] = json!("NOT_A_TYPE");
    let mut bad_severity = event(3);
    bad_severity["severity"] = json!(9);
    let (status, body) = post_json(
        &server,
        &json!([event(0), bad_type, event(2), bad_severity]),
    )
    .await;
    assert_eq!(status, 422);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["index"].as_u64(), errors[0]["field"].as_str()),
        (Some(1), Some("event_type"))
    );
    assert_eq!(
        (errors[1]["index"].as_u64(), errors[1]["field"].as_str()),
        (Some(3), Some("severity"))
    );

    let too_many = json!((0..10_001).map(event).collect::<Vec<_>>());
    assert_eq!(post_json(&server, &too_many).await.0, 413);
    let huge = json!([{"tenant_id": Uuid::new_v4(), "event_type": "LOGIN", "metadata": {"pad": "x".repeat(11 << 20)}}]);
    assert_eq!(post_json(&server, &huge).await.0, 413);

    assert_eq!(count_events(&pool).await, 0);
    server.stop().await;
}

/// Bodies meant to hurt: each is refused with a 4xx that says why, and nothing is stored.
#[sqlx::test]
async fn hostile_bodies_are_refused_and_store_nothing(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let with = |field: &str, value: Value| {
        let mut e = event(0);
        e[field] = value;
        serde_json::to_vec(&json!([e])).unwrap()
    };
    let deep = format!(
        "[{{\"tenant_id\": \"{}\", \"event_type\": \"LOGIN\", \"metadata\": {}1{}}}]",
        Uuid::new_v4(),
        "{\"a\":".repeat(200),
        "}".repeat(200)
    );
    let mut invalid_utf8 = serde_json::to_vec(&json!([event(0)])).unwrap();
    let at = invalid_utf8.len() - 3;
    invalid_utf8.splice(at..at, [b'"', b'x', 0xff, 0xfe, b'"', b':', b'1', b',']);
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "nested 200 deep",
            deep.into_bytes(),
            "application/json",
            400,
            "JSON",
        ),
        (
            "invalid UTF-8 in JSON",
            invalid_utf8.clone(),
            "application/json",
            400,
            "JSON",
        ),
        (
            "invalid UTF-8 in NDJSON",
            invalid_utf8,
            "application/x-ndjson",
            400,
            "UTF-8",
        ),
        (
            "an empty array",
            b"[]".to_vec(),
            "application/json",
            400,
            "no events",
        ),
        ("an empty body", Vec::new(), "application/json", 400, ""),
        (
            "a bare number",
            b"42".to_vec(),
            "application/json",
            400,
            "event object",
        ),
        (
            "tenant_id a number",
            with("tenant_id", json!(7)),
            "application/json",
            422,
            "tenant_id",
        ),
        (
            "event_type an array",
            with("event_type", json!(["LOGIN"])),
            "application/json",
            422,
            "event_type",
        ),
        (
            "event_id not a UUID",
            with("event_id", json!("nope")),
            "application/json",
            422,
            "event_id",
        ),
        (
            "user_id an object",
            with("user_id", json!({})),
            "application/json",
            422,
            "user_id",
        ),
        (
            "session_id true",
            with("session_id", json!(true)),
            "application/json",
            422,
            "session_id",
        ),
        (
            "entity_id a number",
            with("entity_id", json!(1)),
            "application/json",
            422,
            "entity_id",
        ),
        (
            "entity_type a number",
            with("entity_type", json!(1)),
            "application/json",
            422,
            "entity_type",
        ),
        (
            "metadata an array",
            with("metadata", json!([1])),
            "application/json",
            422,
            "metadata",
        ),
        (
            "timestamp in 1970",
            with("timestamp", json!("1970-01-01T00:00:00Z")),
            "application/json",
            422,
            "timestamp",
        ),
        (
            "timestamp in 2100",
            with("timestamp", json!("2100-01-01T00:00:00Z")),
            "application/json",
            422,
            "timestamp",
        ),
        (
            "timestamp not a date",
            with("timestamp", json!("yesterday")),
            "application/json",
            422,
            "timestamp",
        ),
        (
            "severity 2^40",
            with("severity", json!(1u64 << 40)),
            "application/json",
            422,
            "severity",
        ),
        (
            "severity 0",
            with("severity", json!(0)),
            "application/json",
            422,
            "severity",
        ),
        (
            "latency -1",
            with("latency_ms", json!(-1)),
            "application/json",
            422,
            "latency_ms",
        ),
        (
            "latency 2^31",
            with("latency_ms", json!(1u64 << 31)),
            "application/json",
            422,
            "latency_ms",
        ),
        (
            "latency 1.5",
            with("latency_ms", json!(1.5)),
            "application/json",
            422,
            "latency_ms",
        ),
        (
            "cost 1e30",
            with("cost_usd", json!(1e30)),
            "application/json",
            422,
            "cost_usd",
        ),
        (
            "cost negative",
            with("cost_usd", json!(-0.01)),
            "application/json",
            422,
            "cost_usd",
        ),
        (
            "cost with 7 places",
            with("cost_usd", json!("0.0000001")),
            "application/json",
            422,
            "cost_usd",
        ),
        (
            "cost NaN text",
            with("cost_usd", json!("NaN")),
            "application/json",
            422,
            "cost_usd",
        ),
    ];
    for (what, body, content_type, status, says) in cases {
        let (got, answer) = post(&server, body, content_type, Some(INGEST_KEY)).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert!(answer.to_string().contains(says), "{what}: {answer}");
    }
    assert_eq!(count_events(&pool).await, 0);
    server.stop().await;
}

#[sqlx::test]
async fn a_ten_thousand_event_batch_is_accepted_whole(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let batch = json!((0..10_000).map(event).collect::<Vec<_>>());
    assert_eq!(
        post_json(&server, &batch).await,
        (200, json!({"accepted": 10_000, "duplicates": 0}))
    );
    assert_eq!(count_events(&pool).await, 10_000);
    server.stop().await;
}

#[sqlx::test]
async fn with_the_database_down_ingestion_answers_503_and_recovers(pool: PgPool) {
    let proxy = DbProxy::start(db_addr(&pool)).await;
    let server = TestServer::start(proxy.pool(&pool), None).await;
    assert_eq!(post_json(&server, &event(0)).await.0, 200);

    proxy.cut();
    let (status, body) = post_json(&server, &json!([event(1), event(2)])).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("unavailable"));
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    assert_eq!(count_events(&pool).await, 1, "nothing stored while down");

    proxy.restore();
    assert_eq!(
        post_json(&server, &json!([event(1), event(2)])).await.0,
        200
    );
    assert_eq!(
        reqwest::get(server.url("/readyz")).await.unwrap().status(),
        200
    );
    assert_eq!(count_events(&pool).await, 3);
    server.stop().await;
}

#[sqlx::test]
async fn the_read_api_pages_newest_first_and_names_bad_parameters(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let base = chrono::Utc::now() - chrono::Duration::hours(5);
    let events: Vec<Value> = (0..25)
        .map(|i| {
            let mut e = event(i);
            e["timestamp"] = json!((base + chrono::Duration::minutes(i as i64)).to_rfc3339());
            if i % 5 == 0 {
                e["event_type"] = json!("LOGIN");
                e["metadata"] = json!({"source": "guard"});
            }
            e
        })
        .collect();
    assert_eq!(post_json(&server, &json!(events)).await.0, 200);
    let client = reqwest::Client::new();
    let get = |query: String| {
        let client = client.clone();
        let url = server.url(&format!("/api/v1/ops/events{query}"));
        async move {
            let r = client.get(url).bearer_auth(API_TOKEN).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // Every event exactly once across pages, newest first.
    let mut seen = Vec::new();
    let mut query = "?limit=10".to_owned();
    loop {
        let (status, body) = get(query.clone()).await;
        assert_eq!(status, 200);
        for e in body["events"].as_array().unwrap() {
            seen.push(e["timestamp"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);

    let (_, body) = get("?event_type=LOGIN".into()).await;
    assert_eq!(body["events"].as_array().unwrap().len(), 5);
    let to = (base + chrono::Duration::minutes(9)).to_rfc3339();
    let (_, body) = get(format!("?to={}", urlencode(&to))).await;
    assert_eq!(body["events"].as_array().unwrap().len(), 10);

    for (query, name) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?tenant_id=x", "tenant_id"),
        ("?event_type=login", "event_type"),
        ("?from=yesterday", "from"),
        ("?cursor=abc", "cursor"),
        ("?tenant_id='%20OR%201=1--", "tenant_id"),
        ("?colour=red", "colour"),
    ] {
        let (status, body) = get(query.into()).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["error"].as_str().unwrap().contains(name),
            "{query}: {body}"
        );
    }
    let unauthenticated = reqwest::get(server.url("/api/v1/ops/events"))
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    server.stop().await;
}

#[sqlx::test]
async fn health_and_the_openapi_document(pool: PgPool) {
    let server = TestServer::start(pool, None).await;
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    assert_eq!(
        reqwest::get(server.url("/readyz")).await.unwrap().status(),
        200
    );
    let doc: Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/ops/events", "/healthz", "/readyz"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/ops/events"]["post"]["responses"]
        .get("422")
        .is_some());
    server.stop().await;
}
