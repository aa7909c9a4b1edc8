//! Rotation that cannot take a customer down: a rotated-out secret presented
//! anywhere is refused and audited while the token stands; only one used to
//! rotate the token again revokes it. And hand-off rotation, whose old secret
//! waits for the new one's first use.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, send, TestApp, TestUser};
use crate::on_both_stores;

on_both_stores!(
    a_rotated_out_secret_is_refused_and_audited_and_the_token_stands,
    a_rotated_out_secret_is_named_token_rotated_when_reasons_are_revealed,
    a_rotated_out_secret_used_to_rotate_revokes_the_token,
    a_handoff_rotation_keeps_the_old_secret_until_the_new_one_is_first_used,
    a_handoff_rotation_whose_new_secret_was_lost_can_be_retried,
    the_overlap_is_given_one_way,
);

/// A token of alice's and its rotation with `body`: (alice, id, old, new).
async fn rotated(app: &TestApp, body: Value) -> (TestUser, String, String, String) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "ci" })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let old = created["token"].as_str().unwrap().to_owned();
    let (status, rotated) =
        send(app.post(&format!("/api/v1/tokens/{id}/rotate"), &alice.token, body)).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    (
        alice,
        id,
        old,
        rotated["token"].as_str().unwrap().to_owned(),
    )
}

/// The token's record as its owner sees it.
async fn record(app: &TestApp, owner: &TestUser, id: &str) -> Value {
    send(app.get(&format!("/api/v1/tokens/{id}"), &owner.token))
        .await
        .1
}

async fn a_rotated_out_secret_is_refused_and_audited_and_the_token_stands(app: TestApp) {
    let (alice, id, old, new) = rotated(&app, json!({})).await;
    // A forgotten job keeps presenting the old secret (no overlap: it
    // retired at once), on the API and on the verify endpoint.
    for _ in 0..3 {
        let (status, body) = send(app.get("/api/v1/me", &old)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            code(&body),
            "token_invalid",
            "reasons are hidden by default"
        );
    }
    let (status, body) = send(app.post("/api/v1/verify", &new, json!({ "token": old }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["valid"], false);

    // The new secret still works: the token was not revoked.
    assert_eq!(send(app.get("/api/v1/me", &new)).await.0, StatusCode::OK);
    let record = record(&app, &alice, &id).await;
    assert_eq!(record["status"], "active", "{record}");
    assert!(app.audit_events("token.reuse_detected").await.is_empty());

    // Audited so that the owner can find the job, once a minute at most.
    let used = app.audit_events("token.rotated_secret_used").await;
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0].target_id.as_deref(), Some(id.as_str()));
}

async fn a_rotated_out_secret_is_named_token_rotated_when_reasons_are_revealed(app: TestApp) {
    let revealing = TestApp::with_config(app.backend, "[auth]\nreveal_failure_reasons = true")
        .await
        .unwrap();
    drop(app);
    let (_, _, old, _) = rotated(&revealing, json!({})).await;
    let (status, body) = send(revealing.get("/api/v1/me", &old)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "token_rotated");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("new secret"));
}

async fn a_rotated_out_secret_used_to_rotate_revokes_the_token(app: TestApp) {
    let (alice, id, old, new) = rotated(&app, json!({})).await;
    // Someone holding the old secret tries to take the token over.
    let (status, _) = send(app.post("/api/v1/tokens/self/rotate", &old, json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send(app.get("/api/v1/me", &new)).await.0,
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );
    let record = record(&app, &alice, &id).await;
    assert_eq!(record["status"], "revoked");
    assert_eq!(record["revoked_reason"], "reuse_detected");
    assert_eq!(app.audit_events("token.reuse_detected").await.len(), 1);
}

async fn a_handoff_rotation_keeps_the_old_secret_until_the_new_one_is_first_used(app: TestApp) {
    let (alice, id, old, new) = rotated(&app, json!({ "overlap": "until_first_use" })).await;
    // The deployment has not picked up the new secret yet: the old one works.
    for _ in 0..3 {
        assert_eq!(send(app.get("/api/v1/me", &old)).await.0, StatusCode::OK);
    }
    assert!(app.audit_events("token.handoff_complete").await.is_empty());

    // The new secret's first use ends the wait after a short grace, for
    // requests already in flight with the old one.
    let before = time::OffsetDateTime::now_utc();
    assert_eq!(send(app.get("/api/v1/me", &new)).await.0, StatusCode::OK);
    let ended = app.audit_events("token.handoff_complete").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].target_id.as_deref(), Some(id.as_str()));
    let retire_at = time::OffsetDateTime::parse(
        ended[0].details["old_secrets_retire_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let grace = retire_at - before;
    assert!(
        grace > time::Duration::seconds(50) && grace <= time::Duration::seconds(61),
        "{grace}"
    );
    assert_eq!(
        send(app.get("/api/v1/me", &old)).await.0,
        StatusCode::OK,
        "within the grace"
    );
    assert_eq!(send(app.get("/api/v1/me", &new)).await.0, StatusCode::OK);
    assert_eq!(
        app.audit_events("token.handoff_complete").await.len(),
        1,
        "once"
    );
    assert_eq!(record(&app, &alice, &id).await["status"], "active");
}

async fn a_handoff_rotation_whose_new_secret_was_lost_can_be_retried(app: TestApp) {
    let (_, _, old, lost) = rotated(&app, json!({ "overlap": "until_first_use" })).await;
    // The automation lost the new secret and rotates again with the old one,
    // which still works: not a reuse.
    let (status, retried) = send(app.post(
        "/api/v1/tokens/self/rotate",
        &old,
        json!({ "overlap": "until_first_use" }),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    let new = retried["token"].as_str().unwrap();
    assert_eq!(
        send(app.get("/api/v1/me", &lost)).await.0,
        StatusCode::UNAUTHORIZED,
        "the lost secret retired"
    );
    assert_eq!(send(app.get("/api/v1/me", &old)).await.0, StatusCode::OK);
    assert_eq!(send(app.get("/api/v1/me", new)).await.0, StatusCode::OK);
    assert!(app.audit_events("token.reuse_detected").await.is_empty());
}

async fn the_overlap_is_given_one_way(app: TestApp) {
    let alice = app.user("alice").await;
    let created = app.create_token(&alice, json!({ "name": "ci" })).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/tokens/{id}/rotate");
    for body in [
        json!({ "overlap": "until_first_use", "overlap_seconds": 60 }),
        json!({ "overlap": "forever" }),
        json!({ "overlap": 60 }),
        json!({ "overlap_seconds": 86_401 }),
    ] {
        let (status, answer) = send(app.post(&path, &alice.token, body.clone())).await;
        assert!(status.is_client_error(), "{body} → {status} {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    // Nothing changed: the original secret still works.
    let secret = created["token"].as_str().unwrap();
    assert_eq!(send(app.get("/api/v1/me", secret)).await.0, StatusCode::OK);
}
