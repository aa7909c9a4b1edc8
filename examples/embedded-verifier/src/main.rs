//! A product verifying Tessera tokens in its own process.
//!
//! The engine (`tessera-verify`) reads Tessera's database directly (it
//! writes nothing: usage recording is off) and hears every change a Tessera
//! server makes through the same feed the servers use between themselves
//! (LISTEN/NOTIFY on PostgreSQL, the changes table on SQLite), so a token
//! revoked on `tessera serve` is refused here at once, with no network hop
//! per verification.
//!
//! ```sh
//! # answer verify questions, one JSON line in, one out (the same answers as POST /api/v1/verify)
//! echo '{"token": "tsr_pat_..."}' | cargo run -p tessera-example-embedded-verifier -- answer
//! # how many verifications a second one core makes
//! cargo run --release -p tessera-example-embedded-verifier -- bench --token tsr_pat_... --seconds 5
//! ```
//!
//! Both read the configuration as `tessera serve` does: `--config PATH`, else
//! `tessera.toml` in the working folder, else the defaults; then `TESSERA_*`
//! variables (`TESSERA_DATABASE_URL` names the database).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use tessera_server::Config;
use tessera_verify::{Client, Verifier, VerifierSettings, VerifyFailure, VerifyRequest};

#[derive(Parser)]
#[command(about = "Verify Tessera tokens in this process, against Tessera's database")]
struct Cli {
    /// The Tessera configuration file to read (default: ./tessera.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read verify questions from stdin, one JSON object a line
    /// (`{"token", "workspace_id"?, "permissions"?}`), and write each answer
    /// as one JSON line, exactly as `POST /api/v1/verify` answers.
    Answer,
    /// Verify one token over and over on a single thread, and print how many
    /// verifications a second that makes.
    Bench {
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
}

/// One question, as the verify API takes it.
#[derive(Deserialize)]
struct Question {
    token: String,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One core: what a product's request handler would spend, measured alone.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let reveal = config.auth.reveal_failure_reasons;
    let store = tessera_store::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url))?;
    let settings = VerifierSettings {
        // The product only reads Tessera's database.
        record_usage: false,
        ..tessera_server::verification::settings(&config)
    };
    let verifier: Arc<Verifier> = Arc::new(Verifier::new(settings, store));
    // Hears the server's revocations, suspensions and role changes.
    let _background = verifier.start(config.usage_flush_interval).await;

    match cli.command {
        Command::Answer => answer(&verifier, reveal).await,
        Command::Bench { token, seconds } => bench(&verifier, &token, seconds).await,
    }
}

async fn answer(verifier: &Verifier, reveal: bool) -> anyhow::Result<()> {
    let (lines_in, mut lines) = tokio::sync::mpsc::channel::<String>(16);
    // stdin is blocking: read it on a thread of its own.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines_in.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::stdout().lock();
    while let Some(line) = lines.recv().await {
        let answer = match serde_json::from_str::<Question>(&line) {
            Ok(question) => verify(verifier, &question, reveal).await,
            Err(e) => {
                json!({ "error": { "code": "invalid_request", "message": format!("Not a verify question: {e}") } })
            }
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

/// The verify API's answer to `question`.
async fn verify(verifier: &Verifier, question: &Question, reveal: bool) -> Value {
    let outcome = verifier
        .verify(VerifyRequest {
            token: &question.token,
            workspace_header: question.workspace_id.as_deref(),
            required: &question.permissions,
            client: Client::default(),
            from_a_product: true,
            audience: None,
        })
        .await;
    match outcome {
        Ok(v) => json!({
            "valid": true,
            "token_id": v.record().id,
            "kind": v.record().kind,
            "name": v.record().name,
            "user_id": v.identity().user_id,
            "workspace_id": v.identity().workspace_id,
            "permissions": v.identity().grants.listed(),
            "expires_at": v.identity().expires_at.map(|t| t.format(&Rfc3339).expect("an RFC 3339 time")),
        }),
        Err(VerifyFailure::Store(e)) => {
            // Fail closed, as the server does with 503.
            json!({ "error": { "code": "unavailable", "message": e.to_string() } })
        }
        Err(failure) => {
            let denial = failure.denial().expect("a refusal has a reason");
            let retry_after = match failure {
                VerifyFailure::Denied { retry_after, .. } => retry_after,
                _ => None,
            };
            json!({
                "valid": false,
                "code": denial.public_code(reveal),
                "message": denial.message(reveal),
                "retry_after": retry_after,
            })
        }
    }
}

async fn bench(verifier: &Verifier, token: &str, seconds: u64) -> anyhow::Result<()> {
    let question = Question {
        token: token.to_owned(),
        workspace_id: None,
        permissions: Vec::new(),
    };
    let first = verify(verifier, &question, true).await;
    anyhow::ensure!(first["valid"] == true, "the token does not verify: {first}");
    let run_for = Duration::from_secs(seconds);
    let began = Instant::now();
    let mut count: u64 = 0;
    while began.elapsed() < run_for {
        // Checked in batches: reading the clock costs as much as a verification.
        for _ in 0..1_000 {
            let verified = verifier
                .verify(VerifyRequest {
                    token,
                    workspace_header: None,
                    required: &[],
                    client: Client::default(),
                    from_a_product: true,
                    audience: None,
                })
                .await;
            anyhow::ensure!(verified.is_ok(), "a verification failed mid-run");
        }
        count += 1_000;
    }
    let elapsed = began.elapsed().as_secs_f64();
    println!(
        "{count} verifications in {elapsed:.2} s on one thread: {:.0} per second, {:.2} µs each",
        count as f64 / elapsed,
        elapsed * 1e6 / count as f64
    );
    Ok(())
}
