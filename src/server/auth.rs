//! Who may see what: operators, their sessions, the read-API tokens, and the gate in front of
//! every route.

use std::net::{IpAddr, SocketAddr};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use chrono::{Duration, Utc};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::config::Config;
use super::error::ApiError;
use super::state::AppState;
use crate::model::auth::{safe_next, LoginProblem, Operator};
use crate::model::{Event, PLATFORM_TENANT};

pub const SESSION_COOKIE: &str = "ops_session";
const SESSION_LIFETIME: Duration = Duration::days(7);
/// Failed sign-ins counted for throttling.
const THROTTLE_WINDOW: Duration = Duration::minutes(15);
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// Server functions live under this prefix; see `app.rs`.
pub const RPC_PREFIX: &str = "/api/rpc/";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Password checks running at once. Each takes argon2's 19 MiB and a core for tens of
/// milliseconds: a hundred sign-ins at once made a hundred of them, which took 1.9 GB and left
/// the runtime's own threads no core, so session checks timed out meanwhile. Two at a time
/// (one per core of the smallest machine we run on) keeps both bounded; the rest wait their
/// turn without holding a connection.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates the operator, or sets a new password for an existing one.
pub async fn upsert_operator(
    pool: &PgPool,
    email: &str,
    password: &str,
) -> Result<Uuid, AuthError> {
    let email = email.trim().to_lowercase();
    let password = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))??;
    let id = sqlx::query_scalar(
        "INSERT INTO operators (email, password_hash) VALUES ($1, $2) \
         ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, updated_at = now() \
         RETURNING operator_id",
    )
    .bind(&email)
    .bind(hash)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

async fn create_session(pool: &PgPool, operator_id: Uuid) -> Result<String, sqlx::Error> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    sqlx::query("DELETE FROM operator_sessions WHERE expires_at < now()")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO operator_sessions (token_sha256, operator_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token_digest(&token))
    .bind(operator_id)
    .bind(Utc::now() + SESSION_LIFETIME)
    .execute(pool)
    .await?;
    Ok(token)
}

/// The operator a session token belongs to, if the session is live.
pub async fn session_operator(pool: &PgPool, token: &str) -> Result<Option<Operator>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT o.operator_id, o.email FROM operator_sessions s \
         JOIN operators o USING (operator_id) \
         WHERE s.token_sha256 = $1 AND s.expires_at > now()",
    )
    .bind(token_digest(token))
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Operator {
            operator_id: row.try_get("operator_id")?,
            email: row.try_get("email")?,
        })
    })
    .transpose()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Whether the request carries one of `accepted` as its bearer token.
pub fn bearer_matches(headers: &HeaderMap, accepted: &std::collections::HashSet<String>) -> bool {
    bearer(headers).is_some_and(|token| !token.is_empty() && accepted.contains(token))
}

/// Served over https (the public address is, or a proxy says so): the cookie is then `Secure`.
fn is_https(headers: &HeaderMap, config: &Config) -> bool {
    config.secure_cookies()
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("ops_session=; Path=/; Max-Age=0"))
}

fn is_public(method: &Method, path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/logout"
            | "/healthz"
            | "/readyz"
            | "/api/v1/openapi.json"
            | "/favicon.ico"
            | "/favicon.svg"
            | "/robots.txt"
    ) || (path == "/api/v1/ops/events" && method == Method::POST)
        || path.starts_with("/pkg/")
        || path.starts_with("/vendor/")
}

/// The gate in front of every route: pages redirect to the sign-in page, the API and server
/// functions answer 401. The read API also accepts an `OPS_API_TOKENS` bearer token.
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if is_public(request.method(), &path) && path != "/login" {
        return next.run(request).await;
    }
    let operator = match cookie_value(request.headers(), SESSION_COOKIE) {
        Some(token) => {
            super::db::patiently(&state.auth, super::db::PATIENCE, || {
                session_operator(&state.auth, &token)
            })
            .await
        }
        None => Ok(None),
    };
    let is_api = path.starts_with("/api/");
    match operator {
        Ok(Some(_)) if path == "/login" => Redirect::to("/").into_response(),
        Ok(Some(operator)) => {
            request.extensions_mut().insert(operator);
            next.run(request).await
        }
        Ok(None) if path == "/login" => next.run(request).await,
        Ok(None) if is_api => {
            let read_api = path.starts_with("/api/v1/") && !path.starts_with(RPC_PREFIX);
            if read_api && bearer_matches(request.headers(), &state.config.api_tokens) {
                next.run(request).await
            } else {
                ApiError::Unauthorized.into_response()
            }
        }
        Ok(None) => {
            let target = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "/".into());
            let query = serde_urlencoded_next(&target);
            Redirect::to(&format!("/login?{query}")).into_response()
        }
        Err(e) if is_api => ApiError::from(e).into_response(),
        Err(e) if path == "/login" => {
            tracing::warn!(error = %e, "session check failed; showing the sign-in page");
            next.run(request).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "session check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                axum::response::Html(
                    "<!DOCTYPE html><title>Ops Console — data unavailable</title>\
                     <h1>Data unavailable</h1><p>The console cannot reach its database right now. \
                     This page will work again as soon as the database is back; reload in a few seconds.</p>",
                ),
            )
                .into_response()
        }
    }
}

fn serde_urlencoded_next(target: &str) -> String {
    let mut encoded = String::from("next=");
    for byte in target.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Refuses state-changing requests from other sites: a browser always sends `Origin` on a
/// cross-site POST, and it must name this host.
pub async fn same_origin(request: Request, next: Next) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes_state {
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            if origin == "null" || origin_host != host {
                return (
                    StatusCode::FORBIDDEN,
                    axum::Json(serde_json::json!({"error": "cross-site request refused"})),
                )
                    .into_response();
            }
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// The address failed sign-ins count against: the TCP peer's, or, when the peer is a trusted
/// proxy, the last `X-Forwarded-For` address that is not itself a trusted proxy. A client's own
/// `X-Forwarded-For` is ignored unless it came through one.
fn client_addr(
    request_parts: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted: &std::collections::HashSet<IpAddr>,
) -> String {
    let Some(peer) = request_parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
    else {
        return "unknown".into();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
        .to_string()
}

/// Whether this account or address has failed too often lately.
async fn throttled(pool: &PgPool, email: &str, addr: &str) -> Result<bool, sqlx::Error> {
    let since = Utc::now() - THROTTLE_WINDOW;
    let (by_account, by_addr): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE email = $1), count(*) FILTER (WHERE client_addr = $2) \
         FROM login_failures WHERE failed_at > $3 AND (email = $1 OR client_addr = $2)",
    )
    .bind(email)
    .bind(addr)
    .bind(since)
    .fetch_one(pool)
    .await?;
    Ok(by_account >= MAX_FAILURES_PER_ACCOUNT || by_addr >= MAX_FAILURES_PER_ADDRESS)
}

/// `POST /login`: a plain form post, so signing in works before (and without) the WASM client.
pub async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let email = form.email.trim().to_lowercase();
    let addr = client_addr(&extensions, &headers, &state.config.trusted_proxies);
    let next = safe_next(form.next.as_deref());
    let back = |problem: LoginProblem| {
        let query = serde_urlencoded_next(&next);
        Redirect::to(&format!("/login?error={}&{query}", problem.code())).into_response()
    };
    match attempt_login(&state.auth, &email, &form.password, &addr).await {
        Ok(Ok(operator_id)) => match create_session(&state.auth, operator_id).await {
            Ok(token) => {
                tracing::info!(%operator_id, "operator signed in");
                let login = Event::login(PLATFORM_TENANT, "operator").user(operator_id);
                if let Err(e) = super::ingest::store(&state.auth, &[login]).await {
                    tracing::warn!(error = %e, "could not record the LOGIN event");
                }
                let secure = is_https(&headers, &state.config);
                let cookie = session_cookie(&token, SESSION_LIFETIME.num_seconds(), secure);
                ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not create a session");
                back(LoginProblem::Unavailable)
            }
        },
        Ok(Err(problem)) => {
            tracing::info!(addr, problem = problem.code(), "sign-in refused");
            back(problem)
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in failed");
            back(LoginProblem::Unavailable)
        }
    }
}

async fn attempt_login(
    pool: &PgPool,
    email: &str,
    password: &str,
    addr: &str,
) -> Result<Result<Uuid, LoginProblem>, AuthError> {
    if throttled(pool, email, addr).await? {
        return Ok(Err(LoginProblem::Throttled));
    }
    let row = sqlx::query("SELECT operator_id, password_hash FROM operators WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await?;
    let (operator_id, hash) = match row {
        Some(row) => (
            Some(row.try_get::<Uuid, _>("operator_id")?),
            row.try_get::<String, _>("password_hash")?,
        ),
        // Verify against a throwaway hash anyway, so an unknown email takes as long to refuse
        // as a wrong password.
        None => (None, dummy_hash()?),
    };
    let password = password.to_owned();
    let matches = {
        // Closed only if dropped, which a static never is.
        let _turn = VERIFYING
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?
    };
    match (operator_id, matches) {
        (Some(id), true) => {
            sqlx::query("DELETE FROM login_failures WHERE email = $1")
                .bind(email)
                .execute(pool)
                .await?;
            Ok(Ok(id))
        }
        _ => {
            sqlx::query("INSERT INTO login_failures (email, client_addr) VALUES ($1, $2)")
                .bind(email)
                .bind(addr)
                .execute(pool)
                .await?;
            Ok(Err(LoginProblem::WrongCredentials))
        }
    }
}

/// An argon2 hash of a random string nobody knows, made once per process.
fn dummy_hash() -> Result<String, AuthError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash.clone());
    }
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    let hash = hash_password(&base64::engine::general_purpose::STANDARD.encode(secret))?;
    Ok(DUMMY.get_or_init(|| hash).clone())
}

/// `POST /logout`: ends the session on the server, not only in the browser.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(e) = sqlx::query("DELETE FROM operator_sessions WHERE token_sha256 = $1")
            .bind(token_digest(&token))
            .execute(&state.auth)
            .await
        {
            tracing::warn!(error = %e, "could not delete the session");
        }
    }
    (
        [(
            header::SET_COOKIE,
            session_cookie("", 0, is_https(&headers, &state.config)),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", &dummy_hash().unwrap()));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ops_session=tok; b=2"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("tok")
        );
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site() {
        let cookie = session_cookie("t", 60, false);
        let text = cookie.to_str().unwrap();
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Lax") && !text.contains("Secure")
        );
        assert!(session_cookie("t", 60, true)
            .to_str()
            .unwrap()
            .contains("; Secure"));
    }
}
