//! Password sign-in that cannot be guessed or flooded: failures back off
//! per account and per address (429 `rate_limited` with `Retry-After`,
//! before any hashing, the same whether the account exists), lock-outs are
//! audited once, and concurrent hashing is bounded (503 past a short wait).
//!
//! The tests trust the loopback peer as a proxy, so that `X-Forwarded-For`
//! gives each request the client address it needs.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{encode, TestApp, FORM};
use crate::on_both_stores;

on_both_stores!(
    a_locked_out_account_answers_alike_whether_or_not_it_exists,
    another_account_and_another_address_are_unaffected,
    a_success_after_the_wait_clears_the_account,
    the_login_page_shows_the_throttle,
    a_flood_past_the_hashing_bound_is_turned_away,
);

/// Three free failures per account, five per address, then 1 s doubling.
const THROTTLED: &str = r#"
[auth]
trusted_proxies = ["127.0.0.1"]
[sign_in]
free_failures = 3
free_failures_per_address = 5
backoff = "1s"
max_backoff = "1m"
"#;

async fn throttled(app: &TestApp) -> TestApp {
    TestApp::with_config(app.backend, THROTTLED).await.unwrap()
}

struct Answer {
    status: StatusCode,
    retry_after: Option<u64>,
    body: Value,
}

async fn sign_in(app: &TestApp, from: &str, username: &str, password: &str) -> Answer {
    let response = app
        .request(Method::POST, "/api/v1/session")
        .header("x-forwarded-for", from)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("whole seconds"));
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn fail(app: &TestApp, from: &str, username: &str, times: usize) {
    for _ in 0..times {
        let answer = sign_in(app, from, username, "wrong password").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    }
}

async fn a_locked_out_account_answers_alike_whether_or_not_it_exists(app: TestApp) {
    let app = throttled(&app).await;
    let alice = app.user("alice").await;
    fail(&app, "198.51.100.1", "alice", 3).await;
    fail(&app, "198.51.100.2", "ghost", 3).await;

    // Alice's right password is not even checked now.
    let known = sign_in(&app, "198.51.100.1", "alice", &alice.password).await;
    let unknown = sign_in(&app, "198.51.100.2", "ghost", "anything").await;
    for answer in [&known, &unknown] {
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.body["error"]["code"], "rate_limited");
        let seconds = answer.retry_after.expect("Retry-After");
        assert!((1..=2).contains(&seconds), "{seconds}");
    }
    assert_eq!(known.body, unknown.body);
    // From another address too: the account is what is locked.
    let elsewhere = sign_in(&app, "198.51.100.9", "alice", &alice.password).await;
    assert_eq!(elsewhere.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(elsewhere.body, known.body);

    // Refused before hashing: only the six real attempts failed.
    assert_eq!(app.audit_events("session.sign_in_failed").await.len(), 6);
    // One lock-out event per account, however often it was refused.
    sign_in(&app, "198.51.100.2", "ghost", "again").await;
    let events = app.audit_events("session.sign_in_throttled").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let of = |name: &str| {
        events
            .iter()
            .find(|e| e.details["username"] == name)
            .unwrap_or_else(|| panic!("no lock-out event for {name}"))
    };
    assert_eq!(of("alice").client_ip.as_deref(), Some("198.51.100.1"));
    assert_eq!(of("ghost").client_ip.as_deref(), Some("198.51.100.2"));
    assert_eq!(of("alice").details["account_locked"], true);
    assert_eq!(of("alice").details["via"], "api");
}

async fn another_account_and_another_address_are_unaffected(app: TestApp) {
    let app = throttled(&app).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let a = "203.0.113.5";
    fail(&app, a, "alice", 3).await;
    assert_eq!(
        sign_in(&app, a, "alice", &alice.password).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Bob, from the same address: his account is not alice's.
    assert_eq!(
        sign_in(&app, a, "bob", &bob.password).await.status,
        StatusCode::OK
    );

    // Guessing at many accounts locks the address (five failures), for
    // every account, bob's right password included...
    fail(&app, a, "ghost-1", 1).await;
    fail(&app, a, "ghost-2", 1).await;
    let from_a = sign_in(&app, a, "bob", &bob.password).await;
    assert_eq!(from_a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(from_a.retry_after.is_some());
    // ...and for no other address.
    assert_eq!(
        sign_in(&app, "203.0.113.6", "bob", &bob.password)
            .await
            .status,
        StatusCode::OK
    );
    let events = app.audit_events("session.sign_in_throttled").await;
    assert_eq!(
        events.len(),
        2,
        "alice's account, then the address: {events:?}"
    );
    assert!(events
        .iter()
        .any(|e| e.details["address_locked"] == true && e.client_ip.as_deref() == Some(a)));
}

async fn a_success_after_the_wait_clears_the_account(app: TestApp) {
    let app = throttled(&app).await;
    let alice = app.user("alice").await;
    fail(&app, "198.51.100.1", "alice", 3).await;
    let refused = sign_in(&app, "198.51.100.1", "alice", &alice.password).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    tokio::time::sleep(Duration::from_secs(refused.retry_after.unwrap())).await;

    let answer = sign_in(&app, "198.51.100.2", "alice", &alice.password).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Cleared: the free failures are free again, then the wait starts over.
    fail(&app, "198.51.100.2", "alice", 3).await;
    let again = sign_in(&app, "198.51.100.2", "alice", &alice.password).await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(again.retry_after, Some(1));
    // A new lock-out, audited again.
    assert_eq!(app.audit_events("session.sign_in_throttled").await.len(), 2);
}

async fn the_login_page_shows_the_throttle(app: TestApp) {
    let app = throttled(&app).await;
    let alice = app.user("alice").await;
    let post = |password: &str| {
        app.request(Method::POST, "/login")
            .header("content-type", FORM)
            .header("x-forwarded-for", "198.51.100.1")
            .body(encode(&[("username", "alice"), ("password", password)]))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            post("wrong").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = post(&alice.password).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let html = response.text().await.unwrap();
    assert!(html.contains("Too many failed sign-in attempts"), "{html}");
    assert!(html.contains("Wait a second"), "{html}");
    assert!(
        html.contains("name=\"password\""),
        "the form is still there"
    );
}

async fn a_flood_past_the_hashing_bound_is_turned_away(app: TestApp) {
    let app = TestApp::with_config(
        app.backend,
        "[auth]\ntrusted_proxies = [\"127.0.0.1\"]\n[sign_in]\nconcurrent_hashes = 1\nqueue_wait = \"5ms\"\nfree_failures = 1000\nfree_failures_per_address = 1000",
    )
    .await
    .unwrap();
    // 24 guesses at once, each from its own address, on their own tasks.
    let app = std::sync::Arc::new(app);
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..24 {
        let app = app.clone();
        attempts.spawn(async move {
            let from = format!("192.0.2.{}", i + 1);
            sign_in(&app, &from, &format!("user-{i}"), "guess").await
        });
    }
    let answers = attempts.join_all().await;
    let busy: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "24 at once past one hashing turn");
    for answer in &busy {
        assert_eq!(answer.body["error"]["code"], "unavailable");
        assert_eq!(answer.retry_after, Some(1));
    }
    assert!(answers.iter().any(|a| a.status == StatusCode::UNAUTHORIZED));
    assert!(answers.iter().all(|a| matches!(
        a.status,
        StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE
    )));
}
