//! Conformance: `profiles/orgroles.toml` against the org/roles product's
//! public "Personal access tokens" document. An organisation is a Tessera
//! workspace; roles are owner, admin, developer and viewer.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    profile = "orgroles";
    pats_inherit_your_current_role_at_request_time,
    if_your_role_is_downgraded_your_pats_immediately_have_the_new_lower_role,
    if_your_account_is_suspended_or_removed_every_pat_you_own_stops_working,
    if_you_change_orgs_the_pat_remains_bound_to_the_org_it_was_created_in,
    owner_one_specific_user_or_the_organization,
    api_keys_are_created_by_an_admin,
    api_key_role_is_fixed_at_creation_and_no_more_than_the_creators,
    api_keys_survive_user_removal_pats_do_not,
    permissions_optional_narrow_the_inherited_role,
    expiration_set_as_short_as_practical,
    it_is_shown_once,
    the_first_10_characters_are_a_non_secret_prefix,
    same_headers_as_api_keys_both_are_accepted,
    tessera_hashes_with_sha256_instead_of_bcrypt,
    revocation_is_immediate,
    there_is_no_rotation,
);

/// Acme with Olga (owner, a deployment admin signed in over the API), Ada
/// (admin) and Dev (developer), each with a PAT bound to Acme.
struct Org {
    id: String,
    ada: TestUser,
    dev: TestUser,
    /// Olga's session cookie and CSRF token, for deployment administration.
    root: (String, String),
}

async fn acme(app: &TestApp) -> Org {
    let id = app.workspace("Acme").await;
    let olga = app.user_with("olga", true).await;
    app.join(&id, &olga, "owner").await;
    let ada = app.member("ada", &id, "admin").await;
    let dev = app.member("dev", &id, "developer").await;
    let root = app.sign_in(&olga).await;
    Org { id, ada, dev, root }
}

impl Org {
    /// A deployment-admin request, signed in as Olga.
    fn admin(&self, app: &TestApp, method: Method, path: &str) -> reqwest::RequestBuilder {
        app.request(method, path)
            .header("cookie", &self.root.0)
            .header("x-csrf-token", &self.root.1)
    }
}

async fn create_key(
    app: &TestApp,
    org: &str,
    creator: &TestUser,
    body: Value,
) -> (StatusCode, Value) {
    send(app.post(
        &format!("/api/v1/workspaces/{org}/api-keys"),
        &creator.token,
        body,
    ))
    .await
}

// "Personal access tokens (PATs) are per-user API credentials. They
// authenticate as you and inherit your current role at request time."
async fn pats_inherit_your_current_role_at_request_time(app: TestApp) {
    let org = acme(&app).await;
    let body = app
        .verify_needing(&org.dev.token, &["deployments:write"])
        .await;
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["user_id"], org.dev.id.as_str());
    assert_eq!(body["workspace_id"], org.id.as_str());
    let body = app
        .verify_needing(&org.dev.token, &["members:manage"])
        .await;
    assert_eq!(body["code"], "permission_denied");
    // Promoted: the same token now holds the admin's permissions.
    let (status, _) = send(
        org.admin(
            &app,
            Method::PUT,
            &format!("/api/v1/workspaces/{}/members/{}", org.id, org.dev.id),
        )
        .json(&json!({ "role": "admin" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = app
        .verify_needing(&org.dev.token, &["members:manage"])
        .await;
    assert_eq!(body["valid"], true, "{body}");
}

// "If your role is downgraded, your PATs immediately have the new lower role."
async fn if_your_role_is_downgraded_your_pats_immediately_have_the_new_lower_role(app: TestApp) {
    let org = acme(&app).await;
    // Warm the verifier's cache, so that the downgrade must clear it.
    assert_eq!(
        app.verify_needing(&org.ada.token, &["projects:write"])
            .await["valid"],
        true
    );
    let (status, _) = send(
        org.admin(
            &app,
            Method::PUT,
            &format!("/api/v1/workspaces/{}/members/{}", org.id, org.ada.id),
        )
        .json(&json!({ "role": "viewer" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = app
        .verify_needing(&org.ada.token, &["projects:write"])
        .await;
    assert_eq!(body["code"], "permission_denied", "{body}");
    let body = app.verify_needing(&org.ada.token, &["projects:read"]).await;
    assert_eq!(body["valid"], true);
}

// "If your account is suspended or removed, every PAT you own stops working."
// "This is the right behavior for a personal credential; it makes offboarding
// atomic."
async fn if_your_account_is_suspended_or_removed_every_pat_you_own_stops_working(app: TestApp) {
    let org = acme(&app).await;
    let second = app
        .create_token(&org.dev, json!({ "name": "laptop-cli" }))
        .await;
    let tokens = [
        org.dev.token.clone(),
        second["token"].as_str().unwrap().to_owned(),
    ];
    for token in &tokens {
        assert_eq!(send(app.get("/auth", token)).await.0, StatusCode::OK);
    }
    let (status, _) = send(org.admin(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/suspend", org.dev.id),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for token in &tokens {
        assert_eq!(
            send(app.get("/auth", token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    send(org.admin(
        &app,
        Method::POST,
        &format!("/api/v1/users/{}/reactivate", org.dev.id),
    ))
    .await;
    assert_eq!(send(app.get("/auth", &tokens[0])).await.0, StatusCode::OK);
    let (status, _) = send(org.admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/users/{}", org.dev.id),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in &tokens {
        assert_eq!(
            send(app.get("/auth", token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}

// "If you change orgs, the PAT remains bound to the org it was created in."
async fn if_you_change_orgs_the_pat_remains_bound_to_the_org_it_was_created_in(app: TestApp) {
    let org = acme(&app).await;
    let globex = app.workspace("Globex").await;
    app.join(&globex, &org.dev, "admin").await;
    let body = app.verify_needing(&org.dev.token, &[]).await;
    assert_eq!(body["workspace_id"], org.id.as_str());
    let (status, body) = send(
        app.get("/auth?permission=projects:read", &org.dev.token)
            .header("x-workspace-id", &globex),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
    // Leaving the org it was made in leaves it with nowhere to act.
    let (status, _) = send(org.admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/workspaces/{}/members/{}", org.id, org.dev.id),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let body = app.verify_needing(&org.dev.token, &["projects:read"]).await;
    assert_eq!(body["code"], "not_a_member", "{body}");
}

// "| Owner | One specific user | The organization |"
async fn owner_one_specific_user_or_the_organization(app: TestApp) {
    let org = acme(&app).await;
    let (status, key) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "ci", "role": "developer" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let pat = app.verify_needing(&org.ada.token, &[]).await;
    assert_eq!(pat["user_id"], org.ada.id.as_str());
    let api_key = app
        .verify_needing(key["token"].as_str().unwrap(), &[])
        .await;
    assert!(api_key["user_id"].is_null(), "{api_key}");
    assert_eq!(api_key["workspace_id"], org.id.as_str());
    assert_eq!(api_key["kind"], "api_key");
}

// "| Created by | The user themselves | An Admin |"
async fn api_keys_are_created_by_an_admin(app: TestApp) {
    let org = acme(&app).await;
    let (status, body) = create_key(
        &app,
        &org.id,
        &org.dev,
        json!({ "name": "mine", "role": "viewer" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    let (status, body) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "ci", "role": "viewer" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A PAT is the user's own: created for the caller, never for someone else.
    let created = app
        .create_token(&org.dev, json!({ "name": "laptop-cli" }))
        .await;
    assert_eq!(created["user_id"], org.dev.id.as_str());
}

// "| Role | Inherits the user's current role on every request | Fixed at
// creation, must be <= creator's role |"
async fn api_key_role_is_fixed_at_creation_and_no_more_than_the_creators(app: TestApp) {
    let org = acme(&app).await;
    // Ada (admin) may not mint an owner key: owners hold billing:read.
    let (status, body) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "too much", "role": "owner" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    let (status, key) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "deployer", "role": "developer" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let token = key["token"].as_str().unwrap();
    assert_eq!(
        app.verify_needing(token, &["deployments:write"]).await["valid"],
        true
    );
    // Ada's own role changes; the key's does not.
    send(
        org.admin(
            &app,
            Method::PUT,
            &format!("/api/v1/workspaces/{}/members/{}", org.id, org.ada.id),
        )
        .json(&json!({ "role": "viewer" })),
    )
    .await;
    assert_eq!(
        app.verify_needing(token, &["deployments:write"]).await["valid"],
        true
    );
    assert_eq!(
        app.verify_needing(token, &["members:manage"]).await["code"],
        "permission_denied"
    );
}

// "| Survives user removal | No, suspended/deleted with the user | Yes |";
// "For shared service credentials that survive your departure from the org,
// use API keys instead."
async fn api_keys_survive_user_removal_pats_do_not(app: TestApp) {
    let org = acme(&app).await;
    let (_, key) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "nightly", "role": "viewer" }),
    )
    .await;
    let (status, _) = send(org.admin(
        &app,
        Method::DELETE,
        &format!("/api/v1/users/{}", org.ada.id),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/auth", &org.ada.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let key_token = key["token"].as_str().unwrap();
    assert_eq!(send(app.get("/auth", key_token)).await.0, StatusCode::OK);
}

// "Permissions (optional) — narrow the inherited role to a subset of
// permission strings if you want a least-privilege token."
async fn permissions_optional_narrow_the_inherited_role(app: TestApp) {
    let org = acme(&app).await;
    let narrow = app
        .create_token(
            &org.dev,
            json!({ "name": "read-only", "permissions": ["projects:read"] }),
        )
        .await;
    let token = narrow["token"].as_str().unwrap();
    let body = app.verify_needing(token, &[]).await;
    assert_eq!(body["permissions"], json!(["projects:read"]));
    assert_eq!(
        app.verify_needing(token, &["projects:write"]).await["code"],
        "permission_denied"
    );
    // Narrowing never widens: billing:read is not the developer's.
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &org.dev.token,
        json!({ "name": "wider", "permissions": ["billing:read"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // And it is re-evaluated against the role: a viewer's narrowed token keeps
    // only what both allow.
    let writer = app
        .create_token(
            &org.dev,
            json!({ "name": "writer", "permissions": ["projects:write", "projects:read"] }),
        )
        .await;
    send(
        org.admin(
            &app,
            Method::PUT,
            &format!("/api/v1/workspaces/{}/members/{}", org.id, org.dev.id),
        )
        .json(&json!({ "role": "viewer" })),
    )
    .await;
    let body = app
        .verify_needing(writer["token"].as_str().unwrap(), &[])
        .await;
    assert_eq!(body["permissions"], json!(["projects:read"]), "{body}");
}

// "Expiration — set as short as practical. PATs without an expiry should be
// the exception."
async fn expiration_set_as_short_as_practical(app: TestApp) {
    let org = acme(&app).await;
    let default = app
        .create_token(&org.dev, json!({ "name": "default" }))
        .await;
    assert!(
        default["expires_at"].is_string(),
        "an expiry unless asked otherwise"
    );
    let never = app
        .create_token(
            &org.dev,
            json!({ "name": "exception", "expires_in": "never" }),
        )
        .await;
    assert!(never["expires_at"].is_null());
}

// "Copy the secret immediately. It is shown once."
async fn it_is_shown_once(app: TestApp) {
    let org = acme(&app).await;
    let created = app
        .create_token(&org.dev, json!({ "name": "laptop-cli" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    let (_, list) = send(app.get("/api/v1/tokens", &org.dev.token)).await;
    assert!(!list.to_string().contains(secret));
    let id = created["id"].as_str().unwrap();
    let (_, one) = send(app.get(&format!("/api/v1/tokens/{id}"), &org.dev.token)).await;
    assert!(!one.to_string().contains(secret));
}

// "The first 10 characters are a non-secret prefix used to identify the token
// in lists and logs."
async fn the_first_10_characters_are_a_non_secret_prefix(app: TestApp) {
    let org = acme(&app).await;
    let created = app
        .create_token(&org.dev, json!({ "name": "laptop-cli" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    assert_eq!(created["prefix"], &secret[..10]);
    let (status, key) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "ci", "role": "viewer" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let key_secret = key["token"].as_str().unwrap();
    assert_eq!(key["prefix"], &key_secret[..10]);
    let (_, list) = send(app.get("/api/v1/tokens", &org.dev.token)).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["prefix"], &secret[..10]);
}

// "Same headers as API keys — both are accepted"
async fn same_headers_as_api_keys_both_are_accepted(app: TestApp) {
    let org = acme(&app).await;
    let (_, key) = create_key(
        &app,
        &org.id,
        &org.ada,
        json!({ "name": "ci", "role": "viewer" }),
    )
    .await;
    for token in [org.dev.token.as_str(), key["token"].as_str().unwrap()] {
        let response = app
            .get("/auth?permission=projects:read", token)
            .header("x-workspace-id", &org.id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["x-tessera-workspace-id"],
            org.id.as_str()
        );
    }
}

// "The server runs a bcrypt comparison on the presented secret against the
// stored hash. PAT authentication is a few milliseconds slower than API key
// authentication." Tessera differs on purpose: a token has 178 random bits,
// so a slow hash adds nothing but latency; both kinds are stored as SHA-256
// (or HMAC-SHA256 with [hashing.keys]) and verify equally fast. No setting
// restores bcrypt.
async fn tessera_hashes_with_sha256_instead_of_bcrypt(app: TestApp) {
    let org = acme(&app).await;
    let body = app.verify_needing(&org.dev.token, &[]).await;
    let digest: [u8; 32] = hex::decode(tessera_core::hash::sha256_hex(&org.dev.token))
        .unwrap()
        .try_into()
        .unwrap();
    let found = app
        .state
        .store
        .find_token_by_hash(&[tessera_core::TokenHash {
            key_id: None,
            digest,
        }])
        .await
        .unwrap()
        .expect("stored under the SHA-256 of the token");
    assert_eq!(found.record.id, body["token_id"].as_str().unwrap());
}

// "Revoke a PAT from the same settings page … Revocation is immediate."
async fn revocation_is_immediate(app: TestApp) {
    let org = acme(&app).await;
    let created = app.create_token(&org.dev, json!({ "name": "demo" })).await;
    let token = created["token"].as_str().unwrap();
    assert_eq!(send(app.get("/auth", token)).await.0, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &org.dev.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/auth", token)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

// "There is no rotation; create a new PAT, switch to it, then revoke the old
// one." — `allow_rotation = false` on the PAT kind.
async fn there_is_no_rotation(app: TestApp) {
    let org = acme(&app).await;
    let old = app.create_token(&org.dev, json!({ "name": "old" })).await;
    let id = old["id"].as_str().unwrap();
    let (status, body) = send(app.post(
        &format!("/api/v1/tokens/{id}/rotate"),
        &org.dev.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("create a new token"));
    let old_token = old["token"].as_str().unwrap();
    assert_eq!(
        send(app.get("/auth", old_token)).await.0,
        StatusCode::OK,
        "still works"
    );

    let new = app.create_token(&org.dev, json!({ "name": "new" })).await;
    send(app.delete(&format!("/api/v1/tokens/{id}"), &org.dev.token)).await;
    assert_eq!(
        send(app.get("/auth", old_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(app.get("/auth", new["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}
