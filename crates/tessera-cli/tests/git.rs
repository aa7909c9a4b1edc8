//! The shipped git example (`examples/gateways/nginx/git.conf`) run for
//! real: a real `git clone` over HTTP, a personal access token as the Basic
//! password, through Debian's nginx asking a real `tessera serve` with
//! `auth_request`, in front of `git http-backend` under fcgiwrap. The test
//! substitutes the example's five placeholders and nothing else.
//!
//! Needs nginx, fcgiwrap and git (`apt-get install nginx fcgiwrap git`;
//! `.ci/run` installs them). Without them the test prints a skip line and
//! passes, except under `CI=true`, where it fails.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use support::{http, succeeds, tessera_on, Server};

const NGINX: &str = "/usr/sbin/nginx";
const FCGIWRAP: &str = "/usr/sbin/fcgiwrap";
const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/gateways/nginx/git.conf"
);

/// nginx, fcgiwrap and git, or `None` (after a skip line) on a machine
/// without one of them. Under CI a missing one is a failure, never a skip.
fn tools() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let backend = Command::new("git")
        .arg("--exec-path")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join("git-http-backend"));
    let missing: Vec<&str> = [
        (NGINX, Path::new(NGINX).exists()),
        (FCGIWRAP, Path::new(FCGIWRAP).exists()),
        (
            "git and git-http-backend",
            backend.as_ref().is_some_and(|b| b.exists()),
        ),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return Some((NGINX.into(), FCGIWRAP.into(), backend.expect("checked")));
    }
    let ci = std::env::var("CI").unwrap_or_default();
    if !ci.is_empty() && ci != "false" && ci != "0" {
        panic!(
            "{missing:?} missing and CI={ci}: the git gateway test must run (.ci/run installs nginx, fcgiwrap and git)"
        );
    }
    eprintln!("skipped: {missing:?} not installed (apt-get install nginx fcgiwrap git); under CI=true this fails");
    None
}

/// A child process killed (and reaped) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} not ready within 10 s:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The shipped example with its six placeholders replaced.
fn example_config(
    tessera: &str,
    port: u16,
    socket: &Path,
    root: &Path,
    backend: &Path,
    verifier: &str,
) -> String {
    let mut config = std::fs::read_to_string(EXAMPLE)
        .unwrap_or_else(|e| panic!("the shipped git example {EXAMPLE} must exist: {e}"));
    for (placeholder, value) in [
        ("server 127.0.0.1:7400;", format!("server {tessera};")),
        ("listen 80;", format!("listen 127.0.0.1:{port};")),
        (
            "fastcgi_pass unix:/run/fcgiwrap.socket;",
            format!("fastcgi_pass unix:{};", socket.display()),
        ),
        (
            "GIT_PROJECT_ROOT  /srv/git;",
            format!("GIT_PROJECT_ROOT  {};", root.display()),
        ),
        (
            "/usr/lib/git-core/git-http-backend;",
            format!("{};", backend.display()),
        ),
        (
            "Tessera-Verifier \"tsr_vfr_REPLACE_ME\";",
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

/// nginx in the foreground, one process, every path in `dir`.
fn start_nginx(binary: &Path, dir: &Path, site: impl Fn(u16) -> String) -> (Running, u16) {
    std::fs::create_dir_all(dir).expect("nginx folder");
    let d = dir.display();
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        std::fs::write(dir.join("git.conf"), site(port)).expect("git.conf");
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "master_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n access_log {d}/access.log;\n client_body_temp_path {d}/client_body;\n\
                 proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/git.conf;\n}}\n"
            ),
        )
        .expect("nginx.conf");
        let child = Command::new(binary)
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
        let mut nginx = Running(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (nginx, port);
            }
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            if let Some(status) = nginx.0.try_wait().expect("wait") {
                if log.contains("Address already in use") {
                    break;
                }
                panic!("nginx exited ({status}) before listening:\n{log}");
            }
            assert!(Instant::now() < deadline, "nginx did not listen:\n{log}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("nginx found no free port in five tries");
}

/// git with no system or user configuration, no credential helper and no
/// prompt: what is tested is the URL's credentials alone.
fn git(home: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(["-c", "credential.helper=", "-c", "protocol.version=2"])
        .args(args)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env_remove("SSH_ASKPASS")
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .stdin(Stdio::null())
        .output()
        .expect("git runs")
}

fn git_ok(home: &Path, args: &[&str]) {
    let out = git(home, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repository `project.git` under `root` with one commit of `README`.
fn make_repository(home: &Path, root: &Path) {
    let work = home.join("work");
    std::fs::create_dir_all(&work).expect("work tree");
    let w = work.to_str().expect("utf-8 path");
    git_ok(home, &["init", "-q", "-b", "main", w]);
    std::fs::write(work.join("README"), "cloned through Tessera\n").expect("README");
    git_ok(home, &["-C", w, "add", "README"]);
    git_ok(
        home,
        &[
            "-C",
            w,
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    let bare = root.join("project.git");
    git_ok(
        home,
        &[
            "clone",
            "-q",
            "--bare",
            w,
            bare.to_str().expect("utf-8 path"),
        ],
    );
}

#[test]
fn git_clones_with_a_pat_as_the_basic_password_and_not_after_revocation() {
    let Some((nginx, fcgiwrap, backend)) = tools() else {
        return;
    };
    let dir = TempDir::new().expect("temporary folder");
    let d = dir.path();
    let home = d.join("home");
    let root = d.join("repositories");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&root).expect("repositories");
    make_repository(&home, &root);

    let json_of = |args: &[&str]| -> Value {
        serde_json::from_str(&succeeds(tessera_on(d, args))).expect("JSON output")
    };
    json_of(&[
        "admin",
        "user",
        "add",
        "alice",
        "--password",
        "a password for the git test",
        "--json",
    ]);
    let pat = succeeds(tessera_on(
        d,
        &[
            "admin", "token", "issue", "--user", "alice", "--name", "git",
        ],
    ))
    .trim()
    .to_owned();
    let verifier = json_of(&["admin", "verifier", "add", "git", "--json"])["secret"]
        .as_str()
        .expect("the gateway's verifier secret")
        .to_owned();
    let tessera = Server::start(d, &[]);

    let socket = d.join("fcgiwrap.sock");
    let _fcgiwrap = Running(
        Command::new(fcgiwrap)
            .arg("-s")
            .arg(format!("unix:{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fcgiwrap starts"),
    );
    wait_for("fcgiwrap", || socket.exists(), String::new);

    let address = tessera
        .base
        .strip_prefix("http://")
        .expect("http base")
        .to_owned();
    let nginx_dir = d.join("nginx");
    let (_nginx, port) = start_nginx(&nginx, &nginx_dir, |port| {
        example_config(&address, port, &socket, &root, &backend, &verifier)
    });
    let nginx_log = || std::fs::read_to_string(nginx_dir.join("error.log")).unwrap_or_default();
    let url = |credentials: &str| format!("http://{credentials}127.0.0.1:{port}/project.git");
    let clone = |credentials: &str, into: &str| {
        let target = d.join(into);
        (
            git(
                &home,
                &["clone", "-q", &url(credentials), target.to_str().unwrap()],
            ),
            target,
        )
    };

    // The PAT as the password, any username: the clone succeeds.
    let (out, target) = clone(&format!("x-token:{pat}@"), "clone");
    assert!(
        out.status.success(),
        "git clone failed: {}\nnginx: {}",
        String::from_utf8_lossy(&out.stderr),
        nginx_log()
    );
    assert_eq!(
        std::fs::read_to_string(target.join("README")).expect("the clone has the file"),
        "cloned through Tessera\n"
    );
    // And a fetch in the clone, with the credentials it remembered in its URL.
    git_ok(&home, &["-C", target.to_str().unwrap(), "fetch", "-q"]);

    // No credentials, a made-up token, or the token as the username: refused.
    for (credentials, into) in [
        ("", "anonymous"),
        ("x-token:tsr_pat_made_up_0000000000000000000000@", "made-up"),
        (&format!("{pat}:@") as &str, "as-username"),
    ] {
        let (out, target) = clone(credentials, into);
        assert!(
            !out.status.success(),
            "{into}: a clone without a good token succeeded"
        );
        assert!(!target.join("README").exists(), "{into}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("401")
                || stderr.contains("Authentication failed")
                || stderr.contains("could not read"),
            "{into}: {stderr}"
        );
    }

    // Revoked (by the token itself, over the API): the next clone fails.
    let (status, answer) = http(
        "DELETE",
        &tessera.url("/api/v1/tokens/self"),
        Some(&pat),
        None,
    );
    assert_eq!(status, 204, "{answer}");
    let (out, target) = clone(&format!("x-token:{pat}@"), "after-revocation");
    assert!(
        !out.status.success(),
        "a clone with a revoked token succeeded"
    );
    assert!(!target.join("README").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Authentication failed") || stderr.contains("401"),
        "{stderr}"
    );
}
