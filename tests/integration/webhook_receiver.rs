//! A local webhook receiver: a real HTTP server on a free loopback port that records every
//! request and answers each path with the statuses a test scripts (200 once the script is
//! used up).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<(String, u16, Value)>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

async fn hook(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let status = shared
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front)
        .unwrap_or(200);
    shared.requests.lock().unwrap().push((path, status, body));
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start() -> Receiver {
        let shared = Shared::default();
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The next answers for `path`, in order.
    pub fn answer(&self, path: &str, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    /// Every request to `path` so far: the status it was answered with and its body.
    pub fn requests(&self, path: &str) -> Vec<(u16, Value)> {
        self.shared
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, s, b)| (*s, b.clone()))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
