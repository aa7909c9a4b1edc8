//! The short version of the canary campaign (`tests/campaigns/canaries.py`):
//! tokens of every kind, passwords and sessions used everywhere with logging
//! at `trace`, then no secret (nor any 8-character run of one) anywhere
//! Tessera wrote. The campaign's README gives the long run.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn no_secret_reaches_the_logs_the_database_or_any_later_answer() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/campaigns/canaries.py");
    let output = Command::new("python3")
        .arg(script)
        .arg("--bin")
        .arg(support::bin())
        .args(["--count", "15", "--port", &port.to_string()])
        .env_remove("TESSERA_CONFIG")
        .output()
        .expect("python3 runs the campaign");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "canaries found:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(" secrets, 0 found"), "{stdout}");
}
