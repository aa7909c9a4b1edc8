//! Ranked roles: whoever hands out a role (an API key's, an agent's, a
//! membership's, or a key's secret by rotation) needs a rank no lower than
//! it and every permission it grants. By default owner > admin > member >
//! viewer, and only the owner holds `workspace:manage`.

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    an_admin_cannot_mint_an_owner_api_key_and_an_owner_can,
    an_admin_cannot_rotate_an_owner_key_into_its_own_hands,
    an_admin_cannot_make_an_owner_nor_touch_one_and_an_owner_can,
    a_member_cannot_grant_admin_even_holding_the_permissions_to_manage,
    equal_permissions_are_told_apart_by_rank,
    unknown_role_names_are_refused_with_the_roles_there_are,
    a_profile_admin_cannot_make_or_mint_for_an_owner_agent,
);

fn in_workspace(
    app: &TestApp,
    method: Method,
    path: &str,
    who: &TestUser,
    w: &str,
) -> RequestBuilder {
    app.request(method, path)
        .bearer_auth(&who.token)
        .header("x-workspace-id", w)
}

async fn create_key(app: &TestApp, w: &str, who: &TestUser, role: &str) -> (StatusCode, Value) {
    send(
        in_workspace(
            app,
            Method::POST,
            &format!("/api/v1/workspaces/{w}/api-keys"),
            who,
            w,
        )
        .json(&json!({ "name": format!("{role} key"), "role": role })),
    )
    .await
}

async fn set_role(
    app: &TestApp,
    w: &str,
    who: &TestUser,
    target: &TestUser,
    role: &str,
) -> (StatusCode, Value) {
    send(
        in_workspace(
            app,
            Method::PUT,
            &format!("/api/v1/workspaces/{w}/members/{}", target.id),
            who,
            w,
        )
        .json(&json!({ "role": role })),
    )
    .await
}

/// 403 `permission_denied` whose message names `role`.
fn assert_refused_naming(status: StatusCode, body: &Value, role: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(body), "permission_denied", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("\"{role}\"")), "{body}");
}

async fn an_admin_cannot_mint_an_owner_api_key_and_an_owner_can(app: TestApp) {
    let w = app.workspace("acme").await;
    let owner = app.member("olivia", &w, "owner").await;
    let admin = app.member("adam", &w, "admin").await;

    let (status, body) = create_key(&app, &w, &admin, "owner").await;
    assert_refused_naming(status, &body, "owner");
    // Nor as a permission list holding what only the owner holds.
    let (status, body) = send(
        in_workspace(
            &app,
            Method::POST,
            &format!("/api/v1/workspaces/{w}/api-keys"),
            &admin,
            &w,
        )
        .json(&json!({ "name": "sneaky", "permissions": ["workspace:manage"] })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nothing was created by the refusals.
    let (_, list) = send(in_workspace(
        &app,
        Method::GET,
        &format!("/api/v1/workspaces/{w}/api-keys"),
        &owner,
        &w,
    ))
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");

    for role in ["admin", "member", "viewer"] {
        let (status, body) = create_key(&app, &w, &admin, role).await;
        assert_eq!(status, StatusCode::CREATED, "{role}: {body}");
    }
    let (status, body) = create_key(&app, &w, &owner, "owner").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The owner key holds what the admin does not.
    let key = body["token"].as_str().unwrap();
    let answer = app.verify_needing(key, &["workspace:manage"]).await;
    assert_eq!(answer["valid"], true, "{answer}");

    // A key made by an admin cannot mint above the admin either.
    let (_, admin_key) = create_key(&app, &w, &admin, "admin").await;
    let admin_key = TestUser {
        token: admin_key["token"].as_str().unwrap().to_owned(),
        ..admin.clone()
    };
    let (status, body) = create_key(&app, &w, &admin_key, "owner").await;
    assert_refused_naming(status, &body, "owner");
}

async fn an_admin_cannot_rotate_an_owner_key_into_its_own_hands(app: TestApp) {
    let w = app.workspace("acme").await;
    let owner = app.member("olivia", &w, "owner").await;
    let admin = app.member("adam", &w, "admin").await;
    let (_, key) = create_key(&app, &w, &owner, "owner").await;
    let rotate = format!(
        "/api/v1/workspaces/{w}/api-keys/{}/rotate",
        key["id"].as_str().unwrap()
    );

    let (status, body) =
        send(in_workspace(&app, Method::POST, &rotate, &admin, &w).json(&json!({}))).await;
    assert_refused_naming(status, &body, "owner");
    // The refused rotation changed nothing: the key's secret still works.
    let answer = app
        .verify_needing(key["token"].as_str().unwrap(), &[])
        .await;
    assert_eq!(answer["valid"], true, "{answer}");

    let (status, body) =
        send(in_workspace(&app, Method::POST, &rotate, &owner, &w).json(&json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn an_admin_cannot_make_an_owner_nor_touch_one_and_an_owner_can(app: TestApp) {
    let w = app.workspace("acme").await;
    let owner = app.member("olivia", &w, "owner").await;
    let admin = app.member("adam", &w, "admin").await;
    let newcomer = app.user("nina").await;

    // An admin manages members up to admins.
    let (status, body) = set_role(&app, &w, &admin, &newcomer, "member").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "member");
    let (status, body) = set_role(&app, &w, &admin, &newcomer, "admin").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Never to owner, and never over an owner.
    let (status, body) = set_role(&app, &w, &admin, &newcomer, "owner").await;
    assert_refused_naming(status, &body, "owner");
    let (status, body) = set_role(&app, &w, &admin, &owner, "viewer").await;
    assert_refused_naming(status, &body, "owner");
    let (status, body) = send(in_workspace(
        &app,
        Method::DELETE,
        &format!("/api/v1/workspaces/{w}/members/{}", owner.id),
        &admin,
        &w,
    ))
    .await;
    assert_refused_naming(status, &body, "owner");
    let owner_still = app
        .state
        .workspaces
        .membership(&w, &owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner_still.role, "owner", "refusals changed nothing");
    assert_eq!(
        app.state
            .workspaces
            .membership(&w, &newcomer.id)
            .await
            .unwrap()
            .unwrap()
            .role,
        "admin"
    );

    // An owner may make an owner; a deployment admin may grant anything.
    let (status, body) = set_role(&app, &w, &owner, &newcomer, "owner").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let root = app.admin().await;
    let other = app.user("oscar").await;
    let (status, body) = send(app.put(
        &format!("/api/v1/workspaces/{w}/members/{}", other.id),
        &root.token,
        json!({ "role": "owner" }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Audited like any role change.
    let changes = app.audit_events("member.role_change").await;
    assert!(changes
        .iter()
        .any(|e| e.target_id.as_deref() == Some(newcomer.id.as_str())
            && e.details["role"] == "owner"));

    // A viewer manages no members at all.
    let viewer = app.member("vera", &w, "viewer").await;
    let (status, body) = set_role(&app, &w, &viewer, &newcomer, "viewer").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
}

/// A deployment whose members may manage keys and members, below admins.
const MANAGING_MEMBERS: &str = r#"
role_order = ["owner", "admin", "member", "viewer"]
[roles]
owner = ["tokens:manage", "api_keys:manage", "members:manage", "audit:read", "workspace:manage", "api:read", "api:write"]
admin = ["tokens:manage", "api_keys:manage", "members:manage", "audit:read", "api:read", "api:write"]
member = ["tokens:manage", "api_keys:manage", "members:manage", "api:read", "api:write"]
viewer = ["tokens:manage", "api:read"]
"#;

async fn a_member_cannot_grant_admin_even_holding_the_permissions_to_manage(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_config(backend, MANAGING_MEMBERS).await else {
        return;
    };
    let w = app.workspace("acme").await;
    let member = app.member("mia", &w, "member").await;
    let other = app.user("otto").await;

    let (status, body) = create_key(&app, &w, &member, "admin").await;
    assert_refused_naming(status, &body, "admin");
    let (status, body) = set_role(&app, &w, &member, &other, "admin").await;
    assert_refused_naming(status, &body, "admin");
    assert!(app
        .state
        .workspaces
        .membership(&w, &other.id)
        .await
        .unwrap()
        .is_none());

    let (status, body) = create_key(&app, &w, &member, "member").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = set_role(&app, &w, &member, &other, "viewer").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn equal_permissions_are_told_apart_by_rank(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_config(
        backend,
        r#"
role_order = ["boss", "deputy", "staff"]
[roles]
boss = ["tokens:manage", "api_keys:manage", "members:manage", "api:read"]
deputy = ["tokens:manage", "api_keys:manage", "members:manage", "api:read"]
staff = ["tokens:manage", "api:read"]
"#,
    )
    .await
    else {
        return;
    };
    let w = app.workspace("acme").await;
    let boss = app.member("bea", &w, "boss").await;
    let deputy = app.member("dan", &w, "deputy").await;
    let (status, body) = create_key(&app, &w, &deputy, "boss").await;
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_refused_naming(status, &body, "boss");
    assert!(message.contains("ranks above"), "{message}");
    let (status, body) = create_key(&app, &w, &boss, "boss").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = set_role(&app, &w, &deputy, &boss, "staff").await;
    assert_refused_naming(status, &body, "boss");
}

async fn unknown_role_names_are_refused_with_the_roles_there_are(app: TestApp) {
    let w = app.workspace("acme").await;
    let owner = app.member("olivia", &w, "owner").await;
    let other = app.user("otto").await;
    let root = app.admin().await;
    for role in ["ghost", "Owner", "owner ", ""] {
        let (status, body) = create_key(&app, &w, &owner, role).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{role:?}: {body}");
        assert!(
            body.to_string().contains("owner, admin, member, viewer"),
            "{body}"
        );
        let (status, body) = set_role(&app, &w, &owner, &other, role).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{role:?}: {body}");
        let (status, body) = send(app.put(
            &format!("/api/v1/workspaces/{w}/members/{}", other.id),
            &root.token,
            json!({ "role": role }),
        ))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{role:?}: {body}");
    }
    assert!(app
        .state
        .workspaces
        .membership(&w, &other.id)
        .await
        .unwrap()
        .is_none());
}

/// GroupChat's profile ranks owner > admin > member > guest, and its owner
/// and admin hold the same permissions: only the rank tells them apart.
async fn a_profile_admin_cannot_make_or_mint_for_an_owner_agent(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_profile(backend, "groupchat").await else {
        return;
    };
    let w = app.workspace("acme").await;
    let owner = app.member("olivia", &w, "owner").await;
    let admin = app.member("adam", &w, "admin").await;
    let agents = format!("/api/v1/workspaces/{w}/agents");

    let (status, body) = send(
        in_workspace(&app, Method::POST, &agents, &admin, &w)
            .json(&json!({ "name": "boss bot", "role": "owner" })),
    )
    .await;
    assert_refused_naming(status, &body, "owner");
    let (status, bot) = send(
        in_workspace(&app, Method::POST, &agents, &admin, &w)
            .json(&json!({ "name": "bot", "role": "member" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let bot_path = format!("{agents}/{}", bot["id"].as_str().unwrap());
    let (status, body) = send(
        in_workspace(&app, Method::PATCH, &bot_path, &admin, &w).json(&json!({ "role": "owner" })),
    )
    .await;
    assert_refused_naming(status, &body, "owner");

    // The owner makes an owner agent; the admin may neither mint its
    // tokens nor lower its role.
    let (status, boss_bot) = send(
        in_workspace(&app, Method::POST, &agents, &owner, &w)
            .json(&json!({ "name": "boss bot", "role": "owner" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{boss_bot}");
    let boss_path = format!("{agents}/{}", boss_bot["id"].as_str().unwrap());
    let (status, body) = send(
        in_workspace(
            &app,
            Method::POST,
            &format!("{boss_path}/tokens"),
            &admin,
            &w,
        )
        .json(&json!({ "name": "t" })),
    )
    .await;
    assert_refused_naming(status, &body, "owner");
    let (status, body) = send(
        in_workspace(&app, Method::PATCH, &boss_path, &admin, &w).json(&json!({ "role": "guest" })),
    )
    .await;
    assert_refused_naming(status, &body, "owner");
    let (status, body) = send(
        in_workspace(
            &app,
            Method::POST,
            &format!("{boss_path}/tokens"),
            &owner,
            &w,
        )
        .json(&json!({ "name": "t" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Profile roles grant as before below the top.
    let (status, body) = create_key(&app, &w, &admin, "guest").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = create_key(&app, &w, &admin, "owner").await;
    assert_refused_naming(status, &body, "owner");
}
