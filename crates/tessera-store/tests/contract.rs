//! The store's contract: one set of stories, each run against SQLite and
//! against PostgreSQL (`sqlite::<story>`, `postgres::<story>`), each on a
//! fresh database. See `tessera_store::test_support` for how PostgreSQL is
//! found, and how to skip it.
//!
//! On SQLite (a WAL file) the verifier's reads, tokens by hash and
//! memberships, are rusqlite's direct reads: each story also checks that
//! none of them fell back to sqlx.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use tessera_core::base62;
use tessera_core::policy::UserStatus;
use tessera_core::{HashKey, TokenHash, TokenHasher};
use tessera_store::test_support::{fresh, fresh_sqlite, Backend, TestDatabase};
use tessera_store::*;

macro_rules! contract {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::run(super::Backend::Sqlite, super::$story).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::run(super::Backend::Postgres, super::$story).await;
                }
            )+
        }
    };
}

contract!(
    migrating_twice_is_harmless,
    ping_answers,
    a_created_user_reads_back_by_id_and_by_username,
    a_taken_username_conflicts,
    users_are_listed_newest_first_in_pages,
    user_status_changes_and_removal_is_final,
    a_new_password_replaces_the_old,
    workspace_names_are_unique_and_workspaces_list_newest_first,
    setting_a_membership_returns_the_previous_role,
    memberships_are_listed_in_joining_order_and_can_be_removed,
    a_membership_needs_an_existing_user_and_workspace,
    an_agent_is_a_user_record_that_cannot_sign_in_with_a_membership,
    agents_are_listed_per_workspace_newest_first_without_removed_ones,
    an_agent_needs_an_existing_workspace_and_writes_nothing_otherwise,
    an_agents_tokens_outlive_its_creator_and_stop_with_the_agent,
    a_token_is_found_by_its_plain_hash,
    a_keyed_hash_is_found_only_under_its_key,
    an_unknown_hash_finds_nothing,
    concurrent_look_ups_each_get_their_own_token,
    tokens_are_listed_newest_first_page_by_page,
    token_lists_filter_by_user_workspace_and_kind,
    tokens_revoked_before_a_moment_can_be_hidden,
    revoking_reports_true_once_then_false,
    revoking_a_users_tokens_leaves_other_tokens_alone,
    the_active_token_limit_refuses_and_writes_nothing,
    the_active_token_limit_counts_neither_revoked_nor_expired_tokens,
    concurrent_writers_cannot_exceed_the_token_limit,
    rotation_gives_a_new_secret_and_retires_the_old,
    a_handoff_rotation_keeps_the_old_secret_until_the_new_one_is_first_used,
    a_revoked_or_unknown_token_cannot_be_rotated,
    usage_keeps_the_last_five_distinct_addresses_newest_first,
    a_usage_batch_larger_than_one_write_reaches_every_token,
    sessions_expire_and_can_be_deleted,
    a_form_id_is_claimed_once_per_session_by_every_instance,
    a_verifier_is_found_by_its_secret_hash_until_revoked,
    a_verifier_needs_a_unique_id_and_secret_and_an_existing_creator,
    published_invalidations_reach_every_instance,
    audit_events_list_newest_first_and_page,
    audit_filters_combine,
    the_verifiers_reads_see_each_write_at_once,
);

// --- harness ---------------------------------------------------------------------------

/// A story's view of its database: the store (the `Deref` lets stories call
/// it directly) and the URL, to open a second store on the same database.
struct Db {
    store: Arc<dyn Store>,
    url: DatabaseUrl,
}

impl Deref for Db {
    type Target = dyn Store;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl Db {
    /// Another store on the same database, as another process would open it.
    async fn another_store(&self) -> Arc<dyn Store> {
        connect(&self.url).await.expect("a second store")
    }
}

async fn run<F, Fut>(backend: Backend, story: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(database) = fresh(backend).await else {
        return;
    };
    // SQLite's store is kept by its own type too, to see its direct reads.
    let (store, sqlite) = match backend {
        Backend::Sqlite => {
            let sqlite = sqlite_store(&database).await;
            (sqlite.clone() as Arc<dyn Store>, Some(sqlite))
        }
        Backend::Postgres => (database.store().await, None),
    };
    assert_eq!(
        store.backend(),
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    story(Db {
        store,
        url: database.url().clone(),
    })
    .await;
    // Every story runs its verifier reads (tokens by hash, memberships)
    // through rusqlite on SQLite: none may have needed sqlx's fallback,
    // which would hide a reader that disagrees with sqlx's.
    if let Some(sqlite) = sqlite {
        assert_eq!(sqlite.direct_reads().fell_back, 0, "direct reads fell back");
    }
}

/// A connected, migrated SQLite store on the test database (a WAL file).
async fn sqlite_store(database: &TestDatabase) -> Arc<SqliteStore> {
    let store = SqliteStore::connect(database.url())
        .await
        .expect("connect to the SQLite test database");
    store
        .migrate()
        .await
        .expect("migrate the SQLite test database");
    Arc::new(store)
}

// --- fixtures ------------------------------------------------------------------------------

const T0: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

/// A millisecond whose last base62 digit is `U`: the ids of the 6th to
/// the 10th things made from it go from `…Z` to `…a`, where a case-blind
/// collation would sort them wrongly.
const BASE_MS: u64 = 1_780_000_000_008;

/// An id as the service makes them (prefix, 8 base62 characters of time,
/// 14 random ones), made at millisecond `BASE_MS + n`.
fn id(prefix: &str, n: u64) -> String {
    format!(
        "{prefix}{}{}",
        base62::encode_fixed(BASE_MS + n, 8),
        base62::random(14)
    )
}

async fn user(db: &Db, n: u64, username: &str) -> User {
    db.create_user(&NewUser {
        id: id("usr_", n),
        username: username.into(),
        display_name: format!("{username} (display)"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_admin: n == 0,
        created_at: at(n as i64),
    })
    .await
    .expect("create user")
}

async fn workspace(db: &Db, n: u64, name: &str) -> Workspace {
    let workspace = Workspace {
        id: id("wsp_", n),
        name: name.into(),
        created_at: at(n as i64),
    };
    db.create_workspace(&workspace)
        .await
        .expect("create workspace");
    workspace
}

fn plain(secret: &str) -> TokenHash {
    TokenHasher::default().hash(secret)
}

fn keyed_hasher(key_id: &str) -> TokenHasher {
    TokenHasher::new(vec![HashKey {
        id: key_id.into(),
        secret: format!("server key {key_id}").into_bytes().into(),
    }])
}

/// A personal token of `owner`, made at second `n`, its secret `secret-<n>`.
fn pat(owner: &User, n: u64) -> NewToken {
    NewToken {
        id: id("tok_", n),
        kind: "pat".into(),
        user_id: Some(owner.id.clone()),
        workspace_id: None,
        name: format!("token {n}"),
        display_prefix: "tsr_pat_".into(),
        last4: format!("{:04}", n % 10_000),
        permissions: Some(vec!["api:read".into(), "tokens:manage".into()]),
        role: None,
        created_at: at(n as i64),
        created_by: Some(owner.id.clone()),
        expires_at: Some(at(n as i64 + 86_400)),
        hash: plain(&format!("secret-{n}")),
    }
}

/// A workspace's API key, made by `creator` at second `n`.
fn api_key(workspace: &Workspace, creator: &User, n: u64) -> NewToken {
    NewToken {
        kind: "api_key".into(),
        user_id: None,
        workspace_id: Some(workspace.id.clone()),
        permissions: None,
        role: Some("viewer".into()),
        expires_at: None,
        ..pat(creator, n)
    }
}

async fn insert(db: &Db, token: &NewToken) -> TokenRecord {
    db.insert_token(token, None).await.expect("insert token")
}

fn revocation(seconds: i64, by: &User) -> Revocation {
    Revocation {
        at: at(seconds),
        by: Some(by.id.clone()),
        reason: "revoked".into(),
    }
}

fn ids_of(tokens: &[TokenRecord]) -> Vec<&String> {
    tokens.iter().map(|t| &t.id).collect()
}

fn newest_first(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
    ids
}

fn page_after(after: &str, limit: u32) -> Page {
    Page {
        after: Some(after.into()),
        ..Page::first(limit)
    }
}

fn new_agent(workspace: &Workspace, creator: &User, n: u64, name: &str) -> NewAgent {
    NewAgent {
        id: id("usr_", n),
        name: name.into(),
        workspace_id: workspace.id.clone(),
        role: "member".into(),
        created_by: Some(creator.id.clone()),
        created_at: at(n as i64),
    }
}

// --- schema and connection -------------------------------------------------------------------

async fn migrating_twice_is_harmless(db: Db) {
    let alice = user(&db, 0, "alice").await;
    db.migrate().await.expect("second migration");
    db.another_store()
        .await
        .migrate()
        .await
        .expect("migration from another store");
    assert_eq!(db.user(&alice.id).await.unwrap(), Some(alice));
}

async fn ping_answers(db: Db) {
    db.ping().await.expect("ping");
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_quickly_and_keeps_its_password() {
    let url = DatabaseUrl::parse("postgres://tessera:hunter2@127.0.0.1:1/tessera").unwrap();
    let started = Instant::now();
    let err = match connect(&url).await {
        Ok(_) => panic!("connected to a closed port"),
        Err(err) => err,
    };
    assert!(
        started.elapsed() < StdDuration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}

#[tokio::test]
async fn an_unopenable_sqlite_file_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::Sqlite {
        path: dir.path().join("missing-directory").join("tessera.db"),
    };
    let err = match connect(&url).await {
        Ok(_) => panic!("opened a file in a missing directory"),
        Err(err) => err,
    };
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

// --- users ------------------------------------------------------------------------------------

async fn a_created_user_reads_back_by_id_and_by_username(db: Db) {
    let alice = user(&db, 0, "alice").await;
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.display_name, "alice (display)");
    assert!(alice.is_admin);
    assert_eq!(alice.status, UserStatus::Active);
    assert_eq!(alice.created_at, at(0));
    assert_eq!(alice.updated_at, at(0));
    assert_eq!(db.user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(db.user_by_username("alice").await.unwrap(), Some(alice));
    assert_eq!(db.user("usr_nobody").await.unwrap(), None);
    assert_eq!(db.user_by_username("Alice").await.unwrap(), None);
}

async fn a_taken_username_conflicts(db: Db) {
    user(&db, 0, "alice").await;
    let err = db
        .create_user(&NewUser {
            id: id("usr_", 1),
            username: "alice".into(),
            display_name: "another alice".into(),
            password_hash: "x".into(),
            is_admin: false,
            created_at: at(1),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("\"alice\"")),
        "{err:?}"
    );
    assert_eq!(db.count_users().await.unwrap(), 1);
}

async fn users_are_listed_newest_first_in_pages(db: Db) {
    let mut made = Vec::new();
    for n in 0..10 {
        made.push(user(&db, n, &format!("user{n}")).await.id);
    }
    assert_eq!(db.count_users().await.unwrap(), 10);
    let expected = newest_first(made.clone());
    assert_eq!(made.iter().rev().cloned().collect::<Vec<_>>(), expected);

    let mut seen = Vec::new();
    let mut page = Page::first(4);
    loop {
        let users = db.list_users(&page).await.unwrap();
        assert!(users.len() <= 4);
        let Some(last) = users.last() else { break };
        page = page_after(&last.id, 4);
        seen.extend(users.into_iter().map(|u| u.id));
    }
    assert_eq!(seen, expected);
}

async fn user_status_changes_and_removal_is_final(db: Db) {
    let bob = user(&db, 1, "bob").await;
    let suspended = db
        .set_user_status(&bob.id, UserStatus::Suspended, at(10))
        .await
        .unwrap();
    assert_eq!(suspended.status, UserStatus::Suspended);
    assert_eq!(suspended.updated_at, at(10));
    let active = db
        .set_user_status(&bob.id, UserStatus::Active, at(20))
        .await
        .unwrap();
    assert_eq!(active.status, UserStatus::Active);
    let removed = db
        .set_user_status(&bob.id, UserStatus::Removed, at(30))
        .await
        .unwrap();
    assert_eq!(removed.status, UserStatus::Removed);

    for status in [UserStatus::Active, UserStatus::Suspended] {
        let err = db
            .set_user_status(&bob.id, status, at(40))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    let again = db
        .set_user_status(&bob.id, UserStatus::Removed, at(50))
        .await
        .unwrap();
    assert_eq!(again, removed, "removing again changes nothing");
    assert_eq!(db.user(&bob.id).await.unwrap(), Some(removed));

    let err = db
        .set_user_status("usr_nobody", UserStatus::Suspended, at(60))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn a_new_password_replaces_the_old(db: Db) {
    let alice = user(&db, 0, "alice").await;
    db.set_password(&alice.id, "$argon2id$new", at(5))
        .await
        .unwrap();
    let read = db.user(&alice.id).await.unwrap().unwrap();
    assert_eq!(read.password_hash, "$argon2id$new");
    assert_eq!(read.updated_at, at(5));
    let err = db
        .set_password("usr_nobody", "$argon2id$x", at(6))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

// --- workspaces and memberships ------------------------------------------------------------------

async fn workspace_names_are_unique_and_workspaces_list_newest_first(db: Db) {
    let mut made = Vec::new();
    for n in 0..8 {
        made.push(workspace(&db, n, &format!("team-{n}")).await);
    }
    let err = db
        .create_workspace(&Workspace {
            id: id("wsp_", 99),
            name: "team-3".into(),
            created_at: at(99),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("\"team-3\"")),
        "{err:?}"
    );
    assert_eq!(
        db.workspace(&made[2].id).await.unwrap(),
        Some(made[2].clone())
    );
    assert_eq!(db.workspace("wsp_nothing").await.unwrap(), None);

    let first = db.list_workspaces(&Page::first(5)).await.unwrap();
    let rest = db
        .list_workspaces(&page_after(&first[4].id, 5))
        .await
        .unwrap();
    let listed: Vec<Workspace> = first.into_iter().chain(rest).collect();
    made.reverse();
    assert_eq!(listed, made);
}

async fn setting_a_membership_returns_the_previous_role(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let previous = db
        .set_membership(&team.id, &alice.id, "member", at(10))
        .await
        .unwrap();
    assert_eq!(previous, None);
    let previous = db
        .set_membership(&team.id, &alice.id, "admin", at(20))
        .await
        .unwrap();
    assert_eq!(previous.as_deref(), Some("member"));
    let membership = db.membership(&team.id, &alice.id).await.unwrap().unwrap();
    assert_eq!(
        membership,
        Membership {
            workspace_id: team.id.clone(),
            user_id: alice.id.clone(),
            role: "admin".into(),
            created_at: at(10),
            updated_at: at(20),
        }
    );
}

async fn memberships_are_listed_in_joining_order_and_can_be_removed(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let bob = user(&db, 1, "bob").await;
    let carol = user(&db, 2, "carol").await;
    let team = workspace(&db, 3, "team").await;
    let other = workspace(&db, 4, "other").await;
    // Joined in the order carol, alice, bob: not the order of their ids.
    db.set_membership(&team.id, &carol.id, "owner", at(10))
        .await
        .unwrap();
    db.set_membership(&team.id, &alice.id, "member", at(20))
        .await
        .unwrap();
    db.set_membership(&team.id, &bob.id, "viewer", at(30))
        .await
        .unwrap();
    db.set_membership(&other.id, &alice.id, "owner", at(5))
        .await
        .unwrap();

    let members: Vec<String> = db
        .list_members(&team.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(members, [carol.id, alice.id.clone(), bob.id]);
    let of_alice: Vec<(String, String)> = db
        .memberships_of(&alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.workspace_id, m.role))
        .collect();
    assert_eq!(
        of_alice,
        [
            (other.id.clone(), "owner".to_owned()),
            (team.id.clone(), "member".to_owned())
        ]
    );

    assert!(db.remove_membership(&team.id, &alice.id).await.unwrap());
    assert!(!db.remove_membership(&team.id, &alice.id).await.unwrap());
    assert_eq!(db.membership(&team.id, &alice.id).await.unwrap(), None);
    assert_eq!(db.list_members(&team.id).await.unwrap().len(), 2);
    assert_eq!(db.memberships_of(&alice.id).await.unwrap().len(), 1);
}

async fn a_membership_needs_an_existing_user_and_workspace(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let err = db
        .set_membership("wsp_nothing", &alice.id, "member", at(2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = db
        .set_membership(&team.id, "usr_nobody", "member", at(2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert!(db.list_members(&team.id).await.unwrap().is_empty());
}

// --- tokens: storing and finding -------------------------------------------------------------------

async fn a_token_is_found_by_its_plain_hash(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let new = pat(&alice, 1);
    let record = insert(&db, &new).await;
    assert_eq!(
        record,
        TokenRecord {
            id: new.id.clone(),
            kind: "pat".into(),
            user_id: Some(alice.id.clone()),
            workspace_id: None,
            name: "token 1".into(),
            display_prefix: "tsr_pat_".into(),
            last4: "0001".into(),
            permissions: Some(vec!["api:read".into(), "tokens:manage".into()]),
            role: None,
            created_at: at(1),
            created_by: Some(alice.id.clone()),
            expires_at: Some(at(86_401)),
            last_used_at: None,
            last_used_ip: None,
            last_used_user_agent: None,
            last_used_ips: vec![],
            revoked_at: None,
            revoked_by: None,
            revoked_reason: None,
            rotated_at: None,
        }
    );
    assert_eq!(db.token(&new.id).await.unwrap(), Some(record.clone()));

    // As the verifier asks: every configured key first, then plain SHA-256.
    let candidates = TokenHasher::new(vec![HashKey {
        id: "k9".into(),
        secret: b"unrelated".to_vec().into(),
    }])
    .candidates("secret-1");
    let found = db.find_token_by_hash(&candidates).await.unwrap().unwrap();
    assert_eq!(found.record, record);
    assert_eq!(found.digest, new.hash.digest.to_vec());
    assert_eq!(found.secret_retires_at, None);
    assert_eq!(
        found.owner.as_ref(),
        Some(&alice),
        "the owner, in the same query"
    );

    // A workspace's key has no owning user; an owner is read as they are now.
    let team = workspace(&db, 0, "team").await;
    insert(&db, &api_key(&team, &alice, 2)).await;
    let key = db
        .find_token_by_hash(&[plain("secret-2")])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.owner, None);
    db.set_user_status(&alice.id, UserStatus::Suspended, at(5))
        .await
        .unwrap();
    let found = db
        .find_token_by_hash(&[plain("secret-1")])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.owner.map(|u| u.status), Some(UserStatus::Suspended));
}

/// A cold cache under load sends many look-ups at once; the store may answer
/// them together (PostgreSQL coalesces them into one query), but each must
/// get its own token, or nothing.
async fn concurrent_look_ups_each_get_their_own_token(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let mut ids = Vec::new();
    for i in 1..=20 {
        let mut new = pat(&alice, i);
        new.hash = plain(&format!("secret-{i}"));
        insert(&db, &new).await;
        ids.push(new.id);
    }
    let look_ups: Vec<_> = (0..300)
        .map(|n| {
            let store = db.store.clone();
            // Every token many times over, and unknown secrets between them.
            let i = n % 25 + 1;
            tokio::spawn(async move {
                let found = store
                    .find_token_by_hash(&[plain(&format!("secret-{i}"))])
                    .await
                    .unwrap();
                (i, found.map(|f| f.record.id))
            })
        })
        .collect();
    for look_up in look_ups {
        let (i, found) = look_up.await.unwrap();
        assert_eq!(found, ids.get(i - 1).cloned(), "secret-{i}");
    }
}

async fn a_keyed_hash_is_found_only_under_its_key(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let k1 = keyed_hasher("k1");
    let mut new = pat(&alice, 1);
    new.hash = k1.hash("keyed secret");
    insert(&db, &new).await;

    let found = db
        .find_token_by_hash(&k1.candidates("keyed secret"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.record.id, new.id);

    // The same digest claimed under another key, or under none, is not it.
    for key_id in [Some("k2".to_owned()), None] {
        let impostor = TokenHash {
            key_id,
            digest: new.hash.digest,
        };
        assert!(db.find_token_by_hash(&[impostor]).await.unwrap().is_none());
    }
    // Nor is the plain hash of the same secret.
    assert!(db
        .find_token_by_hash(&[plain("keyed secret")])
        .await
        .unwrap()
        .is_none());
}

async fn an_unknown_hash_finds_nothing(db: Db) {
    let alice = user(&db, 0, "alice").await;
    insert(&db, &pat(&alice, 1)).await;
    assert!(db
        .find_token_by_hash(&[plain("never issued")])
        .await
        .unwrap()
        .is_none());
    assert!(db.find_token_by_hash(&[]).await.unwrap().is_none());
    assert_eq!(db.token("tok_nothing").await.unwrap(), None);
}

// --- tokens: listing -------------------------------------------------------------------------------

async fn tokens_are_listed_newest_first_page_by_page(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let mut made = Vec::new();
    for n in 1..=12 {
        made.push(insert(&db, &pat(&alice, n)).await.id);
    }
    // Creation order is id order, bytewise, across the `Z`/`a` boundary.
    let expected: Vec<String> = made.iter().rev().cloned().collect();
    assert_eq!(newest_first(made.clone()), expected);

    let filter = TokenFilter::default();
    let mut seen = Vec::new();
    let mut page = Page::first(5);
    loop {
        let tokens = db.list_tokens(&filter, &page).await.unwrap();
        let Some(last) = tokens.last() else { break };
        page = page_after(&last.id, 5);
        seen.extend(tokens.into_iter().map(|t| t.id));
    }
    assert_eq!(seen, expected);
}

async fn token_lists_filter_by_user_workspace_and_kind(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let bob = user(&db, 1, "bob").await;
    let team = workspace(&db, 2, "team").await;
    let alices = insert(&db, &pat(&alice, 3)).await;
    let bound = insert(
        &db,
        &NewToken {
            workspace_id: Some(team.id.clone()),
            ..pat(&alice, 4)
        },
    )
    .await;
    let bobs = insert(&db, &pat(&bob, 5)).await;
    let key = insert(&db, &api_key(&team, &bob, 6)).await;

    let list = |filter: TokenFilter| {
        let db = &db;
        async move { db.list_tokens(&filter, &Page::default()).await.unwrap() }
    };
    let all = list(TokenFilter::default()).await;
    assert_eq!(ids_of(&all), [&key.id, &bobs.id, &bound.id, &alices.id]);
    let of_alice = list(TokenFilter {
        user_id: Some(alice.id.clone()),
        ..TokenFilter::default()
    })
    .await;
    assert_eq!(ids_of(&of_alice), [&bound.id, &alices.id]);
    let in_team = list(TokenFilter {
        workspace_id: Some(team.id.clone()),
        ..TokenFilter::default()
    })
    .await;
    assert_eq!(ids_of(&in_team), [&key.id, &bound.id]);
    let keys = list(TokenFilter {
        kinds: vec!["api_key".into()],
        ..TokenFilter::default()
    })
    .await;
    assert_eq!(ids_of(&keys), [&key.id]);
    let both_kinds = list(TokenFilter {
        kinds: vec!["api_key".into(), "pat".into()],
        ..TokenFilter::default()
    })
    .await;
    assert_eq!(both_kinds.len(), 4);
    let alice_in_team = list(TokenFilter {
        user_id: Some(alice.id.clone()),
        workspace_id: Some(team.id.clone()),
        kinds: vec!["pat".into()],
        ..TokenFilter::default()
    })
    .await;
    assert_eq!(ids_of(&alice_in_team), [&bound.id]);
}

async fn tokens_revoked_before_a_moment_can_be_hidden(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let long_ago = insert(&db, &pat(&alice, 1)).await;
    let lately = insert(&db, &pat(&alice, 2)).await;
    let live = insert(&db, &pat(&alice, 3)).await;
    db.revoke_token(&long_ago.id, &revocation(100, &alice))
        .await
        .unwrap();
    db.revoke_token(&lately.id, &revocation(200, &alice))
        .await
        .unwrap();

    let hidden_before = |moment: i64| TokenFilter {
        hide_revoked_before: Some(at(moment)),
        ..TokenFilter::default()
    };
    let page = Page::default();
    let shown = db.list_tokens(&hidden_before(200), &page).await.unwrap();
    assert_eq!(
        ids_of(&shown),
        [&live.id, &lately.id],
        "revoked at 200 is not before 200"
    );
    let shown = db.list_tokens(&hidden_before(201), &page).await.unwrap();
    assert_eq!(ids_of(&shown), [&live.id]);
    let shown = db.list_tokens(&hidden_before(100), &page).await.unwrap();
    assert_eq!(shown.len(), 3);
}

// --- tokens: revoking --------------------------------------------------------------------------------

async fn revoking_reports_true_once_then_false(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let admin = user(&db, 1, "admin").await;
    let token = insert(&db, &pat(&alice, 2)).await;
    assert!(db
        .revoke_token(&token.id, &revocation(10, &alice))
        .await
        .unwrap());
    let second = Revocation {
        at: at(20),
        by: Some(admin.id.clone()),
        reason: "owner_removed".into(),
    };
    assert!(!db.revoke_token(&token.id, &second).await.unwrap());

    let read = db.token(&token.id).await.unwrap().unwrap();
    assert_eq!(read.revoked_at, Some(at(10)), "the first revocation stands");
    assert_eq!(read.revoked_by.as_deref(), Some(alice.id.as_str()));
    assert_eq!(read.revoked_reason.as_deref(), Some("revoked"));
    assert_eq!(read.status(at(11)), TokenStatus::Revoked);
    // A revoked token is still found by its hash, and says it is revoked.
    let found = db
        .find_token_by_hash(&[plain("secret-2")])
        .await
        .unwrap()
        .unwrap();
    assert!(found.record.revoked_at.is_some());

    let err = db
        .revoke_token("tok_nothing", &revocation(30, &alice))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn revoking_a_users_tokens_leaves_other_tokens_alone(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let bob = user(&db, 1, "bob").await;
    let team = workspace(&db, 2, "team").await;
    let first = insert(&db, &pat(&alice, 3)).await;
    let already = insert(&db, &pat(&alice, 4)).await;
    let second = insert(&db, &pat(&alice, 5)).await;
    let bobs = insert(&db, &pat(&bob, 6)).await;
    let key_alice_made = insert(&db, &api_key(&team, &alice, 7)).await;
    db.revoke_token(&already.id, &revocation(8, &alice))
        .await
        .unwrap();

    let revoked = db
        .revoke_user_tokens(
            &alice.id,
            &Revocation {
                at: at(10),
                by: None,
                reason: "owner_removed".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(revoked, [second.id.clone(), first.id.clone()]);

    let reason = |id: &str| {
        let db = &db;
        let id = id.to_owned();
        async move { db.token(&id).await.unwrap().unwrap().revoked_reason }
    };
    assert_eq!(reason(&first.id).await.as_deref(), Some("owner_removed"));
    assert_eq!(reason(&already.id).await.as_deref(), Some("revoked"));
    assert_eq!(reason(&bobs.id).await, None);
    assert_eq!(reason(&key_alice_made.id).await, None);
    assert!(db
        .revoke_user_tokens(&alice.id, &revocation(11, &alice))
        .await
        .unwrap()
        .is_empty());
}

// --- tokens: the active-token limit --------------------------------------------------------------------

async fn the_active_token_limit_refuses_and_writes_nothing(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let bob = user(&db, 1, "bob").await;
    let team = workspace(&db, 2, "team").await;
    for n in 3..5 {
        db.insert_token(&pat(&alice, n), Some(2)).await.unwrap();
    }
    let refused = pat(&alice, 5);
    let err = db.insert_token(&refused, Some(2)).await.unwrap_err();
    assert!(matches!(err, StoreError::LimitReached), "{err:?}");
    assert_eq!(db.token(&refused.id).await.unwrap(), None);
    assert!(db
        .find_token_by_hash(std::slice::from_ref(&refused.hash))
        .await
        .unwrap()
        .is_none());

    // The limit is per owner, and without one nothing is counted.
    db.insert_token(&pat(&bob, 6), Some(2)).await.unwrap();
    db.insert_token(&api_key(&team, &alice, 7), Some(2))
        .await
        .unwrap();
    db.insert_token(&pat(&alice, 8), None).await.unwrap();
}

async fn the_active_token_limit_counts_neither_revoked_nor_expired_tokens(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let revoked = db.insert_token(&pat(&alice, 1), Some(2)).await.unwrap();
    db.revoke_token(&revoked.id, &revocation(2, &alice))
        .await
        .unwrap();
    // Expires exactly when the next token is made: no longer active then.
    let expiring = NewToken {
        expires_at: Some(at(10)),
        ..pat(&alice, 3)
    };
    db.insert_token(&expiring, Some(2)).await.unwrap();
    let never_expiring = NewToken {
        expires_at: None,
        ..pat(&alice, 4)
    };
    db.insert_token(&never_expiring, Some(2)).await.unwrap();

    db.insert_token(&pat(&alice, 10), Some(2)).await.unwrap();
    let err = db
        .insert_token(&pat(&alice, 11), Some(2))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LimitReached), "{err:?}");
}

async fn concurrent_writers_cannot_exceed_the_token_limit(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let stores = [db.store.clone(), db.another_store().await];
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=16u64 {
        let store = stores[n as usize % 2].clone();
        let token = pat(&alice, n);
        tasks.spawn(async move { store.insert_token(&token, Some(5)).await });
    }
    let (mut stored, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => stored += 1,
            Err(StoreError::LimitReached) => refused += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((stored, refused), (5, 11));
    let listed = db
        .list_tokens(&TokenFilter::default(), &Page::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 5);
}

// --- tokens: rotation ------------------------------------------------------------------------------------

async fn rotation_gives_a_new_secret_and_retires_the_old(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let token = insert(&db, &pat(&alice, 1)).await;
    let rotation = |secret: &str, now: i64, retires: i64| Rotation {
        token_id: token.id.clone(),
        at: at(now),
        new_hash: plain(secret),
        display_prefix: "tsr_pat_".into(),
        last4: secret[secret.len() - 4..].into(),
        expires_at: Some(at(now + 1000)),
        old_secret_retires_at: at(retires),
        handoff: false,
    };

    let rotated = db
        .rotate_token(&rotation("second-ABCD", 100, 160))
        .await
        .unwrap();
    assert_eq!(rotated.last4, "ABCD");
    assert_eq!(rotated.expires_at, Some(at(1100)));
    assert_eq!(rotated.rotated_at, Some(at(100)));
    assert_eq!(rotated.created_at, token.created_at);
    assert_eq!(db.token(&token.id).await.unwrap(), Some(rotated.clone()));

    let retires_at = |secret: &str| {
        let db = &db;
        let hash = plain(secret);
        async move {
            let found = db.find_token_by_hash(&[hash]).await.unwrap().unwrap();
            found.secret_retires_at
        }
    };
    assert_eq!(retires_at("second-ABCD").await, None);
    assert_eq!(retires_at("secret-1").await, Some(at(160)));

    // A rotation with no overlap retires every earlier secret now, and
    // brings forward a retirement set by an earlier rotation.
    db.rotate_token(&rotation("third-EFGH", 120, 120))
        .await
        .unwrap();
    assert_eq!(retires_at("third-EFGH").await, None);
    assert_eq!(retires_at("second-ABCD").await, Some(at(120)));
    assert_eq!(retires_at("secret-1").await, Some(at(120)));

    // A later retirement never extends an earlier one.
    db.rotate_token(&rotation("fourth-IJKL", 130, 500))
        .await
        .unwrap();
    assert_eq!(retires_at("third-EFGH").await, Some(at(500)));
    assert_eq!(retires_at("second-ABCD").await, Some(at(120)));

    // Reusing a stored secret's hash is refused.
    let err = db
        .rotate_token(&rotation("second-ABCD", 140, 140))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(retires_at("fourth-IJKL").await, None, "nothing changed");
}

async fn a_handoff_rotation_keeps_the_old_secret_until_the_new_one_is_first_used(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let token = insert(&db, &pat(&alice, 1)).await;
    let handoff = |secret: &str, now: i64| Rotation {
        token_id: token.id.clone(),
        at: at(now),
        new_hash: plain(secret),
        display_prefix: "tsr_pat_".into(),
        last4: secret[secret.len() - 4..].into(),
        expires_at: None,
        old_secret_retires_at: at(now + 10_000),
        handoff: true,
    };
    let found = |secret: &str| {
        let db = &db;
        let hash = plain(secret);
        async move {
            let found = db.find_token_by_hash(&[hash]).await.unwrap().unwrap();
            (found.secret_retires_at, found.ends_handoff)
        }
    };
    db.rotate_token(&handoff("second-ABCD", 100)).await.unwrap();
    assert_eq!(
        found("secret-1").await,
        (Some(at(10_100)), false),
        "waits, at most until the stated maximum"
    );
    assert_eq!(
        found("second-ABCD").await,
        (None, true),
        "marked until its first use"
    );

    // The new secret was lost: rotating again retires it at once.
    db.rotate_token(&handoff("third-EFGH", 200)).await.unwrap();
    assert_eq!(found("second-ABCD").await, (Some(at(200)), false));
    assert_eq!(found("secret-1").await, (Some(at(10_100)), false));
    assert_eq!(found("third-EFGH").await, (None, true));

    // Its first use ends the wait, once, on any instance.
    let third = db
        .find_token_by_hash(&[plain("third-EFGH")])
        .await
        .unwrap()
        .unwrap();
    let other = db.another_store().await;
    assert!(other
        .complete_handoff(&token.id, &third.digest, at(260))
        .await
        .unwrap());
    assert!(!db
        .complete_handoff(&token.id, &third.digest, at(300))
        .await
        .unwrap());
    assert_eq!(found("third-EFGH").await, (None, false));
    assert_eq!(found("secret-1").await, (Some(at(260)), false));
    assert_eq!(
        found("second-ABCD").await,
        (Some(at(200)), false),
        "never extended"
    );
}

async fn a_revoked_or_unknown_token_cannot_be_rotated(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let token = insert(&db, &pat(&alice, 1)).await;
    db.revoke_token(&token.id, &revocation(5, &alice))
        .await
        .unwrap();
    for token_id in [token.id.clone(), "tok_nothing".into()] {
        let err = db
            .rotate_token(&Rotation {
                token_id,
                at: at(10),
                new_hash: plain("new"),
                display_prefix: "tsr_pat_".into(),
                last4: "wxyz".into(),
                expires_at: None,
                old_secret_retires_at: at(10),
                handoff: false,
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
    assert!(db
        .find_token_by_hash(&[plain("new")])
        .await
        .unwrap()
        .is_none());
    let found = db
        .find_token_by_hash(&[plain("secret-1")])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.secret_retires_at, None);
}

// --- tokens: usage ----------------------------------------------------------------------------------------

async fn usage_keeps_the_last_five_distinct_addresses_newest_first(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let token = insert(&db, &pat(&alice, 1)).await;
    let other = insert(&db, &pat(&alice, 2)).await;
    let use_at = |token_id: &str, seconds: i64, ip: &str| TokenUsage {
        token_id: token_id.into(),
        at: at(seconds),
        ip: Some(ip.into()),
        user_agent: Some(format!("agent/{seconds}")),
    };
    db.record_usage(&[
        use_at(&token.id, 10, "10.0.0.1"),
        use_at(&token.id, 11, "10.0.0.2"),
        use_at("tok_nothing", 12, "10.9.9.9"),
        use_at(&token.id, 13, "10.0.0.1"),
        use_at(&token.id, 14, "10.0.0.3"),
        use_at(&other.id, 15, "192.0.2.1"),
        use_at(&token.id, 16, "10.0.0.4"),
        use_at(&token.id, 17, "10.0.0.5"),
    ])
    .await
    .unwrap();
    let read = db.token(&token.id).await.unwrap().unwrap();
    assert_eq!(read.last_used_at, Some(at(17)));
    assert_eq!(read.last_used_ip.as_deref(), Some("10.0.0.5"));
    assert_eq!(read.last_used_user_agent.as_deref(), Some("agent/17"));
    assert_eq!(
        read.last_used_ips,
        ["10.0.0.5", "10.0.0.4", "10.0.0.3", "10.0.0.1", "10.0.0.2"]
    );

    db.record_usage(&[use_at(&token.id, 18, "10.0.0.6")])
        .await
        .unwrap();
    let read = db.token(&token.id).await.unwrap().unwrap();
    assert_eq!(
        read.last_used_ips,
        ["10.0.0.6", "10.0.0.5", "10.0.0.4", "10.0.0.3", "10.0.0.1"]
    );

    // A late batch from another instance does not turn back the clock.
    db.record_usage(&[use_at(&token.id, 12, "10.0.0.4")])
        .await
        .unwrap();
    let late = db.token(&token.id).await.unwrap().unwrap();
    assert_eq!(late.last_used_at, Some(at(18)));
    assert_eq!(late.last_used_ip.as_deref(), Some("10.0.0.6"));
    assert_eq!(late.last_used_ips, read.last_used_ips);

    let other = db.token(&other.id).await.unwrap().unwrap();
    assert_eq!(other.last_used_ips, ["192.0.2.1"]);
    assert_eq!(db.token("tok_nothing").await.unwrap(), None);
    db.record_usage(&[]).await.unwrap();
}

async fn a_usage_batch_larger_than_one_write_reaches_every_token(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let mut ids = Vec::new();
    for n in 0..410 {
        ids.push(insert(&db, &pat(&alice, n)).await.id);
    }
    let mut batch: Vec<TokenUsage> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| TokenUsage {
            token_id: id.clone(),
            at: at(100 + n as i64),
            // Every other use arrives with no address or user agent.
            ip: (n % 2 == 0).then(|| format!("10.0.{}.{}", n / 256, n % 256)),
            user_agent: (n % 2 == 0).then(|| "cron/1".to_owned()),
        })
        .collect();
    batch.insert(
        7,
        TokenUsage {
            token_id: "tok_gone".into(),
            at: at(50),
            ip: None,
            user_agent: None,
        },
    );
    db.record_usage(&batch).await.unwrap();
    for (n, id) in ids.iter().enumerate() {
        let read = db.token(id).await.unwrap().unwrap();
        assert_eq!(read.last_used_at, Some(at(100 + n as i64)), "{n}");
        if n % 2 == 0 {
            let ip = format!("10.0.{}.{}", n / 256, n % 256);
            assert_eq!(read.last_used_ip.as_deref(), Some(ip.as_str()));
            assert_eq!(read.last_used_ips, [ip]);
            assert_eq!(read.last_used_user_agent.as_deref(), Some("cron/1"));
        } else {
            assert_eq!(read.last_used_ip, None);
            assert!(read.last_used_ips.is_empty());
        }
    }
}

// --- sessions ------------------------------------------------------------------------------------------------

fn verifier(
    n: u64,
    name: &str,
    secret_hash: &str,
    created_by: Option<&User>,
) -> NewVerifierCredential {
    NewVerifierCredential {
        credential: VerifierCredential {
            id: id("vfr_", n),
            name: name.into(),
            audience: tessera_core::verifier_credential::Audience {
                workspace_ids: vec![format!("wsp_{n}")],
                kinds: vec!["pat".into(), "api_key".into()],
            },
            created_at: at(n as i64),
            created_by: created_by.map(|u| u.id.clone()),
            revoked_at: None,
        },
        secret_hash: secret_hash.into(),
    }
}

async fn a_verifier_is_found_by_its_secret_hash_until_revoked(db: Db) {
    let admin = user(&db, 0, "admin").await;
    let gateway = db
        .create_verifier(&verifier(1, "gateway", "hash-gateway", Some(&admin)))
        .await
        .unwrap();
    let product = db
        .create_verifier(&verifier(2, "product", "hash-product", None))
        .await
        .unwrap();
    assert_eq!(
        db.verifier_by_secret_hash("hash-gateway").await.unwrap(),
        Some(gateway.clone()),
        "lists and times read back as written"
    );
    assert_eq!(
        db.verifier_by_secret_hash("hash-nobody").await.unwrap(),
        None
    );
    assert_eq!(
        db.list_verifiers().await.unwrap(),
        vec![product.clone(), gateway.clone()],
        "newest first"
    );

    assert!(db.revoke_verifier(&gateway.id, at(50)).await.unwrap());
    assert!(
        !db.revoke_verifier(&gateway.id, at(60)).await.unwrap(),
        "once only"
    );
    assert_eq!(
        db.verifier_by_secret_hash("hash-gateway").await.unwrap(),
        None
    );
    assert_eq!(
        db.another_store()
            .await
            .verifier_by_secret_hash("hash-gateway")
            .await
            .unwrap(),
        None,
        "another instance sees the revocation at once"
    );
    assert_eq!(db.list_verifiers().await.unwrap(), vec![product]);
    let err = db.revoke_verifier("vfr_nobody", at(70)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn a_verifier_needs_a_unique_id_and_secret_and_an_existing_creator(db: Db) {
    let first = verifier(1, "gateway", "hash-1", None);
    db.create_verifier(&first).await.unwrap();
    let same_secret = verifier(2, "other", "hash-1", None);
    let err = db.create_verifier(&same_secret).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let mut same_id = verifier(3, "again", "hash-3", None);
    same_id.credential.id = first.credential.id.clone();
    let err = db.create_verifier(&same_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let mut no_creator = verifier(4, "orphan", "hash-4", None);
    no_creator.credential.created_by = Some("usr_nobody".into());
    let err = db.create_verifier(&no_creator).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        db.list_verifiers().await.unwrap().len(),
        1,
        "nothing else was written"
    );
}

async fn sessions_expire_and_can_be_deleted(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let bob = user(&db, 1, "bob").await;
    let session = |id_hash: &str, owner: &User| Session {
        id_hash: id_hash.into(),
        user_id: owner.id.clone(),
        csrf_token: format!("csrf-{id_hash}"),
        created_at: at(10),
        expires_at: at(100),
    };
    let first = session("hash-1", &alice);
    db.create_session(&first).await.unwrap();
    db.create_session(&session("hash-2", &alice)).await.unwrap();
    db.create_session(&session("hash-3", &bob)).await.unwrap();
    let err = db
        .create_session(&session("hash-1", &bob))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = db
        .create_session(&Session {
            user_id: "usr_nobody".into(),
            ..session("hash-4", &bob)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    assert_eq!(db.session("hash-1", at(99)).await.unwrap(), Some(first));
    assert_eq!(
        db.session("hash-1", at(100)).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(db.session("hash-x", at(50)).await.unwrap(), None);

    db.delete_session("hash-1").await.unwrap();
    assert_eq!(db.session("hash-1", at(50)).await.unwrap(), None);
    db.delete_session("hash-1").await.unwrap();

    db.delete_user_sessions(&alice.id).await.unwrap();
    assert_eq!(db.session("hash-2", at(50)).await.unwrap(), None);
    assert!(db.session("hash-3", at(50)).await.unwrap().is_some());
}

async fn a_form_id_is_claimed_once_per_session_by_every_instance(db: Db) {
    let alice = user(&db, 0, "alice").await;
    for id_hash in ["hash-a", "hash-b"] {
        db.create_session(&Session {
            id_hash: id_hash.into(),
            user_id: alice.id.clone(),
            csrf_token: "csrf".into(),
            created_at: at(10),
            expires_at: at(1000),
        })
        .await
        .unwrap();
    }
    let other = db.another_store().await;
    assert!(db
        .claim_form_id("hash-a", "form-1", at(20), at(0))
        .await
        .unwrap());
    assert!(
        !other
            .claim_form_id("hash-a", "form-1", at(21), at(0))
            .await
            .unwrap(),
        "a second instance sees the first claim"
    );
    assert!(
        db.claim_form_id("hash-b", "form-1", at(22), at(0))
            .await
            .unwrap(),
        "another session's id is its own"
    );
    assert!(db
        .claim_form_id("hash-a", "form-2", at(23), at(0))
        .await
        .unwrap());

    // Claims older than the horizon are forgotten, newer ones kept.
    assert!(db
        .claim_form_id("hash-a", "form-1", at(30), at(21))
        .await
        .unwrap());
    assert!(!db
        .claim_form_id("hash-a", "form-2", at(31), at(21))
        .await
        .unwrap());

    // A session's claims end with it.
    db.delete_session("hash-b").await.unwrap();
    db.create_session(&Session {
        id_hash: "hash-b".into(),
        user_id: alice.id.clone(),
        csrf_token: "csrf".into(),
        created_at: at(40),
        expires_at: at(1000),
    })
    .await
    .unwrap();
    assert!(db
        .claim_form_id("hash-b", "form-1", at(41), at(0))
        .await
        .unwrap());
}

// --- change notifications --------------------------------------------------------------------------------

async fn published_invalidations_reach_every_instance(db: Db) {
    let other = db.another_store().await;
    let mut received = db
        .subscribe_invalidations()
        .await
        .unwrap()
        .expect("both backends carry changes between processes");
    other.publish_invalidation("token:tok_1").await.unwrap();
    db.publish_invalidation("user:usr_1").await.unwrap();
    for expected in ["token:tok_1", "user:usr_1"] {
        let message = tokio::time::timeout(StdDuration::from_secs(5), received.recv())
            .await
            .expect("a notification within 5 s")
            .expect("the channel is open");
        assert_eq!(message, expected);
    }
}

// --- audit -------------------------------------------------------------------------------------------------

fn event(n: u64, action: &str, workspace: Option<&str>, actor: Option<&str>) -> AuditEvent {
    AuditEvent {
        id: id("evt_", n),
        at: at(n as i64),
        action: action.into(),
        actor_user_id: actor.map(str::to_owned),
        actor_token_id: Some(format!("tok_{n}")),
        actor_label: actor.map(|a| format!("label of {a}")),
        workspace_id: workspace.map(str::to_owned),
        target_type: Some("token".into()),
        target_id: Some(format!("target-{}", n % 3)),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("curl/8".into()),
        details: serde_json::json!({ "n": n, "nested": { "list": [1, 2] } }),
    }
}

async fn audit_events_list_newest_first_and_page(db: Db) {
    let mut made = Vec::new();
    for n in 0..12 {
        let e = event(n, "token.create", Some("wsp_a"), Some("usr_a"));
        db.append_audit(&e).await.unwrap();
        made.push(e);
    }
    let err = db.append_audit(&made[0]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let filter = AuditFilter::default();
    let mut seen = Vec::new();
    let mut page = Page::first(5);
    loop {
        let events = db.list_audit(&filter, &page).await.unwrap();
        let Some(last) = events.last() else { break };
        page = page_after(&last.id, 5);
        seen.extend(events);
    }
    made.reverse();
    assert_eq!(seen, made, "every field reads back, newest first");
}

async fn audit_filters_combine(db: Db) {
    let events = [
        event(1, "token.create", Some("wsp_a"), Some("usr_a")),
        event(2, "token.revoke", Some("wsp_a"), Some("usr_b")),
        event(3, "token.create", Some("wsp_b"), Some("usr_a")),
        event(4, "user.suspend", None, Some("usr_b")),
        event(5, "token.create", Some("wsp_a"), None),
    ];
    for e in &events {
        db.append_audit(e).await.unwrap();
    }
    let ids = |wanted: &[usize]| -> Vec<String> {
        wanted.iter().map(|n| events[n - 1].id.clone()).collect()
    };
    let listed = |filter: AuditFilter| {
        let db = &db;
        async move {
            db.list_audit(&filter, &Page::default())
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    let by = AuditFilter::default;
    assert_eq!(listed(by()).await, ids(&[5, 4, 3, 2, 1]));
    assert_eq!(
        listed(AuditFilter {
            workspace_id: Some("wsp_a".into()),
            ..by()
        })
        .await,
        ids(&[5, 2, 1])
    );
    assert_eq!(
        listed(AuditFilter {
            actor_user_id: Some("usr_b".into()),
            ..by()
        })
        .await,
        ids(&[4, 2])
    );
    assert_eq!(
        listed(AuditFilter {
            target_id: Some("target-1".into()),
            ..by()
        })
        .await,
        ids(&[4, 1])
    );
    assert_eq!(
        listed(AuditFilter {
            action: Some("token.create".into()),
            ..by()
        })
        .await,
        ids(&[5, 3, 1])
    );
    assert_eq!(
        listed(AuditFilter {
            since: Some(at(2)),
            until: Some(at(4)),
            ..by()
        })
        .await,
        ids(&[4, 3, 2]),
        "since and until are inclusive"
    );
    assert_eq!(
        listed(AuditFilter {
            workspace_id: Some("wsp_a".into()),
            action: Some("token.create".into()),
            actor_user_id: Some("usr_a".into()),
            since: Some(at(1)),
            ..by()
        })
        .await,
        ids(&[1])
    );
    assert!(listed(AuditFilter {
        workspace_id: Some("wsp_none".into()),
        ..by()
    })
    .await
    .is_empty());
}

// --- agents ------------------------------------------------------------------------------

async fn an_agent_is_a_user_record_that_cannot_sign_in_with_a_membership(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let bot = db
        .create_agent(&new_agent(&team, &alice, 2, "Deploy bot"))
        .await
        .expect("create agent");
    assert_eq!(bot.name, "Deploy bot");
    assert_eq!(bot.workspace_id, team.id);
    assert_eq!(bot.role.as_deref(), Some("member"));
    assert_eq!(bot.status, UserStatus::Active);
    assert_eq!(bot.created_at, at(2));
    assert_eq!(bot.created_by.as_deref(), Some(alice.id.as_str()));
    assert_eq!(db.agent(&bot.id).await.unwrap(), Some(bot.clone()));

    // Its user record: marked, with no password and a username no person can have.
    let record = db.user(&bot.id).await.unwrap().expect("a user record");
    assert_eq!(record.agent_workspace_id.as_deref(), Some(team.id.as_str()));
    assert!(record.is_agent());
    assert!(record.password_hash.is_empty());
    assert!(!record.is_admin);
    assert_eq!(record.username, agent_username(&bot.id));
    assert!(record.username.contains(':'));
    // People are not agents.
    assert_eq!(
        db.user(&alice.id)
            .await
            .unwrap()
            .unwrap()
            .agent_workspace_id,
        None
    );
    assert_eq!(db.agent(&alice.id).await.unwrap(), None);
    assert_eq!(db.agent("usr_nobody").await.unwrap(), None);

    // Its role is its membership: changed like anyone's, read back on the agent.
    let membership = db.membership(&team.id, &bot.id).await.unwrap().unwrap();
    assert_eq!(membership.role, "member");
    db.set_membership(&team.id, &bot.id, "viewer", at(3))
        .await
        .unwrap();
    assert_eq!(
        db.agent(&bot.id).await.unwrap().unwrap().role.as_deref(),
        Some("viewer")
    );
    // Removed: the record stays (tokens still name it), without its membership.
    db.set_user_status(&bot.id, UserStatus::Removed, at(4))
        .await
        .unwrap();
    db.remove_membership(&team.id, &bot.id).await.unwrap();
    let removed = db.agent(&bot.id).await.unwrap().unwrap();
    assert_eq!(removed.status, UserStatus::Removed);
    assert_eq!(removed.role, None);
}

async fn agents_are_listed_per_workspace_newest_first_without_removed_ones(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let other = workspace(&db, 2, "other").await;
    let mut made = Vec::new();
    for n in 3..10 {
        made.push(
            db.create_agent(&new_agent(&team, &alice, n, &format!("bot {n}")))
                .await
                .unwrap()
                .id,
        );
    }
    let elsewhere = db
        .create_agent(&new_agent(&other, &alice, 10, "elsewhere"))
        .await
        .unwrap();
    let gone = made.remove(2);
    db.set_user_status(&gone, UserStatus::Removed, at(11))
        .await
        .unwrap();

    let first = db.list_agents(&team.id, &Page::first(4)).await.unwrap();
    let second = db
        .list_agents(&team.id, &page_after(&first[3].id, 4))
        .await
        .unwrap();
    let listed: Vec<String> = first.iter().chain(&second).map(|a| a.id.clone()).collect();
    assert_eq!(listed, newest_first(made));
    assert_eq!(second.len(), 2);
    let theirs = db.list_agents(&other.id, &Page::default()).await.unwrap();
    assert_eq!(theirs, vec![elsewhere]);
    // People are members, not agents.
    db.set_membership(&team.id, &alice.id, "owner", at(12))
        .await
        .unwrap();
    assert!(db
        .list_agents(&team.id, &Page::default())
        .await
        .unwrap()
        .iter()
        .all(|a| a.id != alice.id));
}

async fn an_agent_needs_an_existing_workspace_and_writes_nothing_otherwise(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let ghost = Workspace {
        id: id("wsp_", 1),
        name: "ghost".into(),
        created_at: at(1),
    };
    let agent = new_agent(&ghost, &alice, 2, "bot");
    assert!(matches!(
        db.create_agent(&agent).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(db.user(&agent.id).await.unwrap(), None);
    let team = workspace(&db, 3, "team").await;
    let twice = new_agent(&team, &alice, 4, "bot");
    db.create_agent(&twice).await.unwrap();
    assert!(matches!(
        db.create_agent(&twice).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.count_users().await.unwrap(), 2);
}

async fn an_agents_tokens_outlive_its_creator_and_stop_with_the_agent(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let bot = db
        .create_agent(&new_agent(&team, &alice, 2, "bot"))
        .await
        .unwrap();
    let agent_token = NewToken {
        kind: "agent_token".into(),
        user_id: Some(bot.id.clone()),
        workspace_id: Some(team.id.clone()),
        permissions: None,
        created_by: Some(alice.id.clone()),
        ..pat(&alice, 3)
    };
    let token = insert(&db, &agent_token).await;
    assert_eq!(token.user_id.as_deref(), Some(bot.id.as_str()));
    let filter = TokenFilter {
        user_id: Some(bot.id.clone()),
        ..TokenFilter::default()
    };
    let listed = db.list_tokens(&filter, &Page::default()).await.unwrap();
    assert_eq!(ids_of(&listed), [&token.id]);

    // Revoking everything of its creator leaves the agent's token alone.
    let gone = db
        .revoke_user_tokens(&alice.id, &revocation(4, &alice))
        .await
        .unwrap();
    assert!(gone.is_empty());
    assert_eq!(db.token(&token.id).await.unwrap().unwrap().revoked_at, None);
    // Revoking the agent's does stop it.
    let stopped = db
        .revoke_user_tokens(&bot.id, &revocation(5, &alice))
        .await
        .unwrap();
    assert_eq!(stopped, vec![token.id]);
}

// --- what the verifier reads ------------------------------------------------------------

/// The verifier's two reads see each committed write on the very next read,
/// asked again and again between writes (on SQLite they are rusqlite's
/// reads, beside sqlx's writer: no snapshot may outlive a read).
async fn the_verifiers_reads_see_each_write_at_once(db: Db) {
    let alice = user(&db, 0, "alice").await;
    let team = workspace(&db, 1, "team").await;
    let find = |secret: &str| {
        let db = &db;
        let hash = plain(secret);
        async move { db.find_token_by_hash(&[hash]).await.unwrap() }
    };
    let role = || {
        let db = &db;
        let (team, alice) = (team.id.clone(), alice.id.clone());
        async move {
            db.membership(&team, &alice)
                .await
                .unwrap()
                .map(|m| (m.role, m.updated_at))
        }
    };

    // Created: found at once, with its owner.
    assert!(find("secret-2").await.is_none());
    let token = insert(&db, &pat(&alice, 2)).await;
    let found = find("secret-2").await.expect("found right after creation");
    assert_eq!(found.record, token);
    assert_eq!(found.owner.as_ref(), Some(&alice));

    // Used: the usage columns read back as written.
    db.record_usage(&[TokenUsage {
        token_id: token.id.clone(),
        at: at(5),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("probe/1".into()),
    }])
    .await
    .unwrap();
    let used = find("secret-2").await.unwrap().record;
    assert_eq!(used.last_used_at, Some(at(5)));
    assert_eq!(used.last_used_ips, ["192.0.2.7"]);
    assert_eq!(used, db.token(&token.id).await.unwrap().unwrap());

    // The owner suspended, then active again: each status seen at once.
    for (n, status) in [UserStatus::Suspended, UserStatus::Active]
        .into_iter()
        .enumerate()
    {
        db.set_user_status(&alice.id, status, at(10 + n as i64))
            .await
            .unwrap();
        let owner = find("secret-2").await.unwrap().owner.unwrap();
        assert_eq!(
            (owner.status, owner.updated_at),
            (status, at(10 + n as i64))
        );
    }

    // Revoked: still found, and says so.
    assert!(db
        .revoke_token(&token.id, &revocation(20, &alice))
        .await
        .unwrap());
    let revoked = find("secret-2").await.unwrap().record;
    assert_eq!(revoked.revoked_at, Some(at(20)));
    assert_eq!(revoked.revoked_reason.as_deref(), Some("revoked"));

    // A workspace's key: no owner.
    insert(&db, &api_key(&team, &alice, 3)).await;
    assert_eq!(find("secret-3").await.unwrap().owner, None);

    // A membership: none, joined, its role changed, left.
    assert_eq!(role().await, None);
    db.set_membership(&team.id, &alice.id, "member", at(30))
        .await
        .unwrap();
    assert_eq!(role().await, Some(("member".into(), at(30))));
    db.set_membership(&team.id, &alice.id, "admin", at(31))
        .await
        .unwrap();
    assert_eq!(role().await, Some(("admin".into(), at(31))));
    db.remove_membership(&team.id, &alice.id).await.unwrap();
    assert_eq!(role().await, None);
}

/// On SQLite the verifier's reads are answered by rusqlite (not by sqlx
/// behind a fallback), even while a writer commits beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_verifier_reads_are_answered_directly_beside_a_busy_writer() {
    let database = fresh_sqlite();
    let store = sqlite_store(&database).await;
    let db = Db {
        store: store.clone(),
        url: database.url().clone(),
    };
    the_verifiers_reads_see_each_write_at_once(db).await;
    let counts = store.direct_reads();
    assert_eq!(counts.fell_back, 0);
    // 7 tokens found by hash and 4 memberships read in the story above.
    assert_eq!(counts.served, 11, "{counts:?}");

    // Readers on both worker threads while the writer commits token after
    // token: each read sees a prefix of the writes, never an error.
    let alice = store.user_by_username("alice").await.unwrap().unwrap();
    let writer = {
        let (store, alice) = (store.clone(), alice.clone());
        tokio::spawn(async move {
            for n in 100..300 {
                store.insert_token(&pat(&alice, n), None).await.unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = 100;
                while seen < 300 {
                    let hash = plain(&format!("secret-{seen}"));
                    if store.find_token_by_hash(&[hash]).await.unwrap().is_some() {
                        seen += 1;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(store.direct_reads().fell_back, 0);
}
