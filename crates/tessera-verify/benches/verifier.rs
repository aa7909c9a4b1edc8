//! The in-process verifier on its hot path: a valid token already in the
//! cache (target ≤ 1 µs), and a token refused by its checksum before any
//! look-up. This is what a product embedding the engine pays per request.
//! Also what the server pays to admit the verifier credential a product or
//! gateway presents (one more cache hit).
//!
//!     cargo bench -p tessera-verify

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

use tessera_core::hash::sha256_hex;
use tessera_core::kind::{CredentialKind, KindSet};
use tessera_core::verifier_credential;
use tessera_core::{RoleMap, TokenHasher};
use tessera_store::test_support::{fresh, seed_personal_token, Backend};
use tessera_store::{NewVerifierCredential, VerifierCredential};
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
    let (verifier, token, caller_secret, _database) = runtime.block_on(async {
        let database = fresh(Backend::Sqlite).await.expect("a SQLite database");
        let store = database.store().await;
        let seeded = seed_personal_token(&*store, &CredentialKind::default_pat(), &settings.hasher)
            .await
            .expect("a token");
        let caller_secret = verifier_credential::generate().expose().to_owned();
        store
            .create_verifier(&NewVerifierCredential {
                credential: VerifierCredential {
                    id: "vfr_bench".into(),
                    name: "bench".into(),
                    audience: Default::default(),
                    created_at: time::OffsetDateTime::now_utc(),
                    created_by: None,
                    revoked_at: None,
                },
                secret_hash: sha256_hex(&caller_secret),
            })
            .await
            .expect("a verifier credential");
        let verifier: Arc<Verifier> = Arc::new(Verifier::new(settings, store));
        (verifier, seeded.plaintext, caller_secret, database)
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

    runtime
        .block_on(verifier.admit_caller(&caller_secret))
        .expect("the verifier credential is admitted");
    c.bench_function("admit a verifier credential, cache hit", |b| {
        b.to_async(&runtime).iter(|| {
            let verifier = verifier.clone();
            let secret = caller_secret.clone();
            async move { verifier.admit_caller(&secret).await.is_ok() }
        })
    });
}

criterion_group!(benches, verifier);
criterion_main!(benches);
