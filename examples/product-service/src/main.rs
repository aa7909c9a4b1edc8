//! A product service protected by Tessera: `GET /tasks` needs `api:read`,
//! `POST /tasks` needs `api:write`, and both answer with the identity
//! Tessera verified, so that you can see what a handler gets.
//!
//! `TESSERA_URL` (default `http://127.0.0.1:7400`) is where Tessera runs;
//! `TESSERA_VERIFIER` is this product's verifier credential (`tessera admin
//! verifier add product` prints it); `PRODUCT_LISTEN` (default `127.0.0.1:7500`) is where this listens.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_axum::{TesseraConfig, TesseraLayer, VerifiedIdentity};
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Tasks(Arc<Mutex<Vec<Value>>>);

#[derive(Deserialize)]
struct NewTask {
    title: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let tessera_url =
        std::env::var("TESSERA_URL").unwrap_or_else(|_| "http://127.0.0.1:7400".into());
    let listen: SocketAddr = std::env::var("PRODUCT_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:7500".into())
        .parse()
        .map_err(|e| format!("PRODUCT_LISTEN is not an address such as 127.0.0.1:7500: {e}"))?;

    let mut config = TesseraConfig::new(&tessera_url);
    match std::env::var("TESSERA_VERIFIER") {
        Ok(secret) => config = config.verifier(secret),
        Err(_) => tracing::warn!(
            "TESSERA_VERIFIER is not set: a Tessera that requires verifier credentials (the default) \
             will refuse every verification; make one with `tessera admin verifier add product`"
        ),
    }
    let tessera = TesseraLayer::try_new(config)?;
    let app = Router::new()
        .route(
            "/tasks",
            get(list_tasks.layer(tessera.require(["api:read"])))
                .post(create_task.layer(tessera.require(["api:write"]))),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Tasks::default());

    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!(
        "Product service listening on http://{} (verifying tokens with Tessera at {tessera_url})",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The tasks of the caller's workspace, and who the caller is.
async fn list_tasks(State(tasks): State<Tasks>, who: VerifiedIdentity) -> Json<Value> {
    let tasks: Vec<Value> = tasks
        .0
        .lock()
        .expect("the task list is never poisoned")
        .iter()
        .filter(|t| t["workspace_id"].as_str() == who.workspace_id.as_deref())
        .cloned()
        .collect();
    Json(json!({ "tasks": tasks, "verified_identity": who }))
}

/// Records who created the task: the handler trusts the identity, never a
/// user id sent by the client.
async fn create_task(
    State(tasks): State<Tasks>,
    who: VerifiedIdentity,
    Json(new): Json<NewTask>,
) -> (StatusCode, Json<Value>) {
    let task = json!({
        "title": new.title,
        "workspace_id": who.workspace_id,
        "created_by": who.user_id,
        "created_with_token": who.token_id,
    });
    tasks
        .0
        .lock()
        .expect("the task list is never poisoned")
        .push(task.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "task": task, "verified_identity": who })),
    )
}
