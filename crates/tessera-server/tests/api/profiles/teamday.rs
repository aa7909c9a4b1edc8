//! Conformance: `profiles/teamday.toml` against TeamDay's document
//! (its public "Personal Access Tokens" guide). An organisation is a
//! Tessera workspace; the roles are admin, member and viewer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    browser, code, one_second_from_now, page, post_form, send, shown_secret, Backend, TestApp,
    TestUser,
};
use crate::on_both_stores;
use tessera_server::config::RateLimit;

on_both_stores!(
    profile = "teamday";
    create_your_token_in_settings_profile,
    tokens_start_with_td_and_go_in_the_authorization_header,
    use_authorization_bearer_not_just_authorization,
    it_will_only_be_shown_once,
    ninety_days_is_recommended_and_preselected,
    seven_to_365_days_and_365_days_is_the_maximum,
    token_is_scoped_to_your_current_organization,
    token_is_from_a_different_organization_is_forbidden,
    inherits_your_role_permissions_admin_member_viewer,
    granular_scopes_are_not_yet_implemented,
    viewing_your_tokens_shows_name_dates_expiry_and_a_masked_value,
    revoking_invalidates_stops_requests_and_removes_the_token,
    use_separate_tokens_per_integration,
    invalid_or_expired_token_is_401,
    token_lacks_permission_is_403,
    copied_incorrectly_missing_prefix_or_characters,
    the_api_does_not_enforce_rate_limits,
);

/// An organisation with a member (role `member`) holding a td_ token.
async fn organisation(app: &TestApp) -> (String, TestUser) {
    let org = app.workspace("Acme").await;
    let user = app.member("dana", &org, "member").await;
    (org, user)
}

fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

// "1. Navigate to Settings → Profile 2. Scroll to Personal Access Tokens
// 3. Click Create Token 4. Give it a descriptive name … 5. Choose an
// expiration period (90 days recommended) 6. Copy the token immediately"
async fn create_your_token_in_settings_profile(app: TestApp) {
    let (acme, dana) = organisation(&app).await;
    let b = browser(&app, &dana).await;
    let (status, html) = page(&app, &b, "/settings/tokens").await;
    assert_eq!(status, StatusCode::OK);
    for preset in ["7d", "30d", "90d", "180d", "365d"] {
        assert!(html.contains(&format!("value=\"{preset}\"")), "{preset}");
    }
    assert!(!html.contains("value=\"never\""), "no 'never' on offer");
    assert!(
        html.contains("value=\"90d\" selected"),
        "90 days preselected"
    );
    assert!(
        !html.contains("Any of my workspaces"),
        "tokens belong to one org"
    );

    let response = post_form(
        &app,
        &b,
        "/settings/tokens",
        &[
            ("name", "CI Pipeline"),
            ("expires_in", "90d"),
            ("form_id", "settings-form"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let secret = shown_secret(&response.text().await.unwrap()).expect("shown once");
    assert!(secret.starts_with("td_"));
    let body = app.verify_needing(&secret, &[]).await;
    assert_eq!(body["workspace_id"], acme, "bound to her only organisation");
}

// "Include your token in the Authorization header:
//  curl -H "Authorization: Bearer td_your-token-here" https://cc.teamday.ai/api/v1/agents"
async fn tokens_start_with_td_and_go_in_the_authorization_header(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let created = app
        .create_token(&dana, json!({ "name": "CI Pipeline" }))
        .await;
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("td_"), "{token}");
    let (status, me) = send(app.get("/api/v1/me", token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "dana");
    // The gateway check a product would make for GET /api/v1/agents.
    let response = app
        .get("/auth?permission=agents:read", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// "Use `Authorization: Bearer` header (not just `Authorization`)"
async fn use_authorization_bearer_not_just_authorization(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    for value in [dana.token.clone(), format!("Token {}", dana.token)] {
        let (status, body) = send(
            app.request(Method::GET, "/api/v1/me")
                .header("authorization", value),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "token_invalid");
    }
}

// "Copy the token immediately - it will only be shown once!"
async fn it_will_only_be_shown_once(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let created = app
        .create_token(&dana, json!({ "name": "Production Automation" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    for path in ["/api/v1/tokens".to_owned(), format!("/api/v1/tokens/{id}")] {
        let (status, body) = send(app.get(&path, &dana.token)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !body.to_string().contains(secret),
            "{path} shows the secret"
        );
    }
}

// "Choose an expiration period (90 days recommended)"; "90 days - Recommended
// for production use"
async fn ninety_days_is_recommended_and_preselected(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let created = app.create_token(&dana, json!({ "name": "default" })).await;
    let expires = time::OffsetDateTime::parse(
        created["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours() as f64 / 24.0;
    assert!((89.9..=90.0).contains(&days), "{days} days");
}

// "7 days - For testing … 30 days … 90 days … 180 days … 365 days - Maximum
// expiration"; "Long-lived (up to 1 year)"
async fn seven_to_365_days_and_365_days_is_the_maximum(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    // From the settings page: a token could not outlive the token creating it.
    let (cookie, csrf) = app.sign_in(&dana).await;
    for preset in ["7d", "30d", "90d", "180d", "365d"] {
        let (status, created) = send(
            app.request(Method::POST, "/api/v1/tokens")
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "name": preset, "expires_in": preset })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{preset}: {created}");
        assert!(created["expires_at"].is_string(), "{preset}");
    }
    for refused in ["never", "1d", "60d", "1y", "2y"] {
        let (status, body) = send(app.post(
            "/api/v1/tokens",
            &dana.token,
            json!({ "name": "x", "expires_in": refused }),
        ))
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("\"365d\""), "{message}");
    }
    // A date is accepted within the maximum, refused beyond it.
    let (status, _) = send(app.post(
        "/api/v1/tokens",
        &dana.token,
        json!({ "name": "dated", "expires_at": in_days(364) }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &dana.token,
        json!({ "name": "too long", "expires_at": in_days(366) }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

// "Organization Access: Token is scoped to your current organization"
async fn token_is_scoped_to_your_current_organization(app: TestApp) {
    let (acme, dana) = organisation(&app).await;
    let globex = app.workspace("Globex").await;

    // Created with a td_ token: the token's own organisation.
    let by_token = app.create_token(&dana, json!({ "name": "a" })).await;
    assert_eq!(by_token["workspace_id"], acme);

    // Created in the settings page's session: the only organisation…
    let (cookie, csrf) = app.sign_in(&dana).await;
    let create = |headers: &[(&str, &str)]| {
        let mut request = app
            .request(Method::POST, "/api/v1/tokens")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "from settings" }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send(request)
    };
    let (status, only) = create(&[]).await;
    assert_eq!(status, StatusCode::CREATED, "{only}");
    assert_eq!(only["workspace_id"], acme);

    // …and once she belongs to two, the one she is working in.
    app.join(&globex, &dana, "viewer").await;
    let (status, body) = create(&[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("workspace_id"));
    let (status, current) = create(&[("x-workspace-id", &globex)]).await;
    assert_eq!(status, StatusCode::CREATED, "{current}");
    assert_eq!(current["workspace_id"], globex);
    let verified = app
        .verify_needing(current["token"].as_str().unwrap(), &[])
        .await;
    assert_eq!(verified["workspace_id"], globex);

    // An Acme token cannot mint a Globex one.
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &dana.token,
        json!({ "name": "elsewhere", "workspace_id": globex }),
    ))
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

// "Forbidden error … Token is from a different organization"
async fn token_is_from_a_different_organization_is_forbidden(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let globex = app.workspace("Globex").await;
    app.join(&globex, &dana, "admin").await;
    let (status, body) = send(
        app.get("/auth?permission=agents:read", &dana.token)
            .header("x-workspace-id", &globex),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "not_a_member");
}

// "Personal Access Tokens have the same permissions as the user who created
// them"; "User Permissions: Inherits your role permissions (admin, member,
// viewer)"; "Your account doesn't have permission for the requested operation"
async fn inherits_your_role_permissions_admin_member_viewer(app: TestApp) {
    let (acme, dana) = organisation(&app).await;
    let body = app.verify_needing(&dana.token, &["agents:execute"]).await;
    assert_eq!(body["valid"], true, "a member executes agents: {body}");
    let body = app.verify_needing(&dana.token, &["members:manage"]).await;
    assert_eq!(body["code"], "permission_denied", "{body}");

    app.join(&acme, &dana, "viewer").await;
    let body = app.verify_needing(&dana.token, &["agents:execute"]).await;
    assert_eq!(body["code"], "permission_denied", "now a viewer: {body}");
    let body = app.verify_needing(&dana.token, &["agents:read"]).await;
    assert_eq!(body["valid"], true);

    app.join(&acme, &dana, "admin").await;
    let body = app.verify_needing(&dana.token, &["members:manage"]).await;
    assert_eq!(body["valid"], true, "now an admin: {body}");
}

// "Granular scopes (e.g., read-only, write-only) are not yet implemented. All
// tokens have full access matching the user's permissions." The profile sets
// `allow_narrowing = false`; Tessera's default allows narrowing.
async fn granular_scopes_are_not_yet_implemented(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let (status, body) = send(app.post(
        "/api/v1/tokens",
        &dana.token,
        json!({ "name": "read-only", "permissions": ["agents:read"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("permissions:"));
    let (_, list) = send(app.get("/api/v1/tokens", &dana.token)).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing created"
    );

    let full = app.create_token(&dana, json!({ "name": "full" })).await;
    let body = app
        .verify_needing(full["token"].as_str().unwrap(), &[])
        .await;
    let permissions = body["permissions"].as_array().unwrap();
    assert!(permissions.contains(&json!("agents:write")), "{body}");
    assert!(permissions.contains(&json!("spaces:write")), "{body}");
}

// "Viewing Your Tokens … Token name and creation date; Last usage timestamp;
// Expiration date; Masked token value (for identification)"
async fn viewing_your_tokens_shows_name_dates_expiry_and_a_masked_value(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let created = app
        .create_token(&dana, json!({ "name": "CI Pipeline", "expires_in": "30d" }))
        .await;
    let secret = created["token"].as_str().unwrap();
    assert_eq!(send(app.get("/api/v1/me", secret)).await.0, StatusCode::OK);
    app.flush_usage().await;
    let (_, list) = send(app.get("/api/v1/tokens", &dana.token)).await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["name"], "CI Pipeline");
    assert!(listed["created_at"].is_string());
    assert!(listed["last_used_at"].is_string());
    assert!(listed["expires_at"].is_string());
    assert_eq!(listed["prefix"], &secret[..12]);
    assert_eq!(listed["last4"], &secret[secret.len() - 4..]);
}

// "Click the trash icon next to any token to revoke it immediately. This will:
// Invalidate the token permanently; Stop all API requests using that token;
// Remove the token from your account" — `[tokens] revoked_retention = "0s"`
// (Tessera's default lists a revoked token, marked revoked, for 30 days).
async fn revoking_invalidates_stops_requests_and_removes_the_token(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let created = app.create_token(&dana, json!({ "name": "old" })).await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert_eq!(send(app.get("/api/v1/me", secret)).await.0, StatusCode::OK);

    let (status, _) = send(app.delete(&format!("/api/v1/tokens/{id}"), &dana.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(app.get("/api/v1/me", secret)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, list) = send(app.get("/api/v1/tokens", &dana.token)).await;
    assert!(
        !list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id),
        "{list}"
    );
    // Permanently: it is still revoked when asked for directly, and the
    // audit trail keeps it.
    let (_, record) = send(app.get(&format!("/api/v1/tokens/{id}"), &dana.token)).await;
    assert_eq!(record["status"], "revoked");
    assert!(!app.audit_events("token.revoke").await.is_empty());
}

// "Use separate tokens per integration - Makes revocation easier"
async fn use_separate_tokens_per_integration(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let ci = app.create_token(&dana, json!({ "name": "CI" })).await;
    let cron = app.create_token(&dana, json!({ "name": "Cron" })).await;
    let (status, _) = send(app.delete(
        &format!("/api/v1/tokens/{}", ci["id"].as_str().unwrap()),
        &dana.token,
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(app.get("/api/v1/me", ci["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(app.get("/api/v1/me", cron["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}

// "if (response.status === 401) { throw new Error('Invalid or expired token.
// Create a new token in Settings → Profile.') }"; "Token has expired; Token
// was revoked"
async fn invalid_or_expired_token_is_401(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let soon = one_second_from_now();
    let brief = app
        .create_token(&dana, json!({ "name": "brief", "expires_at": soon }))
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, body) = send(app.get("/api/v1/me", brief["token"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    let response = app
        .get("/auth", brief["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
}

// "if (response.status === 403) { throw new Error('Token lacks permission for
// this operation.') }"
async fn token_lacks_permission_is_403(app: TestApp) {
    let org = app.workspace("Acme").await;
    let viewer = app.member("vic", &org, "viewer").await;
    let (status, body) = send(app.get("/auth?permission=agents:write", &viewer.token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "permission_denied");
}

// "Token was copied incorrectly (missing prefix or characters)"; "Include the
// full token with td_ prefix"
async fn copied_incorrectly_missing_prefix_or_characters(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    let token = &dana.token;
    for broken in [
        token.trim_start_matches("td_").to_owned(),
        token[..token.len() - 1].to_owned(),
        format!("{token}x"),
    ] {
        let (status, body) = send(app.get("/api/v1/me", &broken)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{broken}");
        assert_eq!(code(&body), "token_invalid");
    }
}

// "Currently, the API does not enforce rate limits. This may change in the
// future." and "if (response.status === 429) { throw new Error('Rate limit
// exceeded. Please retry after a delay.') }": off in the profile as shipped;
// `[limits] rate_limit = { requests = 600, per = "1m" }` (commented in the
// profile) turns it on, and then the 429 carries Retry-After.
async fn the_api_does_not_enforce_rate_limits(app: TestApp) {
    let (_, dana) = organisation(&app).await;
    for _ in 0..50 {
        assert_eq!(send(app.get("/auth", &dana.token)).await.0, StatusCode::OK);
    }

    let backend: Backend = app.backend;
    drop(app);
    let Some(limited) = TestApp::with_profile_and(backend, "teamday", |config| {
        config.limits.rate_limit = Some(RateLimit {
            requests: 3,
            per: Duration::from_secs(60),
        })
    })
    .await
    else {
        return;
    };
    let (_, dana) = organisation(&limited).await;
    for _ in 0..3 {
        assert_eq!(
            send(limited.get("/auth", &dana.token)).await.0,
            StatusCode::OK
        );
    }
    let response = limited.get("/auth", &dana.token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "rate_limited");
}
