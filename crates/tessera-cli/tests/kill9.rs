//! The short version of the kill -9 campaign (`tests/campaigns/kill9.py`):
//! a real `tessera serve` under concurrent creates, rotations, revocations,
//! suspensions and downgrades, killed with SIGKILL and restarted, then every
//! acknowledged write checked. A handful of cycles per store here; the
//! campaign's README gives the long runs.

mod support;

use tessera_store::test_support::{DEFAULT_POSTGRES_URL, POSTGRES_SKIP_VAR, POSTGRES_URL_VAR};

const NONE_BROKEN: &str = ", 0 lost, 0 resurrected";

#[test]
fn sigkill_loses_no_acknowledged_write_on_sqlite() {
    support::campaign(
        "kill9.py",
        &["--max-run", "0.8", "--cycles", "6"],
        NONE_BROKEN,
    );
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_postgres() {
    if std::env::var(POSTGRES_SKIP_VAR).is_ok_and(|v| v == "skip") {
        println!("skipped: {POSTGRES_SKIP_VAR}=skip");
        return;
    }
    let admin = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    // The script drops and makes this database itself, and drops it at the end.
    let database = format!("{base}/tessera_kill9_{}", std::process::id());
    support::campaign(
        "kill9.py",
        &["--max-run", "0.8", "--cycles", "3", "--database", &database],
        NONE_BROKEN,
    );
}
