//! Fills a SQLite store with many personal access tokens, for benchmarks.
//!
//! ```sh
//! cargo run --release -p tessera-server --example seed_tokens -- bench.db 100000 tokens.txt 1000
//! ```
//!
//! Creates the user `bench` (password `bench-password`) with `count` tokens
//! that never expire, and writes the first `sample` plaintext tokens to
//! `tokens.txt` for the load generator. The tokens are written in one
//! transaction with the store's own schema (migrated first); issuing them
//! one by one through the API would spend the benchmark's setup on fsyncs.

use std::io::Write;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use time::OffsetDateTime;

use tessera_core::format;
use tessera_core::ids::{new_id, IdKind};
use tessera_core::kind::CredentialKind;
use tessera_server::audit::Actor;
use tessera_server::{AppState, Config};
use tessera_store::DatabaseUrl;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, count, out, sample] = args.as_slice() else {
        anyhow::bail!("usage: seed_tokens DB_PATH COUNT TOKENS_OUT SAMPLE");
    };
    let count: usize = count.parse()?;
    let sample: usize = sample.parse()?;

    let mut config = Config::defaults();
    config.database_url =
        DatabaseUrl::parse(&format!("sqlite:{path}")).map_err(anyhow::Error::msg)?;
    let store = tessera_store::connect(&config.database_url).await?;
    store.migrate().await?;
    let state = AppState::new(config, store);
    let user = state
        .create_user("bench", "bench-password".into(), false, None, &Actor::cli())
        .await?;

    let kind = CredentialKind::default_pat();
    let hasher = state.config.hasher.clone();
    let mut connection = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await?;
    let mut transaction = connection.begin().await?;
    let mut sampled = std::fs::File::create(out)?;
    let now = OffsetDateTime::now_utc();
    let micros = (now.unix_timestamp_nanos() / 1_000) as i64;
    for i in 0..count {
        let id = new_id(IdKind::Token);
        let token = format::generate(&kind.shape(), &id);
        let secret = token.expose();
        sqlx::query(
            "INSERT INTO tokens (id, kind, user_id, name, display_prefix, last4, created_at, created_by) \
             VALUES (?, 'pat', ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(&user.id)
        .bind(format!("bench {i}"))
        .bind(format::display_prefix(secret, kind.display_prefix_len))
        .bind(format::last4(secret))
        .bind(micros)
        .bind(&user.id)
        .execute(&mut *transaction)
        .await?;
        sqlx::query("INSERT INTO token_secrets (digest, key_id, token_id, created_at) VALUES (?, NULL, ?, ?)")
            .bind(hasher.hash(secret).digest.to_vec())
            .bind(&id)
            .bind(micros)
            .execute(&mut *transaction)
            .await?;
        if i < sample {
            writeln!(sampled, "{secret}")?;
        }
    }
    transaction.commit().await?;
    eprintln!("seeded {count} tokens for user bench into {path}; {sample} written to {out}");
    Ok(())
}
