//! The verification surfaces: `POST /api/v1/verify`, `POST /oauth/introspect`
//! (RFC 7662) and `GET /auth` (forward-auth).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, one_second_from_now, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    a_valid_token_verifies_with_its_identity,
    workspace_and_permission_checks_answer_not_valid_with_the_code,
    bad_tokens_are_not_valid_and_never_a_server_error,
    a_verify_body_that_is_not_json_is_a_bad_request,
    a_verify_body_that_is_not_a_json_object_is_a_bad_request,
    an_introspection_form_without_exactly_one_token_is_a_bad_request,
    a_token_in_the_query_string_of_verify_or_introspect_is_refused_after_the_verifier_check,
    introspection_answers_rfc7662_and_only_active_false_otherwise,
    introspection_takes_only_a_form_body,
    successful_answers_say_when_the_token_expires,
    forward_auth_passes_the_identity_in_headers,
    forward_auth_refuses_missing_malformed_revoked_and_insufficient_tokens,
    an_answer_kept_for_a_token_never_outlives_its_expiry,
    the_metrics_say_what_answered_each_lookup,
);

/// Alice, a member of acme (api:read, api:write, tokens:manage), and Vera,
/// a viewer there (api:read, tokens:manage).
async fn acme_with_member_and_viewer(app: &TestApp) -> (String, TestUser, TestUser) {
    let acme = app.workspace("acme").await;
    let alice = app.user("alice").await;
    app.join(&acme, &alice, "member").await;
    let vera = app.user("vera").await;
    app.join(&acme, &vera, "viewer").await;
    (acme, alice, vera)
}

async fn a_valid_token_verifies_with_its_identity(app: TestApp) {
    let (acme, alice, _) = acme_with_member_and_viewer(&app).await;
    let created = app
        .create_token(&alice, json!({ "name": "gateway", "expires_in": "7d" }))
        .await;
    let token = created["token"].as_str().unwrap();

    let answer = app.verify(json!({ "token": token })).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["token_id"], created["id"]);
    assert_eq!(answer["kind"], "pat");
    assert_eq!(answer["user_id"], alice.id.as_str());
    assert!(answer["workspace_id"].is_null());
    assert_eq!(answer["permissions"], json!([]));
    assert_eq!(answer["expires_at"], created["expires_at"]);

    let answer = app
        .verify(json!({ "token": token, "workspace_id": acme, "permissions": ["api:write"] }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["workspace_id"], acme.as_str());
    assert_eq!(
        answer["permissions"],
        json!(["api:read", "api:write", "tokens:manage"])
    );
    // Each question gets the answer for the identity it asks about, however
    // the answers before it were kept.
    let answer = app.verify(json!({ "token": token })).await;
    assert!(answer["workspace_id"].is_null(), "{answer}");
    assert_eq!(answer["permissions"], json!([]));

    // An API key verifies as its workspace's, with its fixed role and no user.
    let owner = app.user("owner").await;
    app.join(&acme, &owner, "owner").await;
    let key = app
        .create_api_key(&acme, &owner, json!({ "name": "bot", "role": "viewer" }))
        .await;
    let answer = app.verify(json!({ "token": key["token"] })).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["kind"], "api_key");
    assert!(answer["user_id"].is_null());
    assert_eq!(answer["workspace_id"], acme.as_str());
    assert_eq!(answer["permissions"], json!(["api:read", "tokens:manage"]));
}

async fn workspace_and_permission_checks_answer_not_valid_with_the_code(app: TestApp) {
    let (acme, alice, vera) = acme_with_member_and_viewer(&app).await;
    let elsewhere = app.workspace("elsewhere").await;
    let cases = [
        (
            json!({ "token": vera.token, "permissions": ["api:read"] }),
            "workspace_required",
        ),
        (
            json!({ "token": alice.token, "workspace_id": elsewhere }),
            "not_a_member",
        ),
        (
            json!({ "token": alice.token, "workspace_id": "wsp_nowhere0000000000" }),
            "not_a_member",
        ),
        (
            json!({ "token": vera.token, "workspace_id": acme, "permissions": ["api:write"] }),
            "permission_denied",
        ),
        (
            json!({ "token": vera.token, "workspace_id": acme, "permissions": ["api:read", "api:write"] }),
            "permission_denied",
        ),
    ];
    for (body, expected) in cases {
        let answer = app.verify(body.clone()).await;
        assert_eq!(answer["valid"], false, "{body}: {answer}");
        assert_eq!(answer["code"], expected, "{body}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(answer.get("token_id").is_none(), "a refusal names no token");
    }
    let answer = app
        .verify(json!({ "token": vera.token, "workspace_id": acme, "permissions": ["api:read"] }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
}

/// Tokens that are not good, of every shape.
async fn bad_tokens(app: &TestApp) -> Vec<(&'static str, String)> {
    let alice = app.user("mallory").await;
    let revoked = app.create_token(&alice, json!({ "name": "gone" })).await;
    let id = revoked["id"].as_str().unwrap();
    send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    // A well-formed token whose last character (in the checksum) is changed.
    let mut typo = alice.token.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'A' { 'B' } else { 'A' });
    vec![
        ("empty", String::new()),
        ("garbage", "not a token at all".into()),
        ("prefix only", "tsr_pat_".into()),
        ("checksum typo", typo),
        (
            "one megabyte",
            format!("tsr_pat_{}", "a".repeat(1024 * 1024)),
        ),
        ("unicode", "tsr_pat_ünïcødé💥".into()),
        ("nul", "tsr_pat_\u{0}abc".into()),
        ("revoked", revoked["token"].as_str().unwrap().into()),
    ]
}

async fn bad_tokens_are_not_valid_and_never_a_server_error(app: TestApp) {
    for (what, token) in bad_tokens(&app).await {
        let answer = app.verify(json!({ "token": token })).await;
        assert_eq!(answer["valid"], false, "{what}");
        assert_eq!(answer["code"], "token_invalid", "{what}");

        let (status, answer) = send(
            app.request(Method::POST, "/oauth/introspect")
                .form(&[("token", token.as_str())]),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "introspect {what}");
        assert_eq!(answer, json!({ "active": false }), "introspect {what}");
    }
    // A token that is no string is simply not valid.
    for token in [
        json!(42),
        json!(null),
        json!(["tsr_pat_x"]),
        json!({ "a": 1 }),
    ] {
        let answer = app.verify(json!({ "token": token })).await;
        assert_eq!(answer["valid"], false, "{token}");
        assert_eq!(answer["code"], "token_invalid", "{token}");
    }
    let answer = app.verify(json!({})).await;
    assert_eq!(answer["valid"], false);
    // Bytes that are not UTF-8, and a present but empty or unusable token,
    // are inactive tokens (a form without one is 400: see below).
    for form in [
        "token=%FF%FE",
        "token=",
        "token",
        "token=%",
        "other=1&token=x",
    ] {
        let (status, answer) = send(
            app.request(Method::POST, "/oauth/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{form:?}");
        assert_eq!(answer, json!({ "active": false }), "{form:?}");
    }
    let (status, answer) = send(
        app.request(Method::POST, "/oauth/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b't', b'o', b'k', b'e', b'n', b'=', 0xFF, 0xFE, 0x00]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "active": false }));
}

async fn a_verify_body_that_is_not_json_is_a_bad_request(app: TestApp) {
    for body in [
        b"token=abc".to_vec(),
        b"{\"token\": ".to_vec(),
        vec![0xFF, 0xFE, 0x00],
        Vec::new(),
    ] {
        let (status, answer) = send(
            app.request(Method::POST, "/api/v1/verify")
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {answer}");
        assert_eq!(code(&answer), "invalid_request");
    }
    // Fields of the wrong type are named.
    for (body, field) in [
        (json!({ "token": "x", "workspace_id": 7 }), "workspace_id"),
        (
            json!({ "token": "x", "permissions": "api:read" }),
            "permissions",
        ),
        (
            json!({ "token": "x", "permissions": [1, 2] }),
            "permissions",
        ),
    ] {
        let (status, answer) = send(app.request(Method::POST, "/api/v1/verify").json(&body)).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert_eq!(code(&answer), "invalid_request");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field));
    }
}

/// The probe found `[null,null]` answered as a question: a body that is
/// JSON but not an object is 400, like one that is not JSON.
async fn a_verify_body_that_is_not_a_json_object_is_a_bad_request(app: TestApp) {
    for body in [
        "[null,null]",
        "[]",
        "null",
        "\"tsr_pat_x\"",
        "7",
        "true",
        " [{\"token\":\"x\"}]",
    ] {
        let (status, answer) = send(
            app.request(Method::POST, "/api/v1/verify")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(code(&answer), "invalid_request", "{body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("JSON object"), "{body}: {message}");
    }
    // The usual body still answers.
    let answer = app.verify(json!({ "token": "tsr_pat_x" })).await;
    assert_eq!(answer["valid"], false);
}

/// RFC 7662 §2.1: `token` is REQUIRED. A form without it (the probe's empty
/// body) or with it twice is 400, not `{"active": false}`.
async fn an_introspection_form_without_exactly_one_token_is_a_bad_request(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "twice" })).await;
    let token = created["token"].as_str().unwrap();
    let twice = format!("token={token}&token={token}");
    for form in [
        "",
        "other=1",
        "workspace_id=wsp_x",
        "tokens=x",
        "&&",
        twice.as_str(),
        "token=a&token=b",
    ] {
        let (status, answer) = send(
            app.request(Method::POST, "/oauth/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_owned()),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {answer}");
        assert_eq!(code(&answer), "invalid_request", "{form:?}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("token"), "{form:?}: {message}");
        assert!(!message.contains(token), "the message never echoes a token");
    }
    // Once is answered.
    let (status, answer) = send(
        app.request(Method::POST, "/oauth/introspect")
            .form(&[("token", token)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["active"], true);
}

/// The probe found `?token=` silently ignored on verify and introspection:
/// it is refused with 400 as on the API, and only once the verifier
/// credential has been checked.
async fn a_token_in_the_query_string_of_verify_or_introspect_is_refused_after_the_verifier_check(
    app: TestApp,
) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "in url" })).await;
    let token = created["token"].as_str().unwrap();
    for parameter in ["token", "access_token", "api_key"] {
        let query = format!("?{parameter}={token}");
        let verify = app
            .request(Method::POST, &format!("/api/v1/verify{query}"))
            .json(&json!({ "token": token }));
        let introspect = app
            .request(Method::POST, &format!("/oauth/introspect{query}"))
            .form(&[("token", token)]);
        for (surface, request) in [("verify", verify), ("introspect", introspect)] {
            let (status, answer) = send(request).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{surface} {parameter}: {answer}"
            );
            assert_eq!(code(&answer), "invalid_request");
            assert!(answer["error"]["message"].as_str().unwrap().contains("URL"));
        }
        // Without a verifier credential, the answer is the verifier's 401.
        for path in ["/api/v1/verify", "/oauth/introspect"] {
            let response = app
                .bare()
                .post(format!("{}{path}{query}", app.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} {parameter}"
            );
        }
    }
    // Other query parameters change nothing.
    let (status, answer) = send(
        app.request(Method::POST, "/api/v1/verify?trace=1")
            .json(&json!({ "token": token })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["valid"], true);
}

async fn introspection_answers_rfc7662_and_only_active_false_otherwise(app: TestApp) {
    let (_, alice, _) = acme_with_member_and_viewer(&app).await;
    let created = app
        .create_token(
            &alice,
            json!({ "name": "introspected", "expires_in": "30d", "permissions": ["api:read"] }),
        )
        .await;
    let token = created["token"].as_str().unwrap();
    let introspect = |token: String| {
        let request = app
            .request(Method::POST, "/oauth/introspect")
            .form(&[("token", token)]);
        async move { send(request).await }
    };
    let (status, answer) = introspect(token.to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["scope"], "api:read");
    assert_eq!(answer["sub"], alice.id.as_str());
    assert_eq!(answer["username"], "alice");
    assert_eq!(answer["token_type"], "pat");
    let expires_at = time::OffsetDateTime::parse(
        created["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let created_at = time::OffsetDateTime::parse(
        created["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(answer["exp"], expires_at.unix_timestamp());
    assert_eq!(answer["iat"], created_at.unix_timestamp());
    assert!(
        !answer.to_string().contains(token),
        "no secret in the answer"
    );

    let id = created["id"].as_str().unwrap();
    send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    let (status, answer) = introspect(token.to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "active": false }), "exactly, nothing more");
}

fn forward(app: &TestApp, query: &str) -> reqwest::RequestBuilder {
    app.request(Method::GET, &format!("/auth{query}"))
}

async fn forward_auth_passes_the_identity_in_headers(app: TestApp) {
    let (acme, alice, _) = acme_with_member_and_viewer(&app).await;
    let created = app
        .create_token(&alice, json!({ "name": "at the gate" }))
        .await;
    let token = created["token"].as_str().unwrap();
    for query in [
        "",
        "?permission=api:write",
        "?permission=api:read&permission=api:write",
    ] {
        let response = forward(&app, query)
            .bearer_auth(token)
            .header("x-workspace-id", &acme)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("x-tessera-user-id"), alice.id);
        assert_eq!(header("x-tessera-workspace-id"), acme);
        assert_eq!(
            header("x-tessera-token-id"),
            created["id"].as_str().unwrap()
        );
        assert_eq!(
            header("x-tessera-permissions"),
            "api:read api:write tokens:manage"
        );
    }
    // Outside a workspace, a personal token still identifies its owner.
    let response = forward(&app, "").bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-user-id"], alice.id.as_str());
    assert_eq!(response.headers()["x-tessera-workspace-id"], "");
}

async fn forward_auth_refuses_missing_malformed_revoked_and_insufficient_tokens(app: TestApp) {
    let (acme, _, vera) = acme_with_member_and_viewer(&app).await;
    let (status, body) = send(forward(&app, "")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthenticated");

    let revoked = app.create_token(&vera, json!({ "name": "gone" })).await;
    let id = revoked["id"].as_str().unwrap();
    send(app.delete(&format!("/api/v1/tokens/{id}"), &vera.token)).await;
    let long = format!("tsr_pat_{}", "a".repeat(16 * 1024));
    for (what, value) in [
        ("garbage", b"Bearer not-a-token".to_vec()),
        ("odd scheme", format!("Basic {}", vera.token).into_bytes()),
        ("no token", b"Bearer ".to_vec()),
        ("long", format!("Bearer {long}").into_bytes()),
        ("not utf-8", b"Bearer tsr_pat_\xFF\xFE".to_vec()),
        (
            "revoked",
            format!("Bearer {}", revoked["token"].as_str().unwrap()).into_bytes(),
        ),
    ] {
        let value = reqwest::header::HeaderValue::from_bytes(&value).unwrap();
        let response = forward(&app, "")
            .header("authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(response.headers().get("x-tessera-user-id").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "token_invalid", "{what}");
    }

    for query in [
        "?permission=api:write",
        "?permission=api:read&permission=api:write",
    ] {
        let response = forward(&app, query)
            .bearer_auth(&vera.token)
            .header("x-workspace-id", &acme)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{query}");
        assert!(response.headers().get("x-tessera-user-id").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "permission_denied", "{query}");
    }
    // A workspace permission asked of a token that chose no workspace.
    let (status, body) = send(forward(&app, "?permission=api:read").bearer_auth(&vera.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");
    let (status, _) = send(
        forward(&app, "?permission=api:read")
            .bearer_auth(&vera.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// The verifier keeps a token's grant and its encoded answers between
/// requests; the token's standing is still checked on every one.
async fn an_answer_kept_for_a_token_never_outlives_its_expiry(app: TestApp) {
    let alice = app.user("alice").await;
    let soon = one_second_from_now();
    let created = app
        .create_token(&alice, json!({ "name": "brief", "expires_at": soon }))
        .await;
    let token = created["token"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(app.verify(json!({ "token": token })).await["valid"], true);
        let response = forward(&app, "").bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.verify(json!({ "token": token })).await["valid"], false);
    let response = forward(&app, "").bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// `tessera_verify_lookups_total` by `answered_by`: cache, cache_unknown, store.
async fn lookups(app: &TestApp) -> [u64; 3] {
    let text = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ["cache", "cache_unknown", "store"].map(|by| {
        let prefix = format!("tessera_verify_lookups_total{{answered_by=\"{by}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .parse()
            .unwrap()
    })
}

// An operator sees how much of the load the cache answers: a token's first
// verification reads the store and the next is a hit; an unknown token is
// looked up once, then briefly known as unknown. Malformed tokens never get
// as far as a look-up.
async fn the_metrics_say_what_answered_each_lookup(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "gateway" })).await;
    let token = created["token"].as_str().unwrap();
    let unknown = app.unknown_pat();

    let [cache, cache_unknown, store] = lookups(&app).await;
    for _ in 0..2 {
        assert_eq!(app.verify(json!({ "token": token })).await["valid"], true);
        let answer = app.verify(json!({ "token": unknown })).await;
        assert_eq!(answer["valid"], false);
    }
    assert_eq!(
        app.verify(json!({ "token": "garbage" })).await["valid"],
        false
    );
    assert_eq!(
        lookups(&app).await,
        [cache + 1, cache_unknown + 1, store + 2]
    );
}

// RFC 7662 §2.1: "the protected resource calls the introspection endpoint
// using an HTTP POST request with parameters sent as
// application/x-www-form-urlencoded".
async fn introspection_takes_only_a_form_body(app: TestApp) {
    let alice = app.user("alice").await;
    let form = format!("token={}", alice.token);
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data"),
    ] {
        let mut request = app
            .request(Method::POST, "/oauth/introspect")
            .body(form.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type:?}: {body}");
        assert_eq!(code(&body), "invalid_request");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-www-form-urlencoded"));
    }
    for content_type in [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    ] {
        let (status, body) = send(
            app.request(Method::POST, "/oauth/introspect")
                .header("content-type", content_type)
                .body(form.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {body}");
        assert_eq!(body["active"], true);
    }
}

// Like GitHub's `GitHub-Authentication-Token-Expiration`: a client can warn
// before its token expires, on every answer the token got through.
async fn successful_answers_say_when_the_token_expires(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app
        .create_token(&alice, json!({ "name": "ci", "expires_in": "7d" }))
        .await;
    let token = created["token"].as_str().unwrap();
    let expires_at = created["expires_at"].as_str().unwrap();
    let expires_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("tessera-token-expires")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    for path in ["/api/v1/me", "/api/v1/tokens", "/auth"] {
        let response = app.get(path, token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(expires_of(&response).as_deref(), Some(expires_at), "{path}");
    }
    // Twice more on forward-auth: the kept answer carries it too.
    for _ in 0..2 {
        let response = app.get("/auth", token).send().await.unwrap();
        assert_eq!(expires_of(&response).as_deref(), Some(expires_at));
    }
    // A refusal made with the token still says it (the token was good).
    let response = app
        .get("/api/v1/workspaces/wsp_nowhere/api-keys", token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());

    // A token that never expires, a refused token and a session: no header.
    let forever = &alice.token;
    for path in ["/api/v1/me", "/auth"] {
        let response = app.get(path, forever).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(expires_of(&response), None, "{path}: never expires");
    }
    let response = app
        .get("/api/v1/me", &app.unknown_pat())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(expires_of(&response), None);
    let (cookie, _) = app.sign_in(&alice).await;
    let response = app
        .request(Method::GET, "/api/v1/me")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(expires_of(&response), None, "a session is not a token");
}
