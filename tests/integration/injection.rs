//! Every parameter of every read endpoint, as the OpenAPI document lists them, tried with
//! SQL-injection strings: a 400 (or 404 for a path), or an honest answer that shows nothing of
//! the one tenant stored; never a 500, and the data is untouched afterwards.

use crate::common::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

const ATTACKS: &[&str] = &[
    "' OR '1'='1",
    "1' OR 1=1 --",
    "'; DROP TABLE ops_events; --",
    "1; SELECT pg_sleep(5)",
    "\" OR \"\"=\"",
    "%' UNION SELECT tenant_id::text FROM ops_events --",
    "%",
    "_",
    "\\",
    "1)) OR ((1=1",
    "00000000-0000-0000-0000-000000000000' OR 'a'='a",
];

#[sqlx::test]
async fn every_read_parameter_refuses_injection(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let tenant = Uuid::new_v4();
    let secret_name = "zebracorp-private";
    let events = json!([
        {"tenant_id": tenant, "event_type": "SUBSCRIPTION_STARTED",
         "metadata": {"tenant_name": secret_name, "plan": "pro", "price_usd_month": 99}},
        {"tenant_id": tenant, "event_type": "API_CALL_RECEIVED",
         "metadata": {"endpoint": "/v1/guard", "method": "POST", "status_code": 200}},
    ]);
    let stored = reqwest::Client::new()
        .post(server.url("/api/v1/ops/events"))
        .bearer_auth(INGEST_KEY)
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let before = count_events(&pool).await;

    let doc = api_json(&server, "/api/v1/openapi.json").await;
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        if path.ends_with("/stream") || !path.starts_with("/api/") || path.ends_with("openapi.json")
        {
            continue;
        }
        let params: Vec<&Value> = get["parameters"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for param in &params {
            let name = param["name"].as_str().unwrap();
            let in_path = param["in"] == "path";
            assert!(
                !in_path || path.contains(&format!("{{{name}}}")),
                "{path}: {name} is documented as a path parameter"
            );
            for attack in ATTACKS {
                let url = if in_path {
                    path.replace(&format!("{{{name}}}"), &urlencode(attack))
                } else {
                    // Other path parameters get a real, unknown id.
                    let concrete = path.replace("{tenant_id}", &Uuid::new_v4().to_string());
                    format!("{concrete}?{name}={}", urlencode(attack))
                };
                let response = api_get(&server, &url).await;
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                tried += 1;
                assert!(matches!(status, 200 | 400 | 404), "{url}: {status} {body}");
                if status == 200 {
                    assert!(
                        !body.contains(&tenant.to_string()) && !body.contains(secret_name),
                        "{url} showed the stored tenant: {body}"
                    );
                } else if status == 400 {
                    assert!(body.contains("error"), "{url}: a 400 says why: {body}");
                }
            }
        }
    }
    assert!(
        tried > 100,
        "only {tried} requests: the OpenAPI document lists the parameters"
    );
    assert_eq!(count_events(&pool).await, before, "nothing changed");
    // The same strings in the events page's filters (a server-rendered page).
    create_admin(&pool).await;
    let cookie = sign_in(&server).await;
    for attack in ATTACKS {
        for name in ["tenant_id", "event_type", "cursor", "from", "to"] {
            let response = browser()
                .get(server.url(&format!("/events?{name}={}", urlencode(attack))))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(matches!(status, 200 | 400), "/events?{name}: {status}");
        }
    }
    // And in every other page's query parameters: typed ones are parsed (a bad value is
    // ignored, or the page says so), the customer search only ever matches names.
    let pages: &[(&str, &[&str])] = &[
        ("/", &["as_of"]),
        ("/customers", &["q", "intent", "risk", "sort", "dir"]),
        ("/incidents", &["as_of", "hours", "tenant_id"]),
        ("/stickiness", &["as_of", "days"]),
        ("/revenue", &["as_of", "days", "tenant_id"]),
        ("/infra", &["as_of"]),
        ("/replay", &["policy_version"]),
    ];
    for (page, names) in pages {
        for name in *names {
            for attack in ATTACKS {
                let url = format!("{page}?{name}={}", urlencode(attack));
                let response = browser()
                    .get(server.url(&url))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                assert!(matches!(status, 200 | 400), "{url}: {status}");
                assert!(
                    !body.contains("syntax error") && !body.contains("SQLSTATE"),
                    "{url} leaked a database error"
                );
                // The search filters names in memory (the list rides along in the page's data
                // for the browser to filter), so the text only has to match nothing shown.
                if *name == "q" {
                    assert!(
                        body.contains("No customer matches these filters."),
                        "{url}: the search matched a name without the text"
                    );
                }
            }
        }
    }
    let (events, name): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), max(metadata->>'tenant_name') FROM ops_events WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((events, name.as_deref()), (2, Some(secret_name)));
    server.stop().await;
}

/// The Replay Lab's two API calls, which act on one incident: every string of the replay
/// request's body and every export parameter, tried with the same strings against a real
/// incident. A 400 or 404 naming the problem; never a 500, and nothing recorded.
#[sqlx::test]
async fn replay_requests_refuse_injection(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let incident = Uuid::new_v4();
    let stored = reqwest::Client::new()
        .post(server.url("/api/v1/ops/events"))
        .bearer_auth(INGEST_KEY)
        .json(&json!([{
            "event_id": incident, "tenant_id": Uuid::new_v4(), "event_type": "INCIDENT_CREATED",
            "severity": 3,
            "metadata": {"model": "gpt-4o-mini", "policy_id": "pii", "policy_version": "v12",
                         "input": {"user": "hello", "context": ""}, "output": "hi",
                         "policies_fired": ["pii"]}
        }]))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);
    let before = count_events(&pool).await;
    let client = reqwest::Client::new();
    for attack in ATTACKS {
        let bodies = [
            json!({"incident_id": attack}),
            json!({"incident_id": incident, "model": attack}),
            json!({"incident_id": incident, "policy_version": attack}),
        ];
        for body in bodies {
            let response = client
                .post(server.url("/api/v1/ops/replays"))
                .bearer_auth(API_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(matches!(status, 400 | 404), "{body}: {status} {text}");
            assert!(text.contains("error"), "{body}: says why: {text}");
        }
        for name in ["model", "policy_version", "format"] {
            let url = format!(
                "/api/v1/ops/replays/export?incident_id={incident}&{name}={}",
                urlencode(attack)
            );
            let response = api_get(&server, &url).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(matches!(status, 400 | 404), "{url}: {status} {text}");
            assert!(text.contains("error"), "{url}: says why: {text}");
        }
    }
    assert_eq!(count_events(&pool).await, before, "nothing recorded");
    server.stop().await;
}
