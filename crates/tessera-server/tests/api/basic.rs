//! A token as the password of HTTP Basic, where its kind allows it (PATs by
//! default, as on GitHub and GitLab): accepted on the API and on `/auth`
//! exactly like Bearer; refused like an invalid token for a kind that does
//! not allow it; malformed credentials are 401 saying what to send.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{code, send, TestApp};
use crate::on_both_stores;

on_both_stores!(
    a_pat_as_a_basic_password_acts_exactly_like_bearer,
    a_kind_that_does_not_allow_basic_is_refused_like_an_invalid_token,
    a_kind_may_be_configured_to_allow_basic,
    malformed_basic_credentials_are_401_saying_what_to_send,
    verification_bodies_and_introspection_never_read_basic_as_a_token,
);

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// The identity headers of a `/auth` answer.
fn identity(response: &reqwest::Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-tessera-"))
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    headers
}

async fn a_pat_as_a_basic_password_acts_exactly_like_bearer(app: TestApp) {
    let w = app.workspace("acme").await;
    let alice = app.member("alice", &w, "member").await;

    // Any username (RFC 7617: it holds no colon; the password may).
    for user in ["x-token", "alice", "", "git user"] {
        let (status, me) = send(
            app.request(Method::GET, "/api/v1/me")
                .header("authorization", basic(user, &alice.token)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{user:?}: {me}");
        assert_eq!(me["user"]["username"], "alice");
    }

    // /auth: the same identity, permissions and workspace as with Bearer.
    let path = "/auth?permission=api:write";
    let by_bearer = app
        .request(Method::GET, path)
        .bearer_auth(&alice.token)
        .header("x-workspace-id", &w)
        .send()
        .await
        .unwrap();
    let by_basic = app
        .request(Method::GET, path)
        .header("authorization", basic("x-token", &alice.token))
        .header("x-workspace-id", &w)
        .send()
        .await
        .unwrap();
    assert_eq!(by_bearer.status(), StatusCode::OK);
    assert_eq!(by_basic.status(), StatusCode::OK);
    assert_eq!(identity(&by_basic), identity(&by_bearer));
    assert!(!identity(&by_basic).is_empty());

    // A permission it lacks is 403 either way.
    let (status, body) = send(
        app.request(Method::GET, "/auth?permission=audit:read")
            .header("authorization", basic("x-token", &alice.token))
            .header("x-workspace-id", &w),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Token management works over Basic too (a git credential helper
    // holding only the PAT can still rotate it).
    let (status, created) = send(
        app.request(Method::POST, "/api/v1/tokens")
            .header("authorization", basic("x-token", &alice.token))
            .json(&json!({ "name": "made over basic" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Revoked: refused like any revoked token.
    let id = created["id"].as_str().unwrap();
    let fresh = created["token"].as_str().unwrap();
    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(
        app.request(Method::GET, "/api/v1/me")
            .header("authorization", basic("x-token", fresh)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
}

async fn a_kind_that_does_not_allow_basic_is_refused_like_an_invalid_token(app: TestApp) {
    let w = app.workspace("acme").await;
    let admin = app.member("adam", &w, "admin").await;
    let key = app
        .create_api_key(&w, &admin, json!({ "name": "k", "role": "viewer" }))
        .await;
    let key = key["token"].as_str().unwrap();
    // As Bearer it works…
    assert_eq!(send(app.get("/api/v1/me", key)).await.0, StatusCode::OK);
    // …as a Basic password it is an invalid token, byte for byte.
    let (_, unknown) = send(app.get("/api/v1/me", &app.unknown_pat())).await;
    for path in ["/api/v1/me", "/auth"] {
        let (status, body) = send(
            app.request(Method::GET, path)
                .header("authorization", basic("x-token", key)),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body, unknown, "{path}");
    }
}

async fn a_kind_may_be_configured_to_allow_basic(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_config(
        backend,
        r#"
[[kinds]]
name = "pat"
prefix = "tsr_pat_"
owner = "user"
basic_auth = false
[[kinds]]
name = "api_key"
prefix = "tsr_key_"
owner = "workspace"
basic_auth = true
"#,
    )
    .await
    else {
        return;
    };
    let w = app.workspace("acme").await;
    let admin = app.member("adam", &w, "admin").await;
    let key = app
        .create_api_key(&w, &admin, json!({ "name": "registry", "role": "viewer" }))
        .await;
    let (status, body) = send(
        app.request(Method::GET, "/auth?permission=api:read")
            .header("authorization", basic("ci", key["token"].as_str().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(
        app.request(Method::GET, "/api/v1/me")
            .header("authorization", basic("x-token", &admin.token)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "PATs turned off for Basic"
    );
}

async fn malformed_basic_credentials_are_401_saying_what_to_send(app: TestApp) {
    let alice = app.user("alice").await;
    let long = STANDARD.encode(format!("u:{}", "a".repeat(5000)));
    let cases: Vec<(&str, String, &str)> = vec![
        ("not base64", "Basic %%%***".into(), "not base64"),
        (
            "the raw token",
            format!("Basic {}", alice.token),
            "not base64",
        ),
        (
            "no colon",
            format!("Basic {}", STANDARD.encode(&alice.token)),
            "no `:`",
        ),
        ("empty password", basic("x-token", ""), "empty password"),
        ("oversized", format!("Basic {long}"), "longer than"),
        (
            "not UTF-8",
            format!("Basic {}", STANDARD.encode([b'u', b':', 0xff, 0xfe])),
            "not UTF-8",
        ),
    ];
    for path in ["/api/v1/me", "/auth"] {
        for (what, value, says) in &cases {
            let (status, body) = send(
                app.request(Method::GET, path)
                    .header("authorization", value.as_str()),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {what}: {body}");
            assert_eq!(code(&body), "token_invalid", "{path} {what}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{path} {what}: {message}");
        }
        // A Basic password that is no token at all: an invalid token.
        let (status, body) = send(
            app.request(Method::GET, path)
                .header("authorization", basic("x-token", "hunter2")),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "token_invalid");
        assert!(!body.to_string().contains("hunter2"));
    }
}

async fn verification_bodies_and_introspection_never_read_basic_as_a_token(app: TestApp) {
    let alice = app.user("alice").await;
    // /api/v1/verify takes the token in its body; a Basic header does not
    // stand in for it.
    let (status, body) = send(
        app.request(Method::POST, "/api/v1/verify")
            .header("authorization", basic("x-token", &alice.token))
            .json(&json!({ "token": app.unknown_pat() })),
    )
    .await;
    assert!(
        status == StatusCode::OK || status.is_client_error(),
        "{status}"
    );
    assert_ne!(body["valid"], true, "{body}");
    // Introspection reads the form's token, whatever the Basic header holds
    // (Basic there authenticates the client, not the token).
    let (status, body) = send(
        app.request(Method::POST, "/oauth/introspect")
            .header("authorization", basic("x-token", &alice.token))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", app.unknown_pat())),
    )
    .await;
    assert!(
        status == StatusCode::OK || status.is_client_error(),
        "{status}"
    );
    assert_ne!(body["active"], true, "{body}");
}
