//! GroupChat (`profiles/groupchat.toml`), walked through its document
//! (GroupChat's public API reference, "Personal Access Tokens")
//! point by point: each test quotes the sentence it checks. Where Tessera
//! deliberately does otherwise, the test says so and names the setting, if
//! any, that restores the documented behaviour.
//!
//! GroupChat's Workspace API (`/api/v1/tasks`, `/api/v1/projects`) is the
//! product's, not Tessera's: here it is stood in for by what a gateway or
//! the product asks Tessera, `GET /auth?permission=tasks:read` (forward-auth)
//! and `POST /api/v1/verify` with the permissions a route needs.
//!
//! The document names `gca_` agent tokens and says nothing more about them;
//! Tessera's model (agents are service accounts of one workspace) is checked
//! in the stories from `agent_tokens_use_gca` on.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::helpers::{code, send, Backend, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(profile = "groupchat";
    pats_are_prefixed_with_gcp,
    workspace_api_keys_use_gck,
    agent_tokens_use_gca,
    the_server_identifies_the_token_type_by_its_prefix,
    one_token_can_access_any_workspace_you_belong_to_with_x_workspace_id,
    a_pat_on_a_workspace_route_without_x_workspace_id_is_refused,
    a_pat_naming_a_workspace_you_do_not_belong_to_is_refused,
    pat_actions_are_attributed_to_you,
    workspace_keys_need_no_header_and_are_attributed_to_the_key_name,
    expiry_is_30_60_90_days_1_year_or_none,
    no_expiration_is_the_default,
    the_token_is_shown_exactly_once,
    only_the_first_12_characters_are_stored_for_display,
    the_last_used_date_is_updated_each_time_a_token_is_used,
    expired_tokens_stop_working_and_are_marked_but_not_deleted,
    revocation_is_immediate_and_any_request_fails_with_401,
    an_agent_is_a_service_account_that_cannot_sign_in,
    agent_tokens_act_with_the_agents_current_role,
    removing_or_suspending_the_agent_stops_its_tokens_at_once,
    agent_tokens_survive_the_removal_of_the_member_who_created_them,
    agent_token_creation_is_limited_to_what_the_creator_holds,
    agent_endpoints_answer_bad_input_with_the_error_body,
    one_agent_is_shown_to_those_who_manage_its_workspace_agents,
    each_agent_holds_at_most_the_active_token_limit,
);

// --- helpers ---------------------------------------------------------------------------------

const PRESETS_MESSAGE: &str =
    "expires_in must be one of: \"30d\", \"60d\", \"90d\", \"1y\", \"never\".";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(s(v), &Rfc3339).expect("an RFC 3339 time")
}

/// A workspace with `alice` as its admin (she may manage workspace keys and
/// agents): returns (workspace id, alice).
async fn workspace_with_admin(app: &TestApp) -> (String, TestUser) {
    let w = app.workspace("Acme").await;
    let alice = app.member("alice", &w, "admin").await;
    (w, alice)
}

/// `caller`'s request on workspace `w`'s routes, selecting it with the header.
fn in_workspace(
    app: &TestApp,
    method: Method,
    path: &str,
    caller: &TestUser,
    w: &str,
) -> reqwest::RequestBuilder {
    app.request(method, path)
        .bearer_auth(&caller.token)
        .header("X-Workspace-Id", w)
}

/// Creates an agent over the API; returns the 201 body.
async fn create_agent(app: &TestApp, w: &str, creator: &TestUser, name: &str, role: &str) -> Value {
    let (status, body) = send(
        in_workspace(
            app,
            Method::POST,
            &format!("/api/v1/workspaces/{w}/agents"),
            creator,
            w,
        )
        .json(&json!({ "name": name, "role": role })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Creates a token for an agent over the API; returns the 201 body.
async fn create_agent_token(
    app: &TestApp,
    w: &str,
    creator: &TestUser,
    agent_id: &str,
    body: Value,
) -> Value {
    let (status, body) = send(
        in_workspace(
            app,
            Method::POST,
            &format!("/api/v1/workspaces/{w}/agents/{agent_id}/tokens"),
            creator,
            w,
        )
        .json(&body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// One of each kind in workspace `w`: alice's PAT, a workspace key and an
/// agent token (their 201 bodies).
async fn one_of_each(app: &TestApp, w: &str, alice: &TestUser) -> (Value, Value, Value) {
    let pat = app.create_token(alice, json!({ "name": "CLI" })).await;
    let key = app
        .create_api_key(w, alice, json!({ "name": "Zapier", "role": "member" }))
        .await;
    let agent = create_agent(app, w, alice, "Triage bot", "member").await;
    let agent_token =
        create_agent_token(app, w, alice, s(&agent["id"]), json!({ "name": "bot" })).await;
    (pat, key, agent_token)
}

/// The item with `id` in the list at `path`, read by `caller` in `w`.
async fn listed(app: &TestApp, caller: &TestUser, w: &str, path: &str, id: &Value) -> Value {
    let (status, body) = send(in_workspace(app, Method::GET, path, caller, w)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == *id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not listed at {path}"))
}

/// Forward-auth as a gateway in front of `GET /api/v1/tasks` would ask it.
fn list_tasks(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    app.get("/auth?permission=tasks:read", token)
}

// --- "Prefixed with gcp_ … Workspace API keys use gck_ and agent tokens use gca_." ----------

// "Prefixed with gcp_ — easy to identify in logs and environment variables."
async fn pats_are_prefixed_with_gcp(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "CLI" })).await;
    assert!(s(&created["token"]).starts_with("gcp_"), "{created}");
    assert_eq!(created["kind"], "pat");
}

// "Workspace API keys use gck_"
async fn workspace_api_keys_use_gck(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let key = app
        .create_api_key(&w, &alice, json!({ "name": "Zapier", "role": "member" }))
        .await;
    assert!(s(&key["token"]).starts_with("gck_"), "{key}");
    assert_eq!(key["kind"], "api_key");
    assert_eq!(key["workspace_id"], w.as_str());
}

// "and agent tokens use gca_."
async fn agent_tokens_use_gca(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let agent = create_agent(&app, &w, &alice, "Triage bot", "member").await;
    let token =
        create_agent_token(&app, &w, &alice, s(&agent["id"]), json!({ "name": "bot" })).await;
    assert!(s(&token["token"]).starts_with("gca_"), "{token}");
    assert_eq!(token["kind"], "agent");
    // Owned by the agent, bound to its workspace.
    assert_eq!(token["user_id"], agent["id"]);
    assert_eq!(token["workspace_id"], w.as_str());
    assert_eq!(token["created_by"], alice.id.as_str());
}

// "The server identifies the token type by its prefix and resolves your user
// identity automatically."
async fn the_server_identifies_the_token_type_by_its_prefix(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let (pat, key, agent_token) = one_of_each(&app, &w, &alice).await;
    // A PAT names its workspace on every request (see below).
    let answer = app
        .verify(json!({ "token": pat["token"], "workspace_id": w }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["kind"], "pat");
    assert_eq!(answer["user_id"], alice.id.as_str());

    let answer = app.verify(json!({ "token": key["token"] })).await;
    assert_eq!(answer["kind"], "api_key");
    assert_eq!(answer["user_id"], Value::Null);
    assert_eq!(answer["workspace_id"], w.as_str());

    let answer = app.verify(json!({ "token": agent_token["token"] })).await;
    assert_eq!(answer["kind"], "agent");
    assert_eq!(answer["user_id"], agent_token["user_id"]);
    assert_eq!(answer["workspace_id"], w.as_str());

    // A prefix the server does not issue is not a token of its.
    let foreign = format!("gcx_{}", &s(&pat["token"])[4..]);
    let answer = app.verify(json!({ "token": foreign })).await;
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["code"], "token_invalid");
}

// --- "User-scoped … One token can access any workspace you belong to by passing the
// X-Workspace-Id header." --------------------------------------------------------------------

// "PATs are tied to your account, not to a single workspace. One token can
// access any workspace you belong to by passing the X-Workspace-Id header."
async fn one_token_can_access_any_workspace_you_belong_to_with_x_workspace_id(app: TestApp) {
    let acme = app.workspace("Acme").await;
    let globex = app.workspace("Globex").await;
    let alice = app.member("alice", &acme, "member").await;
    app.join(&globex, &alice, "guest").await;
    let created = app.create_token(&alice, json!({ "name": "CLI" })).await;
    let pat = s(&created["token"]);
    assert_eq!(
        created["workspace_id"],
        Value::Null,
        "not tied to a workspace"
    );

    for w in [&acme, &globex] {
        // "curl -H "Authorization: Bearer gcp_YOUR_TOKEN" -H "X-Workspace-Id: …" …/api/v1/tasks"
        let response = list_tasks(&app, pat)
            .header("X-Workspace-Id", w.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-tessera-workspace-id"], w.as_str());
        assert_eq!(response.headers()["x-tessera-user-id"], alice.id.as_str());
    }
    // With the role held in each: a guest of Globex cannot "Create a task".
    let (status, body) = send(
        app.get("/auth?permission=tasks:write", pat)
            .header("X-Workspace-Id", globex.as_str()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");
    let answer = app
        .verify(json!({ "token": pat, "workspace_id": acme, "permissions": ["tasks:write"] }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["workspace_id"], acme.as_str());
}

// "Because a PAT is tied to your user account — not a specific workspace — you
// must tell the API which workspace to operate on. Include the X-Workspace-Id
// header with every request" / "Workspace header: Required (X-Workspace-Id)".
async fn a_pat_on_a_workspace_route_without_x_workspace_id_is_refused(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let pat = app.create_token(&alice, json!({ "name": "CLI" })).await;
    let pat = s(&pat["token"]);

    let (status, body) = send(list_tasks(&app, pat)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("workspace header"));

    let answer = app
        .verify(json!({ "token": pat, "permissions": ["tasks:read"] }))
        .await;
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["code"], "workspace_required");

    // Tessera's own workspace routes likewise.
    let (status, body) = send(app.get(&format!("/api/v1/workspaces/{w}/api-keys"), pat)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");

    // An empty header is no header.
    let (status, body) = send(list_tasks(&app, pat).header("X-Workspace-Id", "")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "workspace_required");

    // "with every request": the profile sets `require_workspace_header`, so
    // a product asking about a PAT without naming the workspace is refused
    // even when the route needs no permission...
    let (status, body) = send(app.get("/auth", pat)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "workspace_required");
    let answer = app.verify(json!({ "token": pat })).await;
    assert_eq!(answer["code"], "workspace_required", "{answer}");
    let introspect = |form: String| {
        send(
            app.request(Method::POST, "/oauth/introspect")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form),
        )
    };
    let (_, answer) = introspect(format!("token={pat}")).await;
    assert_eq!(answer, json!({ "active": false }));
    // ... and answered when it does (introspection takes `workspace_id`).
    let (_, answer) = introspect(format!("token={pat}&workspace_id={w}")).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["workspace_id"], w.as_str());
    let (status, _) = send(app.get("/auth", pat).header("X-Workspace-Id", w.as_str())).await;
    assert_eq!(status, StatusCode::OK);
    // Tessera's own token management is not a workspace request.
    let (status, body) = send(app.get("/api/v1/tokens", pat)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// "One token can access any workspace you belong to": only those.
async fn a_pat_naming_a_workspace_you_do_not_belong_to_is_refused(app: TestApp) {
    let (_, alice) = workspace_with_admin(&app).await;
    let other = app.workspace("Globex").await;
    let pat = app.create_token(&alice, json!({ "name": "CLI" })).await;
    let pat = s(&pat["token"]);
    for header in [other.as_str(), "wsp_doesnotexist", "not an id"] {
        let (status, body) = send(list_tasks(&app, pat).header("X-Workspace-Id", header)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{header}: {body}");
        assert_eq!(code(&body), "not_a_member");
    }
    let answer = app
        .verify(json!({ "token": pat, "workspace_id": other }))
        .await;
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["code"], "not_a_member");
}

// "This is useful for personal scripts, CLI tools, and CI/CD pipelines where
// actions should be attributed to you." / "Identity: Actions attributed to you".
async fn pat_actions_are_attributed_to_you(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let created = app
        .create_token(&alice, json!({ "name": "CI/CD pipeline" }))
        .await;
    let pat = s(&created["token"]);
    let answer = app.verify(json!({ "token": pat, "workspace_id": w })).await;
    assert_eq!(answer["user_id"], alice.id.as_str());
    let (_, me) = send(app.get("/api/v1/me", pat)).await;
    assert_eq!(me["user"]["username"], "alice");
    // What the token does is recorded as alice's doing.
    let ci = TestUser {
        token: pat.to_owned(),
        ..alice.clone()
    };
    app.create_api_key(&w, &ci, json!({ "name": "made by CI", "role": "guest" }))
        .await;
    let event = app.audit_events("api_key.create").await.remove(0);
    assert_eq!(event.actor_user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(event.actor_token_id.as_deref(), created["id"].as_str());
    assert_eq!(event.actor_label.as_deref(), Some("alice"));
}

// "Workspace API Key (gck_) — Scope: Single workspace; Identity: Actions
// attributed to the API key name; Workspace header: Not needed (key is
// workspace-bound)".
async fn workspace_keys_need_no_header_and_are_attributed_to_the_key_name(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let key = app
        .create_api_key(&w, &alice, json!({ "name": "Zapier", "role": "admin" }))
        .await;
    let secret = s(&key["token"]);
    let response = list_tasks(&app, secret).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-workspace-id"], w.as_str());
    assert_eq!(response.headers()["x-tessera-user-id"], "");

    let answer = app
        .verify(json!({ "token": secret, "permissions": ["tasks:write"] }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["name"], "Zapier");
    assert_eq!(answer["user_id"], Value::Null);
    assert_eq!(answer["workspace_id"], w.as_str());

    // The same header is harmless; another workspace's is refused (single workspace).
    let same = list_tasks(&app, secret).header("X-Workspace-Id", w.as_str());
    assert_eq!(send(same).await.0, StatusCode::OK);
    let other = app.workspace("Globex").await;
    let (status, body) =
        send(list_tasks(&app, secret).header("X-Workspace-Id", other.as_str())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");

    // What the key does is attributed to the key's name, not to alice.
    let (status, _) = send(app.post(
        &format!("/api/v1/workspaces/{w}/api-keys"),
        secret,
        json!({ "name": "made by Zapier", "role": "guest" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let events = app.audit_events("api_key.create").await;
    let by_key = events
        .iter()
        .find(|e| e.actor_token_id.as_deref() == key["id"].as_str())
        .expect("the key's own action");
    assert_eq!(by_key.actor_label.as_deref(), Some("api key \"Zapier\""));
    assert_eq!(by_key.actor_user_id, None);
}

// --- "Optional expiration" ---------------------------------------------------------------------

// "tokens can be created with a 30-, 60-, 90-day, or 1-year expiry, or with no
// expiration at all."
async fn expiry_is_30_60_90_days_1_year_or_none(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let agent_tokens = format!("/api/v1/workspaces/{w}/agents/{}/tokens", s(&agent["id"]));
    let api_keys = format!("/api/v1/workspaces/{w}/api-keys");
    let create = |path: &str, preset: &str| {
        let mut body = json!({ "name": format!("{preset} token"), "expires_in": preset });
        if path.ends_with("api-keys") {
            body["role"] = json!("guest");
        }
        in_workspace(&app, Method::POST, path, &alice, &w).json(&body)
    };
    for path in ["/api/v1/tokens", api_keys.as_str(), agent_tokens.as_str()] {
        for (preset, days) in [("30d", 30), ("60d", 60), ("90d", 90), ("1y", 365)] {
            let before = OffsetDateTime::now_utc();
            let (status, body) = send(create(path, preset)).await;
            assert_eq!(status, StatusCode::CREATED, "{path} {preset}: {body}");
            let expires = time_of(&body["expires_at"]);
            let expected = before + Duration::days(days);
            assert!(
                (expires - expected).abs() < Duration::minutes(1),
                "{path} {preset}: {expires}"
            );
        }
        let (status, body) = send(create(path, "never")).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
        assert_eq!(body["expires_at"], Value::Null);
        // Anything else is refused, with the choices listed.
        for other in ["7d", "180d", "2y", "forever", ""] {
            let (status, body) = send(create(path, other)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {other}");
            assert_eq!(code(&body), "invalid_request");
            assert_eq!(body["error"]["message"], PRESETS_MESSAGE);
        }
    }
}

// "Choose an expiration period (or leave it as “No expiration”)."
async fn no_expiration_is_the_default(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let (pat, key, agent_token) = one_of_each(&app, &w, &alice).await;
    for created in [pat, key, agent_token] {
        assert_eq!(created["expires_at"], Value::Null, "{created}");
        assert_eq!(created["status"], "active");
    }
}

// --- "Token lifecycle" ---------------------------------------------------------------------------

// "Your token will be displayed once — copy it immediately." / "The full token
// value is shown exactly once at creation time."
async fn the_token_is_shown_exactly_once(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let response = app
        .post("/api/v1/tokens", &alice.token, json!({ "name": "Script" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pat: Value = response.json().await.unwrap();
    let (_, key, agent_token) = one_of_each(&app, &w, &alice).await;
    let agent_id = s(&agent_token["user_id"]);

    let reads = [
        (
            format!("/api/v1/tokens/{}", s(&pat["id"])),
            s(&pat["token"]),
        ),
        ("/api/v1/tokens".to_owned(), s(&pat["token"])),
        (
            format!("/api/v1/workspaces/{w}/api-keys/{}", s(&key["id"])),
            s(&key["token"]),
        ),
        (format!("/api/v1/workspaces/{w}/api-keys"), s(&key["token"])),
        (
            format!("/api/v1/workspaces/{w}/agents/{agent_id}/tokens"),
            s(&agent_token["token"]),
        ),
        (
            format!("/api/v1/workspaces/{w}/agents"),
            s(&agent_token["token"]),
        ),
    ];
    for (path, secret) in reads {
        let (status, body) = send(in_workspace(&app, Method::GET, &path, &alice, &w)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let text = body.to_string();
        assert!(!text.contains(secret), "{path} shows the secret again");
        assert!(!text.contains("\"token\":"), "{path} has a token field");
    }
}

// "Only the first 12 characters (prefix) are stored for display purposes."
//
// Tessera also keeps the last four characters (`last4`), as GitHub shows them,
// so that two tokens with the same prefix can be told apart; there is no
// setting to drop them. The rest of the token is never stored: only a hash.
async fn only_the_first_12_characters_are_stored_for_display(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let (pat, key, agent_token) = one_of_each(&app, &w, &alice).await;
    let mut secrets = Vec::new();
    for created in [&pat, &key, &agent_token] {
        let secret = s(&created["token"]);
        assert_eq!(created["prefix"], &secret[..12], "{created}");
        assert_eq!(created["last4"], &secret[secret.len() - 4..]);
        let stored = app
            .state
            .store
            .token(s(&created["id"]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.display_prefix, &secret[..12]);
        // What is never stored: everything between the prefix and the last four.
        secrets.push(secret[12..secret.len() - 4].to_owned());
    }
    // Nowhere in the database.
    let everything = match &app.state.config.database_url {
        tessera_store::DatabaseUrl::Sqlite { path } => {
            let mut bytes = std::fs::read(path).unwrap();
            let wal = format!("{}-wal", path.display());
            bytes.extend(std::fs::read(wal).unwrap_or_default());
            String::from_utf8_lossy(&bytes).into_owned()
        }
        tessera_store::DatabaseUrl::Postgres { url } => {
            let pool = sqlx::PgPool::connect(url.as_str()).await.unwrap();
            let mut rows: Vec<String> = Vec::new();
            for table in ["tokens", "token_secrets", "audit_events", "users"] {
                let sql = format!("SELECT CAST(row_to_json(t) AS TEXT) FROM {table} t");
                rows.extend(
                    sqlx::query_scalar::<_, String>(&sql)
                        .fetch_all(&pool)
                        .await
                        .unwrap(),
                );
            }
            pool.close().await;
            rows.join("\n")
        }
    };
    assert!(everything.contains(&alice.username), "the dump is readable");
    for secret in secrets {
        assert!(!everything.contains(&secret), "a secret is stored");
    }
}

// "Each time a token is used, the “Last used” date is updated. This helps you
// identify unused tokens that can safely be revoked."
//
// Tessera buffers uses and writes them every few seconds (`usage_flush_interval`),
// not on every request: the date is at most that late.
async fn the_last_used_date_is_updated_each_time_a_token_is_used(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let (pat, key, agent_token) = one_of_each(&app, &w, &alice).await;
    let agent_tokens = format!(
        "/api/v1/workspaces/{w}/agents/{}/tokens",
        s(&agent_token["user_id"])
    );
    let lists = [
        ("/api/v1/tokens".to_owned(), &pat),
        (format!("/api/v1/workspaces/{w}/api-keys"), &key),
        (agent_tokens, &agent_token),
    ];
    for (list, created) in &lists {
        assert_eq!(
            listed(&app, &alice, &w, list, &created["id"]).await["last_used_at"],
            Value::Null
        );
        let answer = app
            .verify(json!({ "token": created["token"], "workspace_id": w }))
            .await;
        assert_eq!(answer["valid"], true, "{answer}");
    }
    app.flush_usage().await;
    let mut first = Vec::new();
    for (list, created) in &lists {
        let used = listed(&app, &alice, &w, list, &created["id"]).await;
        assert!(used["last_used_at"].is_string(), "{used}");
        first.push(time_of(&used["last_used_at"]));
    }
    // Used again in a later second: the date moves on. ("Last used" is kept
    // to the second: repeats within one second by one client are not news.)
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    for (_, created) in &lists {
        app.verify(json!({ "token": created["token"], "workspace_id": w }))
            .await;
    }
    app.flush_usage().await;
    for ((list, created), before) in lists.iter().zip(first) {
        let used = listed(&app, &alice, &w, list, &created["id"]).await;
        assert!(time_of(&used["last_used_at"]) > before, "{used}");
    }
}

// "If you set an expiration, the token stops working after that date. Expired
// tokens are marked in the UI but not automatically deleted — revoke them when
// convenient."
async fn expired_tokens_stop_working_and_are_marked_but_not_deleted(app: TestApp) {
    let alice = app.user("alice").await;
    // A token whose date has passed, written as the lifecycle would have
    // written it a month ago (no waiting).
    let kind = app.state.config.kinds.get("pat").unwrap();
    let id = tessera_core::ids::new_id(tessera_core::ids::IdKind::Token);
    let token = tessera_core::format::generate(&kind.shape(), &id);
    let secret = token.expose().to_owned();
    let now = OffsetDateTime::now_utc();
    app.state
        .store
        .insert_token(
            &tessera_store::NewToken {
                id: id.clone(),
                kind: "pat".into(),
                user_id: Some(alice.id.clone()),
                workspace_id: None,
                name: "last month's".into(),
                display_prefix: tessera_core::format::display_prefix(&secret, 12),
                last4: tessera_core::format::last4(&secret),
                permissions: None,
                role: None,
                created_at: now - Duration::days(31),
                created_by: Some(alice.id.clone()),
                expires_at: Some(now - Duration::days(1)),
                hash: app.state.config.hasher.hash(&secret),
            },
            None,
        )
        .await
        .unwrap();

    // It stops working: 401 like any invalid token (reasons are not revealed
    // unless `auth.reveal_failure_reasons = true`, which answers token_expired).
    let (status, body) = send(app.get("/api/v1/me", &secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    assert_eq!(app.verify(json!({ "token": secret })).await["valid"], false);

    // Marked, not deleted.
    let (_, list) = send(app.get("/api/v1/tokens", &alice.token)).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .cloned()
        .expect("still listed");
    assert_eq!(listed["status"], "expired");
    let (status, one) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["status"], "expired");

    // "revoke them when convenient"
    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, one) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
    assert_eq!(one["status"], "revoked");
}

// "You can revoke any token at any time from Account Settings. Revocation is
// immediate — any request using the token will fail with a 401 error."
async fn revocation_is_immediate_and_any_request_fails_with_401(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let (pat, key, agent_token) = one_of_each(&app, &w, &alice).await;
    let revoke_paths = [
        format!("/api/v1/tokens/{}", s(&pat["id"])),
        format!("/api/v1/workspaces/{w}/api-keys/{}", s(&key["id"])),
        format!(
            "/api/v1/workspaces/{w}/agents/{}/tokens/{}",
            s(&agent_token["user_id"]),
            s(&agent_token["id"])
        ),
    ];
    for (created, path) in [&pat, &key, &agent_token].into_iter().zip(revoke_paths) {
        let secret = s(&created["token"]);
        // Used (and so cached by the verifier) just before.
        let works = list_tasks(&app, secret).header("X-Workspace-Id", w.as_str());
        assert_eq!(send(works).await.0, StatusCode::OK, "{path}");

        let (status, body) = send(in_workspace(&app, Method::DELETE, &path, &alice, &w)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");

        let after = list_tasks(&app, secret).header("X-Workspace-Id", w.as_str());
        let (status, body) = send(after).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(code(&body), "token_invalid");
        let (status, _) = send(app.get("/api/v1/me", secret)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let answer = app
            .verify(json!({ "token": secret, "workspace_id": w }))
            .await;
        assert_eq!(answer["valid"], false);
        // Not even the token itself can look itself up any more.
        let (_, record) = send(
            app.request(Method::GET, "/api/v1/tokens/self")
                .bearer_auth(secret),
        )
        .await;
        assert_eq!(code(&record), "token_invalid");
    }
    assert_eq!(app.audit_events("token.revoke").await.len(), 1);
    assert_eq!(app.audit_events("api_key.revoke").await.len(), 1);
    assert_eq!(app.audit_events("agent_token.revoke").await.len(), 1);
}

// --- agents: the document names gca_ and nothing more; this is Tessera's model ----------------

// An agent is a service account of one workspace: a user record that can never
// sign in, shown to admins as an agent, with a membership giving its role.
async fn an_agent_is_a_service_account_that_cannot_sign_in(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let agent = create_agent(&app, &w, &alice, "Triage bot", "member").await;
    let agent_id = s(&agent["id"]);
    assert!(agent_id.starts_with("usr_"));
    assert_eq!(agent["name"], "Triage bot");
    assert_eq!(agent["workspace_id"], w.as_str());
    assert_eq!(agent["role"], "member");
    assert_eq!(agent["status"], "active");
    assert_eq!(agent["created_by"], alice.id.as_str());
    assert!(agent["created_at"].is_string());
    let event = app.audit_events("agent.create").await.remove(0);
    assert_eq!(event.target_id.as_deref(), Some(agent_id));
    assert_eq!(event.workspace_id.as_deref(), Some(w.as_str()));

    let (status, list) = send(in_workspace(
        &app,
        Method::GET,
        &format!("/api/v1/workspaces/{w}/agents"),
        &alice,
        &w,
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], agent_id);
    assert_eq!(list["next_cursor"], Value::Null);

    // No sign-in: answered like a wrong password, whatever is sent.
    let username = tessera_store::agent_username(agent_id);
    for password in ["", "anything at all"] {
        let (status, body) = send(
            app.request(Method::POST, "/api/v1/session")
                .json(&json!({ "username": username, "password": password })),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(&body), "invalid_credentials");
    }
    // A deployment admin sees it marked as an agent of its workspace.
    let root = app.admin().await;
    let (_, users) = send(app.get("/api/v1/users", &root.token)).await;
    let listed = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == agent_id)
        .cloned()
        .unwrap();
    assert_eq!(listed["agent_workspace_id"], w.as_str());
    assert_eq!(listed["admin"], false);
    let alice_listed = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == alice.id.as_str())
        .cloned()
        .unwrap();
    assert!(alice_listed.get("agent_workspace_id").is_none());
    // It cannot be made a member of another workspace.
    let other = app.workspace("Globex").await;
    let (status, body) = send(app.put(
        &format!("/api/v1/workspaces/{other}/members/{agent_id}"),
        &root.token,
        json!({ "role": "member" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

// An agent token acts with its agent's *current* role in its workspace, and
// describes the agent on /me.
async fn agent_tokens_act_with_the_agents_current_role(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let agent = create_agent(&app, &w, &alice, "Triage bot", "member").await;
    let agent_id = s(&agent["id"]);
    let created = create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "bot" })).await;
    let secret = s(&created["token"]);

    let answer = app
        .verify(json!({ "token": secret, "permissions": ["tasks:write"] }))
        .await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["kind"], "agent");
    assert_eq!(answer["user_id"], agent_id);
    assert_eq!(answer["workspace_id"], w.as_str());
    assert_eq!(answer["name"], "bot");
    // No header needed: it is bound to the agent's workspace.
    let response = app
        .get("/auth?permission=tasks:write", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-user-id"], agent_id);

    let (status, me) = send(app.get("/api/v1/me", secret)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"], Value::Null);
    assert_eq!(me["agent"]["id"], agent_id);
    assert_eq!(me["agent"]["name"], "Triage bot");
    assert_eq!(me["agent"]["workspace_id"], w.as_str());
    assert_eq!(me["agent"]["role"], "member");
    assert_eq!(me["credential"]["kind"], "agent");

    // Lowered to guest: the same token reads but no longer writes, at once.
    let (status, changed) = send(
        in_workspace(
            &app,
            Method::PATCH,
            &format!("/api/v1/workspaces/{w}/agents/{agent_id}"),
            &alice,
            &w,
        )
        .json(&json!({ "role": "guest" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "guest");
    let (status, body) = send(app.get("/auth?permission=tasks:write", secret)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");
    assert_eq!(send(list_tasks(&app, secret)).await.0, StatusCode::OK);
    assert_eq!(app.audit_events("agent.role_change").await.len(), 1);

    // A narrowed token keeps within both its narrowing and the role.
    let narrow = create_agent_token(
        &app,
        &w,
        &alice,
        agent_id,
        json!({ "name": "read tasks", "permissions": ["tasks:read"] }),
    )
    .await;
    let answer = app.verify(json!({ "token": narrow["token"] })).await;
    assert_eq!(answer["permissions"], json!(["tasks:read"]));

    // An agent is not a person: it has no personal tokens to manage.
    let (status, body) = send(app.post("/api/v1/tokens", secret, json!({ "name": "mine" }))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");
}

// Removing the agent (or a deployment admin suspending it) stops its tokens
// on their very next request.
async fn removing_or_suspending_the_agent_stops_its_tokens_at_once(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let root = app.admin().await;
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let agent_id = s(&agent["id"]);
    let created = create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "bot" })).await;
    let secret = s(&created["token"]);
    assert_eq!(send(list_tasks(&app, secret)).await.0, StatusCode::OK);

    let (status, _) = send(
        app.request(Method::POST, &format!("/api/v1/users/{agent_id}/suspend"))
            .bearer_auth(&root.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        send(list_tasks(&app, secret)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = send(
        app.request(
            Method::POST,
            &format!("/api/v1/users/{agent_id}/reactivate"),
        )
        .bearer_auth(&root.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send(list_tasks(&app, secret)).await.0, StatusCode::OK);

    let path = format!("/api/v1/workspaces/{w}/agents/{agent_id}");
    let (status, _) = send(in_workspace(&app, Method::DELETE, &path, &alice, &w)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(list_tasks(&app, secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    let event = app.audit_events("agent.remove").await.remove(0);
    assert_eq!(event.target_id.as_deref(), Some(agent_id));
    // Its token is revoked, the agent gone from the list; removing it again is a 404.
    let stored = app
        .state
        .store
        .token(s(&created["id"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_reason.as_deref(), Some("owner_removed"));
    let (_, list) = send(in_workspace(
        &app,
        Method::GET,
        &format!("/api/v1/workspaces/{w}/agents"),
        &alice,
        &w,
    ))
    .await;
    assert_eq!(list["items"], json!([]));
    let (status, body) = send(in_workspace(&app, Method::DELETE, &path, &alice, &w)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
}

// One agent, as the list shows it, to those who may manage the workspace's
// agents; anyone else's look-up (another workspace's admin, a member without
// api_keys:manage) learns nothing, and a removed agent is gone.
async fn one_agent_is_shown_to_those_who_manage_its_workspace_agents(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let carol = app.member("carol", &w, "member").await;
    let agent = create_agent(&app, &w, &alice, "Triage bot", "member").await;
    let agent_id = s(&agent["id"]);
    let path = format!("/api/v1/workspaces/{w}/agents/{agent_id}");

    let (status, shown) = send(in_workspace(&app, Method::GET, &path, &alice, &w)).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown, agent);
    let listed = listed(
        &app,
        &alice,
        &w,
        &format!("/api/v1/workspaces/{w}/agents"),
        &agent["id"],
    )
    .await;
    assert_eq!(shown, listed);

    let (status, body) = send(in_workspace(&app, Method::GET, &path, &carol, &w)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    let globex = app.workspace("Globex").await;
    let bob = app.member("bob", &globex, "admin").await;
    let elsewhere = format!("/api/v1/workspaces/{globex}/agents/{agent_id}");
    let (status, body) = send(in_workspace(&app, Method::GET, &elsewhere, &bob, &globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "not_found");
    for unknown in ["usr_0000000000000000000000", "nope", "%00"] {
        let (status, body) = send(in_workspace(
            &app,
            Method::GET,
            &format!("/api/v1/workspaces/{w}/agents/{unknown}"),
            &alice,
            &w,
        ))
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {body}");
        assert_eq!(code(&body), "not_found");
    }

    let (status, _) = send(in_workspace(&app, Method::DELETE, &path, &alice, &w)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(in_workspace(&app, Method::GET, &path, &alice, &w)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// `limits.max_active_tokens_per_user` holds for each agent as for each
// person: a service account cannot pile up credentials without bound. The
// agent's count is its own, not its creator's.
async fn each_agent_holds_at_most_the_active_token_limit(app: TestApp) {
    let backend: Backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_profile_and(backend, "groupchat", |config| {
        config.limits.max_active_tokens_per_user = 2;
    })
    .await
    else {
        return;
    };
    let (w, alice) = workspace_with_admin(&app).await;
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let agent_id = s(&agent["id"]);
    let tokens = format!("/api/v1/workspaces/{w}/agents/{agent_id}/tokens");
    create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "one" })).await;
    let second = create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "two" })).await;

    let (status, body) = send(
        in_workspace(&app, Method::POST, &tokens, &alice, &w).json(&json!({ "name": "three" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        s(&body["error"]["message"]),
        "This agent already holds 2 active tokens, the most this deployment allows: revoke one first."
    );
    let (_, list) = send(in_workspace(&app, Method::GET, &tokens, &alice, &w)).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "nothing was written"
    );

    // Another agent, and alice herself, count their own tokens.
    let other = create_agent(&app, &w, &alice, "other bot", "member").await;
    create_agent_token(&app, &w, &alice, s(&other["id"]), json!({ "name": "one" })).await;
    app.create_token(&alice, json!({ "name": "CLI" })).await;

    // Revoking one frees a place.
    let (status, _) = send(in_workspace(
        &app,
        Method::DELETE,
        &format!("{tokens}/{}", s(&second["id"])),
        &alice,
        &w,
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "three" })).await;
}

// "Workspace API keys … Shared integrations, team automations": like keys,
// agents and their tokens belong to the workspace and outlive their creator.
async fn agent_tokens_survive_the_removal_of_the_member_who_created_them(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let bob = app.member("bob", &w, "owner").await;
    let root = app.admin().await;
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let agent_id = s(&agent["id"]);
    let created = create_agent_token(&app, &w, &alice, agent_id, json!({ "name": "bot" })).await;
    let secret = s(&created["token"]);

    let (status, _) = send(app.delete(&format!("/api/v1/users/{}", alice.id), &root.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/api/v1/me", &alice.token)).await.0,
        StatusCode::UNAUTHORIZED
    );

    assert_eq!(send(list_tasks(&app, secret)).await.0, StatusCode::OK);
    let (_, list) = send(in_workspace(
        &app,
        Method::GET,
        &format!("/api/v1/workspaces/{w}/agents"),
        &bob,
        &w,
    ))
    .await;
    assert_eq!(list["items"][0]["id"], agent_id);
    assert_eq!(list["items"][0]["created_by"], alice.id.as_str());
    // Another manager of the workspace carries on with it.
    let more = create_agent_token(&app, &w, &bob, agent_id, json!({ "name": "bob's" })).await;
    assert_eq!(
        send(list_tasks(&app, s(&more["token"]))).await.0,
        StatusCode::OK
    );
}

// An agent, or an agent's token, holds no more than its creator holds (the
// API keys' rule); a member who may not manage workspace keys may not manage
// agents.
async fn agent_token_creation_is_limited_to_what_the_creator_holds(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let carol = app.member("carol", &w, "member").await;
    let agents = format!("/api/v1/workspaces/{w}/agents");

    // A member's role lacks api_keys:manage.
    let (status, body) = send(
        in_workspace(&app, Method::POST, &agents, &carol, &w)
            .json(&json!({ "name": "x", "role": "guest" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "permission_denied");
    let (status, _) = send(in_workspace(&app, Method::GET, &agents, &carol, &w)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // alice, through a token narrowed to less than a member's role.
    let narrowed = app
        .create_token(
            &alice,
            json!({ "name": "keys only", "permissions": ["api_keys:manage", "tasks:read"] }),
        )
        .await;
    let narrow_alice = TestUser {
        token: s(&narrowed["token"]).to_owned(),
        ..alice.clone()
    };
    let (status, body) = send(
        in_workspace(&app, Method::POST, &agents, &narrow_alice, &w)
            .json(&json!({ "name": "too strong", "role": "member" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let tokens = format!("{agents}/{}/tokens", s(&agent["id"]));
    // Minting a token acting as a member is beyond the narrowed token too…
    let (status, body) = send(
        in_workspace(&app, Method::POST, &tokens, &narrow_alice, &w).json(&json!({ "name": "t" })),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // …but one narrowed to what it holds is fine.
    let (status, body) = send(
        in_workspace(&app, Method::POST, &tokens, &narrow_alice, &w)
            .json(&json!({ "name": "t", "permissions": ["tasks:read"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Narrowing beyond the agent's role is refused, naming what is beyond it.
    let (status, body) = send(
        in_workspace(&app, Method::POST, &tokens, &alice, &w)
            .json(&json!({ "name": "t", "permissions": ["audit:read"] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        s(&body["error"]["message"]).contains("audit:read"),
        "{body}"
    );
}

// Bad input on the agent endpoints: a 4xx with Tessera's error body, never a 500.
async fn agent_endpoints_answer_bad_input_with_the_error_body(app: TestApp) {
    let (w, alice) = workspace_with_admin(&app).await;
    let outsider = app.user("mallory").await;
    let agents = format!("/api/v1/workspaces/{w}/agents");
    let agent = create_agent(&app, &w, &alice, "bot", "member").await;
    let agent_id = s(&agent["id"]).to_owned();
    let tokens = format!("{agents}/{agent_id}/tokens");
    let (signed_in, csrf) = app.sign_in(&alice).await;

    let post =
        |path: &str, body: Value| in_workspace(&app, Method::POST, path, &alice, &w).json(&body);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            post(&agents, json!({ "role": "member" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Agent name is required.",
        ),
        (
            post(&agents, json!({ "name": "", "role": "member" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Agent name is required.",
        ),
        (
            post(&agents, json!({ "name": 7, "role": "member" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Agent name must be a string.",
        ),
        (
            post(
                &agents,
                json!({ "name": "x".repeat(101), "role": "member" }),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Agent name must be at most 100 characters.",
        ),
        (
            post(&agents, json!({ "name": "bot" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role is required.",
        ),
        (
            post(&agents, json!({ "name": "bot", "role": 3 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role must be a string.",
        ),
        (
            post(&agents, json!({ "name": "bot", "role": "superuser" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role must be one of",
        ),
        (
            post(
                &agents,
                json!({ "name": "bot", "role": "guest", "admin": true }),
            ),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            in_workspace(&app, Method::POST, &agents, &alice, &w)
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            post(&tokens, json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Token name is required.",
        ),
        (
            post(&tokens, json!({ "name": "t", "expires_in": "7d" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            PRESETS_MESSAGE,
        ),
        (
            post(&tokens, json!({ "name": "t", "expires_at": "tomorrow" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "RFC 3339",
        ),
        (
            post(
                &tokens,
                json!({ "name": "t", "permissions": ["no such thing"] }),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "permissions",
        ),
        (
            post(&tokens, json!({ "name": "t", "kind": "pat" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is not an agent token kind",
        ),
        (
            in_workspace(
                &app,
                Method::PATCH,
                &format!("{agents}/{agent_id}"),
                &alice,
                &w,
            )
            .json(&json!({ "role": "nope" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "role must be one of",
        ),
        // Not a member of the workspace.
        (
            app.post(
                &agents,
                &outsider.token,
                json!({ "name": "bot", "role": "guest" }),
            )
            .header("X-Workspace-Id", w.as_str()),
            StatusCode::FORBIDDEN,
            "not a member",
        ),
        // Malformed or unknown ids.
        (
            post(&format!("{agents}/nope/tokens"), json!({ "name": "t" })),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            post(&format!("{agents}/usr_%00/tokens"), json!({ "name": "t" })),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            post(
                &format!("{agents}/{}/tokens", alice.id),
                json!({ "name": "t" }),
            ),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            in_workspace(
                &app,
                Method::DELETE,
                &format!("{tokens}/tok_%00"),
                &alice,
                &w,
            ),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            in_workspace(
                &app,
                Method::DELETE,
                &format!("{tokens}/garbage"),
                &alice,
                &w,
            ),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            in_workspace(
                &app,
                Method::DELETE,
                &format!("{agents}/{}", "usr_".to_owned() + &"x".repeat(300)),
                &alice,
                &w,
            ),
            StatusCode::NOT_FOUND,
            "Not found.",
        ),
        (
            in_workspace(&app, Method::GET, &format!("{agents}?limit=0"), &alice, &w),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit",
        ),
        (
            in_workspace(
                &app,
                Method::GET,
                &format!("{agents}?cursor=%00"),
                &alice,
                &w,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cursor",
        ),
        // A path naming another workspace than the one selected.
        (
            in_workspace(
                &app,
                Method::GET,
                "/api/v1/workspaces/wsp_other/agents",
                &alice,
                &w,
            ),
            StatusCode::FORBIDDEN,
            "not a member",
        ),
        // A signed-in browser naming garbage for a workspace.
        (
            app.request(Method::POST, "/api/v1/workspaces/wsp_%00/agents")
                .header("cookie", &signed_in)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "name": "bot", "role": "guest" })),
            StatusCode::FORBIDDEN,
            "",
        ),
        // No credential.
        (
            app.request(Method::GET, &agents),
            StatusCode::UNAUTHORIZED,
            "Authentication required",
        ),
    ];
    for (i, (request, expected, message)) in cases.into_iter().enumerate() {
        let (status, body) = send(request).await;
        let acceptable = status == expected
            // PostgreSQL refuses a NUL byte in a value: still a 4xx with the body.
            || (message.is_empty() && status.is_client_error());
        assert!(acceptable, "case {i}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "case {i}: {body}");
        assert!(
            s(&body["error"]["message"]).contains(message),
            "case {i}: {body}"
        );
    }
}
