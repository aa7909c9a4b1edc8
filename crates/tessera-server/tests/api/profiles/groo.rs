//! Conformance: `profiles/groo.toml` against Groo's document
//! (its public "Personal Access Tokens" documentation). An application is a
//! Tessera workspace, picked per request with `X-Application-Id`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, one_second_from_now, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    profile = "groo";
    pat_tokens_start_with_groo_pat_and_64_hex_characters,
    pass_the_token_in_the_session_cookie,
    the_session_cookie_works_at_the_gateway_too,
    the_token_is_only_shown_once,
    optionally_set_an_expiration_date,
    a_pat_acts_as_yourself_across_multiple_applications,
    application_tokens_are_groo_and_single_application,
    application_tokens_are_created_by_the_application_owner,
    the_token_type_is_told_apart_by_its_prefix,
    each_token_shows_name_last_4_created_last_used_and_expiration_status,
    revoked_tokens_are_immediately_invalidated,
    rotate_regularly,
    one_token_per_use_case,
);

/// `session=<token>`, as the document's curl and fetch examples send it.
fn session_cookie(token: &str) -> String {
    format!("session={token}")
}

async fn me_with_cookie(app: &TestApp, cookie: &str) -> (StatusCode, Value) {
    send(
        app.request(Method::GET, "/api/v1/me")
            .header("cookie", cookie),
    )
    .await
}

/// An application (workspace) with `owner` as its owner.
async fn application(app: &TestApp, name: &str, owner: &TestUser) -> String {
    let id = app.workspace(name).await;
    app.join(&id, owner, "owner").await;
    id
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// "PAT tokens start with groo_pat_ followed by a 64-character hex string:
// groo_pat_23e370cfd3e455284bcb61f17bd71acd529b0d2c608680a5b40c97138bfec183"
async fn pat_tokens_start_with_groo_pat_and_64_hex_characters(app: TestApp) {
    let gina = app.user("gina").await;
    let created = app
        .create_token(&gina, json!({ "name": "GitHub Actions" }))
        .await;
    let token = created["token"].as_str().unwrap();
    let hex = token.strip_prefix("groo_pat_").expect("groo_pat_ prefix");
    assert_eq!(hex.len(), 64, "{token}");
    assert!(is_lower_hex(hex), "{token}");

    // A groo_pat_ string of the right shape that was never issued is refused,
    // and so is one of the wrong length.
    let forged = format!("groo_pat_{}", "0".repeat(64));
    let short = format!("groo_pat_{}", &hex[..63]);
    for token in [forged, short] {
        let (status, body) = send(app.get("/api/v1/me", &token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(code(&body), "token_invalid");
    }
}

// "PATs work the same as session cookies. Pass the token in the session
// cookie: curl https://api.example.com/v1/me -H "Cookie: session=groo_pat_xxx...""
async fn pass_the_token_in_the_session_cookie(app: TestApp) {
    let gina = app.user("gina").await;
    let (status, me) = me_with_cookie(&app, &session_cookie(&gina.token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "gina");

    // Beside other cookies, as a browser would send it.
    let (status, _) = me_with_cookie(
        &app,
        &format!("theme=dark; session={}; lang=en", gina.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // `Authorization: Bearer` works as well.
    assert_eq!(
        send(app.get("/api/v1/me", &gina.token)).await.0,
        StatusCode::OK
    );

    // A bad token in the cookie is a refusal, not "no credential".
    let (status, body) = me_with_cookie(&app, "session=groo_pat_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    let (status, body) = me_with_cookie(&app, "other=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "unauthenticated");
}

// "const response = await fetch('https://ops.groo.dev/v1/versions', { headers:
// { Cookie: `session=${process.env.GROO_PAT}` } })": the product's gateway
// asks Tessera's forward-auth with the same cookie.
async fn the_session_cookie_works_at_the_gateway_too(app: TestApp) {
    let gina = app.user("gina").await;
    let ops = application(&app, "ops", &gina).await;
    let response = app
        .request(Method::GET, "/auth?permission=versions:read")
        .header("cookie", session_cookie(&gina.token))
        .header("x-application-id", &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-user-id"], gina.id.as_str());
    assert_eq!(response.headers()["x-tessera-workspace-id"], ops.as_str());
}

// "The token is only shown once. Store it securely before closing the dialog."
async fn the_token_is_only_shown_once(app: TestApp) {
    let gina = app.user("gina").await;
    let created = app
        .create_token(&gina, json!({ "name": "Build Script" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    for path in ["/api/v1/tokens".to_owned(), format!("/api/v1/tokens/{id}")] {
        let (status, body) = send(app.get(&path, &gina.token)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.to_string().contains(secret), "{path}");
    }
}

// "Optionally set an expiration date"
async fn optionally_set_an_expiration_date(app: TestApp) {
    let gina = app.user("gina").await;
    let none = app.create_token(&gina, json!({ "name": "no date" })).await;
    assert!(none["expires_at"].is_null(), "{none}");
    let date = "2030-01-31T00:00:00Z";
    let dated = app
        .create_token(&gina, json!({ "name": "dated", "expires_at": date }))
        .await;
    assert_eq!(dated["expires_at"], date);
}

// "Scope: User's permissions across all apps"; "You need to act as yourself
// across multiple applications"
async fn a_pat_acts_as_yourself_across_multiple_applications(app: TestApp) {
    let gina = app.user("gina").await;
    let ops = application(&app, "ops", &gina).await;
    let docs = app.workspace("docs").await;
    app.join(&docs, &gina, "viewer").await;
    for (application, permission, allowed) in [
        (&ops, "releases:write", true),
        (&docs, "versions:read", true),
        (&docs, "releases:write", false),
    ] {
        let (status, body) = send(app.request(Method::POST, "/api/v1/verify").json(&json!({
            "token": gina.token,
            "workspace_id": application,
            "permissions": [permission],
        })))
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["valid"], allowed,
            "{permission} in {application}: {body}"
        );
        if allowed {
            assert_eq!(body["user_id"], gina.id.as_str());
        }
    }
}

// "Application API Token … Scope: Single application … Format: groo_xxx";
// "Building service-to-service integrations; Recording deployments
// (record-release)"
async fn application_tokens_are_groo_and_single_application(app: TestApp) {
    let gina = app.user("gina").await;
    let ops = application(&app, "ops", &gina).await;
    let docs = application(&app, "docs", &gina).await;
    let key = create_app_token(
        &app,
        &ops,
        &gina,
        json!({ "name": "record-release", "role": "developer" }),
    )
    .await;
    let token = key["token"].as_str().unwrap();
    let hex = token.strip_prefix("groo_").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(is_lower_hex(hex));

    // No application header needed: the token is bound to its application.
    let response = app
        .get("/auth?permission=releases:write", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-tessera-workspace-id"], ops.as_str());
    // Another application: refused.
    let (status, body) = send(
        app.get("/auth?permission=versions:read", token)
            .header("x-application-id", &docs),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_member");
}

// "Created by: Application owner"; "Location: Application Tokens tab"
async fn application_tokens_are_created_by_the_application_owner(app: TestApp) {
    let gina = app.user("gina").await;
    let ops = application(&app, "ops", &gina).await;
    let dev = app.user("dev").await;
    app.join(&ops, &dev, "developer").await;
    let (status, body) = send(
        app.post(
            &format!("/api/v1/workspaces/{ops}/api-keys"),
            &dev.token,
            json!({ "name": "mine", "role": "viewer" }),
        )
        .header("x-application-id", &ops),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
    create_app_token(
        &app,
        &ops,
        &gina,
        json!({ "name": "webhooks", "role": "viewer" }),
    )
    .await;
}

// "Format: groo_pat_xxx | groo_xxx": one prefix is the other's beginning,
// and each token is still recognised as its own kind.
async fn the_token_type_is_told_apart_by_its_prefix(app: TestApp) {
    let gina = app.user("gina").await;
    let ops = application(&app, "ops", &gina).await;
    let key = create_app_token(
        &app,
        &ops,
        &gina,
        json!({ "name": "m2m", "role": "viewer" }),
    )
    .await;
    for (token, kind) in [
        (gina.token.as_str(), "pat"),
        (key["token"].as_str().unwrap(), "app_token"),
    ] {
        let (_, body) = send(
            app.request(Method::POST, "/api/v1/verify")
                .json(&json!({ "token": token })),
        )
        .await;
        assert_eq!(body["valid"], true, "{body}");
        assert_eq!(body["kind"], kind);
    }
}

// "Each token shows: Name; Last 4 characters (for identification); Created
// date; Last used date; Expiration status"
async fn each_token_shows_name_last_4_created_last_used_and_expiration_status(app: TestApp) {
    let gina = app.user("gina").await;
    let used = app
        .create_token(&gina, json!({ "name": "docs build" }))
        .await;
    let soon = one_second_from_now();
    let brief = app
        .create_token(&gina, json!({ "name": "brief", "expires_at": soon }))
        .await;
    let secret = used["token"].as_str().unwrap();
    assert_eq!(
        me_with_cookie(&app, &session_cookie(secret)).await.0,
        StatusCode::OK
    );
    app.flush_usage().await;
    tokio::time::sleep(Duration::from_millis(1300)).await;

    let (_, list) = send(app.get("/api/v1/tokens", &gina.token)).await;
    let find = |id: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == *id)
            .unwrap()
            .clone()
    };
    let listed = find(&used["id"]);
    assert_eq!(listed["name"], "docs build");
    assert_eq!(listed["last4"], &secret[secret.len() - 4..]);
    assert!(listed["created_at"].is_string());
    assert!(listed["last_used_at"].is_string());
    assert_eq!(listed["status"], "active");
    assert_eq!(find(&brief["id"])["status"], "expired");
}

// "Revoked tokens are immediately invalidated."
async fn revoked_tokens_are_immediately_invalidated(app: TestApp) {
    let gina = app.user("gina").await;
    let created = app.create_token(&gina, json!({ "name": "old" })).await;
    let cookie = session_cookie(created["token"].as_str().unwrap());
    assert_eq!(me_with_cookie(&app, &cookie).await.0, StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &gina.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = me_with_cookie(&app, &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
}

// "Rotate regularly: Replace long-lived tokens periodically"
async fn rotate_regularly(app: TestApp) {
    let gina = app.user("gina").await;
    let created = app
        .create_token(&gina, json!({ "name": "long-lived" }))
        .await;
    let old = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, rotated) = send(app.post(
        &format!("/api/v1/tokens/{id}/rotate"),
        &gina.token,
        json!({}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new = rotated["token"].as_str().unwrap();
    assert!(new.starts_with("groo_pat_"));
    assert_eq!(
        me_with_cookie(&app, &session_cookie(new)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        me_with_cookie(&app, &session_cookie(old)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

// "One token per use case: Create separate tokens for different
// scripts/pipelines"; "Revoke unused tokens"
async fn one_token_per_use_case(app: TestApp) {
    let gina = app.user("gina").await;
    let docs = app.create_token(&gina, json!({ "name": "docs" })).await;
    let deploy = app.create_token(&gina, json!({ "name": "deploy" })).await;
    let id = docs["id"].as_str().unwrap();
    send(app.delete(&format!("/api/v1/tokens/{id}"), &gina.token)).await;
    let docs_cookie = session_cookie(docs["token"].as_str().unwrap());
    let deploy_cookie = session_cookie(deploy["token"].as_str().unwrap());
    assert_eq!(
        me_with_cookie(&app, &docs_cookie).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me_with_cookie(&app, &deploy_cookie).await.0, StatusCode::OK);
}

/// Creates an application token as `owner`, who picks the application with
/// `X-Application-Id`; returns the 201 body.
async fn create_app_token(
    app: &TestApp,
    application: &str,
    owner: &TestUser,
    body: Value,
) -> Value {
    let (status, created) = send(
        app.post(
            &format!("/api/v1/workspaces/{application}/api-keys"),
            &owner.token,
            body,
        )
        .header("x-application-id", application),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}
