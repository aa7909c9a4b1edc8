//! `tessera`: the one binary. `serve` runs the server, `admin …` works
//! directly on the configured database, and `me`, `token …`, `verify` are
//! clients of the management API.

mod admin;
mod client;
mod config_args;
mod output;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tessera",
    version,
    about = "Personal access tokens and API keys, self-hosted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite in the working folder unless configured otherwise).
    Serve(serve::ServeArgs),
    /// Work directly on the configured database: bootstrap and recovery.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Show who the token in TESSERA_TOKEN is.
    Me(client::ClientArgs),
    /// Create, list, revoke and rotate your personal access tokens.
    #[command(subcommand)]
    Token(client::TokenCommand),
    /// Ask the server whether a token is valid.
    Verify(client::VerifyArgs),
}

// A verification allocates a few small, short-lived values (ids, header
// values, the answer); mimalloc serves those from thread-local free lists
// where glibc's malloc spent about a tenth of the server's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Admin(cmd) => admin::run(cmd).await,
            Command::Me(args) => client::me(args).await,
            Command::Token(cmd) => client::token(cmd).await,
            Command::Verify(args) => client::verify(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
