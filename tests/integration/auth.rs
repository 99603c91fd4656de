//! Nobody gets in without a session or a token; sign-in, sign-out and throttling work through
//! the real form posts.

use crate::common::*;
use ops_console::app::TABS;
use sqlx::PgPool;

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[sqlx::test]
async fn every_page_redirects_to_sign_in_without_a_session(pool: PgPool) {
    let server = TestServer::start(pool, None).await;
    let client = browser();
    // Every route the app declares (parameters filled in), the tabs, and a page that is none.
    let id = uuid::Uuid::new_v4().to_string();
    let mut paths: Vec<String> = leptos_axum::generate_route_list(ops_console::app::App)
        .iter()
        .map(|route| {
            route
                .path()
                .split('/')
                .map(|part| {
                    if part.starts_with(':') || part.starts_with('{') {
                        id.clone()
                    } else {
                        part.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .filter(|path| path != "/login")
        .collect();
    assert!(paths.len() >= 10, "routes found: {paths:?}");
    paths.extend(TABS.iter().map(|t| t.path.to_owned()));
    paths.extend(["/events?event_type=LOGIN".into(), "/no-such-page".into()]);
    for path in &paths {
        let path = path.as_str();
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert!(
            location(&response).starts_with("/login?next="),
            "{path}: {}",
            location(&response)
        );
    }
    server.stop().await;
}

/// Every operation of the OpenAPI document answers 401 without a token (or a key, for
/// ingestion), and with a wrong one; only the health checks and the document itself are open.
#[sqlx::test]
async fn every_api_operation_refuses_without_a_token(pool: PgPool) {
    let server = TestServer::start(pool, None).await;
    let doc: serde_json::Value = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let open = matches!(path.as_str(), "/healthz" | "/readyz");
            for token in [None, Some("not-a-token")] {
                let mut request = browser().request(method.parse().unwrap(), server.url(&concrete));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                if open {
                    assert_ne!(status, 401, "{method} {path}");
                } else {
                    assert_eq!(status, 401, "{method} {path} with {token:?}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 26, "only {checked} operations checked");
    // Every path the API router declares is in the document, so none escapes the loop above.
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/server/api.rs")).unwrap();
    let routed: std::collections::BTreeSet<&str> = source
        .split(".route(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|path| *path != "/api/v1/openapi.json")
        .collect();
    let documented: std::collections::BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        routed, documented,
        "every routed path is documented, and so checked"
    );
    server.stop().await;
}

/// How many `#[server]` attributes the source under `dir` holds.
fn server_functions_in(dir: &std::path::Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            count += server_functions_in(&path);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            count += text
                .lines()
                .filter(|l| l.trim_start().starts_with("#[server"))
                .count();
        }
    }
    count
}

#[sqlx::test]
async fn every_server_function_refuses_without_a_session(pool: PgPool) {
    let server = TestServer::start(pool.clone(), None).await;
    let paths: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    // Every `#[server]` function in the source is registered, and so checked below.
    assert_eq!(
        paths.len(),
        server_functions_in(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))),
        "server functions registered: {paths:?}"
    );
    let client = browser();
    for path in &paths {
        assert!(path.starts_with("/api/rpc/"), "{path}");
        let response = client
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        // An API token is for the read API, not for the console's own functions.
        let response = client
            .post(server.url(path))
            .bearer_auth(API_TOKEN)
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with an API token");
    }
    // With a session, they answer.
    create_admin(&pool).await;
    let cookie = sign_in(&server).await;
    let operator = paths
        .iter()
        .find(|p| p.contains("current_operator"))
        .expect("current_operator");
    let response = client
        .post(server.url(operator))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains(ADMIN_EMAIL));
    server.stop().await;
}

#[sqlx::test]
async fn sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(pool: PgPool) {
    create_admin(&pool).await;
    let server = TestServer::start(pool.clone(), None).await;
    let client = browser();

    let response = post_login(&server).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/events");
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains("Secure"), "plain http on loopback");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    let page = client
        .get(server.url("/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Events"));
    let api = client
        .get(server.url("/api/v1/ops/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200, "a console session may read the API");
    // The sign-in was recorded as an operator LOGIN, which is not customer behaviour.
    let logins: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ops_events WHERE event_type = 'LOGIN' AND metadata->>'source' = 'operator'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(logins, 1);

    // Behind an https proxy the cookie is Secure.
    let https = client
        .post(server.url("/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(https
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("; Secure"));

    // A new session id at every sign-in, never one the browser brought (session fixation).
    let planted = client
        .post(server.url("/login"))
        .header("cookie", "ops_session=chosen-by-someone-else")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let fresh = planted.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = |c: &str| c.split(';').next().unwrap().to_owned();
    assert!(!fresh.contains("chosen-by-someone-else"), "{fresh}");
    assert_ne!(token(&fresh), cookie);
    assert_ne!(
        token(https.headers()["set-cookie"].to_str().unwrap()),
        token(&fresh)
    );

    let out = client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/login");
    // The old cookie is dead on the server, not only forgotten by the browser.
    let again = client
        .get(server.url("/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    server.stop().await;
}

#[sqlx::test]
async fn wrong_passwords_are_refused_and_then_throttled(pool: PgPool) {
    create_admin(&pool).await;
    let server = TestServer::start(pool.clone(), None).await;
    let client = browser();
    let attempt = |password: &'static str| {
        let client = client.clone();
        let url = server.url("/login");
        async move {
            let r = client
                .post(url)
                .form(&[("email", ADMIN_EMAIL), ("password", password)])
                .send()
                .await
                .unwrap();
            (location(&r), r.headers().get("set-cookie").is_some())
        }
    };
    for _ in 0..5 {
        let (to, cookie) = attempt("wrong password").await;
        assert!(to.starts_with("/login?error=invalid"), "{to}");
        assert!(!cookie);
    }
    // The sixth try is refused even with the right password.
    let (to, cookie) = attempt(ADMIN_PASSWORD).await;
    assert!(to.starts_with("/login?error=throttled"), "{to}");
    assert!(!cookie);

    // An unknown account is refused the same way as a wrong password.
    let r = client
        .post(server.url("/login"))
        .form(&[("email", "nobody@ops.test"), ("password", "whatever it is")])
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login?error=invalid"));
    server.stop().await;
}

#[sqlx::test]
async fn cross_site_posts_are_refused(pool: PgPool) {
    create_admin(&pool).await;
    let server = TestServer::start(pool, None).await;
    let response = browser()
        .post(server.url("/login"))
        .header("origin", "http://evil.example")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("set-cookie").is_none());
    let same = browser()
        .post(server.url("/login"))
        .header("origin", server.base.clone())
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 303);

    // Signed in, a forged request from another site reaches neither a server function, nor the
    // sign-out, nor a replay; from this site the same function answers.
    let cookie = sign_in(&server).await;
    let operator = server_function("current_operator");
    for origin in ["http://evil.example", "null"] {
        for path in [operator.as_str(), "/logout", "/api/v1/ops/replays"] {
            let forged = signed_in_post(&server, path, &cookie, origin).await;
            assert_eq!(forged, 403, "{path} from {origin}");
        }
    }
    let own = signed_in_post(&server, &operator, &cookie, &server.base).await;
    assert_eq!(own, 200);
    // The forged sign-out did not end the session.
    let page = browser()
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    server.stop().await;
}

/// An empty form post with the session `cookie`, as a page from `origin` would send it.
async fn signed_in_post(server: &TestServer, path: &str, cookie: &str, origin: &str) -> u16 {
    browser()
        .post(server.url(path))
        .header("cookie", cookie)
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[sqlx::test]
async fn responses_carry_security_headers(pool: PgPool) {
    create_admin(&pool).await;
    let server = TestServer::start(pool, None).await;
    let cookie = sign_in(&server).await;
    let page = browser()
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let checks = [
        reqwest::get(server.url("/healthz")).await.unwrap(),
        reqwest::get(server.url("/login")).await.unwrap(),
        reqwest::get(server.url("/api/v1/ops/pulse")).await.unwrap(),
        reqwest::get(server.url("/pkg/nothing-here.js"))
            .await
            .unwrap(),
        // A page's redirect to the sign-in, a refused server function, the live stream.
        browser()
            .get(server.url("/customers"))
            .send()
            .await
            .unwrap(),
        browser()
            .post(server.url(&server_function("current_operator")))
            .body("")
            .send()
            .await
            .unwrap(),
        browser()
            .get(server.url("/api/v1/ops/stream"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap(),
    ];
    assert_eq!(checks[4].status(), 303);
    assert_eq!(checks[5].status(), 401);
    assert_eq!(checks[6].status(), 200);
    for response in checks.iter().chain([&page]) {
        let h = response.headers();
        let at = response.url().path();
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{at}");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY", "{at}");
        assert_eq!(h.get("referrer-policy").unwrap(), "same-origin", "{at}");
        let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "'wasm-unsafe-eval'",
        ] {
            assert!(csp.contains(directive), "{at}: {csp}");
        }
        // Nothing from elsewhere: every source is this origin, a nonce, or one of the few
        // keywords each directive needs.
        for directive in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
            let mut words = directive.split_whitespace();
            let name = words.next().unwrap();
            for source in words {
                let allowed = match source {
                    "'self'" | "'none'" => true,
                    "'wasm-unsafe-eval'" => name == "script-src",
                    // Charts and the view set style attributes.
                    "'unsafe-inline'" => name == "style-src",
                    // Images inline in the page (data: URLs), nothing fetched.
                    "data:" => name == "img-src",
                    _ => name == "script-src" && source.starts_with("'nonce-"),
                };
                assert!(allowed, "{at}: {name} allows {source}: {csp}");
            }
        }
    }
    // The live stream never ends by itself: close it, or the server's graceful stop waits on it.
    drop(checks);
    // The page's inline scripts carry the nonce its policy names, and no script lacks it.
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page's policy has a nonce")
        .to_owned();
    assert!(nonce.len() >= 22, "128 bits of nonce: {nonce}");
    let html = page.text().await.unwrap();
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for script in scripts {
        let tag = &script[..script.find('>').unwrap()];
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")) || tag.contains(" src="),
            "a script without the nonce: <script{tag}>"
        );
    }
    // A new page, a new nonce.
    let again = browser()
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    server.stop().await;
}

#[sqlx::test]
async fn cookies_are_secure_when_the_public_url_is_https(pool: PgPool) {
    create_admin(&pool).await;
    let mut https = config();
    https.public_url = Some("https://ops.example.internal".into());
    let server = TestServer::start_with(pool, None, https).await;
    // Plain http to the server itself (TLS ends at the proxy), no X-Forwarded-Proto.
    let response = post_login(&server).await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    server.stop().await;
}

/// Failed sign-ins of `count` different accounts, each claiming `forwarded` as the client.
async fn fail_from(server: &TestServer, forwarded: &str, count: usize) {
    for _ in 0..count {
        browser()
            .post(server.url("/login"))
            .header("x-forwarded-for", forwarded)
            .form(&[
                ("email", format!("nobody-{}@ops.test", uuid::Uuid::new_v4())),
                ("password", "not the password".into()),
            ])
            .send()
            .await
            .unwrap();
    }
}

async fn failure_addresses(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT DISTINCT client_addr FROM login_failures ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn admin_sign_in_from(server: &TestServer, forwarded: &str) -> String {
    let r = browser()
        .post(server.url("/login"))
        .header("x-forwarded-for", forwarded)
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    location(&r)
}

#[sqlx::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies(pool: PgPool) {
    create_admin(&pool).await;
    // No proxy configured: the header is the client's own claim, and ignored. Changing it
    // does not escape the throttle on the real address.
    let server = TestServer::start(pool.clone(), None).await;
    for n in 0..20 {
        fail_from(&server, &format!("203.0.113.{n}"), 1).await;
    }
    assert_eq!(failure_addresses(&pool).await, ["127.0.0.1"]);
    let to = admin_sign_in_from(&server, "198.51.100.9").await;
    assert!(to.starts_with("/login?error=throttled"), "{to}");
    server.stop().await;
    sqlx::query("DELETE FROM login_failures")
        .execute(&pool)
        .await
        .unwrap();

    // Through a trusted proxy (this test's own address): the last untrusted address counts,
    // whatever the client put in front of it.
    let mut proxied = config();
    proxied.trusted_proxies = ["127.0.0.1".parse().unwrap()].into();
    let server = TestServer::start_with(pool.clone(), None, proxied).await;
    fail_from(&server, "10.9.9.9, 203.0.113.7", 20).await;
    assert_eq!(failure_addresses(&pool).await, ["203.0.113.7"]);
    let to = admin_sign_in_from(&server, "203.0.113.7, 127.0.0.1").await;
    assert!(to.starts_with("/login?error=throttled"), "{to}");
    let to = admin_sign_in_from(&server, "198.51.100.9").await;
    assert_eq!(to, "/", "another client is not throttled");
    server.stop().await;
}
