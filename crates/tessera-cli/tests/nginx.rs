//! The shipped nginx example (`examples/gateways/nginx/tessera.conf`) run for
//! real: Debian's nginx in front of a test upstream, asking a real
//! `tessera serve` through `auth_request`. The test substitutes the example's
//! three placeholder addresses and nothing else, so what is tested is what
//! is shipped.
//!
//! Needs `/usr/sbin/nginx` (`apt-get install nginx`; `.ci/run` installs it).
//! Without it the tests print a skip line and pass, except under `CI=true`,
//! where they fail.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use support::{http, succeeds, tessera_on, Server};

const NGINX: &str = "/usr/sbin/nginx";
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/gateways/nginx/tessera.conf"
);
/// The example's placeholders, each present exactly once.
const TESSERA_PLACEHOLDER: &str = "server 127.0.0.1:7400;";
const UPSTREAM_PLACEHOLDER: &str = "server 127.0.0.1:8080;";
const LISTEN_PLACEHOLDER: &str = "listen 80;";
const VERIFIER_PLACEHOLDER: &str = "Tessera-Verifier \"tsr_vfr_REPLACE_ME\";";

// ---------------------------------------------------------------- nginx

/// Debian's nginx, or `None` (after a skip line) on a machine without it.
/// Under CI a missing nginx is a failure, never a skip.
fn nginx_binary() -> Option<&'static Path> {
    let path = Path::new(NGINX);
    if path.exists() {
        return Some(path);
    }
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!("{NGINX} is missing and CI={ci}: the nginx gateway tests must run (.ci/run installs nginx)");
    }
    eprintln!(
        "skipped: {NGINX} is not installed (apt-get install nginx); under CI=true this fails"
    );
    None
}

/// The shipped example with its three addresses and its verifier replaced.
fn example_config(tessera: &str, upstream: &str, port: u16, verifier: &str) -> String {
    let example = std::fs::read_to_string(EXAMPLE)
        .unwrap_or_else(|e| panic!("the shipped nginx example {EXAMPLE} must exist: {e}"));
    let mut config = example;
    for (placeholder, value) in [
        (TESSERA_PLACEHOLDER, format!("server {tessera};")),
        (UPSTREAM_PLACEHOLDER, format!("server {upstream};")),
        (LISTEN_PLACEHOLDER, format!("listen 127.0.0.1:{port};")),
        (
            VERIFIER_PLACEHOLDER,
            format!("Tessera-Verifier \"{verifier}\";"),
        ),
    ] {
        assert_eq!(
            config.matches(placeholder).count(),
            1,
            "the example must contain `{placeholder}` exactly once (the test substitutes it)"
        );
        config = config.replace(placeholder, &value);
    }
    config
}

/// A free port on 127.0.0.1 (free a moment ago: nginx binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// nginx in the foreground, one process (`master_process off`: nothing is
/// left behind when it is killed), every path in its own temporary folder,
/// nothing under /etc/nginx or /var. Killed when dropped.
struct Nginx {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Nginx {
    fn start(binary: &Path, dir: &Path, tessera: &str, upstream: &str, verifier: &str) -> Nginx {
        std::fs::create_dir_all(dir).expect("nginx folder");
        // A port freed by `free_port` can be taken before nginx binds it:
        // then try another.
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(
                dir.join("tessera.conf"),
                example_config(tessera, upstream, port, verifier),
            )
            .expect("write tessera.conf");
            let d = dir.display();
            std::fs::write(
                dir.join("nginx.conf"),
                format!(
                    "master_process off;\n\
                     pid {d}/nginx.pid;\n\
                     error_log {d}/error.log warn;\n\
                     events {{ worker_connections 64; }}\n\
                     http {{\n\
                     \x20   access_log {d}/access.log;\n\
                     \x20   client_body_temp_path {d}/client_body;\n\
                     \x20   proxy_temp_path {d}/proxy;\n\
                     \x20   fastcgi_temp_path {d}/fastcgi;\n\
                     \x20   uwsgi_temp_path {d}/uwsgi;\n\
                     \x20   scgi_temp_path {d}/scgi;\n\
                     \x20   include {d}/tessera.conf;\n\
                     }}\n"
                ),
            )
            .expect("write nginx.conf");
            let mut child = Command::new(binary)
                .arg("-p")
                .arg(format!("{d}/"))
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("error.log"))
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx {
                        child,
                        base: format!("http://127.0.0.1:{port}"),
                        dir: dir.to_owned(),
                    };
                }
                if let Some(status) = child.try_wait().expect("wait") {
                    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                    if log.contains("Address already in use") {
                        break;
                    }
                    panic!("nginx exited ({status}) before listening:\n{log}");
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "nginx did not listen on {port} within 10 s:\n{}",
                        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("nginx found no free port in five tries");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- upstream

/// The application behind nginx: answers every request 200 with a JSON echo
/// of its method, path and the `X-Tessera-*` and `Authorization` headers it
/// received (every value, so a duplicate would show), and counts requests.
struct Upstream {
    address: String,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("upstream binds");
        let address = listener.local_addr().expect("address").to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        // The thread ends with the test process; nginx is gone before then.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || Upstream::answer(stream, &counter));
            }
        });
        Upstream { address, hits }
    }

    fn answer(stream: TcpStream, hits: &AtomicUsize) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(&stream);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut echoed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_owned();
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            }
            if name.starts_with("x-tessera-") || name == "authorization" {
                echoed.entry(name).or_default().push(value);
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        hits.fetch_add(1, Ordering::SeqCst);
        let echo = json!({ "method": method, "path": path, "headers": echoed }).to_string();
        let mut stream = &stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{echo}",
            echo.len()
        );
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------- client

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    /// The one value of a header (`None` if absent; two values fail).
    fn header(&self, name: &str) -> Option<&str> {
        assert!(
            self.headers.get_all(name).iter().count() <= 1,
            "{name} more than once: {:?}",
            self.headers
        );
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// What the upstream saw under `name` (lower case): every value.
    fn seen(&self, name: &str) -> Vec<String> {
        self.json["headers"][name]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// GET with exactly the given headers.
fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("nginx answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    })
}

/// A request sent byte for byte (no client-side path normalisation, as an
/// attacker would): returns the status and the body.
fn raw_get(base: &str, target: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let address = base.strip_prefix("http://").expect("http base");
    let mut stream = TcpStream::connect(address).expect("nginx accepts");
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------- fixture

/// Tessera, the upstream and nginx running the shipped example, with a
/// workspace "Acme" where `viewer` is a viewer and `member` a member.
struct Gateway {
    // Declared first so that nginx stops before the rest.
    nginx: Nginx,
    tessera: Server,
    upstream: Upstream,
    /// The gateway's verifier credential (its secret is in nginx's config).
    verifier_id: String,
    verifier: String,
    workspace: String,
    viewer_id: String,
    viewer: String,
    member_id: String,
    member: String,
    dir: TempDir,
}

impl Gateway {
    /// `tessera_toml`: the server's configuration file, if any.
    fn start(nginx: &Path, tessera_toml: Option<&str>) -> Gateway {
        let dir = TempDir::new().expect("temporary folder");
        let d = dir.path();
        if let Some(toml) = tessera_toml {
            std::fs::write(d.join("tessera.toml"), toml).expect("tessera.toml");
        }
        let json_of = |args: &[&str]| -> Value {
            serde_json::from_str(&succeeds(tessera_on(d, args))).expect("JSON output")
        };
        let user = |name: &str| {
            json_of(&[
                "admin",
                "user",
                "add",
                name,
                "--password",
                "a password for the gateway tests",
                "--json",
            ])["id"]
                .as_str()
                .expect("user id")
                .to_owned()
        };
        let viewer_id = user("viewer");
        let member_id = user("member");
        let workspace = json_of(&["admin", "workspace", "add", "Acme", "--json"])["id"]
            .as_str()
            .expect("workspace id")
            .to_owned();
        let token = |name: &str, role: &str| {
            succeeds(tessera_on(
                d,
                &["admin", "member", "set", &workspace, name, role],
            ));
            succeeds(tessera_on(
                d,
                &["admin", "token", "issue", "--user", name, "--name", "gw"],
            ))
            .trim()
            .to_owned()
        };
        let viewer = token("viewer", "viewer");
        let member = token("member", "member");
        let verifier = json_of(&["admin", "verifier", "add", "nginx", "--json"]);
        let verifier_id = verifier["id"].as_str().expect("verifier id").to_owned();
        let verifier = verifier["secret"]
            .as_str()
            .expect("verifier secret")
            .to_owned();
        let tessera = Server::start(d, &[("TESSERA_TOKEN_COOKIE", "session")]);
        let upstream = Upstream::start();
        let address = tessera
            .base
            .strip_prefix("http://")
            .expect("http base")
            .to_owned();
        let nginx = Nginx::start(
            nginx,
            &d.join("nginx"),
            &address,
            &upstream.address,
            &verifier,
        );
        Gateway {
            verifier_id,
            verifier,
            nginx,
            tessera,
            upstream,
            workspace,
            viewer_id,
            viewer,
            member_id,
            member,
            dir,
        }
    }

    /// GET through nginx.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        get(&self.nginx.url(path), headers)
    }

    /// A fresh token of `owner` (a token of that user), through the API.
    fn create_token(&self, owner: &str, body: Value) -> String {
        let (status, created) = http(
            "POST",
            &self.tessera.url("/api/v1/tokens"),
            Some(owner),
            Some(body),
        );
        assert_eq!(status, 201, "{created}");
        created["token"].as_str().expect("secret").to_owned()
    }
}

// ---------------------------------------------------------------- stories

#[test]
fn a_valid_token_reaches_the_upstream_with_tesseras_identity_and_never_a_forged_one() {
    let Some(nginx) = nginx_binary() else { return };
    let gw = Gateway::start(nginx, None);
    let auth = bearer(&gw.member);

    // On every protected route, forged identity headers (in two letter
    // cases) are replaced by Tessera's.
    for (n, path) in ["/api/items?page=2", "/api/admin/users", "/profile"]
        .into_iter()
        .enumerate()
    {
        let reply = gw.get(
            path,
            &[
                ("Authorization", &auth),
                ("X-Workspace-Id", &gw.workspace),
                ("X-Tessera-User-Id", "usr_forged"),
                ("x-tessera-workspace-id", "wsp_forged"),
                ("X-Tessera-Permissions", "api:write members:manage"),
                ("X-Tessera-Token-Id", "tok_forged"),
                ("X-Tessera-Token-Kind", "api_key"),
            ],
        );
        assert_eq!(
            reply.status,
            200,
            "{path}: {}\n{}",
            reply.text,
            gw.nginx.error_log()
        );
        assert_eq!(reply.json["path"], path);
        assert_eq!(
            reply.seen("x-tessera-user-id"),
            [gw.member_id.as_str()],
            "{path}"
        );
        assert_eq!(
            reply.seen("x-tessera-workspace-id"),
            [gw.workspace.as_str()],
            "{path}"
        );
        assert_eq!(reply.seen("x-tessera-token-kind"), ["pat"], "{path}");
        let token_id = reply.seen("x-tessera-token-id");
        assert_eq!(token_id.len(), 1, "{path}: {}", reply.text);
        assert!(token_id[0].starts_with("tok_"), "{path}: {}", reply.text);
        let permissions = reply.seen("x-tessera-permissions");
        assert_eq!(permissions.len(), 1, "{path}: {}", reply.text);
        let permissions: Vec<&str> = permissions[0].split(' ').collect();
        assert!(
            permissions.contains(&"api:read") && permissions.contains(&"api:write"),
            "{path}: {permissions:?}"
        );
        assert!(
            !permissions.contains(&"members:manage"),
            "{path}: {permissions:?}"
        );
        assert!(
            reply.seen("authorization").is_empty(),
            "{path}: the upstream gets the identity, not the secret: {}",
            reply.text
        );
        assert_eq!(gw.upstream.hits(), n + 1);
        // The client learns when its token expires, from Tessera's answer.
        let expires = reply.header("tessera-token-expires").unwrap_or_default();
        assert!(
            expires.starts_with("20") && expires.ends_with('Z'),
            "{path}: Tessera-Token-Expires {expires:?}"
        );
    }
    let forever = succeeds(tessera_on(
        gw.dir.path(),
        &[
            "admin",
            "token",
            "issue",
            "--user",
            "member",
            "--name",
            "forever",
            "--expires-in",
            "never",
        ],
    ))
    .trim()
    .to_owned();
    let reply = gw.get("/profile", &[("Authorization", &bearer(&forever))]);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("tessera-token-expires"),
        None,
        "a token that never expires"
    );
    let hits_after_expiry_checks = gw.upstream.hits();

    // The catch-all route needs any valid token and no workspace.
    let reply = gw.get(
        "/profile",
        &[
            ("Authorization", &bearer(&gw.viewer)),
            ("X-Tessera-User-Id", &gw.member_id),
        ],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.seen("x-tessera-user-id"), [gw.viewer_id.as_str()]);
    assert!(
        reply.seen("x-tessera-workspace-id").is_empty(),
        "{}",
        reply.text
    );

    // The token in the configured cookie works the same.
    let cookie = format!("theme=dark; session={}", gw.member);
    let reply = gw.get("/profile", &[("Cookie", &cookie)]);
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.seen("x-tessera-user-id"), [gw.member_id.as_str()]);

    // A public route needs no token, and no identity reaches the upstream there either.
    let reply = gw.get(
        "/healthz",
        &[
            ("X-Tessera-User-Id", &gw.member_id),
            ("X-Tessera-Permissions", "api:write"),
        ],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["headers"], json!({}), "{}", reply.text);
    assert_eq!(gw.upstream.hits(), hits_after_expiry_checks + 3);

    // The internal auth locations cannot be called from outside.
    for path in [
        "/_tessera_auth",
        "/_tessera_auth_api_write",
        "/_tessera_auth_x",
    ] {
        let reply = gw.get(path, &[("Authorization", &auth)]);
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
    }
    assert_eq!(gw.upstream.hits(), hits_after_expiry_checks + 3);
    assert!(
        !gw.nginx.error_log().contains("[warn]"),
        "{}",
        gw.nginx.error_log()
    );
}

#[test]
fn missing_malformed_revoked_and_expired_tokens_get_401_and_never_reach_the_upstream() {
    let Some(nginx) = nginx_binary() else { return };
    let gw = Gateway::start(nginx, None);

    // A token that expires in a second, and one to revoke: both pass at first.
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let expiring = gw.create_token(
        &gw.viewer,
        json!({
            "name": "brief",
            "expires_at": expires_at.format(&time::format_description::well_known::Rfc3339).unwrap(),
        }),
    );
    let reply = gw.get("/profile", &[("Authorization", &bearer(&expiring))]);
    assert_eq!(reply.status, 200, "before its expiry: {}", reply.text);
    let revoked = gw.create_token(&gw.viewer, json!({ "name": "to revoke" }));
    let reply = gw.get("/profile", &[("Authorization", &bearer(&revoked))]);
    assert_eq!(reply.status, 200, "before its revocation: {}", reply.text);
    let (status, _) = http(
        "DELETE",
        &gw.tessera.url("/api/v1/tokens/self"),
        Some(&revoked),
        None,
    );
    assert_eq!(status, 204);
    let before = gw.upstream.hits();
    assert_eq!(before, 2);

    // What Tessera itself answers, for comparison.
    let direct = get(
        &gw.tessera.url("/auth"),
        &[
            ("Authorization", "Bearer not-a-token"),
            ("Tessera-Verifier", &gw.verifier),
        ],
    );
    assert_eq!(direct.status, 401);
    assert_eq!(direct.json["error"]["code"], "token_invalid");
    let direct_missing = get(
        &gw.tessera.url("/auth"),
        &[("Tessera-Verifier", &gw.verifier)],
    );
    assert_eq!(direct_missing.status, 401);

    let routes = ["/profile", "/api/items", "/api/admin/users"];
    let workspace = gw.workspace.as_str();
    for route in routes {
        let reply = gw.get(route, &[("X-Workspace-Id", workspace)]);
        assert_eq!(reply.status, 401, "{route}: {}", reply.text);
        assert_eq!(
            reply.json["error"]["code"], "unauthenticated",
            "{}",
            reply.text
        );
        assert_eq!(
            reply.text, direct_missing.text,
            "the same body as Tessera's"
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert!(
            reply
                .header("content-type")
                .unwrap_or_default()
                .starts_with("application/json"),
            "{:?}",
            reply.headers
        );
    }

    let refused = |token: &str, what: &str| {
        for route in routes {
            let reply = gw.get(
                route,
                &[
                    ("Authorization", &bearer(token)),
                    ("X-Workspace-Id", workspace),
                ],
            );
            assert_eq!(reply.status, 401, "{what} on {route}: {}", reply.text);
            assert_eq!(
                reply.text, direct.text,
                "{what}: every token_invalid body is the same, and Tessera's"
            );
            assert_eq!(
                reply.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{what}"
            );
        }
    };
    refused("not-a-token", "malformed");
    refused(
        "tsr_pat_0000000000000000000000000000000000000000",
        "malformed",
    );
    refused(&revoked, "revoked");
    // Wait out the expiry (at most a second) rather than sleep blindly.
    let left = expires_at - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(50);
    if left.is_positive() {
        std::thread::sleep(left.unsigned_abs());
    }
    refused(&expiring, "expired");

    assert_eq!(
        gw.upstream.hits(),
        before,
        "no refused request reached the upstream"
    );
}

#[test]
fn a_route_needing_api_write_refuses_a_viewer_with_403_and_admits_a_member() {
    let Some(nginx) = nginx_binary() else { return };
    let gw = Gateway::start(nginx, None);
    let in_workspace = |token: &str| -> Vec<(String, String)> {
        vec![
            ("Authorization".into(), bearer(token)),
            ("X-Workspace-Id".into(), gw.workspace.clone()),
        ]
    };
    let send = |path: &str, headers: &[(String, String)]| {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        gw.get(path, &headers)
    };

    // The viewer may read but not write.
    let reply = send("/api/admin/users", &in_workspace(&gw.viewer));
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(
        reply.json["error"]["code"], "permission_denied",
        "{}",
        reply.text
    );
    assert!(
        reply
            .header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{:?}",
        reply.headers
    );
    assert_eq!(
        gw.upstream.hits(),
        0,
        "a refused request never reaches the upstream"
    );
    let direct = get(
        &gw.tessera.url("/auth?permission=api:write"),
        &[
            ("Authorization", &bearer(&gw.viewer)),
            ("X-Workspace-Id", &gw.workspace),
            ("Tessera-Verifier", &gw.verifier),
        ],
    );
    assert_eq!(direct.status, 403, "{}", direct.text);
    assert_eq!(direct.json["error"]["code"], "permission_denied");

    let reply = send("/api/items", &in_workspace(&gw.viewer));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.seen("x-tessera-user-id"), [gw.viewer_id.as_str()]);
    assert_eq!(reply.seen("x-tessera-permissions").len(), 1);
    assert!(!reply.seen("x-tessera-permissions")[0].contains("api:write"));

    // The member may write.
    let reply = send("/api/admin/users", &in_workspace(&gw.member));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["path"], "/api/admin/users");
    assert_eq!(reply.seen("x-tessera-user-id"), [gw.member_id.as_str()]);
    assert!(reply.seen("x-tessera-permissions")[0]
        .split(' ')
        .any(|p| p == "api:write"));
    assert_eq!(gw.upstream.hits(), 2);

    // The upstream gets the path nginx authorised, never the raw one: a
    // viewer's `/api/admin/../items` is checked as `/api/items` and must not
    // reach a router that does not resolve `..` as `/api/admin/...`.
    let (status, echo) = raw_get(
        &gw.nginx.base,
        "/api/admin/../items",
        &[
            ("Authorization", &bearer(&gw.viewer)),
            ("X-Workspace-Id", &gw.workspace),
        ],
    );
    assert_eq!(status, 200, "{echo}");
    assert_eq!(
        echo["path"], "/api/items",
        "the normalised path, as checked"
    );
    let (status, echo) = raw_get(
        &gw.nginx.base,
        "/api/items/../admin/users",
        &[
            ("Authorization", &bearer(&gw.viewer)),
            ("X-Workspace-Id", &gw.workspace),
        ],
    );
    assert_eq!(status, 403, "checked as /api/admin/users: {echo}");
    assert_eq!(gw.upstream.hits(), 3);

    // A workspace route without a workspace, or in someone else's: 403.
    let reply = gw.get("/api/items", &[("Authorization", &bearer(&gw.member))]);
    assert_eq!(reply.status, 403, "no workspace header: {}", reply.text);
    let other = succeeds(tessera_on(
        gw.dir.path(),
        &["admin", "workspace", "add", "Elsewhere", "--json"],
    ));
    let other: Value = serde_json::from_str(&other).unwrap();
    let reply = gw.get(
        "/api/admin/users",
        &[
            ("Authorization", &bearer(&gw.member)),
            ("X-Workspace-Id", other["id"].as_str().unwrap()),
        ],
    );
    assert_eq!(reply.status, 403, "not a member there: {}", reply.text);
    assert_eq!(gw.upstream.hits(), 3);
}

#[test]
fn a_gateway_whose_verifier_credential_is_refused_fails_closed_with_503() {
    let Some(nginx) = nginx_binary() else { return };
    let gw = Gateway::start(nginx, None);
    let auth = bearer(&gw.member);
    let reply = gw.get("/profile", &[("Authorization", &auth)]);
    assert_eq!(reply.status, 200, "{}", reply.text);
    succeeds(tessera_on(
        gw.dir.path(),
        &["admin", "verifier", "revoke", &gw.verifier_id],
    ));
    // The revocation reaches the running server through its change feed.
    let deadline = Instant::now() + Duration::from_secs(5);
    let reply = loop {
        let reply = gw.get("/profile", &[("Authorization", &auth)]);
        if reply.status != 200 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        reply.status,
        503,
        "{}\n{}",
        reply.text,
        gw.nginx.error_log()
    );
    assert_eq!(reply.json["error"]["code"], "unavailable", "{}", reply.text);
    assert!(reply.text.contains("verifier credential"), "{}", reply.text);
    let hits = gw.upstream.hits();
    let again = gw.get("/profile", &[("Authorization", &auth)]);
    assert_eq!(again.status, 503, "{}", again.text);
    assert_eq!(
        gw.upstream.hits(),
        hits,
        "refused requests never reach the upstream"
    );
}

#[test]
fn rate_limited_and_unreachable_tessera_keep_429_and_become_503_never_500() {
    let Some(nginx) = nginx_binary() else { return };
    let mut gw = Gateway::start(
        nginx,
        Some("[limits]\nrate_limit = { requests = 3, per = \"1h\" }\n"),
    );
    let auth = bearer(&gw.member);
    for _ in 0..3 {
        let reply = gw.get("/profile", &[("Authorization", &auth)]);
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let reply = gw.get("/profile", &[("Authorization", &auth)]);
    assert_eq!(
        reply.status,
        429,
        "{}\n{}",
        reply.text,
        gw.nginx.error_log()
    );
    assert_eq!(
        reply.json["error"]["code"], "rate_limited",
        "{}",
        reply.text
    );
    let retry: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After from Tessera: {:?}", reply.headers));
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert_eq!(gw.upstream.hits(), 3);

    // Tessera gone: fail closed with 503, not nginx's bare 500.
    assert_eq!(gw.tessera.terminate().code(), Some(0));
    let reply = gw.get("/profile", &[("Authorization", &bearer(&gw.viewer))]);
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["error"]["code"], "unavailable", "{}", reply.text);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert_eq!(gw.upstream.hits(), 3, "the upstream was never reached");
}
