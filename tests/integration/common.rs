//! The real server, in-process on a real port, over a real PostgreSQL (each test gets its own
//! database from `#[sqlx::test]`), plus a TCP proxy in front of PostgreSQL that a test can cut
//! to take the database away and bring it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use leptos::config::get_configuration;
use ops_console::server::{config::Config, db, http};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

pub const INGEST_KEY: &str = "test-ingest-key";
pub const API_TOKEN: &str = "test-api-token";
pub const ADMIN_EMAIL: &str = "founder@ops.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub fn config() -> Config {
    Config {
        database_url: String::new(),
        ingest_keys: [INGEST_KEY.to_owned()].into(),
        api_tokens: [API_TOKEN.to_owned()].into(),
        admin: None,
        max_live_connections: 100,
        collect_every: None,
        redis_url: None,
        alert_every: None,
        llm: None,
        ..Config::default()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves the console on `pool`; `addr` `None` picks a free port.
    pub async fn start(pool: PgPool, addr: Option<SocketAddr>) -> TestServer {
        Self::start_with(pool, addr, config()).await
    }

    /// As `start`, with a configuration of the test's own.
    pub async fn start_with(pool: PgPool, addr: Option<SocketAddr>, config: Config) -> TestServer {
        let leptos = get_configuration(Some("Cargo.toml")).expect("leptos configuration");
        let app = http::router(pool, config, leptos.leptos_options);
        let listener = TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestServer {
            addr,
            base: format!("http://{addr}"),
            shutdown: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops accepting, finishes what is in flight, and returns when the port is free.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The operator every test signs in as.
pub async fn create_admin(pool: &PgPool) {
    ops_console::server::auth::upsert_operator(pool, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("create operator");
}

/// A client that keeps cookies and does not follow redirects, so tests see them. A request
/// that gets no answer fails the test after a minute, naming its address, instead of hanging it.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ANSWER_WITHIN)
        .build()
        .unwrap()
}

/// How long a test request waits for its answer.
pub const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// The real sign-in form post as the admin, asking to land on `/events`.
pub async fn post_login(server: &TestServer) -> reqwest::Response {
    browser()
        .post(server.url("/login"))
        .form(&[
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
            ("next", "/events"),
        ])
        .send()
        .await
        .unwrap()
}

/// Signs in through the real form post and returns the session cookie (`name=value`).
pub async fn sign_in(server: &TestServer) -> String {
    let response = post_login(server).await;
    assert_eq!(response.status(), 303, "sign-in should redirect");
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

/// GETs a read-API path with the test's API token.
pub async fn api_get(server: &TestServer, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url(path))
        .timeout(ANSWER_WITHIN)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
}

/// GETs a read-API path with the test's API token and returns its JSON body.
pub async fn api_json(server: &TestServer, path: &str) -> serde_json::Value {
    api_get(server, path).await.json().await.unwrap()
}

/// GETs a read-API path with the test's API token and returns only the status.
pub async fn api_status(server: &TestServer, path: &str) -> u16 {
    api_get(server, path).await.status().as_u16()
}

pub async fn count_events(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM ops_events")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A TCP proxy in front of PostgreSQL. `cut()` drops every connection and refuses new ones,
/// which is what the server sees when the database goes down; `stall()` leaves new connections
/// unanswered, as a database too loaded to take one would; `restore()` brings it back.
pub struct DbProxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    cut: Arc<Notify>,
    task: JoinHandle<()>,
}

impl DbProxy {
    pub async fn start(target: SocketAddr) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let task = {
            let (up, stalled, cut) = (up.clone(), stalled.clone(), cut.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    if stalled.load(Ordering::SeqCst) {
                        // Held open, never answered, until the proxy is restored.
                        let stalled = stalled.clone();
                        tokio::spawn(async move {
                            while stalled.load(Ordering::SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            drop(client);
                        });
                        continue;
                    }
                    let cut = cut.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut.notified() => {}
                        }
                    });
                }
            })
        };
        DbProxy {
            addr,
            up,
            stalled,
            cut,
            task,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// A pool that reaches the test's database through this proxy.
    pub fn pool(&self, direct: &PgPool) -> PgPool {
        let options: PgConnectOptions = (*direct.connect_options()).clone();
        db::pool_with(options.host("127.0.0.1").port(self.addr.port()))
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where the test database listens, for the proxy to forward to.
pub fn db_addr(pool: &PgPool) -> SocketAddr {
    let options = pool.connect_options();
    let host = options.get_host();
    let host = if host.starts_with('/') || host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", options.get_port())
        .parse()
        .expect("a TCP database address")
}

/// The `ops-console serve` process on `port`, reading the test's own database.
/// The URL of the test's own database (`DATABASE_URL` names the cluster's).
pub fn database_url(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{database}")
}

pub fn spawn_server(pool: &PgPool, port: u16) -> tokio::process::Child {
    spawn_server_with(pool, port, &[], std::process::Stdio::null())
}

/// Like [`spawn_server`], with more environment and the log (stderr) going to `log`.
pub fn spawn_server_with(
    pool: &PgPool,
    port: u16,
    env: &[(&str, &str)],
    log: std::process::Stdio,
) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ops-console"))
        .arg("serve")
        .env("DATABASE_URL", database_url(pool))
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("OPS_INGEST_KEYS", INGEST_KEY)
        .env("OPS_API_TOKENS", API_TOKEN)
        .env("OPS_COLLECT_INTERVAL_SECS", "0")
        .env("OPS_ALERT_INTERVAL_SECS", "0")
        .env("LEPTOS_OUTPUT_NAME", "ops-console")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts")
}

pub async fn wait_ready(base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

/// A free local port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub use ops_console::model::urlencode;

/// The path the server function `name` is registered at (its address carries a hash).
pub fn server_function(name: &str) -> String {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .find(|p| p.contains(name))
        .unwrap_or_else(|| panic!("no server function {name}"))
}
