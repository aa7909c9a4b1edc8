//! A real Tessera (its server library on a fresh SQLite file, on a real
//! port), and a small product app protected by the layer under test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::handler::Handler;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tower::ServiceExt;

use tessera_axum::{TesseraConfig, TesseraLayer, VerifiedIdentity};
use tessera_core::kind::OwnerType;
use tessera_server::principal::Actor;
use tessera_server::service::tokens::IssueRequest;
use tessera_server::service::verifiers::NewVerifier;
use tessera_server::{AppState, Config};
use tessera_store::test_support::{fresh, Backend, TestDatabase};

pub struct Tessera {
    pub url: String,
    pub state: AppState,
    /// The product's verifier credential, made at start as a deployment
    /// admin would (`tessera admin verifier add`).
    pub verifier_secret: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last: the database outlives the server using it.
    _database: TestDatabase,
}

/// A user with a personal token that never expires.
pub struct User {
    pub id: String,
    pub token: String,
}

impl Tessera {
    pub async fn start() -> Tessera {
        Tessera::with_config("").await
    }

    /// A Tessera configured by `toml`, on top of the defaults.
    pub async fn with_config(toml: &str) -> Tessera {
        let database = fresh(Backend::Sqlite)
            .await
            .expect("SQLite is never skipped");
        let mut config = Config::from_toml(toml).expect("test configuration is valid");
        config.database_url = database.url().clone();
        let store = database.store().await;
        let state = AppState::new(config, store);
        let (_, verifier_secret) = state
            .verifiers
            .create(
                NewVerifier {
                    name: "product".into(),
                    ..NewVerifier::default()
                },
                &Actor::cli(),
            )
            .await
            .expect("the product's verifier credential");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address: SocketAddr = listener.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = tessera_server::serve(listener, served, async {
                let _ = rx.await;
            })
            .await;
        });
        Tessera {
            url: format!("http://{address}"),
            verifier_secret: verifier_secret.expose().to_owned(),
            state,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            _database: database,
        }
    }

    /// The layer's settings for this Tessera, with the product's verifier.
    pub fn config(&self) -> TesseraConfig {
        TesseraConfig::new(&self.url).verifier(&self.verifier_secret)
    }

    pub async fn user(&self, username: &str) -> User {
        let user = self
            .state
            .users
            .create(
                username,
                format!("{username}-password"),
                false,
                None,
                &Actor::cli(),
            )
            .await
            .expect("user is created");
        let kind = self
            .state
            .config
            .kinds
            .first_owned_by(OwnerType::User)
            .expect("a PAT kind");
        let issued = self
            .state
            .tokens
            .issue(
                IssueRequest {
                    kind,
                    name: format!("{username}'s token"),
                    expiry: tessera_core::ExpiryRequest::Preset("never".into()),
                    permissions: None,
                    role: None,
                    workspace_id: None,
                    user_id: Some(user.id.clone()),
                    created_by: Some(user.id.clone()),
                    ceiling: None,
                },
                &Actor::cli(),
            )
            .await
            .expect("token is issued");
        User {
            id: user.id,
            token: issued.token.expose().to_owned(),
        }
    }

    pub async fn workspace(&self, name: &str) -> String {
        self.state
            .workspaces
            .create(name, &Actor::cli())
            .await
            .expect("workspace")
            .id
    }

    pub async fn join(&self, workspace: &str, user: &User, role: &str) {
        self.state
            .workspaces
            .set_member_role(workspace, &user.id, role, &Actor::cli())
            .await
            .expect("membership");
    }

    /// A workspace API key with `role`, created over the public API by
    /// `creator` (who must be allowed to manage keys there).
    pub async fn api_key(&self, workspace: &str, creator: &User, role: &str) -> String {
        let response = self
            .http
            .post(format!(
                "{}/api/v1/workspaces/{workspace}/api-keys",
                self.url
            ))
            .bearer_auth(&creator.token)
            .header("x-workspace-id", workspace)
            .json(&json!({ "name": "product key", "role": role }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("JSON");
        body["token"].as_str().expect("the secret").to_owned()
    }

    /// Revokes the token with itself, over the public API.
    pub async fn revoke(&self, token: &str) {
        let response = self
            .http
            .delete(format!("{}/api/v1/tokens/self", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{}", response.status());
    }

    /// How many presented tokens Tessera has counted, every outcome
    /// together, from its `/metrics`.
    pub async fn verifications(&self) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with("tessera_verifications_total{"))
            .map(|l| {
                l.rsplit(' ')
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .expect("a counter value")
            })
            .sum()
    }
}

impl Drop for Tessera {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The product under test: `GET /tasks` needs `api:read`, `POST /tasks`
/// needs `api:write`, `GET /me` only a valid token; `GET /unprotected`
/// extracts the identity without the layer. Every handler answers with the
/// identity it got and counts its calls.
pub struct Product {
    router: Router,
    calls: Arc<AtomicUsize>,
}

impl Product {
    pub fn new(tessera: &TesseraLayer) -> Product {
        let calls = Arc::new(AtomicUsize::new(0));
        let handler = {
            let calls = calls.clone();
            move |who: VerifiedIdentity| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Json(json!({ "verified_identity": who }))
            }
        };
        let router = Router::new()
            .route(
                "/tasks",
                get(handler.clone().layer(tessera.require(["api:read"])))
                    .post(handler.clone().layer(tessera.require(["api:write"]))),
            )
            .route("/me", get(handler.clone().layer(tessera.clone())))
            .route("/unprotected", get(handler));
        Product { router, calls }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Response<Body>, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, Response::from_parts(parts, Body::empty()), json)
    }
}

/// A request to the product, with a bearer token and a workspace if given.
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    workspace: Option<&str>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if let Some(workspace) = workspace {
        builder = builder.header("x-workspace-id", workspace);
    }
    builder.body(Body::empty()).expect("request")
}
