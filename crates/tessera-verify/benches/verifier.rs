//! The in-process verifier on its hot path: a valid token already in the
//! cache (target ≤ 1 µs), and a token refused by its checksum before any
//! look-up. This is what a product embedding the engine pays per request.
//!
//!     cargo bench -p tessera-verify

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use tessera_core::kind::{CredentialKind, KindSet};
use tessera_core::{RoleMap, TokenHasher};
use tessera_store::test_support::{fresh, seed_personal_token, Backend};
use tessera_verify::{CacheSettings, Client, Verifier, VerifierSettings, VerifyRequest};

fn verifier(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let settings = VerifierSettings {
        kinds: KindSet::default(),
        roles: RoleMap::default(),
        hasher: TokenHasher::new(Vec::new()),
        cache: CacheSettings {
            enabled: true,
            max_tokens: 100_000,
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(2),
        },
        rate_limit: None,
        record_usage: true,
    };
    let (verifier, token, _database) = runtime.block_on(async {
        let database = fresh(Backend::Sqlite).await.expect("a SQLite database");
        let store = database.store().await;
        let seeded = seed_personal_token(&*store, &CredentialKind::default_pat(), &settings.hasher)
            .await
            .expect("a token");
        let verifier: Arc<Verifier> = Arc::new(Verifier::new(settings, store));
        (verifier, seeded.plaintext, database)
    });
    let request = |token: &str| {
        let verifier = verifier.clone();
        let token = token.to_owned();
        async move {
            let _ = verifier
                .verify(VerifyRequest {
                    token: &token,
                    workspace_header: None,
                    required: &[],
                    client: Client::new(Some("127.0.0.1"), None),
                    from_a_product: true,
                    audience: None,
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
