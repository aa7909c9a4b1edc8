//! Client addresses that cannot be forged: `X-Forwarded-For` and
//! `Forwarded` count only from a peer in `[auth] trusted_proxies`, and then
//! the rightmost address not in the list is the client. The tests connect
//! from 127.0.0.1, so a list with loopback makes the test client a proxy.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    forged_headers_from_an_untrusted_peer_are_ignored,
    a_trusted_peer_names_the_rightmost_untrusted_address,
    tls_is_believed_only_from_a_trusted_peer,
);

/// The forgeries a client can send on its own.
fn forged(request: RequestBuilder) -> RequestBuilder {
    request
        .header("x-forwarded-for", "6.6.6.6, 10.0.0.3")
        .header("forwarded", "for=7.7.7.7;proto=https")
        .header("x-forwarded-proto", "https")
}

/// The address recorded with a token's last use, after a request made by
/// `request` with it.
async fn last_used_ip(app: &TestApp, user: &TestUser, request: RequestBuilder) -> Value {
    let created = app.create_token(user, json!({ "name": "probe" })).await;
    let id = created["id"].as_str().unwrap();
    let secret = created["token"].as_str().unwrap();
    let (status, body) = send(request.bearer_auth(secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.flush_usage().await;
    let (_, token) = send(app.get(&format!("/api/v1/tokens/{id}"), &user.token)).await;
    token["last_used_ip"].clone()
}

/// The address of the one failed sign-in made by `request`.
async fn failed_sign_in_ip(app: &TestApp, request: RequestBuilder) -> Option<String> {
    let (status, _) = send(request.json(&json!({ "username": "nobody", "password": "x" }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = app.audit_events("session.sign_in_failed").await;
    assert_eq!(events.len(), 1);
    events[0].client_ip.clone()
}

async fn forged_headers_from_an_untrusted_peer_are_ignored(app: TestApp) {
    // No proxy trusted (the default), then proxies that are not the peer.
    let elsewhere = TestApp::with_config(
        app.backend,
        "[auth]\ntrusted_proxies = [\"10.0.0.0/8\", \"::2\"]",
    )
    .await
    .unwrap();
    for app in [&app, &elsewhere] {
        let alice = app.user("alice").await;
        let ip = last_used_ip(app, &alice, forged(app.request(Method::GET, "/api/v1/me"))).await;
        assert_eq!(ip, "127.0.0.1");
        let ip = failed_sign_in_ip(app, forged(app.request(Method::POST, "/api/v1/session"))).await;
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    }
}

async fn a_trusted_peer_names_the_rightmost_untrusted_address(app: TestApp) {
    let behind = TestApp::with_config(
        app.backend,
        "[auth]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]",
    )
    .await
    .unwrap();
    let alice = behind.user("alice").await;
    // The client wrote 6.6.6.6; its proxy appended what it saw, and a
    // second proxy (10.0.0.3) what it saw.
    let ip = last_used_ip(
        &behind,
        &alice,
        behind
            .request(Method::GET, "/api/v1/me")
            .header("x-forwarded-for", "6.6.6.6, 198.51.100.4, 10.0.0.3"),
    )
    .await;
    assert_eq!(ip, "198.51.100.4");

    // RFC 7239 wins over X-Forwarded-For; a quoted, bracketed IPv6 with a port.
    let ip = failed_sign_in_ip(
        &behind,
        behind
            .request(Method::POST, "/api/v1/session")
            .header("x-forwarded-for", "198.51.100.9")
            .header(
                "forwarded",
                "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.3",
            ),
    )
    .await;
    assert_eq!(ip.as_deref(), Some("2001:db8:cafe::17"));

    // A chain of trusted proxies only: the farthest of them.
    let ip = last_used_ip(
        &behind,
        &alice,
        behind
            .request(Method::GET, "/api/v1/me")
            .header("x-forwarded-for", "10.9.9.9, 10.0.0.3"),
    )
    .await;
    assert_eq!(ip, "10.9.9.9");
}

/// Whether a sign-in made by `request` set a `Secure` cookie.
async fn secure_cookie(user: &TestUser, request: RequestBuilder) -> bool {
    let response = request
        .json(&json!({ "username": user.username, "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.contains("Secure")
}

async fn tls_is_believed_only_from_a_trusted_peer(app: TestApp) {
    let alice = app.user("alice").await;
    assert!(!secure_cookie(&alice, forged(app.request(Method::POST, "/api/v1/session"))).await);

    let behind = TestApp::with_config(app.backend, "[auth]\ntrusted_proxies = [\"127.0.0.0/8\"]")
        .await
        .unwrap();
    let bob = behind.user("bob").await;
    let session = || behind.request(Method::POST, "/api/v1/session");
    assert!(secure_cookie(&bob, session().header("x-forwarded-proto", "https")).await);
    assert!(
        secure_cookie(
            &bob,
            session().header("forwarded", "for=198.51.100.4;proto=https")
        )
        .await
    );
    assert!(!secure_cookie(&bob, session().header("x-forwarded-proto", "http")).await);
    assert!(!secure_cookie(&bob, session()).await);
}
