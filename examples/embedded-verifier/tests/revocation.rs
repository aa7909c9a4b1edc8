//! The embedded verifier, as real processes: `tessera serve` and a product
//! process running `embedded-verifier answer` on the same database. The
//! product gets the same answers as `POST /api/v1/verify`, and a token
//! revoked on the server is refused by the product within a second, on
//! SQLite and on PostgreSQL.

#[path = "../../../crates/tessera-cli/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::{http, succeeds, tessera, Server};
use tessera_core::kind::CredentialKind;
use tessera_store::test_support::{fresh, Backend};

const EMBEDDED: &str = env!("CARGO_BIN_EXE_embedded-verifier");

/// The product's process, asked one verify question at a time.
struct Embedded {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Embedded {
    fn start(dir: &Path, envs: &[(&str, &str)]) -> Embedded {
        let mut child = Command::new(EMBEDDED)
            .arg("answer")
            .current_dir(dir)
            .env_clear()
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the embedded verifier starts");
        let stdin = child.stdin.take().expect("stdin");
        let out = child.stdout.take().expect("stdout");
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Embedded {
            child,
            stdin,
            answers,
        }
    }

    fn ask(&mut self, question: &Value) -> Value {
        writeln!(self.stdin, "{question}").expect("the embedded verifier reads");
        let line = self
            .answers
            .recv_timeout(Duration::from_secs(10))
            .expect("the embedded verifier answers");
        serde_json::from_str(&line).expect("a JSON answer")
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn revocation_reaches_the_embedded_verifier(database_url: &str) {
    let dir = tempfile::tempdir().expect("a folder");
    let envs = [
        ("TESSERA_DATABASE_URL", database_url),
        ("TESSERA_REVEAL_FAILURE_REASONS", "true"),
    ];
    let server = Server::start(dir.path(), &envs);
    let issue = |name: &str| {
        let output = tessera(dir.path())
            .args(["admin", "token", "issue", "--user", "admin", "--name", name])
            .envs(envs)
            .output()
            .expect("tessera runs");
        succeeds(output).trim().to_owned()
    };
    let token = issue("product");
    let other = issue("other");
    // The server answers verify only to a verifier (Bearer on that surface);
    // the embedded verifier is the product itself and needs none.
    let verifier = {
        let output = tessera(dir.path())
            .args(["admin", "verifier", "add", "comparison", "--json"])
            .envs(envs)
            .output()
            .expect("tessera runs");
        let created: serde_json::Value =
            serde_json::from_str(&succeeds(output)).expect("JSON output");
        created["secret"].as_str().expect("a secret").to_owned()
    };
    let never_issued =
        tessera_core::format::generate(&CredentialKind::default_pat().shape(), "tok_x");

    let mut product = Embedded::start(dir.path(), &envs);
    let questions = [
        json!({ "token": token }),
        json!({ "token": token, "permissions": ["api:read"] }),
        json!({ "token": token, "permissions": ["no:such"] }),
        json!({ "token": token, "workspace_id": "wsp_none" }),
        json!({ "token": never_issued.expose() }),
        json!({ "token": "garbage" }),
        json!({ "token": other }),
    ];
    for question in &questions {
        let (status, served) = http(
            "POST",
            &server.url("/api/v1/verify"),
            Some(&verifier),
            Some(question.clone()),
        );
        assert_eq!(status, 200, "{served}");
        assert_eq!(product.ask(question), served, "asked {question}");
    }

    // Both answer from their caches now; the server revokes the token.
    assert_eq!(product.ask(&questions[0])["valid"], true);
    let (status, _) = http(
        "DELETE",
        &server.url("/api/v1/tokens/self"),
        Some(&token),
        None,
    );
    assert_eq!(status, 204);
    let revoked_at = Instant::now();
    let refused = loop {
        let answer = product.ask(&questions[0]);
        if answer["valid"] == false {
            break answer;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "the embedded verifier still accepts a token revoked {:?} ago",
            revoked_at.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("refused {:?} after the revocation", revoked_at.elapsed());
    assert_eq!(refused["code"], "token_revoked");
    // The other token is untouched.
    assert_eq!(product.ask(&json!({ "token": other }))["valid"], true);
}

#[test]
fn on_sqlite_a_revocation_reaches_the_embedded_verifier_within_a_second() {
    let dir = tempfile::tempdir().expect("a folder");
    let url = format!("sqlite:{}", dir.path().join("shared.db").display());
    revocation_reaches_the_embedded_verifier(&url);
}

#[test]
fn on_postgres_a_revocation_reaches_the_embedded_verifier_within_a_second() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(database) = runtime.block_on(fresh(Backend::Postgres)) else {
        return;
    };
    let tessera_store::DatabaseUrl::Postgres { url } = database.url() else {
        unreachable!("a PostgreSQL test database")
    };
    let url = url.to_string();
    revocation_reaches_the_embedded_verifier(&url);
}
