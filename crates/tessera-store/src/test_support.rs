//! A fresh, empty database for each test, on either backend, removed when
//! the test ends, passed or panicked. Shared by this crate's contract suite
//! and the server's integration tests (feature `test-support`).
//!
//! PostgreSQL tests need a server: `TESSERA_TEST_POSTGRES_URL` names one
//! whose user may create databases (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Without a reachable
//! server they fail, saying how to start one, unless
//! `TESSERA_TEST_POSTGRES=skip`, in which case [`fresh_postgres`] returns
//! `None` and the test is expected to return early.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};

use crate::{DatabaseUrl, Store};

/// Names the admin URL of the PostgreSQL server tests create databases on.
pub const POSTGRES_URL_VAR: &str = "TESSERA_TEST_POSTGRES_URL";
/// Set to `skip` to skip PostgreSQL tests instead of failing them.
pub const POSTGRES_SKIP_VAR: &str = "TESSERA_TEST_POSTGRES";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Test databases are named `tessera_test_<unix seconds>_<random>`, so
/// the ones a killed run left behind can be recognised and, once older
/// than this, dropped by a later run.
const PREFIX: &str = "tessera_test_";
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists as long as this value does.
pub struct TestDatabase {
    url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    /// Removing the directory removes the file and its WAL.
    Directory {
        _dir: tempfile::TempDir,
    },
    PostgresDatabase {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A connected and migrated store on this database. Panics on failure:
    /// this is for tests.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = crate::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test database {}: {e}", self.url));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrating the test database {}: {e}", self.url));
        store
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::PostgresDatabase { admin_url, name } = &self.cleanup {
            drop_database_blocking(admin_url, name);
        }
    }
}

/// A fresh database on `backend`; `None` when that backend's tests are
/// skipped (see the module documentation).
pub async fn fresh(backend: Backend) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => Some(fresh_sqlite()),
        Backend::Postgres => fresh_postgres().await,
    }
}

/// A database file in a new temporary directory.
pub fn fresh_sqlite() -> TestDatabase {
    let dir = tempfile::Builder::new()
        .prefix("tessera-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
    TestDatabase {
        url: DatabaseUrl::Sqlite {
            path: dir.path().join("tessera.db"),
        },
        cleanup: Cleanup::Directory { _dir: dir },
    }
}

/// A new database on the test PostgreSQL server, dropped (`WITH (FORCE)`,
/// so open connections do not keep it) when the value is dropped.
pub async fn fresh_postgres() -> Option<TestDatabase> {
    if std::env::var(POSTGRES_SKIP_VAR).is_ok_and(|v| v == "skip") {
        println!("skipped: {POSTGRES_SKIP_VAR}=skip");
        return None;
    }
    let admin_url =
        std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let admin = DatabaseUrl::parse(&admin_url)
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR} is not a database URL: {e}"));
    let DatabaseUrl::Postgres { url } = &admin else {
        panic!("{POSTGRES_URL_VAR} must be a postgres:// URL, not {admin}");
    };
    let mut conn = admin_connection(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {admin}: {e}\n\
             Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             point {POSTGRES_URL_VAR} at another server, \
             or set {POSTGRES_SKIP_VAR}=skip to skip the PostgreSQL tests."
        )
    });
    drop_leftovers_once(&mut conn).await;

    let name = format!(
        "{PREFIX}{}_{}",
        unix_seconds(),
        tessera_core::base62::random(12).to_lowercase()
    );
    // A linguistic default collation, as most production servers have, so
    // that an id column missing `COLLATE "C"` sorts wrongly here too. Where
    // the server has no ICU, the server's default will do.
    let with_icu = format!(
        "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
         LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
    );
    if conn.execute(with_icu.as_str()).await.is_err() {
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating the test database {name} on {admin}: {e}"));
    }
    let _ = conn.close().await;

    let mut test_url = url.clone();
    test_url.set_path(&name);
    Some(TestDatabase {
        url: DatabaseUrl::Postgres { url: test_url },
        cleanup: Cleanup::PostgresDatabase { admin_url, name },
    })
}

async fn admin_connection(admin_url: &str) -> Result<PgConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(admin_url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Drops the test databases of runs that were killed before they could
/// clean up; once per process, and only old ones, since other test
/// processes may be using theirs right now.
async fn drop_leftovers_once(conn: &mut PgConnection) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::SeqCst) {
        return;
    }
    let names: Vec<String> =
        match sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *conn)
            .await
        {
            Ok(names) => names,
            Err(e) => {
                eprintln!("listing leftover test databases: {e}");
                return;
            }
        };
    let cutoff = unix_seconds().saturating_sub(LEFTOVER_AGE.as_secs());
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| created < cutoff) {
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = conn.execute(sql.as_str()).await {
                eprintln!("dropping leftover test database {name}: {e}");
            }
        }
    }
}

/// `Drop` cannot await, and may run inside the test's runtime (where
/// blocking on another future would panic): run the `DROP DATABASE` on a
/// thread of its own with a small runtime, and wait for it.
fn drop_database_blocking(admin_url: &str, name: &str) {
    let admin_url = admin_url.to_owned();
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let dropped = std::thread::spawn(move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = admin_connection(&admin_url).await?;
            conn.execute(sql.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(())
        })
    })
    .join();
    match dropped {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("dropping the test database {name}: {e}"),
        Err(_) => eprintln!("dropping the test database {name}: the thread panicked"),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A user with one personal token, written straight through the store (no
/// server): for the verification engine's tests and benches.
pub struct SeededToken {
    pub user_id: String,
    pub token_id: String,
    /// The token as its owner would present it.
    pub plaintext: String,
}

/// Creates a user and one token of `kind` for them, hashed with `hasher`,
/// that never expires.
pub async fn seed_personal_token(
    store: &dyn Store,
    kind: &tessera_core::kind::CredentialKind,
    hasher: &tessera_core::TokenHasher,
) -> crate::StoreResult<SeededToken> {
    use tessera_core::format;
    use tessera_core::ids::{new_id, IdKind};

    let now = time::OffsetDateTime::now_utc();
    let user = store
        .create_user(&crate::NewUser {
            id: new_id(IdKind::User),
            username: format!("seeded-{}", tessera_core::base62::random(8).to_lowercase()),
            display_name: "Seeded".into(),
            // Not a hash of any password: this user never signs in.
            password_hash: "!".into(),
            is_admin: false,
            created_at: now,
        })
        .await?;
    let id = new_id(IdKind::Token);
    let token = format::generate(&kind.shape(), &id);
    let plaintext = token.expose().to_owned();
    let record = store
        .insert_token(
            &crate::NewToken {
                id,
                kind: kind.name.clone(),
                user_id: Some(user.id.clone()),
                workspace_id: None,
                name: "seeded".into(),
                display_prefix: format::display_prefix(&plaintext, kind.display_prefix_len),
                last4: format::last4(&plaintext),
                permissions: None,
                role: None,
                created_at: now,
                created_by: Some(user.id.clone()),
                expires_at: None,
                hash: hasher.hash(&plaintext),
            },
            None,
        )
        .await?;
    Ok(SeededToken {
        user_id: user.id,
        token_id: record.id,
        plaintext,
    })
}
