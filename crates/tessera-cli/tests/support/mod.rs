//! Shared by the end-to-end test files (`cli.rs`, `nginx.rs`, and the
//! embedded verifier's `examples/embedded-verifier/tests/`): run the real
//! `tessera` binary, `tessera serve` on a free port in a temporary folder, and
//! one-shot HTTP requests. Each test file uses only part of it.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `tessera` binary: cargo names it to this package's tests; another
/// package's tests find it where `cargo test --workspace` builds it, beside
/// their own binaries.
pub fn bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_tessera") {
        return PathBuf::from(path);
    }
    let test_binary = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/tessera
    let beside = test_binary
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from a cargo target folder")
        .join("tessera");
    assert!(
        beside.exists(),
        "no tessera binary at {}: run `cargo build -p tessera-cli` first, or `cargo test --workspace`",
        beside.display()
    );
    beside
}

/// `tessera` in `dir`, with none of the caller's `TESSERA_*` variables.
pub fn tessera(dir: &Path) -> Command {
    let mut command = Command::new(bin());
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TESSERA_LOG", "warn");
    command
}

/// The SQLite file of a test's folder.
pub fn database_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("tessera.db").display())
}

/// `tessera ARGS` on the folder's database.
pub fn tessera_on(dir: &Path, args: &[&str]) -> Output {
    tessera(dir)
        .args(args)
        .env("TESSERA_DATABASE_URL", database_url(dir))
        .output()
        .expect("tessera runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its standard output.
pub fn succeeds(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// A running `tessera serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    /// What it printed before the "listening" line (the first-start notes).
    pub preamble: Vec<String>,
}

impl Server {
    /// Starts `tessera serve` in `dir` on a free port and waits until it
    /// says where it listens.
    pub fn start(dir: &Path, envs: &[(&str, &str)]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, Ordering::SeqCst);
        let log = File::create(dir.join(format!("serve-{n}.log"))).expect("log file");
        let mut child = tessera(dir)
            .arg("serve")
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .env("TESSERA_DATABASE_URL", database_url(dir))
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("tessera serve starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut preamble = Vec::new();
        let mut server = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join(format!("serve-{n}.log")));
                panic!("tessera serve did not say where it listens: {preamble:?}\n{log:?}");
            };
            if let Some(rest) = line.strip_prefix("Tessera listening on http://") {
                let address = rest.split_whitespace().next().expect("address");
                assert!(rest.contains("(store: "), "{line}");
                break Server {
                    child,
                    base: format!("http://{address}"),
                    preamble: Vec::new(),
                };
            }
            preamble.push(line);
        };
        server.preamble = preamble;
        // Keep draining standard output so that the server never blocks on it.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits (a few seconds at most) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP request; returns the status and the JSON body (`Null` if none).
pub fn http(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.request(method.parse().expect("method"), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    })
}

/// Runs a campaign script of `tests/campaigns/` (Python, standard library)
/// against this build's `tessera` on a free port, with `args` after
/// `--bin` and `--port`; panics with its output unless it exits 0 and
/// prints `expected`. Returns what it printed.
pub fn campaign(script: &str, args: &[&str], expected: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/campaigns")
        .join(script);
    let output = Command::new("python3")
        .arg(path)
        .arg("--bin")
        .arg(bin())
        .args(["--port", &port.to_string()])
        .args(args)
        .env_remove("TESSERA_CONFIG")
        .output()
        .expect("python3 runs the campaign");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{printed}");
    assert!(
        output.status.success() && printed.contains(expected),
        "{script} broke an invariant:\n{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}
