//! Presenting a credential, and authorisation evaluated on every request.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{code, one_second_from_now, send, Backend, TestApp};
use crate::on_both_stores;

on_both_stores!(
    a_bearer_token_authenticates,
    no_credential_is_unauthenticated_with_a_challenge,
    every_refused_token_gets_the_same_body_by_default,
    reasons_are_named_when_the_deployment_reveals_them,
    a_configured_cookie_carries_the_token,
    a_token_in_the_url_is_refused,
    several_authorization_headers_or_odd_schemes_are_refused,
    workspace_routes_need_the_header_and_membership,
    a_bound_token_refuses_other_workspaces,
    a_role_downgrade_applies_to_the_next_request,
    narrowing_at_creation_never_widens,
    suspension_stops_tokens_and_reactivation_restores_them,
    removal_kills_pats_but_api_keys_live_on,
    a_token_over_its_rate_limit_gets_429_with_retry_after,
    an_unreachable_store_fails_closed_with_503,
);

async fn a_bearer_token_authenticates(app: TestApp) {
    let alice = app.user("alice").await;
    let (status, me) = send(app.get("/api/v1/me", &alice.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["id"], alice.id.as_str());
    assert_eq!(me["credential"]["kind"], "pat");
}

async fn no_credential_is_unauthenticated_with_a_challenge(app: TestApp) {
    let response = app.request(Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "unauthenticated");
}

/// Malformed, unknown, expired, revoked and owner-inactive tokens.
async fn refused_tokens(app: &TestApp) -> Vec<(&'static str, String)> {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let unknown = app.unknown_pat();
    let soon = one_second_from_now();
    let expiring = app
        .create_token(&alice, json!({ "name": "brief", "expires_at": soon }))
        .await;
    let revoked = app.create_token(&alice, json!({ "name": "revoked" })).await;
    let id = revoked["id"].as_str().unwrap();
    send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    let admin = app.admin().await;
    send(app.post(
        &format!("/api/v1/users/{}/suspend", bob.id),
        &admin.token,
        json!({}),
    ))
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    vec![
        ("token_malformed", "tsr_pat_not-a-token".to_string()),
        ("token_unknown", unknown),
        (
            "token_expired",
            expiring["token"].as_str().unwrap().to_string(),
        ),
        (
            "token_revoked",
            revoked["token"].as_str().unwrap().to_string(),
        ),
        ("owner_inactive", bob.token.clone()),
    ]
}

async fn every_refused_token_gets_the_same_body_by_default(app: TestApp) {
    let mut bodies = Vec::new();
    for (reason, token) in refused_tokens(&app).await {
        let response = app.get("/api/v1/me", &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{reason}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{reason}"
        );
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "bodies differ: {bodies:?}"
    );
    let body: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(code(&body), "token_invalid");
}

async fn reasons_are_named_when_the_deployment_reveals_them(app: TestApp) {
    let revealing = TestApp::with_config(app.backend, "[auth]\nreveal_failure_reasons = true")
        .await
        .unwrap();
    drop(app);
    for (reason, token) in refused_tokens(&revealing).await {
        let (status, body) = send(revealing.get("/api/v1/me", &token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), reason);
    }
}

async fn a_configured_cookie_carries_the_token(app: TestApp) {
    let groo = TestApp::with_config(app.backend, "[auth]\ntoken_cookie = \"session\"")
        .await
        .unwrap();
    drop(app);
    let alice = groo.user("alice").await;
    let (status, me) = send(
        groo.request(Method::GET, "/api/v1/me")
            .header("cookie", format!("theme=dark; session={}", alice.token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");
}

async fn a_token_in_the_url_is_refused(app: TestApp) {
    let alice = app.user("alice").await;
    let (status, body) = send(app.request(
        Method::GET,
        &format!("/api/v1/me?access_token={}", alice.token),
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.to_string().contains(&alice.token));
}

async fn several_authorization_headers_or_odd_schemes_are_refused(app: TestApp) {
    let alice = app.user("alice").await;
    let twice = app
        .request(Method::GET, "/api/v1/me")
        .header("authorization", format!("Bearer {}", alice.token))
        .header("authorization", format!("Bearer {}", alice.token));
    assert_eq!(send(twice).await.0, StatusCode::UNAUTHORIZED);
    for value in [
        format!("Basic {}", alice.token),
        alice.token.clone(),
        "Bearer".into(),
    ] {
        let request = app
            .request(Method::GET, "/api/v1/me")
            .header("authorization", value.clone());
        assert_eq!(send(request).await.0, StatusCode::UNAUTHORIZED, "{value}");
    }
}

async fn workspace_routes_need_the_header_and_membership(app: TestApp) {
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    let other = app.workspace("other").await;
    app.join(&acme, &alice, "admin").await;
    let path = format!("/api/v1/workspaces/{acme}/api-keys");

    let (status, body) = send(app.get(&path, &alice.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");

    let (status, body) = send(
        app.get(&path, &alice.token)
            .header("x-workspace-id", &other),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");

    let other_path = format!("/api/v1/workspaces/{other}/api-keys");
    let (status, body) = send(
        app.get(&other_path, &alice.token)
            .header("x-workspace-id", &other),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");

    let (status, _) = send(app.get(&path, &alice.token).header("x-workspace-id", &acme)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_bound_token_refuses_other_workspaces(app: TestApp) {
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    let other = app.workspace("other").await;
    app.join(&acme, &alice, "admin").await;
    app.join(&other, &alice, "admin").await;
    let bound = app
        .create_token(&alice, json!({ "name": "bound", "workspace_id": acme }))
        .await;
    let token = bound["token"].as_str().unwrap();

    // No header needed; a header naming its own workspace is fine.
    let path = format!("/api/v1/workspaces/{acme}/api-keys");
    assert_eq!(send(app.get(&path, token)).await.0, StatusCode::OK);
    assert_eq!(
        send(app.get(&path, token).header("x-workspace-id", &acme))
            .await
            .0,
        StatusCode::OK
    );

    let other_path = format!("/api/v1/workspaces/{other}/api-keys");
    let (status, body) = send(app.get(&other_path, token).header("x-workspace-id", &other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
    assert_eq!(
        send(app.get(&other_path, token)).await.0,
        StatusCode::FORBIDDEN
    );
}

async fn a_role_downgrade_applies_to_the_next_request(app: TestApp) {
    let admin = app.admin().await;
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    app.join(&acme, &alice, "admin").await;
    let path = format!("/api/v1/workspaces/{acme}/api-keys");
    assert_eq!(
        send(app.get(&path, &alice.token).header("x-workspace-id", &acme))
            .await
            .0,
        StatusCode::OK
    );

    let (status, _) = send(app.put(
        &format!("/api/v1/workspaces/{acme}/members/{}", alice.id),
        &admin.token,
        json!({ "role": "viewer" }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(app.get(&path, &alice.token).header("x-workspace-id", &acme)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");

    let (_, me) = send(
        app.get("/api/v1/me", &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(
        me["credential"]["permissions"],
        json!(["api:read", "tokens:manage"])
    );
}

async fn narrowing_at_creation_never_widens(app: TestApp) {
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    app.join(&acme, &alice, "viewer").await;
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "greedy", "permissions": ["api:write"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("api:write"));

    let narrow = app
        .create_token(
            &alice,
            json!({ "name": "narrow", "permissions": ["api:read"] }),
        )
        .await;
    let token = narrow["token"].as_str().unwrap();
    // Promote alice: the narrowed token still holds only what it asked for.
    app.join(&acme, &alice, "owner").await;
    let (_, me) = send(app.get("/api/v1/me", token).header("x-workspace-id", &acme)).await;
    assert_eq!(me["credential"]["permissions"], json!(["api:read"]));
}

async fn suspension_stops_tokens_and_reactivation_restores_them(app: TestApp) {
    let revealing = TestApp::with_config(app.backend, "[auth]\nreveal_failure_reasons = true")
        .await
        .unwrap();
    drop(app);
    let admin = revealing.admin().await;
    let alice = revealing.user("alice").await;
    let (status, _) = send(revealing.post(
        &format!("/api/v1/users/{}/suspend", alice.id),
        &admin.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(revealing.get("/api/v1/me", &alice.token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "owner_inactive");
    let (status, _) = send(revealing.post(
        &format!("/api/v1/users/{}/reactivate", alice.id),
        &admin.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        send(revealing.get("/api/v1/me", &alice.token)).await.0,
        StatusCode::OK
    );
}

async fn removal_kills_pats_but_api_keys_live_on(app: TestApp) {
    let admin = app.admin().await;
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    app.join(&acme, &alice, "admin").await;
    let (status, key) = send(
        app.post(
            &format!("/api/v1/workspaces/{acme}/api-keys"),
            &alice.token,
            json!({ "name": "deploy bot", "role": "member" }),
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tsr_key_"));

    let (status, _) = send(app.delete(&format!("/api/v1/users/{}", alice.id), &admin.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/api/v1/me", &alice.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, me) = send(app.get("/api/v1/me", &key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["api_key"]["name"], "deploy bot");
    let (status, _) = send(app.post(
        &format!("/api/v1/users/{}/reactivate", alice.id),
        &admin.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "removal is final");
}

async fn a_token_over_its_rate_limit_gets_429_with_retry_after(app: TestApp) {
    let limited = TestApp::with_config(
        app.backend,
        "[limits]\nrate_limit = { requests = 3, per = \"1m\" }",
    )
    .await
    .unwrap();
    drop(app);
    let alice = limited.user("alice").await;
    let bob = limited.user("bob").await;
    for _ in 0..3 {
        assert_eq!(
            send(limited.get("/api/v1/me", &alice.token)).await.0,
            StatusCode::OK
        );
    }
    let response = limited
        .get("/api/v1/me", &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "rate_limited");
    // The limit is per token.
    assert_eq!(
        send(limited.get("/api/v1/me", &bob.token)).await.0,
        StatusCode::OK
    );
}

/// PostgreSQL is a server that can go away under Tessera; SQLite is a file
/// in the process and cannot. The database is closed to new connections and
/// every open one is cut: a token not yet verified must get 503, not a 200
/// and not a 500.
async fn an_unreachable_store_fails_closed_with_503(app: TestApp) {
    if app.backend != Backend::Postgres {
        return;
    }
    let alice = app.user("alice").await;
    let fresh = app
        .create_token(&alice, json!({ "name": "never verified" }))
        .await;
    let token = fresh["token"].as_str().unwrap();

    let tessera_store::DatabaseUrl::Postgres { url } = &app.state.config.database_url else {
        unreachable!("a PostgreSQL test");
    };
    let name = url.path().trim_start_matches('/').to_owned();
    let mut admin_url = url.clone();
    admin_url.set_path("/postgres");
    let admin = sqlx::PgPool::connect(admin_url.as_str()).await.unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
    ))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&admin)
        .await
        .unwrap();

    let (status, body) = send(app.get("/api/v1/me", token)).await;
    let (verify_status, verified) = send(
        app.request(Method::POST, "/api/v1/verify")
            .json(&json!({ "token": token })),
    )
    .await;
    let (ready, _) = send(app.request(Method::GET, "/readyz")).await;

    sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(code(&body), "unavailable");
    assert_eq!(verify_status, StatusCode::SERVICE_UNAVAILABLE, "{verified}");
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
}
