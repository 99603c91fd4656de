//! Ingest keys, API tokens, passwords and session tokens never reach the log, even at debug
//! level: the real server process is driven through sign-in (right and wrong), ingestion, the
//! read API and a page, and its log is read.

use std::time::Duration;

use crate::common::*;
use sqlx::PgPool;

const KEY: &str = "ingest-key-7f3a9c1e55";
const TOKEN: &str = "api-token-b81d4e0c22";
const EMAIL: &str = "founder@logs.test";
const PASSWORD: &str = "password-c0ffee-4242";
const WRONG: &str = "wrong-password-deadbeef";

#[sqlx::test]
async fn secrets_never_reach_the_log(pool: PgPool) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = std::env::temp_dir().join(format!("ops-log-test-{port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = spawn_server_with(
        &pool,
        port,
        &[
            ("OPS_INGEST_KEYS", KEY),
            ("OPS_API_TOKENS", TOKEN),
            ("OPS_ADMIN_EMAIL", EMAIL),
            ("OPS_ADMIN_PASSWORD", PASSWORD),
            ("RUST_LOG", "debug"),
        ],
        log.into(),
    );
    wait_ready(&base).await;
    let client = browser();

    let wrong = client
        .post(format!("{base}/login"))
        .form(&[("email", EMAIL), ("password", WRONG)])
        .send()
        .await
        .unwrap();
    assert!(wrong.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=invalid"));
    let signed_in = client
        .post(format!("{base}/login"))
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session = cookie.split_once('=').unwrap().1.to_owned();
    assert!(session.len() >= 20);
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    let ingested = client
        .post(format!("{base}/api/v1/ops/events"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"tenant_id": uuid::Uuid::new_v4(), "event_type": "LOGIN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ingested.status(), 200);
    // A refused key and token are not logged either.
    for (path, secret) in [
        ("/api/v1/ops/events", "not-the-key-0451"),
        ("/api/v1/ops/pulse", "not-the-token-0452"),
    ] {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
    }
    let read = client
        .get(format!("{base}/api/v1/ops/pulse"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let out = client
        .post(format!("{base}/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_redirection());

    server.start_kill().unwrap();
    server.wait().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    std::fs::remove_file(&log_path).unwrap();
    assert!(
        text.contains("operator signed in") && text.contains("sign-in refused"),
        "the log was written at debug level:\n{}",
        &text[..text.len().min(2000)]
    );
    // The database's password, when its URL carries one (the test cluster's does).
    let database_url = std::env::var("DATABASE_URL").unwrap();
    let database_password = database_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .map(|(_, password)| password.to_owned())
        .filter(|p| !p.is_empty());
    for secret in [
        KEY,
        TOKEN,
        PASSWORD,
        WRONG,
        session.as_str(),
        "not-the-key-0451",
        "not-the-token-0452",
    ]
    .into_iter()
    .chain(database_password.as_deref())
    {
        assert!(!text.contains(secret), "the log holds a secret: {secret}");
    }
}
