//! Personal access tokens: create, list, get, revoke, rotate, self.

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{code, one_second_from_now, send, TestApp};
use crate::on_both_stores;

on_both_stores!(
    creating_a_token_shows_the_secret_once_and_never_again,
    the_name_is_required_and_must_be_a_string,
    expiry_comes_from_presets_or_a_date_within_the_maximum,
    expired_tokens_stay_listed_as_expired,
    revoking_is_immediate_and_idempotent,
    revoke_all_answers_how_many,
    another_users_token_is_not_found,
    the_token_in_use_can_inspect_revoke_and_rotate_itself,
    rotation_keeps_the_record_and_the_old_secret_works_only_during_the_overlap,
    a_token_mints_tokens_only_with_tokens_manage_and_within_its_own_bounds,
    a_token_that_would_outlive_its_creator_is_refused_naming_the_limit,
    the_active_token_limit_refuses_with_no_side_effect,
    last_used_is_recorded_after_a_flush,
);

async fn creating_a_token_shows_the_secret_once_and_never_again(app: TestApp) {
    let alice = app.user("alice").await;
    let response = app
        .post(
            "/api/v1/tokens",
            &alice.token,
            json!({ "name": "CI deploy", "expires_in": "7d" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: serde_json::Value = response.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tsr_pat_"));
    assert_eq!(created["name"], "CI deploy");
    assert_eq!(created["status"], "active");
    assert_eq!(created["prefix"], &secret[..12]);
    assert_eq!(created["last4"], &secret[secret.len() - 4..]);

    // The new token works.
    let (status, me) = send(app.get("/api/v1/me", &secret)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");

    // No later answer carries the secret.
    let id = created["id"].as_str().unwrap();
    for path in ["/api/v1/tokens".to_string(), format!("/api/v1/tokens/{id}")] {
        let (status, body) = send(app.get(&path, &alice.token)).await;
        assert_eq!(status, StatusCode::OK);
        let text = body.to_string();
        assert!(!text.contains(&secret), "{path} leaked the secret");
        assert!(!text.contains("\"token\""), "{path} has a token field");
    }
    // Nor does the audit trail.
    let events = app
        .state
        .store
        .list_audit(&Default::default(), &tessera_store::Page::default())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == "token.create"));
    assert!(!serde_json::to_string(&events)
        .unwrap()
        .contains(&secret[8..]));
}

async fn the_name_is_required_and_must_be_a_string(app: TestApp) {
    let alice = app.user("alice").await;
    let cases = [
        (json!({}), "Token name is required."),
        (json!({ "name": null }), "Token name is required."),
        (json!({ "name": "" }), "Token name is required."),
        (json!({ "name": 42 }), "Token name must be a string."),
        (json!({ "name": ["a"] }), "Token name must be a string."),
    ];
    for (body, message) in cases {
        let (status, answer) = send(app.post("/api/v1/tokens", &alice.token, body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&answer), "invalid_request");
        assert_eq!(answer["error"]["message"], message, "{body}");
    }
    let (status, answer) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "x".repeat(101) }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer["error"]["message"].as_str().unwrap().contains("100"));
    let (status, _) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "x".repeat(100) }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn expiry_comes_from_presets_or_a_date_within_the_maximum(app: TestApp) {
    let alice = app.user("alice").await;
    let never = app
        .create_token(&alice, json!({ "name": "forever", "expires_in": "never" }))
        .await;
    assert!(never["expires_at"].is_null());
    let preset = app.create_token(&alice, json!({ "name": "month" })).await;
    assert!(
        preset["expires_at"].is_string(),
        "the default preset applies"
    );

    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "n", "expires_in": "3d" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expires_in"));

    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "n", "expires_at": "2001-01-01T00:00:00Z" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expires_at"));

    let (status, _) = send(app.post(
        "/api/v1/tokens",
        &alice.token,
        json!({ "name": "n", "expires_at": "soon" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let date = (time::OffsetDateTime::now_utc() + time::Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let exact = app
        .create_token(&alice, json!({ "name": "exact", "expires_at": date }))
        .await;
    assert!(exact["expires_at"].is_string());
}

async fn expired_tokens_stay_listed_as_expired(app: TestApp) {
    let alice = app.user("alice").await;
    let soon = one_second_from_now();
    let created = app
        .create_token(&alice, json!({ "name": "brief", "expires_at": soon }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, body) = send(app.get("/api/v1/me", created["token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    let (_, list) = send(app.get("/api/v1/tokens", &alice.token)).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["status"], "expired");
}

async fn revoking_is_immediate_and_idempotent(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app
        .create_token(&alice, json!({ "name": "to revoke" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(send(app.get("/api/v1/me", secret)).await.0, StatusCode::OK);

    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.get("/api/v1/me", secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");

    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "revoking twice is harmless");
    let (_, record) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(record["status"], "revoked");
}

async fn revoke_all_answers_how_many(app: TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for name in ["one", "two"] {
        app.create_token(&alice, json!({ "name": name })).await;
    }
    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, body) = send(
        app.request(Method::DELETE, "/api/v1/tokens")
            .header("cookie", cookie)
            .header("x-csrf-token", csrf),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 3, "two created plus the helper's");
    assert_eq!(
        send(app.get("/api/v1/me", &alice.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(app.get("/api/v1/me", &bob.token)).await.0,
        StatusCode::OK,
        "other users keep theirs"
    );
}

async fn another_users_token_is_not_found(app: TestApp) {
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let created = app.create_token(&alice, json!({ "name": "mine" })).await;
    let id = created["id"].as_str().unwrap();
    for request in [
        app.get(&format!("/api/v1/tokens/{id}"), &mallory.token),
        app.delete(&format!("/api/v1/tokens/{id}"), &mallory.token),
        app.post(
            &format!("/api/v1/tokens/{id}/rotate"),
            &mallory.token,
            json!({}),
        ),
        app.get("/api/v1/tokens/tok_doesnotexist000000000", &mallory.token),
    ] {
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(code(&body), "not_found");
    }
    assert_eq!(
        send(app.get("/api/v1/me", created["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}

async fn the_token_in_use_can_inspect_revoke_and_rotate_itself(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "self" })).await;
    let secret = created["token"].as_str().unwrap();
    let (status, me) = send(app.get("/api/v1/tokens/self", secret)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], created["id"]);

    let (status, rotated) = send(app.post("/api/v1/tokens/self/rotate", secret, json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_secret = rotated["token"].as_str().unwrap();
    assert_eq!(rotated["id"], created["id"]);
    let (_, inspected) = send(app.get("/api/v1/tokens/self", new_secret)).await;
    assert_eq!(
        inspected["id"], created["id"],
        "the same record, a new secret"
    );

    let (status, _) = send(app.delete("/api/v1/tokens/self", new_secret)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/api/v1/me", new_secret)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn rotation_keeps_the_record_and_the_old_secret_works_only_during_the_overlap(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app
        .create_token(
            &alice,
            json!({ "name": "rotating", "expires_in": "7d", "permissions": [] }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let old = created["token"].as_str().unwrap();
    let (status, rotated) = send(app.post(
        &format!("/api/v1/tokens/{id}/rotate"),
        &alice.token,
        json!({ "overlap_seconds": 2 }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new = rotated["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["name"], "rotating");
    assert_eq!(
        rotated["expires_at"], created["expires_at"],
        "rotation never extends the expiry"
    );
    assert_eq!(rotated["permissions"], created["permissions"]);
    assert_eq!(send(app.get("/api/v1/me", new)).await.0, StatusCode::OK);
    assert_eq!(
        send(app.get("/api/v1/me", old)).await.0,
        StatusCode::OK,
        "during the overlap"
    );

    let (status, _) = send(app.post(
        &format!("/api/v1/tokens/{id}/rotate"),
        &alice.token,
        json!({ "overlap_seconds": 86401 }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_token_mints_tokens_only_with_tokens_manage_and_within_its_own_bounds(app: TestApp) {
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;
    app.join(&acme, &alice, "member").await;

    let reader = app
        .create_token(
            &alice,
            json!({ "name": "reader", "permissions": ["api:read"], "expires_in": "7d" }),
        )
        .await;
    let reader = reader["token"].as_str().unwrap();
    let (status, body) = send(app.post("/api/v1/tokens", reader, json!({ "name": "child" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let manager = app
        .create_token(
            &alice,
            json!({ "name": "manager", "permissions": ["api:read", "tokens:manage"], "expires_in": "7d" }),
        )
        .await;
    let manager_expiry = manager["expires_at"].as_str().unwrap().to_owned();
    let manager = manager["token"].as_str().unwrap();
    let (status, _) = send(app.post(
        "/api/v1/tokens",
        manager,
        json!({ "name": "wider", "permissions": ["api:write"], "expires_in": "7d" }),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no permission it lacks"
    );
    let (status, _) = send(app.post(
        "/api/v1/tokens",
        manager,
        json!({ "name": "longer", "expires_in": "30d" }),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no expiry beyond its own"
    );
    let (status, child) = send(app.post(
        "/api/v1/tokens",
        manager,
        json!({ "name": "child", "permissions": ["api:read"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    assert_eq!(
        child["expires_at"],
        manager_expiry.as_str(),
        "the default is fitted under the creator's expiry"
    );
    let (status, inherited) =
        send(app.post("/api/v1/tokens", manager, json!({ "name": "inherits" }))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        inherited["permissions"],
        json!(["api:read", "tokens:manage"]),
        "a narrowed token passes its narrowing on"
    );
}

async fn a_token_that_would_outlive_its_creator_is_refused_naming_the_limit(app: TestApp) {
    let alice = app.user("alice").await;
    let creator = app
        .create_token(&alice, json!({ "name": "creator", "expires_in": "7d" }))
        .await;
    let ceiling = creator["expires_at"].as_str().unwrap().to_owned();
    let creator = creator["token"].as_str().unwrap();
    let refusal = |field: &str| {
        format!(
            "{field}: a token cannot create one that outlives it, and the token making this \
             request expires at {ceiling}. Choose an expiry no later than that, or sign in \
             or use a longer-lived token."
        )
    };

    let (status, body) = send(app.post(
        "/api/v1/tokens",
        creator,
        json!({ "name": "longer", "expires_in": "30d" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert_eq!(body["error"]["message"], refusal("expires_in"));

    // An exact date is held to the instant: a second past the limit is refused.
    let limit = time::OffsetDateTime::parse(&ceiling, &Rfc3339).unwrap();
    let a_second_later = (limit + time::Duration::seconds(1))
        .format(&Rfc3339)
        .unwrap();
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        creator,
        json!({ "name": "later", "expires_at": a_second_later }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["message"], refusal("expires_at"));
    let (status, same) = send(app.post(
        "/api/v1/tokens",
        creator,
        json!({ "name": "as long", "expires_at": ceiling }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{same}");
    assert_eq!(
        same["expires_at"],
        ceiling.as_str(),
        "the limit itself is allowed"
    );

    // Rotating another token cannot extend it past the rotating token either.
    let other = app
        .create_token(&alice, json!({ "name": "other", "expires_in": "7d" }))
        .await;
    let (status, body) = send(app.post(
        &format!("/api/v1/tokens/{}/rotate", other["id"].as_str().unwrap()),
        creator,
        json!({ "expires_in": "30d" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["message"], refusal("expires_in"));

    // What the message advises works: signed in, there is no such limit.
    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, body) = send(
        app.request(Method::POST, "/api/v1/tokens")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "longer", "expires_in": "30d" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn the_active_token_limit_refuses_with_no_side_effect(app: TestApp) {
    let limited = TestApp::with_config(app.backend, "[limits]\nmax_active_tokens_per_user = 3")
        .await
        .unwrap();
    drop(app);
    let alice = limited.user("alice").await;
    limited.create_token(&alice, json!({ "name": "two" })).await;
    let third = limited
        .create_token(&alice, json!({ "name": "three" }))
        .await;
    let (status, body) =
        send(limited.post("/api/v1/tokens", &alice.token, json!({ "name": "four" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, list) = send(limited.get("/api/v1/tokens", &alice.token)).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        3,
        "nothing was written"
    );
    // Revoking one frees a place.
    let id = third["id"].as_str().unwrap();
    send(limited.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(
        send(limited.post("/api/v1/tokens", &alice.token, json!({ "name": "four" })))
            .await
            .0,
        StatusCode::CREATED
    );
}

async fn last_used_is_recorded_after_a_flush(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "used" })).await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, _) = send(
        app.get("/api/v1/me", secret)
            .header("user-agent", "probe/1.0"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, before) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert!(
        before["last_used_at"].is_null(),
        "not written on every request"
    );
    app.flush_usage().await;
    let (_, after) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert!(after["last_used_at"].is_string());
    assert_eq!(after["last_used_ip"], "127.0.0.1");
    assert_eq!(after["last_used_ips"], json!(["127.0.0.1"]));
    assert_eq!(after["last_used_user_agent"], "probe/1.0");
}
