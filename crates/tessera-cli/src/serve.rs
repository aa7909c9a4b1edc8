//! `tessera serve`.

use std::process::ExitCode;

use anyhow::Context;
use tokio::net::TcpListener;

use tessera_server::AppState;

use crate::config_args::ConfigArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Loads the configuration and opens (and migrates) the store: shared with
/// the admin commands.
pub async fn open(args: &ConfigArgs) -> anyhow::Result<AppState> {
    let config = args.load()?;
    let url = config.database_url.clone();
    // With the verify cache off, every verification reads the store.
    let options = tessera_store::ConnectOptions {
        map_sqlite_file: !config.cache.enabled,
    };
    let store = tessera_store::connect_with(&url, options)
        .await
        .with_context(|| format!("cannot open the database {url}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {url}"))?;
    Ok(AppState::new(config, store))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let state = open(&args.config).await?;
    let config = state.config.clone();
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;

    let admin_password = std::env::var("TESSERA_ADMIN_PASSWORD").ok();
    if let Some(first) = state.bootstrap.ensure_first_admin(admin_password).await? {
        println!(
            "First start: created the admin user \"{}\".",
            first.username
        );
        match &first.generated_password {
            Some(password) => {
                println!("Its password, shown this once: {password}");
                println!(
                    "(Set TESSERA_ADMIN_PASSWORD before the first start to choose it instead.)"
                );
            }
            None => println!("Its password is the one in TESSERA_ADMIN_PASSWORD."),
        }
        println!("Sign in:");
        println!(
            "  curl -c cookies.txt -H 'Content-Type: application/json' \\\n    -d '{{\"username\":\"{}\",\"password\":\"…\"}}' http://{address}/api/v1/session",
            first.username
        );
        println!(
            "Or issue yourself a token:  tessera admin token issue --user {} --name cli --expires-in 90d",
            first.username
        );
        println!("Let a product or gateway verify tokens:  tessera admin verifier add gateway");
    }
    println!(
        "Tessera listening on http://{address} (store: {})",
        config.database_url
    );
    tracing::info!(%address, store = %config.database_url, config = ?config.source, "listening");
    if !config.verify.require_verifier {
        tracing::warn!(
            "[verify] require_verifier = false: anyone who can reach this server may ask \
             POST /api/v1/verify, POST /oauth/introspect and GET /auth about any token"
        );
        eprintln!(
            "Warning: the verification surfaces are open to anyone ([verify] require_verifier = false)."
        );
    }

    tessera_server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: draining requests and writing usage");
}
