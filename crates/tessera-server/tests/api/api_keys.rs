//! Workspace API keys: who may manage them, what they may hold, and how
//! they act once issued.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    only_members_whose_role_manages_keys_may_create_list_get_revoke_and_rotate_them,
    a_signed_in_session_manages_keys_without_the_workspace_header,
    a_key_never_holds_more_than_its_creator_holds_at_that_moment,
    role_and_permissions_are_exclusive_and_the_role_must_exist,
    a_key_acts_with_its_fixed_role_after_its_creator_is_demoted_or_removed,
    a_key_presented_with_another_workspaces_header_is_not_a_member,
    requests_by_a_key_are_attributed_to_the_key_in_the_audit_trail,
    revoking_a_key_is_immediate,
    a_key_of_one_workspace_is_not_found_under_another,
    keys_are_listed_without_secrets_and_rotation_gives_a_new_one,
    answers_carrying_a_key_secret_are_never_cached,
);

fn keys_path(workspace: &str) -> String {
    format!("/api/v1/workspaces/{workspace}/api-keys")
}

/// A workspace with an admin (`alice`) who may manage keys.
async fn workspace_with_admin(app: &TestApp) -> (String, TestUser) {
    let acme = app.workspace("acme").await;
    let alice = app.user("alice").await;
    app.join(&acme, &alice, "admin").await;
    (acme, alice)
}

async fn only_members_whose_role_manages_keys_may_create_list_get_revoke_and_rotate_them(
    app: TestApp,
) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let existing = app
        .create_api_key(
            &acme,
            &alice,
            json!({ "name": "existing", "role": "viewer" }),
        )
        .await;
    let existing_id = existing["id"].as_str().unwrap();

    for role in ["owner", "admin"] {
        let user = app.user(&format!("{role}-user")).await;
        app.join(&acme, &user, role).await;
        let key = app
            .create_api_key(
                &acme,
                &user,
                json!({ "name": format!("by {role}"), "role": "member" }),
            )
            .await;
        let id = key["id"].as_str().unwrap();
        let item = format!("{}/{id}", keys_path(&acme));
        let (status, list) = send(
            app.get(&keys_path(&acme), &user.token)
                .header("x-workspace-id", &acme),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{role} lists: {list}");
        assert!(list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id));
        let (status, got) = send(app.get(&item, &user.token).header("x-workspace-id", &acme)).await;
        assert_eq!(status, StatusCode::OK, "{role} gets: {got}");
        assert_eq!(got["name"], format!("by {role}"));
        let (status, rotated) = send(
            app.post(&format!("{item}/rotate"), &user.token, json!({}))
                .header("x-workspace-id", &acme),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{role} rotates: {rotated}");
        let (status, _) = send(
            app.delete(&item, &user.token)
                .header("x-workspace-id", &acme),
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{role} revokes");
    }

    for role in ["member", "viewer"] {
        let user = app.user(&format!("{role}-user")).await;
        app.join(&acme, &user, role).await;
        let item = format!("{}/{existing_id}", keys_path(&acme));
        let attempts = [
            app.post(
                &keys_path(&acme),
                &user.token,
                json!({ "name": "nope", "permissions": ["api:read"] }),
            ),
            app.get(&keys_path(&acme), &user.token),
            app.get(&item, &user.token),
            app.post(&format!("{item}/rotate"), &user.token, json!({})),
            app.delete(&item, &user.token),
        ];
        for attempt in attempts {
            let (status, body) = send(attempt.header("x-workspace-id", &acme)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
            assert_eq!(code(&body), "permission_denied", "{role}");
        }
    }
    // The key the refused attempts aimed at is untouched.
    let (_, still) = send(
        app.get(&format!("{}/{existing_id}", keys_path(&acme)), &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(still["status"], "active");
    assert_eq!(still["last4"], existing["last4"]);
}

async fn a_signed_in_session_manages_keys_without_the_workspace_header(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, created) = send(
        app.request(Method::POST, &keys_path(&acme))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "from the browser", "role": "viewer" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["token"].as_str().unwrap().starts_with("tsr_key_"));
    let (status, list) = send(
        app.request(Method::GET, &keys_path(&acme))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"][0]["id"], created["id"]);
    assert_eq!(list["items"][0]["created_by"], alice.id.as_str());
}

async fn a_key_never_holds_more_than_its_creator_holds_at_that_moment(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    // Alice's token narrowed to managing keys and reading: it holds no more.
    let narrowed = app
        .create_token(
            &alice,
            json!({ "name": "narrow", "permissions": ["api_keys:manage", "api:read"] }),
        )
        .await;
    let narrowed = narrowed["token"].as_str().unwrap();
    for body in [
        json!({ "name": "member key", "role": "member" }),
        json!({ "name": "writer", "permissions": ["api:write"] }),
        json!({ "name": "reader and writer", "permissions": ["api:read", "api:write"] }),
    ] {
        let (status, answer) = send(
            app.post(&keys_path(&acme), narrowed, body.clone())
                .header("x-workspace-id", &acme),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {answer}");
        assert_eq!(code(&answer), "permission_denied");
    }
    let (status, reader) = send(
        app.post(
            &keys_path(&acme),
            narrowed,
            json!({ "name": "reader", "permissions": ["api:read"] }),
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reader}");
    assert_eq!(reader["permissions"], json!(["api:read"]));

    // As an admin she may grant a full role (her own); demoted, she may not.
    app.create_api_key(
        &acme,
        &alice,
        json!({ "name": "admin key", "role": "admin" }),
    )
    .await;
    app.join(&acme, &alice, "viewer").await;
    let bob = app.user("bob").await;
    app.join(&acme, &bob, "admin").await;
    let (status, _) = send(
        app.post(
            &keys_path(&acme),
            &alice.token,
            json!({ "name": "later", "permissions": ["api:read"] }),
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer manages no keys");

    let (_, list) = send(
        app.get(&keys_path(&acme), &bob.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "only the allowed keys exist: {names:?}");
}

async fn role_and_permissions_are_exclusive_and_the_role_must_exist(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let cases = [
        (
            json!({ "name": "both", "role": "member", "permissions": ["api:read"] }),
            "role",
        ),
        (json!({ "name": "ghost", "role": "ghost" }), "role"),
        (json!({ "name": "neither" }), "role"),
        (
            json!({ "name": "malformed", "permissions": ["Not A Permission!"] }),
            "permissions",
        ),
    ];
    for (body, named) in cases {
        let (status, answer) = send(
            app.post(&keys_path(&acme), &alice.token, body.clone())
                .header("x-workspace-id", &acme),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(code(&answer), "invalid_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    let (_, list) = send(
        app.get(&keys_path(&acme), &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(list["items"], json!([]), "nothing was created");
}

async fn a_key_acts_with_its_fixed_role_after_its_creator_is_demoted_or_removed(app: TestApp) {
    let admin = app.admin().await;
    let (acme, alice) = workspace_with_admin(&app).await;
    let created = app
        .create_api_key(
            &acme,
            &alice,
            json!({ "name": "deploy bot", "role": "member" }),
        )
        .await;
    let key = created["token"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tsr_key_"));
    assert_eq!(created["role"], "member");
    assert_eq!(created["workspace_id"], acme.as_str());

    let can_write = |key: String| {
        let request = app
            .request(Method::GET, "/auth?permission=api:write")
            .bearer_auth(key);
        async move { send(request).await.0 }
    };
    // No workspace header needed: the key belongs to its workspace.
    let (status, me) = send(app.get("/api/v1/me", &key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(me["user"].is_null());
    assert_eq!(me["api_key"]["role"], "member");
    assert_eq!(me["credential"]["workspace_id"], acme.as_str());
    assert_eq!(
        me["credential"]["permissions"],
        json!(["api:read", "api:write", "tokens:manage"])
    );
    assert_eq!(can_write(key.clone()).await, StatusCode::OK);

    let (status, _) = send(app.put(
        &format!("/api/v1/workspaces/{acme}/members/{}", alice.id),
        &admin.token,
        json!({ "role": "viewer" }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        can_write(key.clone()).await,
        StatusCode::OK,
        "the creator's demotion does not touch the key"
    );

    let (status, _) = send(app.delete(&format!("/api/v1/users/{}", alice.id), &admin.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        can_write(key.clone()).await,
        StatusCode::OK,
        "nor does the creator's removal"
    );
    let (_, me) = send(app.get("/api/v1/me", &key)).await;
    assert_eq!(
        me["credential"]["permissions"],
        json!(["api:read", "api:write", "tokens:manage"])
    );
}

async fn a_key_presented_with_another_workspaces_header_is_not_a_member(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let other = app.workspace("other").await;
    let created = app
        .create_api_key(&acme, &alice, json!({ "name": "bot", "role": "admin" }))
        .await;
    let key = created["token"].as_str().unwrap();

    // Its own workspace in the header is fine.
    let (status, _) = send(
        app.get(&keys_path(&acme), key)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/me".to_string(),
        keys_path(&other),
        keys_path(&acme),
    ] {
        let (status, body) = send(app.get(&path, key).header("x-workspace-id", &other)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(code(&body), "not_a_member", "{path}");
    }
    // And without a header it cannot reach another workspace either.
    let (status, body) = send(app.get(&keys_path(&other), key)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
}

async fn requests_by_a_key_are_attributed_to_the_key_in_the_audit_trail(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let bot = app
        .create_api_key(&acme, &alice, json!({ "name": "ops bot", "role": "admin" }))
        .await;
    let bot_key = bot["token"].as_str().unwrap();
    // The key itself manages keys: creates one, then revokes it.
    let (status, child) = send(app.post(
        &keys_path(&acme),
        bot_key,
        json!({ "name": "child", "permissions": ["api:read"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    assert!(
        child["created_by"].is_null(),
        "a key is created by no user: {child}"
    );
    let child_id = child["id"].as_str().unwrap();
    let (status, _) = send(app.delete(&format!("{}/{child_id}", keys_path(&acme)), bot_key)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, audit) = send(app.get(&format!("/api/v1/workspaces/{acme}/audit"), bot_key)).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let by_key: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == child_id)
        .collect();
    let actions: Vec<&str> = by_key
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["api_key.revoke", "api_key.create"],
        "newest first"
    );
    for event in by_key {
        assert_eq!(event["actor_label"], "api key \"ops bot\"");
        assert!(event["actor_user_id"].is_null());
        assert_eq!(event["actor_token_id"], bot["id"]);
    }
    // Alice's own creation of the bot is hers.
    let (_, mine) = send(
        app.get(
            &format!(
                "/api/v1/workspaces/{acme}/audit?target={}",
                bot["id"].as_str().unwrap()
            ),
            &alice.token,
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(mine["items"][0]["action"], "api_key.create");
    assert_eq!(mine["items"][0]["actor_label"], "alice");
    assert_eq!(mine["items"][0]["actor_user_id"], alice.id.as_str());
}

async fn revoking_a_key_is_immediate(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let created = app
        .create_api_key(
            &acme,
            &alice,
            json!({ "name": "short-lived", "role": "viewer" }),
        )
        .await;
    let key = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(send(app.get("/api/v1/me", key)).await.0, StatusCode::OK);

    let item = format!("{}/{id}", keys_path(&acme));
    let (status, _) = send(
        app.delete(&item, &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.get("/api/v1/me", key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");

    let (_, record) = send(app.get(&item, &alice.token).header("x-workspace-id", &acme)).await;
    assert_eq!(record["status"], "revoked");
    let revocations = app.audit_events("api_key.revoke").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].target_id.as_deref(), Some(id));
    assert_eq!(revocations[0].workspace_id.as_deref(), Some(acme.as_str()));
}

async fn a_key_of_one_workspace_is_not_found_under_another(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let other = app.workspace("other").await;
    app.join(&other, &alice, "admin").await;
    let created = app
        .create_api_key(&acme, &alice, json!({ "name": "acme's", "role": "viewer" }))
        .await;
    let id = created["id"].as_str().unwrap();
    let elsewhere = format!("{}/{id}", keys_path(&other));
    let pat = app.create_token(&alice, json!({ "name": "a pat" })).await;
    let pat_id = pat["id"].as_str().unwrap();
    for request in [
        app.get(&elsewhere, &alice.token),
        app.delete(&elsewhere, &alice.token),
        app.post(&format!("{elsewhere}/rotate"), &alice.token, json!({})),
    ] {
        let (status, body) = send(request.header("x-workspace-id", &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(code(&body), "not_found");
    }
    // A personal token is no API key, even in the right workspace.
    let (status, body) = send(
        app.get(&format!("{}/{pat_id}", keys_path(&acme)), &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // The key still works: nothing above touched it.
    assert_eq!(
        send(app.get("/api/v1/me", created["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}

async fn keys_are_listed_without_secrets_and_rotation_gives_a_new_one(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let created = app
        .create_api_key(
            &acme,
            &alice,
            json!({ "name": "ci", "permissions": ["api:read"], "expires_in": "90d" }),
        )
        .await;
    let old = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["kind"], "api_key");
    assert_eq!(created["prefix"], &old[..12]);
    assert!(created["user_id"].is_null());

    let (_, list) = send(
        app.get(&keys_path(&acme), &alice.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    let text = list.to_string();
    assert!(!text.contains(old), "the list leaks the secret");
    assert!(!text.contains("\"token\""));
    // Personal tokens of the creator are not workspace keys.
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (status, rotated) = send(
        app.post(
            &format!("{}/{id}/rotate", keys_path(&acme)),
            &alice.token,
            json!({}),
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new = rotated["token"].as_str().unwrap();
    assert!(new.starts_with("tsr_key_"));
    assert_ne!(new, old);
    assert_eq!(rotated["id"], created["id"]);
    assert_eq!(rotated["expires_at"], created["expires_at"]);
    assert_eq!(send(app.get("/api/v1/me", new)).await.0, StatusCode::OK);
    assert_eq!(
        send(app.get("/api/v1/me", old)).await.0,
        StatusCode::UNAUTHORIZED,
        "no overlap was asked for"
    );
}

async fn answers_carrying_a_key_secret_are_never_cached(app: TestApp) {
    let (acme, alice) = workspace_with_admin(&app).await;
    let response = app
        .post(
            &keys_path(&acme),
            &alice.token,
            json!({ "name": "cached?", "role": "viewer" }),
        )
        .header("x-workspace-id", &acme)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();

    let response = app
        .post(
            &format!("{}/{id}/rotate", keys_path(&acme)),
            &alice.token,
            json!({ "overlap_seconds": 60 }),
        )
        .header("x-workspace-id", &acme)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: Value = response.json().await.unwrap();
    assert!(rotated["token"].as_str().unwrap().starts_with("tsr_key_"));
}
