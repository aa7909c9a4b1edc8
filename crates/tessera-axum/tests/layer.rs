//! The layer against a real Tessera: what reaches the handler, what the
//! product answers instead, failing closed, and the cache.

mod support;

use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use serde_json::Value;
use tessera_axum::{TesseraConfig, TesseraLayer};

use support::{request, Product, Tessera};

fn layer(tessera: &Tessera) -> TesseraLayer {
    TesseraLayer::new(tessera.config())
}

fn uncached(tessera: &Tessera) -> TesseraLayer {
    TesseraLayer::new(tessera.config().cache_ttl(Duration::ZERO))
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error body: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_token_reaches_the_handler_with_the_identity() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &alice, "member").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let who = &body["verified_identity"];
    assert!(
        who["token_id"].as_str().unwrap().starts_with("tok_"),
        "{who}"
    );
    assert!(!who["kind"].as_str().unwrap().is_empty());
    assert_eq!(who["user_id"], alice.id.as_str());
    assert_eq!(who["workspace_id"], ws.as_str());
    let permissions: Vec<&str> = who["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(permissions.contains(&"api:read") && permissions.contains(&"api:write"));
    assert_eq!(who["expires_at"], Value::Null);
    assert_eq!(product.calls(), 1);

    let (status, _, _) = product
        .send(request("POST", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_without_required_permissions_needs_only_a_valid_token() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, body) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified_identity"]["user_id"], alice.id.as_str());
    assert_eq!(body["verified_identity"]["workspace_id"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_is_401_unauthenticated_without_asking_tessera() {
    let tessera = Tessera::start().await;
    let product = Product::new(&layer(&tessera));
    let before = tessera.verifications().await;

    let (status, response, body) = product.send(request("GET", "/tasks", None, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthenticated");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Bearer"));
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(product.calls(), 0);
    assert_eq!(tessera.verifications().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_token_is_401_token_invalid() {
    let tessera = Tessera::start().await;
    let product = Product::new(&layer(&tessera));

    for authorization in [
        "Bearer tsr_pat_not-a-real-token",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
    ] {
        let mut req = request("GET", "/me", None, None);
        req.headers_mut()
            .insert(header::AUTHORIZATION, authorization.parse().unwrap());
        let (status, response, body) = product.send(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{authorization}: {body}");
        assert_eq!(code(&body), "token_invalid", "{authorization}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
    }
    assert_eq!(product.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_is_401_token_invalid() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let product = Product::new(&layer(&tessera));
    tessera.revoke(&alice.token).await;

    let (status, response, body) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(product.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revealed_failure_reasons_are_mirrored() {
    let tessera = Tessera::with_config("[auth]\nreveal_failure_reasons = true").await;
    let alice = tessera.user("alice").await;
    let product = Product::new(&layer(&tessera));
    tessera.revoke(&alice.token).await;

    let (status, _, body) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permission_is_403_permission_denied() {
    let tessera = Tessera::start().await;
    let bob = tessera.user("bob").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &bob, "viewer").await;
    let product = Product::new(&layer(&tessera));

    let (status, response, body) = product
        .send(request("POST", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(product.calls(), 0);

    // The same token may read: the answer depends on the route's needs.
    let (status, _, _) = product
        .send(request("GET", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(product.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_header_is_forwarded() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    let other = tessera.workspace("globex").await;
    tessera.join(&ws, &alice, "member").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "workspace_required");

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&other)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "not_a_member");
    assert_eq!(product.calls(), 0);

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified_identity"]["workspace_id"], ws.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_workspace_header_and_token_cookie_are_read() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &alice, "member").await;
    let product = Product::new(&TesseraLayer::new(
        tessera
            .config()
            .workspace_header("X-Tenant")
            .token_cookie("session"),
    ));

    let mut req = request("GET", "/tasks", None, None);
    req.headers_mut().insert(
        header::COOKIE,
        format!("theme=dark; session={}", alice.token)
            .parse()
            .unwrap(),
    );
    req.headers_mut().insert("x-tenant", ws.parse().unwrap());
    let (status, _, body) = product.send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verified_identity"]["workspace_id"], ws.as_str());

    // The default header is not the configured one.
    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_api_key_needs_no_workspace_header() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &alice, "admin").await;
    let key = tessera.api_key(&ws, &alice, "viewer").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&key), None))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let who = &body["verified_identity"];
    assert_eq!(who["workspace_id"], ws.as_str());
    assert_eq!(who["user_id"], Value::Null);

    let (status, _, body) = product
        .send(request("POST", "/tasks", Some(&key), None))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_is_429_with_retry_after() {
    let tessera = Tessera::with_config("[limits.rate_limit]\nrequests = 2\nper = \"1m\"").await;
    let alice = tessera.user("alice").await;
    let product = Product::new(&uncached(&tessera));

    for _ in 0..2 {
        let (status, _, body) = product
            .send(request("GET", "/me", Some(&alice.token), None))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, response, body) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "rate_limited");
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(product.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_down_is_503_and_the_handler_is_not_called() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let product = Product::new(&TesseraLayer::new(TesseraConfig::new(format!(
        "http://{closed}"
    ))));

    let (status, response, body) = product
        .send(request("GET", "/me", Some("tsr_pat_whatever"), None))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "unavailable");
    assert!(response.headers().get(header::RETRY_AFTER).is_some());
    assert_eq!(product.calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_without_its_verifier_credential_lets_nothing_through() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    for config in [
        TesseraConfig::new(&tessera.url),
        TesseraConfig::new(&tessera.url).verifier("tsr_vfr_not_a_real_one"),
    ] {
        let product = Product::new(&TesseraLayer::new(config));
        let (status, _, body) = product
            .send(request("GET", "/me", Some(&alice.token), None))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(code(&body), "unavailable");
        assert_eq!(product.calls(), 0);
    }
    // With it, the same token goes through.
    let product = Product::new(&layer(&tessera));
    let (status, _, _) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tessera_not_answering_is_503_within_the_timeout() {
    // Accepts connections and holds them, never answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeout = Duration::from_millis(300);
    let product = Product::new(&TesseraLayer::new(
        TesseraConfig::new(format!("http://{address}")).timeout(timeout),
    ));

    let started = Instant::now();
    let (status, _, body) = product
        .send(request("GET", "/me", Some("tsr_pat_whatever"), None))
        .await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "unavailable");
    assert!(took >= timeout, "answered before the timeout: {took:?}");
    assert!(
        took < timeout * 4,
        "took {took:?} for a {timeout:?} timeout"
    );
    assert_eq!(product.calls(), 0);
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_or_an_unreadable_answer_from_tessera_is_503() {
    use axum::routing::post;
    // Stand-ins for a Tessera that answers 500, a URL that is not Tessera
    // (404), and a 200 that is not a verify answer.
    let stub = axum::Router::new()
        .route(
            "/500/api/v1/verify",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/garbage/api/v1/verify",
            post(|| async { axum::Json(serde_json::json!({"valid": true})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, stub).await });

    for prefix in ["500", "not-tessera", "garbage"] {
        let product = Product::new(&TesseraLayer::new(TesseraConfig::new(format!(
            "http://{address}/{prefix}"
        ))));
        let (status, _, body) = product
            .send(request("GET", "/me", Some("tsr_pat_whatever"), None))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{prefix}");
        assert_eq!(code(&body), "unavailable", "{prefix}");
        assert_eq!(product.calls(), 0, "{prefix}");
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extractor_without_the_layer_is_401_not_500() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let product = Product::new(&layer(&tessera));
    let before = tessera.verifications().await;

    let (status, _, body) = product
        .send(request("GET", "/unprotected", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthenticated");
    assert_eq!(product.calls(), 0);
    assert_eq!(tessera.verifications().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_answers_a_repeat_within_the_ttl_without_asking_tessera() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &alice, "member").await;
    let product = Product::new(&layer(&tessera));
    let before = tessera.verifications().await;

    for _ in 0..3 {
        let (status, _, _) = product
            .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(product.calls(), 3);
    assert_eq!(tessera.verifications().await, before + 1);

    // Without the cache, every request asks.
    let product = Product::new(&uncached(&tessera));
    for _ in 0..3 {
        product
            .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
            .await;
    }
    assert_eq!(tessera.verifications().await, before + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_the_product_once_the_cache_ttl_has_passed() {
    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ttl = Duration::from_millis(300);
    let product = Product::new(&TesseraLayer::new(tessera.config().cache_ttl(ttl)));

    let cached_at = Instant::now();
    let (status, _, _) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::OK);
    tessera.revoke(&alice.token).await;

    // Within the TTL the product still accepts the revoked token: the
    // documented trade-off.
    let (status, _, _) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert!(
        cached_at.elapsed() < ttl,
        "this machine is too slow for a {ttl:?} TTL test"
    );
    assert_eq!(status, StatusCode::OK);

    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let (status, _, body) = product
        .send(request("GET", "/me", Some(&alice.token), None))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "token_invalid");
    assert_eq!(product.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_not_cached() {
    let tessera = Tessera::start().await;
    let bob = tessera.user("bob").await;
    let ws = tessera.workspace("acme").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");

    // Made a member: the very next request passes, within the TTL.
    tessera.join(&ws, &bob, "viewer").await;
    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_serves_only_its_own_workspace_and_permissions() {
    let tessera = Tessera::start().await;
    let bob = tessera.user("bob").await;
    let ws = tessera.workspace("acme").await;
    let other = tessera.workspace("globex").await;
    tessera.join(&ws, &bob, "viewer").await;
    let product = Product::new(&layer(&tessera));

    let (status, _, _) = product
        .send(request("GET", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, body) = product
        .send(request("POST", "/tasks", Some(&bob.token), Some(&ws)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");

    let (status, _, body) = product
        .send(request("GET", "/tasks", Some(&bob.token), Some(&other)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
    assert_eq!(product.calls(), 1);
}
