//! Browser sign-in: the session cookie and its CSRF rule.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{code, send, TestApp};
use crate::on_both_stores;

on_both_stores!(
    signing_in_sets_an_http_only_cookie_and_returns_a_csrf_token,
    a_wrong_password_and_an_unknown_user_get_the_same_answer,
    cookie_changes_need_the_csrf_value_and_tokens_do_not,
    signing_out_ends_the_session,
    the_store_holds_neither_the_session_secret_nor_its_csrf_value,
);

/// Found by the canary campaign (tests/campaigns/canaries.py): the CSRF
/// value was stored as it was sent. Now the store holds digests only, and
/// the value is derived from the cookie again on each request.
async fn the_store_holds_neither_the_session_secret_nor_its_csrf_value(app: TestApp) {
    let alice = app.user("alice").await;
    let (cookie, csrf) = app.sign_in(&alice).await;
    let secret = cookie.trim_start_matches("tessera_session=");
    let stored = app
        .state
        .store
        .session(
            &tessera_core::hash::sha256_hex(secret),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap()
        .expect("the session is stored under the secret's hash");
    assert_ne!(stored.csrf_token, csrf);
    assert!(!stored.csrf_token.contains(&csrf[..8]));
    assert!(!stored.id_hash.contains(&secret[..8]));
    // The derived value still passes the CSRF check, on every request.
    let (status, _) = send(
        app.request(Method::POST, "/api/v1/tokens")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "after sign-in", "expires_in": "7d" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn signing_in_sets_an_http_only_cookie_and_returns_a_csrf_token(app: TestApp) {
    let alice = app.user("alice").await;
    let response = app
        .request(Method::POST, "/api/v1/session")
        .json(&json!({ "username": "alice", "password": alice.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("tessera_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["user"]["username"], "alice");
    assert!(body["csrf_token"].as_str().unwrap().len() >= 16);
    assert!(body["user"].get("password_hash").is_none());

    let (cookie, _) = app.sign_in(&alice).await;
    let (status, me) = send(
        app.request(Method::GET, "/api/v1/me")
            .header("cookie", cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["credential"]["kind"], "session");
}

async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(app: TestApp) {
    app.user("alice").await;
    let attempt = |username: &str, password: &str| {
        app.request(Method::POST, "/api/v1/session")
            .json(&json!({ "username": username, "password": password }))
    };
    let (status_a, wrong_password) = send(attempt("alice", "not her password")).await;
    let (status_b, unknown_user) = send(attempt("nobody", "whatever-password")).await;
    assert_eq!(status_a, StatusCode::UNAUTHORIZED);
    assert_eq!(status_b, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(code(&wrong_password), "invalid_credentials");
    let events = app
        .state
        .store
        .list_audit(
            &tessera_store::AuditFilter {
                action: Some("session.sign_in_failed".into()),
                ..Default::default()
            },
            &tessera_store::Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
}

async fn cookie_changes_need_the_csrf_value_and_tokens_do_not(app: TestApp) {
    let alice = app.user("alice").await;
    let (cookie, csrf) = app.sign_in(&alice).await;
    let create = || {
        app.request(Method::POST, "/api/v1/tokens")
            .header("cookie", cookie.clone())
            .json(&json!({ "name": "from the browser" }))
    };
    let (status, body) = send(create()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "csrf_failed");
    let (status, _) = send(create().header("x-csrf-token", "wrong")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(create().header("x-csrf-token", csrf)).await;
    assert_eq!(status, StatusCode::CREATED);
    // A token needs no CSRF value.
    let (status, _) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "scripted" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn signing_out_ends_the_session(app: TestApp) {
    let alice = app.user("alice").await;
    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, _) = send(
        app.request(Method::DELETE, "/api/v1/session")
            .header("cookie", cookie.clone())
            .header("x-csrf-token", csrf),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(
        app.request(Method::GET, "/api/v1/me")
            .header("cookie", cookie),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
