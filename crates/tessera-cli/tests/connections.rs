//! Idle and slow-header clients cannot take `tessera serve` down: real
//! sockets against the real binary, with a small `[server]` bound and short
//! timeouts so that the test stays fast.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{succeeds, tessera_on, Server};

const MAX_CONNECTIONS: usize = 16;
const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(1500);

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// One request on a fresh connection, closed after it: the status, the
/// body, and how long the answer took.
fn request(server: &Server, head: &str, body: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address(server)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let text = format!(
        "{head}\r\nHost: tessera\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body, started.elapsed())
}

/// Whether the server has closed `stream` (end of file or reset) rather
/// than kept it waiting.
fn closed_by_server(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let mut reader = stream;
    match reader.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

fn issue_token(dir: &Path) -> String {
    let out = succeeds(tessera_on(
        dir,
        &[
            "admin", "token", "issue", "--user", "admin", "--name", "flood",
        ],
    ));
    out.trim().to_owned()
}

fn add_verifier(dir: &Path) -> String {
    let out = succeeds(tessera_on(
        dir,
        &["admin", "verifier", "add", "gateway", "--json"],
    ));
    let created: Value = serde_json::from_str(&out).expect("JSON");
    created["secret"].as_str().expect("secret").to_owned()
}

#[test]
fn idle_and_slow_header_clients_beyond_the_bound_leave_room_for_real_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let max = MAX_CONNECTIONS.to_string();
    let server = Server::start(
        dir.path(),
        &[
            ("TESSERA_ADMIN_PASSWORD", "correct horse battery"),
            ("TESSERA_SERVER__MAX_CONNECTIONS", &max),
            ("TESSERA_SERVER__HEADER_READ_TIMEOUT", "1500ms"),
            ("TESSERA_SERVER__IDLE_TIMEOUT", "30s"),
        ],
    );
    let token = issue_token(dir.path());
    let verifier = add_verifier(dir.path());

    // Three times the bound of idle connections, then as many slow-header
    // ones, each having sent part of a request head and nothing more.
    let idle: Vec<TcpStream> = (0..3 * MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(address(&server)).expect("connect"))
        .collect();
    let flood_started = Instant::now();
    let slow: Vec<TcpStream> = (0..3 * MAX_CONNECTIONS)
        .map(|_| {
            let mut stream = TcpStream::connect(address(&server)).expect("connect");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\nX-Slow: ")
                .expect("send part of a head");
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));

    // Legitimate requests still answer at once, while the flood is open.
    for _ in 0..5 {
        let (status, _, took) = request(&server, "GET /healthz HTTP/1.1", "");
        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(700), "healthz took {took:?}");
    }
    let question = format!(r#"{{"token":"{token}"}}"#);
    let head = format!(
        "POST /api/v1/verify HTTP/1.1\r\nTessera-Verifier: {verifier}\r\nContent-Type: application/json"
    );
    let (status, body, took) = request(&server, &head, &question);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""valid":true"#), "{body}");
    assert!(took < Duration::from_millis(700), "verify took {took:?}");
    assert!(
        flood_started.elapsed() < HEADER_READ_TIMEOUT,
        "the checks above must run while the flood is still open"
    );

    // No more than the bound is held open: the rest were closed for newcomers.
    let still_open = idle
        .iter()
        .chain(slow.iter())
        .filter(|s| !closed_by_server(s))
        .count();
    assert!(
        still_open <= MAX_CONNECTIONS,
        "{still_open} flood connections open, bound {MAX_CONNECTIONS}"
    );
    assert!(still_open > 0, "the newest flood connections are kept");

    // Past the header-read timeout, every slow-header and idle connection
    // is closed; none before it unless it made room for a newcomer. A
    // connection still in the listen queue when the others close is timed
    // from its own accept: allow two timeouts, and slack for a loaded CI
    // machine (the run this was widened for closed the last one at 3.5 s).
    let deadline = flood_started + 2 * HEADER_READ_TIMEOUT + Duration::from_secs(3);
    loop {
        let open = idle
            .iter()
            .chain(slow.iter())
            .filter(|s| !closed_by_server(s))
            .count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still open {:?} after the flood began",
            flood_started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(flood_started.elapsed() >= HEADER_READ_TIMEOUT - Duration::from_millis(200));

    let (status, _, _) = request(&server, "GET /healthz HTTP/1.1", "");
    assert_eq!(status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(
        dir.path(),
        &[
            ("TESSERA_ADMIN_PASSWORD", "correct horse battery"),
            ("TESSERA_SERVER__HEADER_READ_TIMEOUT", "30s"),
            ("TESSERA_SERVER__IDLE_TIMEOUT", "700ms"),
        ],
    );
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: tessera\r\n\r\n")
        .expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).expect("an answer");
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
    let answered = Instant::now();
    // Kept alive, then nothing: the server closes it after the idle timeout.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = answered.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}
