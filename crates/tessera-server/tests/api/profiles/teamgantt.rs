//! Conformance: `profiles/teamgantt.toml` against TeamGantt's "API Personal
//! Access Tokens" (its public token documentation), point by point, over
//! HTTP on both stores. Each test is named after the sentence it
//! checks, quoted above it. The routes are TeamGantt's own, mounted by
//! `[compat] teamgantt = true` (`src/routes/compat/teamgantt.rs`).
//!
//! Where Tessera differs on purpose, the test says so: ids are Tessera's
//! opaque `tok_…` ids, not TeamGantt's integers (`1|abc…`); create answers
//! 201 (the document names no status).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};

const CREATE: &str = "/v1/current_user/tokens/create";
const TOKENS: &str = "/v1/current_user/tokens";
const DELETE_ALL: &str = "/v1/current_user/tokens/delete";
const CURRENT_USER: &str = "/v1/current_user";

crate::on_both_stores!(profile = "teamgantt";
    example_token_name_answers_a_token,
    the_token_is_an_id_a_pipe_and_a_secret,
    include_your_token_in_the_authorization_header,
    each_token_is_associated_with_your_user_account,
    verify_you_are_using_the_bearer_prefix,
    check_that_your_token_is_correct_and_has_not_been_deleted,
    it_will_only_be_shown_once,
    you_can_see_a_list_of_all_your_active_tokens,
    each_token_shows_name_created_and_last_used,
    delete_a_specific_token,
    delete_all_tokens,
    token_name_is_required,
    token_name_must_be_a_string,
    choose_a_descriptive_name,
    tokens_dont_expire_by_default,
    you_must_be_logged_into_your_teamgantt_account,
    rotate_your_tokens_regularly,
    another_users_token_is_not_yours_to_delete,
    bad_input_is_answered_with_a_4xx_never_a_500,
    the_openapi_document_lists_the_teamgantt_endpoints,
);

/// `POST /v1/current_user/tokens/create` as `user`'s token.
async fn create(app: &TestApp, user: &TestUser, name: &str) -> String {
    let (status, body) = send(app.post(CREATE, &user.token, json!({ "token_name": name }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The id of an `{id}|{secret}` token: the part before the pipe.
fn id_of(token: &str) -> &str {
    token.split_once('|').expect("an id-pipe token").0
}

/// The caller's list, as an array.
async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = send(app.get(TOKENS, token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a JSON array").clone()
}

/// Asserts a Laravel validation answer that also carries Tessera's error.
fn assert_name_error(status: StatusCode, body: &Value, message: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["message"], message, "{body}");
    assert_eq!(body["errors"]["token_name"], json!([message]), "{body}");
    assert_eq!(code(body), "invalid_request", "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
}

// "Example: { "token_name": "My Integration Token" } Response: { "token":
// "1|abc123def456ghi789jkl012mno345pqr678stu901vwx234yz" }"
async fn example_token_name_answers_a_token(app: TestApp) {
    let alice = app.user("alice").await;
    let response = app
        .post(
            CREATE,
            &alice.token,
            json!({ "token_name": "My Integration Token" }),
        )
        .send()
        .await
        .unwrap();
    // Tessera: 201 Created (the document shows no status; any 2xx check passes).
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let object = body.as_object().unwrap();
    assert_eq!(object.len(), 1, "only the token, as documented: {body}");
    let token = body["token"].as_str().unwrap();
    let listed = list(&app, &alice.token).await;
    let mine = listed.iter().find(|t| t["id"] == id_of(token)).unwrap();
    assert_eq!(mine["name"], "My Integration Token");
}

// "Authorization: Bearer 1|abc123def456ghi789jkl012mno345pqr678stu901vwx234yz"
// Tessera: the same `{id}|{secret}` shape (Laravel Sanctum's), but the id is
// Tessera's opaque `tok_…` id, not an integer like `1`; it is the id the list
// shows and `DELETE /v1/current_user/tokens/{tokenId}` takes.
async fn the_token_is_an_id_a_pipe_and_a_secret(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Mobile App Integration").await;
    let (id, secret) = token.split_once('|').unwrap();
    assert!(id.starts_with("tok_"), "{token}");
    assert!(!id.contains('|'));
    assert_eq!(secret.len(), 40, "{token}");
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    // Two tokens never share an id or a secret.
    let other = create(&app, &alice, "Automation Script").await;
    assert_ne!(id_of(&other), id);
    assert_ne!(other.split_once('|').unwrap().1, secret);
    // The id is the one listed and deleted by id.
    assert!(list(&app, &alice.token).await.iter().any(|t| t["id"] == id));
    let (status, _) = send(app.delete(&format!("{TOKENS}/{id}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!list(&app, &alice.token).await.iter().any(|t| t["id"] == id));
}

// "To use your token, include your token in the `Authorization` header of
// your API requests" / "curl -X GET "https://api.teamgantt.com/v1/current_user"
// -H "Authorization: Bearer YOUR_TOKEN_HERE""
// "Each token is associated with your user account and can be used to make
// API requests on your behalf."
async fn include_your_token_in_the_authorization_header(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Integration with Slack").await;
    let (status, me) = send(
        app.get(CURRENT_USER, &token)
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["username"], "alice");
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());
    // The same token works on Tessera's own API too: one token, one user.
    let (status, tessera_me) = send(app.get("/api/v1/me", &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tessera_me["user"]["id"], alice.id.as_str());
}

// "Personal Access Tokens (PATs) are long-lived authentication credentials
// that provide access to your TeamGantt account. Each token is associated
// with your user account"
// Tessera: the profile's `binding = "none"`: a token acts for the user, not
// for one workspace, and is created without naming one.
async fn each_token_is_associated_with_your_user_account(app: TestApp) {
    let workspace = app.workspace("Acme Projects").await;
    let alice = app.member("alice", &workspace, "member").await;
    let token = create(&app, &alice, "Acme automation").await;
    let (status, me) = send(app.get("/api/v1/me", &token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], alice.id.as_str());
    assert!(me["credential"]["workspace_id"].is_null(), "{me}");
    assert_eq!(me["workspaces"][0]["id"], workspace.as_str());
    let (_, record) = send(app.get(&format!("/api/v1/tokens/{}", id_of(&token)), &token)).await;
    assert_eq!(record["user_id"], alice.id.as_str());
    assert!(record["workspace_id"].is_null());
}

// "Verify you're using the `Bearer` prefix in the Authorization header."
async fn verify_you_are_using_the_bearer_prefix(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Automation Script - Project Updates").await;
    for authorization in [
        token.clone(),
        format!("Token {token}"),
        format!("Basic {token}"),
        format!("Bearer{token}"),
    ] {
        let response = app
            .request(Method::GET, CURRENT_USER)
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization}"
        );
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "token_invalid", "{authorization}");
    }
    // The scheme is case-insensitive, as HTTP says.
    let (status, _) = send(
        app.request(Method::GET, CURRENT_USER)
            .header("authorization", format!("bearer {token}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

// ""Unauthorized" error - Check that your token is correct and hasn't been
// deleted." / "Check that you copied the entire token correctly."
async fn check_that_your_token_is_correct_and_has_not_been_deleted(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Mobile App v2.1").await;
    let truncated = &token[..token.len() - 1];
    let id_alone = id_of(&token).to_owned();
    let mut altered = token.clone();
    let last = altered.pop().unwrap();
    altered.push(if last == 'a' { 'b' } else { 'a' });
    let (_, secret) = token.split_once('|').unwrap();
    let other_id = format!("{}|{secret}", id_of(&alice.token));
    for wrong in [
        truncated,
        id_alone.as_str(),
        altered.as_str(),
        other_id.as_str(),
    ] {
        for path in [CURRENT_USER, TOKENS] {
            let response = app.get(path, wrong).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{wrong} {path}"
            );
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer error=\"invalid_token\""
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), "token_invalid");
        }
    }
    // Deleted: refused from then on.
    let (status, _) = send(app.delete(&format!("{TOKENS}/{id_alone}"), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.get(CURRENT_USER, &token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
}

// "NOTE: Copy and save your token immediately - it will only be shown once!"
async fn it_will_only_be_shown_once(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Automation Script").await;
    let (_, secret) = token.split_once('|').unwrap();
    let (status, listed) = send(app.get(TOKENS, &alice.token)).await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    assert!(!text.contains(secret), "the list leaked the secret");
    assert!(!text.contains("\"token\""), "the list has a token field");
    let (_, me) = send(app.get(CURRENT_USER, &token)).await;
    assert!(!me.to_string().contains(secret));
}

// "You can see a list of all your active tokens in the API personal access
// tokens section of your account settings."
// "Verify your token is still active in your account settings."
async fn you_can_see_a_list_of_all_your_active_tokens(app: TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = create(&app, &alice, "Mobile App v2.1").await;
    let second = create(&app, &alice, "Integration with Slack").await;
    create(&app, &bob, "Bob's script").await;
    let (status, _) = send(app.delete(&format!("{TOKENS}/{}", id_of(&first)), &alice.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let listed = list(&app, &alice.token).await;
    let ids: Vec<&str> = listed.iter().map(|t| t["id"].as_str().unwrap()).collect();
    // Active only, Alice's only, newest first: the new one, then the test token.
    assert_eq!(ids, [id_of(&second), id_of(&alice.token)]);
    // Revoked tokens stay visible on Tessera's own list, marked.
    let (_, tessera) = send(app.get("/api/v1/tokens", &alice.token)).await;
    let revoked = tessera["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id_of(&first))
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
}

// "Each token shows: - Name: The descriptive name you gave it. - Created:
// When the token was created. - Last Used: When the token was last used (if
// applicable)."
async fn each_token_shows_name_created_and_last_used(app: TestApp) {
    let alice = app.user("alice").await;
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let token = create(&app, &alice, "Automation Script - Project Updates").await;
    let find = |listed: Vec<Value>| {
        listed
            .into_iter()
            .find(|t| t["id"] == id_of(&token))
            .unwrap()
    };
    let fresh = find(list(&app, &alice.token).await);
    assert_eq!(fresh["name"], "Automation Script - Project Updates");
    let created = time::OffsetDateTime::parse(
        fresh["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(created >= before, "{fresh}");
    assert!(fresh["last_used_at"].is_null(), "not used yet: {fresh}");

    let (status, _) = send(app.get(CURRENT_USER, &token)).await;
    assert_eq!(status, StatusCode::OK);
    app.flush_usage().await;
    let used = find(list(&app, &alice.token).await);
    assert!(used["last_used_at"].is_string(), "{used}");
}

// "How to delete individual tokens? To revoke access for a specific token"
// / "`DELETE /v1/current_user/tokens/{tokenId}` - Delete a specific token"
async fn delete_a_specific_token(app: TestApp) {
    let alice = app.user("alice").await;
    let doomed = create(&app, &alice, "Compromised").await;
    let kept = create(&app, &alice, "Still needed").await;
    let (status, body) = send(app.delete(&format!("{TOKENS}/{}", id_of(&doomed)), &kept)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.get(CURRENT_USER, &doomed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_invalid");
    // The others keep working.
    let (status, _) = send(app.get(CURRENT_USER, &kept)).await;
    assert_eq!(status, StatusCode::OK);
    // Deleting it again changes nothing.
    let (status, _) = send(app.delete(&format!("{TOKENS}/{}", id_of(&doomed)), &kept)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A token may delete itself.
    let (status, _) = send(app.delete(&format!("{TOKENS}/{}", id_of(&kept)), &kept)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(app.get(CURRENT_USER, &kept)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.audit_events("token.revoke").await.len(), 2);
}

// "How to delete all tokens? To revoke access for all your tokens at once"
// / "`DELETE /v1/current_user/tokens/delete` - Delete all tokens"
async fn delete_all_tokens(app: TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let one = create(&app, &alice, "One").await;
    let two = create(&app, &alice, "Two").await;
    // `/delete` is the static route, never a token id.
    let (status, body) = send(app.delete(DELETE_ALL, &one)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "revoked": 3 }));
    for token in [&one, &two, &alice.token] {
        let (status, _) = send(app.get(CURRENT_USER, token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Only the caller's.
    let (status, _) = send(app.get(CURRENT_USER, &bob.token)).await;
    assert_eq!(status, StatusCode::OK);
    // Signed in, the list is empty, and a second "delete all" revokes nothing.
    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, listed) = send(app.request(Method::GET, TOKENS).header("cookie", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));
    let (status, body) = send(
        app.request(Method::DELETE, DELETE_ALL)
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "revoked": 0 }));
}

// ""Token name is required." - Make sure you've entered a name for your
// token before creating it."
async fn token_name_is_required(app: TestApp) {
    let alice = app.user("alice").await;
    for body in [
        json!({}),
        json!({ "token_name": null }),
        json!({ "token_name": "" }),
        json!({ "token_name": "   " }),
        json!({ "name": "the wrong field" }),
    ] {
        let (status, answer) = send(app.post(CREATE, &alice.token, body.clone())).await;
        assert_name_error(status, &answer, "Token name is required.");
    }
    assert_eq!(
        list(&app, &alice.token).await.len(),
        1,
        "nothing was created"
    );
}

// "The token name is required and must be a string." / ""Token name must be
// a string." - Ensure the token name is text, not a number or other data
// type."
async fn token_name_must_be_a_string(app: TestApp) {
    let alice = app.user("alice").await;
    for name in [
        json!(42),
        json!(1.5),
        json!(true),
        json!(["Mobile App"]),
        json!({ "name": "Mobile App" }),
    ] {
        let (status, answer) =
            send(app.post(CREATE, &alice.token, json!({ "token_name": name }))).await;
        assert_name_error(status, &answer, "Token name must be a string.");
    }
    // A number written as text is text.
    create(&app, &alice, "2024").await;
}

// "Choose a descriptive name to help you identify the token's purpose
// later." / "✅ "Mobile App v2.1" … ❌ "token1" ❌ "test""
// Tessera: advice, not a rule; every example is accepted as given (trimmed).
async fn choose_a_descriptive_name(app: TestApp) {
    let alice = app.user("alice").await;
    for name in [
        "Mobile App v2.1",
        "Automation Script - Project Updates",
        "Integration with Slack",
        "token1",
        "test",
    ] {
        create(&app, &alice, name).await;
    }
    let listed = list(&app, &alice.token).await;
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Automation Script - Project Updates"));
    assert!(names.contains(&"token1"));
    create(&app, &alice, "  Padded  ").await;
    let listed = list(&app, &alice.token).await;
    assert_eq!(listed[0]["name"], "Padded");
}

// "Ensure the token hasn't expired (tokens don't expire by default)."
// "Personal Access Tokens (PATs) are long-lived authentication credentials"
// Tessera: the profile's `default_expiry = "never"`; `expires_in` (a Tessera
// addition) may still ask for an expiry among the profile's presets.
async fn tokens_dont_expire_by_default(app: TestApp) {
    let alice = app.user("alice").await;
    let token = create(&app, &alice, "Long-lived").await;
    let listed = list(&app, &alice.token).await;
    let mine = listed.iter().find(|t| t["id"] == id_of(&token)).unwrap();
    assert!(
        mine.get("expires_at").is_some() && mine["expires_at"].is_null(),
        "{mine}"
    );
    let (_, record) =
        send(app.get(&format!("/api/v1/tokens/{}", id_of(&token)), &alice.token)).await;
    assert!(record["expires_at"].is_null());
    assert_eq!(record["status"], "active");

    let (status, body) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "Thirty days", "expires_in": "30d" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let listed = list(&app, &alice.token).await;
    let thirty = listed
        .iter()
        .find(|t| t["id"] == id_of(body["token"].as_str().unwrap()))
        .unwrap();
    assert!(thirty["expires_at"].is_string());
    // A preset the profile does not offer: Tessera's error body.
    let (status, body) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "Seven days", "expires_in": "7d" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert!(body.get("errors").is_none(), "not a name error: {body}");
}

// "To create a token, you must have the following requirements: - You must
// be logged into your TeamGantt account."
// Tessera: "logged in" is a signed-in `tessera_session` cookie (with
// `X-CSRF-Token` on POST and DELETE) or a token of this deployment.
async fn you_must_be_logged_into_your_teamgantt_account(app: TestApp) {
    let alice = app.user("alice").await;
    let paths = [
        (Method::POST, CREATE),
        (Method::GET, TOKENS),
        (Method::DELETE, DELETE_ALL),
        (
            Method::DELETE,
            "/v1/current_user/tokens/tok_0000000000abcdefgh",
        ),
        (Method::GET, CURRENT_USER),
    ];
    for (method, path) in &paths {
        let response = app
            .request(method.clone(), path)
            .json(&json!({ "token_name": "Anonymous" }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "unauthenticated", "{method} {path}");
    }

    let (cookie, csrf) = app.sign_in(&alice).await;
    let (status, me) = send(
        app.request(Method::GET, CURRENT_USER)
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "alice");
    let creating = || {
        app.request(Method::POST, CREATE)
            .header("cookie", &cookie)
            .json(&json!({ "token_name": "From the settings page" }))
    };
    let (status, body) = send(creating()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "csrf_failed");
    let (status, body) = send(creating().header("x-csrf-token", &csrf)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = send(app.get(CURRENT_USER, &token)).await;
    assert_eq!(status, StatusCode::OK);

    let deleting = || {
        app.request(Method::DELETE, &format!("{TOKENS}/{}", id_of(&token)))
            .header("cookie", &cookie)
    };
    let (status, body) = send(deleting()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "csrf_failed");
    let (status, _) = send(deleting().header("x-csrf-token", &csrf)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(app.get(CURRENT_USER, &token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// "Rotate your tokens regularly - Consider creating new tokens periodically
// and deleting old ones." / "Switching to a new token for the same purpose."
async fn rotate_your_tokens_regularly(app: TestApp) {
    let alice = app.user("alice").await;
    let old = create(&app, &alice, "Integration with Slack").await;
    let (status, body) = send(app.post(
        CREATE,
        &old,
        json!({ "token_name": "Integration with Slack (2)" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let new = body["token"].as_str().unwrap().to_owned();
    let (status, _) = send(app.delete(&format!("{TOKENS}/{}", id_of(&old)), &new)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(app.get(CURRENT_USER, &old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, me) = send(app.get(CURRENT_USER, &new)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "alice");
}

// "Find the token in your list." — only your own list: another user's token
// id, or one that never existed, is not found (and is not revoked).
async fn another_users_token_is_not_yours_to_delete(app: TestApp) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let bobs = create(&app, &bob, "Bob's").await;
    for id in [id_of(&bobs), "tok_0000000000doesnotexist"] {
        let (status, body) = send(app.delete(&format!("{TOKENS}/{id}"), &alice.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(code(&body), "not_found");
    }
    let (status, _) = send(app.get(CURRENT_USER, &bobs)).await;
    assert_eq!(status, StatusCode::OK, "Bob's token still works");
    assert!(!list(&app, &alice.token)
        .await
        .iter()
        .any(|t| t["id"] == id_of(&bobs)));
}

// Tessera: the compatibility routes answer bad input with a 4xx and an error
// body, never a 500.
async fn bad_input_is_answered_with_a_4xx_never_a_500(app: TestApp) {
    let alice = app.user("alice").await;
    let raw = |body: &str| {
        app.request(Method::POST, CREATE)
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    for body in [
        "{",
        "not json",
        "",
        "[]",
        "\"My Integration Token\"",
        "42",
        "null",
        "{\"token_name\": \"a\"} trailing",
        "{\"token_name\": \"nul\\u0000\"}",
        "{\"token_name\": \"x\", \"expires_in\": 30}",
    ] {
        let (status, answer) = send(raw(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(code(&answer), "invalid_request", "{body}");
    }
    // Not JSON at all (a form post).
    let (status, answer) = send(
        app.request(Method::POST, CREATE)
            .bearer_auth(&alice.token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token_name=Form"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Names: too long, or with control characters — the name's 422.
    let (status, answer) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "x".repeat(101) }),
    ))
    .await;
    assert_name_error(
        status,
        &answer,
        "Token name must be at most 100 characters.",
    );
    let (status, answer) =
        send(app.post(CREATE, &alice.token, json!({ "token_name": "a\nb" }))).await;
    assert_name_error(
        status,
        &answer,
        "Token name must not contain control characters.",
    );
    let (status, answer) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "x".repeat(1_000_000) }),
    ))
    .await;
    assert!(status.is_client_error(), "{status}");
    assert!(answer.is_object(), "{answer}");
    let (status, answer) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "x", "expires_in": "30d", "expires_at": "2099-01-01T00:00:00Z" }),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(code(&answer), "invalid_request");
    // Unknown fields are ignored, as Laravel ignores them.
    let (status, answer) = send(app.post(
        CREATE,
        &alice.token,
        json!({ "token_name": "Extra", "abilities": ["*"] }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // Malformed ids.
    let long = "a".repeat(5000);
    for id in [
        "1",
        "abc",
        "tok_",
        "tok_a%7Cb",
        "tok_%00",
        "%20",
        "..",
        long.as_str(),
        "usr_0000000000abcdefgh",
    ] {
        let (status, answer) = send(app.delete(&format!("{TOKENS}/{id}"), &alice.token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {answer}");
        assert_eq!(code(&answer), "not_found", "{id}");
    }
    // The whole token pasted as the id.
    let (status, _) = send(app.delete(
        &format!("{TOKENS}/{}", alice.token.replace('|', "%7C")),
        &alice.token,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Methods the routes do not have.
    for (method, path) in [
        (Method::PUT, CREATE),
        (Method::GET, CREATE),
        (Method::POST, TOKENS),
        (Method::GET, DELETE_ALL),
        (Method::DELETE, CURRENT_USER),
    ] {
        let (status, _) = send(app.request(method.clone(), path).bearer_auth(&alice.token)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    // Nothing above reached a 500, and the test token still works.
    let (status, _) = send(app.get(CURRENT_USER, &alice.token)).await;
    assert_eq!(status, StatusCode::OK);
}

// "What API endpoints are available? The following endpoints are available
// for managing your tokens" — and Tessera's OpenAPI document lists them
// where they are mounted.
async fn the_openapi_document_lists_the_teamgantt_endpoints(app: TestApp) {
    let (status, document) = send(app.request(Method::GET, "/api/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &document["paths"];
    for (method, path) in [
        ("post", CREATE),
        ("get", TOKENS),
        ("delete", "/v1/current_user/tokens/{tokenId}"),
        ("delete", DELETE_ALL),
        ("get", CURRENT_USER),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    // Tessera's own API is still there.
    assert!(paths["/api/v1/tokens"]["post"].is_object());
}

/// A deployment without `[compat] teamgantt = true` (the default
/// configuration) serves none of TeamGantt's routes.
mod without_the_switch {
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::helpers::{code, send, TestApp};

    crate::on_both_stores!(the_teamgantt_endpoints_are_not_mounted);

    async fn the_teamgantt_endpoints_are_not_mounted(app: TestApp) {
        let alice = app.user("alice").await;
        for (method, path) in [
            (Method::POST, super::CREATE),
            (Method::GET, super::TOKENS),
            (
                Method::DELETE,
                "/v1/current_user/tokens/tok_0000000000abcdefgh",
            ),
            (Method::DELETE, super::DELETE_ALL),
            (Method::GET, super::CURRENT_USER),
        ] {
            let (status, body) = send(
                app.request(method.clone(), path)
                    .bearer_auth(&alice.token)
                    .json(&json!({ "token_name": "x" })),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(code(&body), "not_found");
        }
        let (_, document) = send(app.request(Method::GET, "/api/openapi.json")).await;
        let paths = document["paths"].as_object().unwrap();
        assert!(
            !paths.keys().any(|p| p.starts_with("/v1/")),
            "{:?}",
            paths.keys()
        );
        // Nothing was revoked by the attempts.
        let (status, _) = send(app.get("/api/v1/me", &alice.token)).await;
        assert_eq!(status, StatusCode::OK);
    }
}
