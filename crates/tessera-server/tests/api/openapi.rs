//! The OpenAPI document describes every route that is served, and only those.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp};

/// The contract's routes (docs/api.md), method and path.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api/v1/session"),
    ("delete", "/api/v1/session"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens"),
    ("get", "/api/v1/tokens/{id}"),
    ("delete", "/api/v1/tokens/{id}"),
    ("post", "/api/v1/tokens/{id}/rotate"),
    ("get", "/api/v1/tokens/self"),
    ("delete", "/api/v1/tokens/self"),
    ("post", "/api/v1/tokens/self/rotate"),
    ("post", "/api/v1/workspaces/{wid}/api-keys"),
    ("get", "/api/v1/workspaces/{wid}/api-keys"),
    ("delete", "/api/v1/workspaces/{wid}/api-keys/{id}"),
    ("get", "/api/v1/workspaces/{wid}/audit"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users/{id}/suspend"),
    ("post", "/api/v1/users/{id}/reactivate"),
    ("delete", "/api/v1/users/{id}"),
    ("post", "/api/v1/workspaces"),
    ("get", "/api/v1/workspaces"),
    ("put", "/api/v1/workspaces/{wid}/members/{uid}"),
    ("delete", "/api/v1/workspaces/{wid}/members/{uid}"),
    ("get", "/api/v1/workspaces/{wid}/members"),
    ("post", "/api/v1/verify"),
    ("post", "/oauth/introspect"),
    ("get", "/auth"),
    ("post", "/api/v1/verifiers"),
    ("get", "/api/v1/verifiers"),
    ("delete", "/api/v1/verifiers/{id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document the server serves, as JSON.
async fn served_document(app: &TestApp) -> Value {
    let response = app
        .request(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "tok_none")
        .replace("{wid}", "wsp_none")
        .replace("{uid}", "usr_none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_covers_the_contract_and_every_mounted_route() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();

    for (method, path) in CONTRACT {
        let operation = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[*method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }

    // Documented operations are served (never 405), and undocumented
    // methods on a documented path are not (always 405): the document and
    // the router agree in both directions.
    for (path, item) in paths {
        for method in METHODS {
            let documented = item.get(method).is_some();
            let response = app
                .request(method.to_uppercase().parse().unwrap(), &concrete(path))
                .send()
                .await
                .unwrap();
            let served = response.status() != StatusCode::METHOD_NOT_ALLOWED;
            assert_eq!(served, documented, "{} {path}", method.to_uppercase());
        }
    }

    // Request and response bodies are described.
    let create = &paths["/api/v1/tokens"]["post"];
    assert!(create["requestBody"].is_object());
    let schemas = document["components"]["schemas"].as_object().unwrap();
    for schema in [
        "TokenView",
        "IssuedView",
        "CreateToken",
        "ErrorBody",
        "UserView",
        "CreateKey",
    ] {
        assert!(schemas.contains_key(schema), "schema {schema} is missing");
    }
}

/// What the probe's schemathesis run found missing from the document:
/// `minLength` on names, the 409 of suspending a removed user, the 422 of an
/// unusable `limit` on every list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_states_name_lengths_and_every_status_the_probe_found() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    let schemas = &document["components"]["schemas"];
    for (schema, field, max) in [
        ("CreateToken", "name", 100),
        ("CreateKey", "name", 100),
        ("CreateAgent", "name", 100),
        ("CreateAgentToken", "name", 100),
        ("CreateWorkspace", "name", 100),
        ("CreateVerifier", "name", 100),
        ("CreateUser", "username", 64),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["minLength"], 1, "{schema}.{field}: {property}");
        assert_eq!(property["maxLength"], max, "{schema}.{field}: {property}");
    }
    let paths = &document["paths"];
    for path in [
        "/api/v1/users/{id}/suspend",
        "/api/v1/users/{id}/reactivate",
    ] {
        assert!(
            paths[path]["post"]["responses"]["409"].is_object(),
            "{path}"
        );
    }
    for list in [
        "/api/v1/tokens",
        "/api/v1/users",
        "/api/v1/workspaces",
        "/api/v1/workspaces/{wid}/api-keys",
        "/api/v1/workspaces/{wid}/agents",
        "/api/v1/workspaces/{wid}/agents/{agent_id}/tokens",
        "/api/v1/workspaces/{wid}/audit",
    ] {
        let operation = &paths[list]["get"];
        assert!(operation["responses"]["422"].is_object(), "{list}: no 422");
        let limit = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{list}: no limit parameter"));
        assert_eq!(limit["schema"]["minimum"], 1, "{list}: {limit}");
        assert_eq!(limit["schema"]["maximum"], 500, "{list}: {limit}");
    }
    for surface in ["/api/v1/verify", "/oauth/introspect"] {
        assert!(
            paths[surface]["post"]["responses"]["400"].is_object(),
            "{surface}"
        );
    }
}

/// Found by schemathesis: a refused credential (401) and input that does not
/// parse (400, e.g. `?limit=null&limit=null`) were answered by routes whose
/// documents did not list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_documents_the_401_and_400_any_route_may_give() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            if secured {
                assert!(responses.get("401").is_some(), "{method} {path}: no 401");
                checked += 1;
            }
            let reads_input = operation.get("requestBody").is_some()
                || operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if reads_input {
                assert!(responses.get("400").is_some(), "{method} {path}: no 400");
                checked += 1;
            }
        }
    }
    assert!(checked > 30, "only {checked} operations checked");
}
