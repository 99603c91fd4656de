//! The whole HTTP surface in one router: API, sign-in, pages, static files, with the gate,
//! security headers and compression in front.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use super::config::Config;
use super::state::AppState;
use super::{api, auth};
use crate::app::{shell, App};

pub fn router(pool: PgPool, config: Config, leptos_options: LeptosOptions) -> Router {
    router_with_state(pool, config, leptos_options).0
}

/// The router and the state behind it (the server's jobs need the state too).
pub fn router_with_state(
    pool: PgPool,
    config: Config,
    leptos_options: LeptosOptions,
) -> (Router, AppState) {
    let live = super::live::Live::start(pool.clone());
    let state = AppState {
        shared: super::shared::Shared::new(live.generation().clone()),
        live,
        alert_wake: Default::default(),
        providers: Arc::new(super::replay::Providers::new(config.llm.clone())),
        intake: super::db::side_pool(&pool, 6),
        auth: super::db::side_pool(&pool, 4),
        pool,
        config: Arc::new(config),
        leptos_options,
    };
    let routes = generate_route_list(App);
    let router = Router::new()
        .merge(api::routes())
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(page_policy))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::gate,
        ))
        .layer(axum::middleware::from_fn(auth::same_origin))
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Pages set their own, with the nonce of their inline scripts; everything else gets
        // the same policy without one.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp(None)).expect("a static policy"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone());
    (router, state)
}

/// The Content-Security-Policy: the app's own scripts, WASM, styles and connections, nothing from
/// elsewhere, no framing. Inline scripts run only with this response's `nonce`. Styles allow
/// inline attributes: the charts' tooltips are drawn with them.
pub fn csp(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(nonce) => format!("'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Gives a page the policy that names the nonce its inline scripts carry, read from the page's
/// `<head>` in the first chunk of its HTML (which holds the whole head, hydration scripts
/// included). The header is decided from what is actually sent: setting it from inside the
/// render (leptos's `ResponseOptions`) lost it on some server-rendered pages that a browser
/// opened right after another, whose scripts then never ran.
async fn page_policy(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures::StreamExt;
    let response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut stream = body.into_data_stream();
    let first = stream.next().await;
    if let Some(Ok(chunk)) = &first {
        if let Some(policy) =
            head_nonce(chunk).and_then(|n| HeaderValue::from_str(&csp(Some(n))).ok())
        {
            parts
                .headers
                .insert(header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    let body = axum::body::Body::from_stream(futures::stream::iter(first).chain(stream));
    Response::from_parts(parts, body)
}

/// The nonce of the first script in an HTML head, if the head is in `html`.
fn head_nonce(html: &[u8]) -> Option<&str> {
    let html = std::str::from_utf8(html).ok()?;
    let head = &html[..html.find("</head>")?];
    let rest = &head[head.find("<script")?..];
    let rest = &rest[..rest.find('>')?];
    let value = &rest[rest.find(" nonce=\"")? + 8..];
    let nonce = &value[..value.find('"')?];
    nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
        .then_some(nonce)
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
    super::live::begin_shutdown();
    // Gives load balancers a moment; in-flight requests are drained by axum itself.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[cfg(test)]
mod tests {
    use super::head_nonce;

    #[test]
    fn the_nonce_is_the_first_head_script_s() {
        let page = br#"<!DOCTYPE html><html><head><link rel="icon"/><script type="module" nonce="aB3-_x+/=">x</script><script nonce="other"></script></head><body>"#;
        assert_eq!(head_nonce(page), Some("aB3-_x+/="));
    }

    #[test]
    fn no_head_no_script_or_an_odd_nonce_gives_none() {
        // The head is not complete in this chunk.
        assert_eq!(head_nonce(br#"<html><head><script nonce="abc">"#), None);
        // A head without scripts; a nonce in the body does not count.
        assert_eq!(
            head_nonce(br#"<head><title>t</title></head><body><script nonce="abc">"#),
            None
        );
        // A first script without a nonce.
        assert_eq!(
            head_nonce(
                br#"<head><script src="/a.js"></script><script nonce="abc"></script></head>"#
            ),
            None
        );
        // Nothing that could break out of the policy's quotes.
        assert_eq!(
            head_nonce(br#"<head><script nonce="a' *;b"></script></head>"#),
            None
        );
    }
}
