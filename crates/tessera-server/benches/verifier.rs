//! The in-process verifier on its hot path: a valid token already in the
//! cache (target ≤ 2 µs), and a token refused by its checksum before any
//! look-up.
//!
//!     cargo bench -p tessera-server --bench verifier

use criterion::{criterion_group, criterion_main, Criterion};

use tessera_core::kind::OwnerType;
use tessera_server::client::ClientInfo;
use tessera_server::principal::Actor;
use tessera_server::service::tokens::IssueRequest;
use tessera_server::verifier::VerifyRequest;
use tessera_server::{AppState, Config};
use tessera_store::test_support::{fresh, Backend};

fn verifier(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (state, token, _database) = runtime.block_on(async {
        let database = fresh(Backend::Sqlite).await.expect("a SQLite database");
        let mut config = Config::defaults();
        config.database_url = database.url().clone();
        let state = AppState::new(config, database.store().await);
        let user = state
            .users
            .create("bench", "bench-password".into(), false, None, &Actor::cli())
            .await
            .expect("user");
        let kind = state
            .config
            .kinds
            .first_owned_by(OwnerType::User)
            .expect("kind");
        let issued = state
            .tokens
            .issue(
                IssueRequest {
                    kind,
                    name: "bench".into(),
                    expiry: tessera_core::ExpiryRequest::Preset("never".into()),
                    permissions: None,
                    role: None,
                    workspace_id: None,
                    user_id: Some(user.id.clone()),
                    created_by: None,
                    ceiling: None,
                },
                &Actor::cli(),
            )
            .await
            .expect("token");
        (state, issued.token.expose().to_owned(), database)
    });
    let client = ClientInfo::new(Some("127.0.0.1"), None);
    let request = |token: &str| {
        let state = state.clone();
        let token = token.to_owned();
        let client = client.clone();
        async move {
            let _ = state
                .verifier
                .verify(VerifyRequest {
                    token: &token,
                    workspace_header: None,
                    required: &[],
                    client: &client,
                })
                .await;
        }
    };
    // Warm the cache.
    runtime.block_on(request(&token));

    c.bench_function("verify: valid token, cache hit", |b| {
        b.to_async(&runtime).iter(|| request(&token))
    });
    let mut typo = token.clone();
    typo.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
    c.bench_function("verify: bad checksum, no look-up", |b| {
        b.to_async(&runtime).iter(|| request(&typo))
    });
}

criterion_group!(benches, verifier);
criterion_main!(benches);
