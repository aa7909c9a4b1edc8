//! Fills a SQLite store with many personal access tokens, for benchmarks.
//!
//! ```sh
//! cargo run --release -p tessera-server --example seed_tokens -- sqlite:bench.db 100000 tokens.txt 1000
//! cargo run --release -p tessera-server --example seed_tokens -- postgres://postgres@127.0.0.1/bench 10000 tokens.txt 1000
//! ```
//!
//! Creates the user `bench` (password `bench-password`) with `count` tokens
//! that never expire, and writes the first `sample` plaintext tokens to
//! `tokens.txt` for the load generator, and as many well-formed tokens that
//! were never stored to `tokens.txt.unknown`. The tokens are written in one
//! transaction with the store's own schema (migrated first); issuing them
//! one by one through the API would spend the benchmark's setup on fsyncs.

use std::io::Write;

use sqlx::{AnyConnection, Connection};
use time::OffsetDateTime;

use tessera_core::format;
use tessera_core::ids::{new_id, IdKind};
use tessera_core::kind::CredentialKind;
use tessera_server::principal::Actor;
use tessera_server::{AppState, Config};
use tessera_store::DatabaseUrl;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count, out, sample] = args.as_slice() else {
        anyhow::bail!("usage: seed_tokens DATABASE_URL COUNT TOKENS_OUT SAMPLE");
    };
    let count: usize = count.parse()?;
    let sample: usize = sample.parse()?;

    let mut config = Config::defaults();
    config.database_url = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    let postgres = matches!(config.database_url, DatabaseUrl::Postgres { .. });
    let store = tessera_store::connect(&config.database_url).await?;
    store.migrate().await?;
    let state = AppState::new(config, store);
    let user = state
        .users
        .create("bench", "bench-password".into(), false, None, &Actor::cli())
        .await?;

    let kind = CredentialKind::default_pat();
    let hasher = state.config.hasher.clone();
    sqlx::any::install_default_drivers();
    let any_url = match &state.config.database_url {
        DatabaseUrl::Sqlite { path } => format!("sqlite:{}", path.display()),
        DatabaseUrl::Postgres { url } => url.to_string(),
    };
    let mut connection = AnyConnection::connect(&any_url).await?;
    // PostgreSQL keeps times as TIMESTAMPTZ, converted from microseconds by
    // the schema's own function; SQLite keeps the microseconds.
    let (insert_token, insert_secret) = if postgres {
        (
            "INSERT INTO tokens (id, kind, user_id, name, display_prefix, last4, created_at, created_by) \
             VALUES ($1, 'pat', $2, $3, $4, $5, tessera_ts($6), $7)",
            "INSERT INTO token_secrets (digest, key_id, token_id, created_at) VALUES ($1, NULL, $2, tessera_ts($3))",
        )
    } else {
        (
            "INSERT INTO tokens (id, kind, user_id, name, display_prefix, last4, created_at, created_by) \
             VALUES (?, 'pat', ?, ?, ?, ?, ?, ?)",
            "INSERT INTO token_secrets (digest, key_id, token_id, created_at) VALUES (?, NULL, ?, ?)",
        )
    };
    let mut transaction = connection.begin().await?;
    let mut sampled = std::fs::File::create(out)?;
    let now = OffsetDateTime::now_utc();
    let micros = (now.unix_timestamp_nanos() / 1_000) as i64;
    for i in 0..count {
        let id = new_id(IdKind::Token);
        let token = format::generate(&kind.shape(), &id);
        let secret = token.expose();
        sqlx::query(insert_token)
            .bind(&id)
            .bind(&user.id)
            .bind(format!("bench {i}"))
            .bind(format::display_prefix(secret, kind.display_prefix_len))
            .bind(format::last4(secret))
            .bind(micros)
            .bind(&user.id)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(insert_secret)
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
    // Leave the database as a running deployment's would be: SQLite's
    // write-ahead log folded into the file (otherwise the server's first
    // write copies the whole bulk load back, in the middle of a benchmark),
    // PostgreSQL's planner statistics current (autovacuum's job, given time).
    let settle = if postgres {
        "ANALYZE tokens, token_secrets, users"
    } else {
        "PRAGMA wal_checkpoint(TRUNCATE)"
    };
    sqlx::query(settle).execute(&mut connection).await?;
    // Well-formed tokens (valid checksums) that were never stored.
    let mut unknown = std::fs::File::create(format!("{out}.unknown"))?;
    for _ in 0..sample {
        writeln!(unknown, "{}", format::generate(&kind.shape(), "x").expose())?;
    }
    eprintln!("seeded {count} tokens for user bench into {url}; {sample} written to {out}");
    Ok(())
}
