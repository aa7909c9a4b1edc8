//! Text the store cannot keep (NUL characters) is refused with a 4xx at the
//! edge, whatever the route; PostgreSQL would otherwise fail the query.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{send, TestApp};
use crate::on_both_stores;

on_both_stores!(nul_characters_are_refused_never_a_server_error);

async fn nul_characters_are_refused_never_a_server_error(app: TestApp) {
    let admin = app.admin().await;
    let acme = app.workspace("acme").await;
    app.join(&acme, &admin, "owner").await;
    let bodies = [
        app.post("/api/v1/tokens", &admin.token, json!({ "name": "a\u{0}b" })),
        app.post(
            "/api/v1/workspaces",
            &admin.token,
            json!({ "name": "a\u{0}b" }),
        ),
        app.post(
            "/api/v1/users",
            &admin.token,
            json!({ "username": "carol", "password": "long enough", "display_name": "C\u{0}" }),
        ),
        app.request(Method::POST, "/api/v1/session")
            .json(&json!({ "username": "adm\u{0}in", "password": "whatever-password" })),
    ];
    for request in bodies {
        let (status, body) = send(request).await;
        assert!(status.is_client_error(), "{status}: {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    // In a filter a NUL simply matches nothing (SQLite) or is refused
    // (PostgreSQL); either way, never a server error.
    let filters = [
        app.get(
            &format!("/api/v1/workspaces/{acme}/audit?actor=usr_%00x"),
            &admin.token,
        )
        .header("x-workspace-id", &acme),
        app.get(
            &format!("/api/v1/workspaces/{acme}/audit?action=%00"),
            &admin.token,
        )
        .header("x-workspace-id", &acme),
    ];
    for request in filters {
        let (status, body) = send(request).await;
        assert!(!status.is_server_error(), "{status}: {body}");
    }
    // Nothing was half-written.
    let (_, workspaces) = send(app.get("/api/v1/workspaces", &admin.token)).await;
    assert_eq!(workspaces["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        send(app.get("/api/v1/me", &admin.token)).await.0,
        StatusCode::OK
    );
}
