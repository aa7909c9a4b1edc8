//! Verifier credentials: who may ask the verification surfaces. Created and
//! revoked by deployment admins, presented as `Tessera-Verifier`, as Bearer
//! on verify and as HTTP Basic on introspection, required by default, and
//! restricted to an audience that learns nothing about any other token.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    every_surface_refuses_a_caller_without_a_verifier,
    each_surface_takes_the_credential_where_its_callers_send_it,
    a_secret_that_is_no_verifiers_is_refused,
    admins_create_list_and_revoke_verifiers_and_nobody_else_may,
    a_restricted_verifier_learns_nothing_outside_its_audience,
    verifications_are_counted_per_verifier,
    bad_verifier_requests_are_refused_and_create_nothing,
);

/// A deployment admin and a verifier they create over the API with `body`.
async fn created_verifier(app: &TestApp, admin: &TestUser, body: Value) -> Value {
    let (status, created) = send(app.post("/api/v1/verifiers", &admin.token, body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The three surfaces asked about `token`, with `verifier` as the header
/// (or nothing): their statuses and bodies.
async fn ask_everywhere(
    app: &TestApp,
    token: &str,
    verifier: Option<&str>,
) -> [(StatusCode, Value); 3] {
    let bare = app.bare();
    let with = |request: reqwest::RequestBuilder| match verifier {
        Some(secret) => request.header("tessera-verifier", secret),
        None => request,
    };
    let verify = send(with(
        bare.post(format!("{}/api/v1/verify", app.base))
            .json(&json!({ "token": token })),
    ))
    .await;
    let introspect = send(with(
        bare.post(format!("{}/oauth/introspect", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}")),
    ))
    .await;
    let forward_auth = send(with(
        bare.get(format!("{}/auth", app.base)).bearer_auth(token),
    ))
    .await;
    [verify, introspect, forward_auth]
}

async fn every_surface_refuses_a_caller_without_a_verifier(app: TestApp) {
    let alice = app.user("alice").await;
    for (status, body) in ask_everywhere(&app, &alice.token, None).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "verifier_required");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tessera-Verifier"));
    }
    let response = app
        .bare()
        .post(format!("{}/oauth/introspect", app.base))
        .body(format!("token={}", alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"tessera\"",
        "RFC 7662 §2.1: introspection asks for client authentication"
    );
    // The gateway's own credential makes every surface answer.
    let answers = ask_everywhere(&app, &alice.token, Some(&app.verifier_secret)).await;
    assert_eq!(answers[0].1["valid"], true, "{:?}", answers[0]);
    assert_eq!(answers[1].1["active"], true, "{:?}", answers[1]);
    assert_eq!(answers[2].0, StatusCode::OK);

    // A deployment that opens the surfaces answers anyone.
    let Some(open) = TestApp::with_config(app.backend, "[verify]\nrequire_verifier = false").await
    else {
        return;
    };
    let bob = open.user("bob").await;
    let answers = ask_everywhere(&open, &bob.token, None).await;
    assert_eq!(answers[0].1["valid"], true, "{:?}", answers[0]);
    assert_eq!(answers[1].1["active"], true, "{:?}", answers[1]);
    assert_eq!(answers[2].0, StatusCode::OK);
    // ... but a bad credential presented there is still refused, not ignored.
    for (status, body) in ask_everywhere(&open, &bob.token, Some("tsr_vfr_nonsense")).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(code(&body), "verifier_required");
    }
}

async fn each_surface_takes_the_credential_where_its_callers_send_it(app: TestApp) {
    let admin = app.admin().await;
    let created = created_verifier(&app, &admin, json!({ "name": "product" })).await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let bare = app.bare();

    // verify: Bearer is the verifier; the token asked about is in the body.
    let (status, answer) = send(
        bare.post(format!("{}/api/v1/verify", app.base))
            .bearer_auth(secret)
            .json(&json!({ "token": admin.token })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true);

    // introspect: HTTP Basic id:secret, as an OAuth client authenticates.
    let introspect = |user: &str, password: &str| {
        bare.post(format!("{}/oauth/introspect", app.base))
            .basic_auth(user, Some(password))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", admin.token))
    };
    let (status, answer) = send(introspect(id, secret)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["active"], true);
    assert_eq!(answer["username"], "root");
    let (status, answer) = send(introspect("vfr_someoneelse", secret)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the id must be the secret's own: {answer}"
    );
    assert_eq!(code(&answer), "verifier_required");

    // forward-auth: only the header, since Authorization carries the token.
    let (status, _) = send(
        bare.get(format!("{}/auth", app.base))
            .header("tessera-verifier", secret)
            .bearer_auth(&admin.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_secret_that_is_no_verifiers_is_refused(app: TestApp) {
    let alice = app.user("alice").await;
    let wrong_checksum = {
        let mut s = app.verifier_secret.clone();
        let last = s.pop().unwrap();
        s.push(if last == 'a' { 'b' } else { 'a' });
        s
    };
    let made_up = tessera_core::verifier_credential::generate()
        .expose()
        .to_owned();
    for presented in [
        alice.token.as_str(),
        &wrong_checksum,
        &made_up,
        "",
        "tsr_vfr_",
        "x y",
    ] {
        for (status, body) in ask_everywhere(&app, &alice.token, Some(presented)).await {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{presented:?}: {body}");
            assert_eq!(code(&body), "verifier_required");
        }
    }
    // Bearer with a personal token on verify is no verifier either.
    let (status, body) = send(
        app.bare()
            .post(format!("{}/api/v1/verify", app.base))
            .bearer_auth(&alice.token)
            .json(&json!({ "token": alice.token })),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "verifier_required");
}

async fn admins_create_list_and_revoke_verifiers_and_nobody_else_may(app: TestApp) {
    let admin = app.admin().await;
    let alice = app.user("alice").await;
    let acme = app.workspace("acme").await;

    let created = created_verifier(
        &app,
        &admin,
        json!({ "name": "acme gateway", "workspace_ids": [acme], "kinds": ["pat"] }),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(id.starts_with("vfr_"), "{created}");
    assert!(secret.starts_with("tsr_vfr_"), "{created}");
    assert_eq!(created["name"], "acme gateway");
    assert_eq!(created["workspace_ids"], json!([acme]));
    assert_eq!(created["kinds"], json!(["pat"]));
    assert_eq!(created["created_by"], admin.id.as_str());
    assert!(created["created_at"].is_string());

    let (status, listed) = send(app.get("/api/v1/verifiers", &admin.token)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        2,
        "the test gateway's and the new one: {listed}"
    );
    assert_eq!(items[0]["id"], id, "newest first");
    assert!(
        !listed.to_string().contains("tsr_vfr_"),
        "never a secret in a list"
    );

    // Nobody else may see or change them.
    for request in [
        app.get("/api/v1/verifiers", &alice.token),
        app.post("/api/v1/verifiers", &alice.token, json!({ "name": "mine" })),
        app.delete(&format!("/api/v1/verifiers/{id}"), &alice.token),
    ] {
        let (status, body) = send(request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }

    let (status, _) = send(app.delete(&format!("/api/v1/verifiers/{id}"), &admin.token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.delete(&format!("/api/v1/verifiers/{id}"), &admin.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = send(app.delete("/api/v1/verifiers/nonsense", &admin.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A revoked verifier is refused at once.
    for (status, body) in ask_everywhere(&app, &alice.token, Some(secret)).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }

    let created_events = app.audit_events("verifier.create").await;
    let ours = created_events
        .iter()
        .find(|e| e.target_id.as_deref() == Some(id))
        .unwrap();
    assert_eq!(ours.actor_user_id.as_deref(), Some(admin.id.as_str()));
    assert_eq!(ours.details["name"], "acme gateway");
    assert!(
        !ours.details.to_string().contains("tsr_vfr_"),
        "no secret in the audit trail"
    );
    let revoked = app.audit_events("verifier.revoke").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].target_id.as_deref(), Some(id));
}

async fn a_restricted_verifier_learns_nothing_outside_its_audience(app: TestApp) {
    let admin = app.admin().await;
    let acme = app.workspace("acme").await;
    let globex = app.workspace("globex").await;
    let owner = app.user("owner").await;
    app.join(&acme, &owner, "owner").await;
    app.join(&globex, &owner, "owner").await;
    let acme_key = app
        .create_api_key(&acme, &owner, json!({ "name": "a", "role": "viewer" }))
        .await;
    let globex_key = app
        .create_api_key(&globex, &owner, json!({ "name": "g", "role": "viewer" }))
        .await;
    let acme_key = acme_key["token"].as_str().unwrap();
    let globex_key = globex_key["token"].as_str().unwrap();

    let acme_only = created_verifier(
        &app,
        &admin,
        json!({ "name": "acme", "workspace_ids": [acme] }),
    )
    .await;
    let acme_only = acme_only["secret"].as_str().unwrap();
    let keys_only = created_verifier(
        &app,
        &admin,
        json!({ "name": "keys", "kinds": ["api_key"] }),
    )
    .await;
    let keys_only = keys_only["secret"].as_str().unwrap();

    let unknown = app.unknown_pat();
    let unknown_answers = ask_everywhere(&app, &unknown, Some(acme_only)).await;

    // In the audience: answered in full.
    let inside = ask_everywhere(&app, acme_key, Some(acme_only)).await;
    assert_eq!(inside[0].1["valid"], true, "{:?}", inside[0]);
    assert_eq!(inside[1].1["active"], true, "{:?}", inside[1]);
    assert_eq!(inside[2].0, StatusCode::OK);

    // Outside it: exactly an unknown token's answers, status and body.
    let outside = ask_everywhere(&app, globex_key, Some(acme_only)).await;
    assert_eq!(outside, unknown_answers, "another workspace's key");
    // A personal token acting in no workspace is outside a workspace restriction.
    let outside = ask_everywhere(&app, &admin.token, Some(acme_only)).await;
    assert_eq!(outside, unknown_answers, "a token in no workspace");
    // Named with the workspace header in acme, the owner's PAT is inside.
    let (status, answer) = send(
        app.bare()
            .post(format!("{}/api/v1/verify", app.base))
            .header("tessera-verifier", acme_only)
            .json(&json!({ "token": owner.token, "workspace_id": acme })),
    )
    .await;
    assert_eq!(
        (status, answer["valid"].clone()),
        (StatusCode::OK, json!(true)),
        "{answer}"
    );

    // A kind restriction: API keys of any workspace, no personal tokens.
    let keys = ask_everywhere(&app, globex_key, Some(keys_only)).await;
    assert_eq!(keys[0].1["valid"], true, "{:?}", keys[0]);
    let personal = ask_everywhere(&app, &owner.token, Some(keys_only)).await;
    assert_eq!(
        personal,
        ask_everywhere(&app, &unknown, Some(keys_only)).await
    );

    // The refused verifications noted no use of the token.
    app.flush_usage().await;
    let (_, listed) = send(
        app.get(
            &format!("/api/v1/workspaces/{globex}/api-keys"),
            &owner.token,
        )
        .header("x-workspace-id", &globex),
    )
    .await;
    let used = listed["items"][0]["last_used_at"].clone();
    assert!(!used.is_null(), "the keys-only verifier used it: {listed}");
}

async fn verifications_are_counted_per_verifier(app: TestApp) {
    let admin = app.admin().await;
    let created = created_verifier(&app, &admin, json!({ "name": "counted" })).await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    ask_everywhere(&app, &admin.token, Some(secret)).await;
    ask_everywhere(&app, &app.unknown_pat(), Some(secret)).await;
    ask_everywhere(&app, &admin.token, None).await;

    let metrics = app
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for surface in ["verify", "introspect", "forward_auth"] {
        for outcome in ["valid", "invalid"] {
            let line = format!(
                "tessera_verifier_requests_total{{verifier=\"{id}\",surface=\"{surface}\",outcome=\"{outcome}\"}} 1"
            );
            assert!(metrics.contains(&line), "{line} in:\n{metrics}");
        }
        let refused = format!(
            "tessera_verifier_requests_total{{verifier=\"\",surface=\"{surface}\",outcome=\"refused\"}} 1"
        );
        assert!(metrics.contains(&refused), "{refused} in:\n{metrics}");
    }
}

async fn bad_verifier_requests_are_refused_and_create_nothing(app: TestApp) {
    let admin = app.admin().await;
    let long = "x".repeat(101);
    let too_many: Vec<String> = (0..101).map(|i| format!("wsp_{i}")).collect();
    // A body of the wrong shape is 400; a value that cannot be is 422.
    for (body, expected) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({ "name": "" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "name": "   " }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "name": long }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "name": "a\u{0}b" }), StatusCode::BAD_REQUEST),
        (json!({ "name": 7 }), StatusCode::BAD_REQUEST),
        (
            json!({ "name": "x", "workspace_ids": "wsp_1" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "name": "x", "workspace_ids": ["wsp_nowhere"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "name": "x", "workspace_ids": ["\u{0}"] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "name": "x", "workspace_ids": too_many }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "name": "x", "kinds": ["no_such_kind"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({ "name": "x", "kinds": [null] }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "name": "x", "secret": "mine" }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) =
            send(app.post("/api/v1/verifiers", &admin.token, body.clone())).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (status, answer) = send(
        app.request(Method::POST, "/api/v1/verifiers")
            .bearer_auth(&admin.token)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert!(status == StatusCode::BAD_REQUEST, "{status}: {answer}");
    let (_, listed) = send(app.get("/api/v1/verifiers", &admin.token)).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "only the test gateway's: {listed}"
    );
    assert!(app.audit_events("verifier.create").await.len() == 1);
}
