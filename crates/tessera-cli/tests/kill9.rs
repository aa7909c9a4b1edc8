//! The short version of the kill -9 campaign (`tests/campaigns/kill9.py`):
//! a real `tessera serve` under concurrent creates, rotations, revocations,
//! suspensions and downgrades, killed with SIGKILL and restarted, then every
//! acknowledged write checked. A handful of cycles per store here; the
//! campaign's README gives the long runs.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn campaign(extra: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/campaigns/kill9.py");
    let output = Command::new("python3")
        .arg(script)
        .arg("--bin")
        .arg(support::bin())
        .args(["--port", &free_port().to_string()])
        .args(["--max-run", "0.8"])
        .args(extra)
        .env_remove("TESSERA_CONFIG")
        .output()
        .expect("python3 runs the campaign");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the campaign found lost or resurrected writes:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(", 0 lost, 0 resurrected"), "{stdout}");
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_sqlite() {
    campaign(&["--cycles", "6"]);
}

#[test]
fn sigkill_loses_no_acknowledged_write_on_postgres() {
    if std::env::var("TESSERA_TEST_POSTGRES").is_ok_and(|v| v == "skip") {
        println!("skipped: TESSERA_TEST_POSTGRES=skip");
        return;
    }
    let admin = std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    let database = format!("{base}/tessera_kill9_{}", std::process::id());
    campaign(&["--cycles", "3", "--database", &database]);
}
