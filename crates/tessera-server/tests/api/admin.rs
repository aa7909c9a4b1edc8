//! Deployment administration (users, workspaces, memberships) and the
//! workspace audit trail.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    admin_routes_refuse_non_admins_and_answer_admins,
    creating_users_refuses_duplicates_weak_passwords_and_bad_names,
    users_are_suspended_reactivated_and_removed,
    suspending_or_reactivating_a_removed_user_is_a_documented_409,
    members_are_listed_set_and_removed,
    the_audit_trail_pages_newest_first,
    the_audit_trail_filters_by_action_actor_target_and_time,
    reading_the_audit_trail_needs_audit_read_in_that_workspace,
    audit_events_carry_actor_client_and_target_and_never_a_secret,
    every_lifecycle_action_is_audited,
);

/// Every deployment-admin route, as (method, path) for a real user and
/// workspace, with a body where the route takes one.
fn admin_routes(user: &str, workspace: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/users".into(), None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(json!({ "username": "newcomer", "password": "long enough pw" })),
        ),
        (Method::GET, format!("/api/v1/users/{user}"), None),
        (Method::POST, format!("/api/v1/users/{user}/suspend"), None),
        (
            Method::POST,
            format!("/api/v1/users/{user}/reactivate"),
            None,
        ),
        (Method::GET, "/api/v1/workspaces".into(), None),
        (
            Method::POST,
            "/api/v1/workspaces".into(),
            Some(json!({ "name": "newco" })),
        ),
        (
            Method::GET,
            format!("/api/v1/workspaces/{workspace}/members"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/workspaces/{workspace}/members/{user}"),
            Some(json!({ "role": "member" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workspaces/{workspace}/members/{user}"),
            None,
        ),
        // Last: it cannot be undone.
        (Method::DELETE, format!("/api/v1/users/{user}"), None),
    ]
}

fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: &Option<Value>,
    token: &str,
) -> RequestBuilder {
    let request = app.request(method.clone(), path).bearer_auth(token);
    match body {
        Some(body) => request.json(body),
        None => request,
    }
}

async fn admin_routes_refuse_non_admins_and_answer_admins(app: TestApp) {
    let admin = app.admin().await;
    let acme = app.workspace("acme").await;
    let target = app.user("target").await;
    app.join(&acme, &target, "member").await;
    // An owner of the workspace is still no deployment admin.
    let owner = app.user("owner").await;
    app.join(&acme, &owner, "owner").await;
    // Nor is an admin's narrowed token.
    let narrowed = app
        .create_token(&admin, json!({ "name": "narrowed", "permissions": [] }))
        .await;
    let narrowed = narrowed["token"].as_str().unwrap().to_owned();

    let routes = admin_routes(&target.id, &acme);
    for (method, path, body) in &routes {
        for (who, token) in [
            ("workspace owner", owner.token.as_str()),
            ("workspace owner with header", owner.token.as_str()),
            ("narrowed admin token", narrowed.as_str()),
        ] {
            // A workspace owner manages its members within its rank
            // (roles.rs); everything else here stays the deployment's.
            if who.starts_with("workspace owner") && path.contains("/members") {
                continue;
            }
            let mut request = call(&app, method, path, body, token);
            if who.ends_with("header") {
                request = request.header("x-workspace-id", &acme);
            }
            let (status, answer) = send(request).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}: {answer}"
            );
            assert_eq!(code(&answer), "permission_denied", "{who}: {method} {path}");
        }
    }
    let (_, users) = send(app.get("/api/v1/users", &admin.token)).await;
    assert!(
        !users.to_string().contains("newcomer"),
        "refused calls changed nothing"
    );

    for (method, path, body) in &routes {
        let (status, answer) = send(call(&app, method, path, body, &admin.token)).await;
        assert!(
            status.is_success(),
            "admin: {method} {path}: {status} {answer}"
        );
    }
}

async fn creating_users_refuses_duplicates_weak_passwords_and_bad_names(app: TestApp) {
    let admin = app.admin().await;
    let (status, created) = send(app.post(
        "/api/v1/users",
        &admin.token,
        json!({ "username": "carol", "password": "correct horse", "admin": false }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "carol");
    assert_eq!(created["admin"], false);
    assert_eq!(created["status"], "active");
    assert!(created["id"].as_str().unwrap().starts_with("usr_"));
    assert!(!created.to_string().contains("correct horse"));
    assert!(created.get("password_hash").is_none());

    let (status, body) = send(app.post(
        "/api/v1/users",
        &admin.token,
        json!({ "username": "carol", "password": "another password" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "conflict");

    let (status, body) = send(app.post(
        "/api/v1/users",
        &admin.token,
        json!({ "username": "dave", "password": "short" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("password"));

    let (status, body) = send(app.post(
        "/api/v1/users",
        &admin.token,
        json!({ "username": "no spaces/please", "password": "long enough pw" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("username"));

    // The new user can sign in; the refused ones do not exist.
    let (status, _) = send(
        app.request(Method::POST, "/api/v1/session")
            .json(&json!({ "username": "carol", "password": "correct horse" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, users) = send(app.get("/api/v1/users", &admin.token)).await;
    let names: BTreeSet<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["carol", "root"]));
}

async fn users_are_suspended_reactivated_and_removed(app: TestApp) {
    let admin = app.admin().await;
    let alice = app.user("alice").await;
    let user_path = format!("/api/v1/users/{}", alice.id);

    let (status, suspended) =
        send(app.post(&format!("{user_path}/suspend"), &admin.token, json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(
        send(app.get("/api/v1/me", &alice.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, reactivated) =
        send(app.post(&format!("{user_path}/reactivate"), &admin.token, json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reactivated["status"], "active");

    // An admin cannot lock themselves out.
    let (status, body) = send(app.post(
        &format!("/api/v1/users/{}/suspend", admin.id),
        &admin.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, _) = send(app.delete(&user_path, &admin.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, removed) = send(app.get(&user_path, &admin.token)).await;
    assert_eq!(removed["status"], "removed");
    let (status, body) = send(app.get("/api/v1/users/usr_nobody0000000000", &admin.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");

    let actions: Vec<String> = ["user.suspend", "user.reactivate", "user.remove"]
        .into_iter()
        .map(String::from)
        .collect();
    for action in &actions {
        let events = app.audit_events(action).await;
        assert_eq!(events.len(), 1, "{action}");
        assert_eq!(events[0].target_id.as_deref(), Some(alice.id.as_str()));
        assert_eq!(events[0].actor_user_id.as_deref(), Some(admin.id.as_str()));
    }
}

async fn members_are_listed_set_and_removed(app: TestApp) {
    let admin = app.admin().await;
    let alice = app.user("alice").await;
    let (status, workspace) = send(app.post(
        "/api/v1/workspaces",
        &admin.token,
        json!({ "name": "Acme" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{workspace}");
    let acme = workspace["id"].as_str().unwrap();
    assert!(acme.starts_with("wsp_"));
    let (_, workspaces) = send(app.get("/api/v1/workspaces", &admin.token)).await;
    assert_eq!(workspaces["items"][0]["name"], "Acme");

    let member_path = format!("/api/v1/workspaces/{acme}/members/{}", alice.id);
    let (status, member) =
        send(app.put(&member_path, &admin.token, json!({ "role": "viewer" }))).await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["role"], "viewer");
    let (status, body) =
        send(app.put(&member_path, &admin.token, json!({ "role": "emperor" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, member) =
        send(app.put(&member_path, &admin.token, json!({ "role": "admin" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(member["role"], "admin");

    let (status, members) =
        send(app.get(&format!("/api/v1/workspaces/{acme}/members"), &admin.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert_eq!(members["items"][0]["user_id"], alice.id.as_str());
    assert_eq!(members["items"][0]["role"], "admin");

    let changes = app.audit_events("member.role_change").await;
    assert_eq!(changes.len(), 2, "the refused role was not recorded");
    assert_eq!(changes[0].details["role"], "admin");
    assert_eq!(changes[0].details["previous_role"], "viewer");

    let (status, _) = send(app.delete(&member_path, &admin.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.delete(&member_path, &admin.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = send(
        app.get(&format!("/api/v1/workspaces/{acme}/api-keys"), &alice.token)
            .header("x-workspace-id", acme),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member", "removal applies at once");
    let (status, _) = send(app.get(
        "/api/v1/workspaces/wsp_nowhere000000000/members",
        &admin.token,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A workspace with an admin who reads its audit trail, and `n` API keys
/// created there (one `api_key.create` event each, after the membership's).
async fn workspace_with_events(app: &TestApp, n: usize) -> (String, TestUser, Vec<String>) {
    let acme = app.workspace("acme").await;
    let alice = app.user("alice").await;
    app.join(&acme, &alice, "admin").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let key = app
            .create_api_key(
                &acme,
                &alice,
                json!({ "name": format!("key {i}"), "role": "viewer" }),
            )
            .await;
        ids.push(key["id"].as_str().unwrap().to_owned());
    }
    (acme, alice, ids)
}

async fn audit_page(app: &TestApp, acme: &str, reader: &TestUser, query: &[(&str, &str)]) -> Value {
    let (status, page) = send(
        app.get(&format!("/api/v1/workspaces/{acme}/audit"), &reader.token)
            .header("x-workspace-id", acme)
            .query(query),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{query:?}: {page}");
    page
}

async fn the_audit_trail_pages_newest_first(app: TestApp) {
    let (acme, alice, keys) = workspace_with_events(&app, 5).await;
    let all = audit_page(&app, &acme, &alice, &[]).await;
    let all_ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        all_ids.len(),
        7,
        "the workspace, a role change and five keys: {all}"
    );
    assert!(all["next_cursor"].is_null());
    let times: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(all["items"][0]["target_id"], keys[4].as_str());
    assert_eq!(all["items"][5]["action"], "member.role_change");
    assert_eq!(all["items"][6]["action"], "workspace.create");

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut query = vec![("limit", "2")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let page = audit_page(&app, &acme, &alice, &query).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, all_ids, "pages join up to the whole trail, in order");

    for bad in [("limit", "0"), ("limit", "100000"), ("cursor", "../../etc")] {
        let (status, body) = send(
            app.get(&format!("/api/v1/workspaces/{acme}/audit"), &alice.token)
                .header("x-workspace-id", &acme)
                .query(&[bad]),
        )
        .await;
        assert!(status.is_client_error(), "{bad:?}: {status}");
        assert_eq!(code(&body), "invalid_request");
    }
}

async fn the_audit_trail_filters_by_action_actor_target_and_time(app: TestApp) {
    let (acme, alice, keys) = workspace_with_events(&app, 2).await;
    let bob = app.user("bob").await;
    app.join(&acme, &bob, "admin").await;
    let by_bob = app
        .create_api_key(&acme, &bob, json!({ "name": "bob's", "role": "viewer" }))
        .await;
    let by_bob = by_bob["id"].as_str().unwrap();

    let actions = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = audit_page(&app, &acme, &alice, &[("action", "api_key.create")]).await;
    assert_eq!(actions(&page), ["api_key.create"; 3]);

    let page = audit_page(&app, &acme, &alice, &[("actor", &bob.id)]).await;
    assert_eq!(actions(&page), ["api_key.create"]);
    assert_eq!(page["items"][0]["target_id"], by_bob);

    let page = audit_page(&app, &acme, &alice, &[("target", &keys[0])]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["target_id"], keys[0].as_str());

    let page = audit_page(&app, &acme, &alice, &[("target", &bob.id)]).await;
    assert_eq!(actions(&page), ["member.role_change"]);

    // Time: everything is after a past date and before a future one;
    // nothing is after the future or before the past.
    let past = "2001-01-01T00:00:00Z";
    let future = "2999-01-01T00:00:00Z";
    let total = audit_page(&app, &acme, &alice, &[]).await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(total, 6, "the workspace, two members, three keys");
    let window = audit_page(&app, &acme, &alice, &[("since", past), ("until", future)]).await;
    assert_eq!(window["items"].as_array().unwrap().len(), total);
    for query in [[("since", future)], [("until", past)]] {
        let page = audit_page(&app, &acme, &alice, &query).await;
        assert_eq!(page["items"], json!([]), "{query:?}");
    }
    // `since` set to the newest event's time keeps that event.
    let newest = audit_page(&app, &acme, &alice, &[("limit", "1")]).await;
    let at = newest["items"][0]["at"].as_str().unwrap().to_owned();
    let since = audit_page(&app, &acme, &alice, &[("since", &at)]).await;
    assert!(since["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == newest["items"][0]["id"]));

    let combined = audit_page(
        &app,
        &acme,
        &alice,
        &[("action", "api_key.create"), ("actor", &alice.id)],
    )
    .await;
    assert_eq!(combined["items"].as_array().unwrap().len(), 2);

    for bad in [("since", "yesterday"), ("until", "2026-13-45T99:00:00Z")] {
        let (status, body) = send(
            app.get(&format!("/api/v1/workspaces/{acme}/audit"), &alice.token)
                .header("x-workspace-id", &acme)
                .query(&[bad]),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(bad.0));
    }
}

async fn reading_the_audit_trail_needs_audit_read_in_that_workspace(app: TestApp) {
    let (acme, alice, _) = workspace_with_events(&app, 1).await;
    let other = app.workspace("other").await;
    let path = format!("/api/v1/workspaces/{acme}/audit");
    for role in ["member", "viewer"] {
        let user = app.user(role).await;
        app.join(&acme, &user, role).await;
        let (status, body) =
            send(app.get(&path, &user.token).header("x-workspace-id", &acme)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
        assert_eq!(code(&body), "permission_denied", "{role}");
    }
    // An admin of another workspace reads nothing here.
    let outsider = app.user("outsider").await;
    app.join(&other, &outsider, "owner").await;
    let (status, body) = send(
        app.get(&path, &outsider.token)
            .header("x-workspace-id", &other),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
    let (status, body) = send(
        app.get(&path, &outsider.token)
            .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
    // A PAT without the header has not chosen a workspace.
    let (status, body) = send(app.get(&path, &alice.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");
    // The owner's and the admin's roles hold audit:read; a signed-in session
    // needs no header.
    let (cookie, _) = app.sign_in(&alice).await;
    let (status, page) = send(app.request(Method::GET, &path).header("cookie", cookie)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // Each workspace sees only its own events.
    let owner = app.user("owner").await;
    app.join(&other, &owner, "owner").await;
    let (_, theirs) = send(
        app.get(&format!("/api/v1/workspaces/{other}/audit"), &owner.token)
            .header("x-workspace-id", &other),
    )
    .await;
    assert!(theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["workspace_id"] == other.as_str()));
    assert!(!theirs.to_string().contains(&acme));
}

async fn audit_events_carry_actor_client_and_target_and_never_a_secret(app: TestApp) {
    let acme = app.workspace("acme").await;
    let alice = app.user("alice").await;
    app.join(&acme, &alice, "admin").await;
    let (status, key) = send(
        app.post(
            &format!("/api/v1/workspaces/{acme}/api-keys"),
            &alice.token,
            json!({ "name": "traced", "role": "viewer" }),
        )
        .header("x-workspace-id", &acme)
        .header("user-agent", "audit-probe/2.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = key["token"].as_str().unwrap();
    let id = key["id"].as_str().unwrap();
    let (status, rotated) = send(
        app.post(
            &format!("/api/v1/workspaces/{acme}/api-keys/{id}/rotate"),
            &alice.token,
            json!({}),
        )
        .header("x-workspace-id", &acme),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let new_secret = rotated["token"].as_str().unwrap();

    let page = audit_page(&app, &acme, &alice, &[("target", id)]).await;
    let created = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "api_key.create")
        .expect("the creation is audited")
        .clone();
    assert_eq!(created["actor_user_id"], alice.id.as_str());
    assert_eq!(created["actor_label"], "alice");
    assert!(created["actor_token_id"]
        .as_str()
        .unwrap()
        .starts_with("tok_"));
    assert_eq!(created["client_ip"], "127.0.0.1");
    assert_eq!(created["user_agent"], "audit-probe/2.0");
    assert_eq!(created["target_type"], "token");
    assert_eq!(created["target_id"], id);
    assert_eq!(created["workspace_id"], acme.as_str());
    assert_eq!(created["details"]["name"], "traced");

    // No event anywhere, as the API or the store hold it, has a secret.
    let everything = app
        .state
        .store
        .list_audit(&Default::default(), &tessera_store::Page::first(500))
        .await
        .unwrap();
    let stored = serde_json::to_string(&everything).unwrap();
    for text in [page.to_string(), stored] {
        for secret in [
            secret,
            new_secret,
            alice.token.as_str(),
            alice.password.as_str(),
        ] {
            assert!(
                !text.contains(&secret[8..]),
                "an audit event holds a secret"
            );
        }
    }
}

async fn every_lifecycle_action_is_audited(app: TestApp) {
    let admin = app.admin().await;
    let acme = app.workspace("acme").await;
    let alice = app.user("alice").await;
    app.join(&acme, &alice, "admin").await;

    let created = app.create_token(&alice, json!({ "name": "t" })).await;
    let id = created["id"].as_str().unwrap();
    let ok = |status: StatusCode| assert!(status.is_success(), "{status}");
    ok(send(app.post(
        &format!("/api/v1/tokens/{id}/rotate"),
        &alice.token,
        json!({}),
    ))
    .await
    .0);
    ok(
        send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token))
            .await
            .0,
    );
    let key = app
        .create_api_key(&acme, &alice, json!({ "name": "k", "role": "viewer" }))
        .await;
    let key_id = key["id"].as_str().unwrap();
    ok(send(
        app.delete(
            &format!("/api/v1/workspaces/{acme}/api-keys/{key_id}"),
            &alice.token,
        )
        .header("x-workspace-id", &acme),
    )
    .await
    .0);
    ok(send(app.put(
        &format!("/api/v1/workspaces/{acme}/members/{}", alice.id),
        &admin.token,
        json!({ "role": "member" }),
    ))
    .await
    .0);
    let wrong = app
        .request(Method::POST, "/api/v1/session")
        .json(&json!({ "username": "alice", "password": "not the password" }));
    assert_eq!(send(wrong).await.0, StatusCode::UNAUTHORIZED);
    for step in ["suspend", "reactivate"] {
        ok(send(app.post(
            &format!("/api/v1/users/{}/{step}", alice.id),
            &admin.token,
            json!({}),
        ))
        .await
        .0);
    }
    // Revoking all, then removal (which revokes all again).
    let bob = app.user("bob").await;
    ok(send(app.delete("/api/v1/tokens", &bob.token)).await.0);
    ok(
        send(app.delete(&format!("/api/v1/users/{}", alice.id), &admin.token))
            .await
            .0,
    );

    for action in [
        "token.create",
        "token.rotate",
        "token.revoke",
        "token.revoke_all",
        "member.role_change",
        "user.suspend",
        "user.reactivate",
        "user.remove",
        "api_key.create",
        "api_key.revoke",
        "session.sign_in_failed",
    ] {
        let events = app.audit_events(action).await;
        assert!(!events.is_empty(), "no {action} event");
        for event in &events {
            assert!(
                event.actor_label.is_some() || action == "session.sign_in_failed",
                "{action} names no actor"
            );
            assert!(event.at <= time::OffsetDateTime::now_utc());
        }
    }
    let failed = app.audit_events("session.sign_in_failed").await;
    assert_eq!(failed[0].details["username"], "alice");
    assert!(!serde_json::to_string(&failed)
        .unwrap()
        .contains("not the password"));
    let revoked_all = app.audit_events("token.revoke_all").await;
    assert!(revoked_all
        .iter()
        .any(|e| e.target_id.as_deref() == Some(bob.id.as_str()) && e.details["revoked"] == 1));
}

/// The probe found the 409 for suspending a removed user undocumented: it
/// stays 409 (a removed user cannot come back), and the document says so.
async fn suspending_or_reactivating_a_removed_user_is_a_documented_409(app: TestApp) {
    let admin = app.admin().await;
    let gone = app.user("gone").await;
    let (status, body) =
        send(app.delete(&format!("/api/v1/users/{}", gone.id), &admin.token)).await;
    assert!(status.is_success(), "{status} {body}");
    let (_, document) = send(app.request(Method::GET, "/api/openapi.json")).await;
    for action in ["suspend", "reactivate"] {
        let path = format!("/api/v1/users/{}/{action}", gone.id);
        let (status, body) = send(app.post(&path, &admin.token, json!({}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {body}");
        assert_eq!(code(&body), "conflict");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        let documented = &document["paths"][format!("/api/v1/users/{{id}}/{action}")]["post"]
            ["responses"]["409"];
        assert!(documented.is_object(), "{action}: 409 is not documented");
    }
    let (_, user) = send(app.get("/api/v1/users", &admin.token)).await;
    assert!(
        !user.to_string().contains("\"status\":\"suspended\""),
        "{user}"
    );
}
