//! End-to-end tests of the real `tessera` binary: `serve` in a temporary
//! working folder on its own SQLite file and port, the admin commands on the
//! same file, and the API client against the running server.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use support::{http, stderr, stdout, succeeds, tessera, tessera_on, Server};

const ADMIN_PASSWORD: &str = "a fine admin password";

// ---------------------------------------------------------------- helpers

fn sign_in(server: &Server, username: &str, password: &str) -> u16 {
    http(
        "POST",
        &server.url("/api/v1/session"),
        None,
        Some(json!({ "username": username, "password": password })),
    )
    .0
}

/// `tessera admin token issue --user USER`: the token, printed once.
fn issue_token(dir: &Path, user: &str) -> String {
    let out = succeeds(tessera_on(
        dir,
        &["admin", "token", "issue", "--user", user, "--name", "cli"],
    ));
    let token = out.trim().to_owned();
    assert_eq!(out.lines().count(), 1, "only the token on stdout: {out}");
    assert!(token.starts_with("tsr_pat_"), "{token}");
    token
}

/// The API client against `server` with `token`.
fn client(dir: &Path, server: &Server, token: &str, args: &[&str]) -> Output {
    tessera(dir)
        .args(args)
        .env("TESSERA_URL", &server.base)
        .env("TESSERA_TOKEN", token)
        .output()
        .expect("tessera runs")
}

/// `tessera admin verifier add NAME --json`: the verifier's id and secret.
fn add_verifier(dir: &Path, name: &str) -> (String, String) {
    let out = succeeds(tessera_on(
        dir,
        &["admin", "verifier", "add", name, "--json"],
    ));
    let created: Value = serde_json::from_str(&out).expect("JSON");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// `tessera verify` against `server`, asking with `verifier`.
fn verify_with(dir: &Path, server: &Server, verifier: &str, token: &str) -> Output {
    tessera(dir)
        .args(["verify", token])
        .env("TESSERA_URL", &server.base)
        .env("TESSERA_VERIFIER", verifier)
        .output()
        .expect("tessera runs")
}

/// The README's "The first start" steps, as the arguments they give
/// `cargo run --release -q --`.
const README_ISSUE: &[&str] = &[
    "admin",
    "token",
    "issue",
    "--user",
    "admin",
    "--name",
    "cli",
    "--expires-in",
    "90d",
];
const README_CREATE: &[&str] = &[
    "token",
    "create",
    "--name",
    "CI deploy",
    "--expires-in",
    "30d",
];

/// Fails unless the README runs `args` word for word, so that the test of
/// its steps and the page cannot drift apart.
fn assert_the_readme_runs(args: &[&str]) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    let line = format!("cargo run --release -q -- {}", words.join(" "));
    assert!(readme.contains(&line), "the README no longer runs: {line}");
}

/// Whole days from now until an RFC 3339 `expires_at`.
fn days_until(expires_at: &Value) -> f64 {
    let at = time::OffsetDateTime::parse(
        expires_at.as_str().expect("an expiry"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    (at - time::OffsetDateTime::now_utc()).as_seconds_f64() / 86_400.0
}

// ---------------------------------------------------------------- stories

#[test]
fn the_first_start_creates_the_admin_and_prints_a_generated_password_once() {
    let dir = TempDir::new().unwrap();
    let mut first = Server::start(dir.path(), &[]);
    let preamble = first.preamble.join("\n");
    assert!(
        preamble.contains("First start: created the admin user \"admin\"."),
        "{preamble}"
    );
    let password = first
        .preamble
        .iter()
        .find_map(|l| l.strip_prefix("Its password, shown this once: "))
        .expect("the generated password is printed")
        .trim()
        .to_owned();
    assert!(password.len() >= 16, "{password}");
    assert_eq!(sign_in(&first, "admin", &password), 200);
    assert_eq!(sign_in(&first, "admin", "not the password"), 401);
    assert_eq!(first.terminate().code(), Some(0));

    // The second start finds the admin and prints no password.
    let second = Server::start(dir.path(), &[]);
    assert!(second.preamble.is_empty(), "{:?}", second.preamble);
    assert_eq!(sign_in(&second, "admin", &password), 200);
    let users = succeeds(tessera_on(dir.path(), &["admin", "user", "list", "--json"]));
    let users: Value = serde_json::from_str(&users).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "one admin, not two");
}

#[test]
fn a_chosen_admin_password_signs_in_and_the_health_checks_answer() {
    let dir = TempDir::new().unwrap();
    let server = Server::start(dir.path(), &[("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let preamble = server.preamble.join("\n");
    assert!(preamble.contains("created the admin user"), "{preamble}");
    assert!(
        !preamble.contains(ADMIN_PASSWORD),
        "a chosen password is never echoed"
    );
    assert!(!preamble.contains("shown this once"));
    assert_eq!(sign_in(&server, "admin", ADMIN_PASSWORD), 200);
    assert_eq!(sign_in(&server, "admin", "something else"), 401);
    let (status, health) = http("GET", &server.url("/healthz"), None, None);
    assert_eq!(status, 200, "{health}");
    let (status, ready) = http("GET", &server.url("/readyz"), None, None);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["store"], "sqlite");
}

#[test]
fn the_readmes_first_steps_work_as_written_on_a_fresh_start() {
    assert_the_readme_runs(README_ISSUE);
    assert_the_readme_runs(README_CREATE);
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    // A fresh start, as the README's: no password chosen beforehand.
    let server = Server::start(d, &[]);
    assert!(
        server
            .preamble
            .iter()
            .any(|l| l.contains("tessera admin token issue --user admin --name cli")),
        "{:?}",
        server.preamble
    );

    let issued = tessera_on(d, README_ISSUE);
    let token = succeeds(issued.clone()).trim().to_owned();
    assert!(token.starts_with("tsr_pat_"), "{token}");
    let (status, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["username"], "admin");
    let cli_expiry = me["credential"]["expires_at"].as_str().unwrap().to_owned();
    assert!(
        stderr(&issued).contains(&format!("expires {cli_expiry}")),
        "the issuer is told the limit: {}",
        stderr(&issued)
    );

    let created = client(d, &server, &token, README_CREATE);
    let secret = succeeds(created.clone()).trim().to_owned();
    assert!(secret.starts_with("tsr_pat_"), "{secret}");
    let (status, ci) = http(
        "GET",
        &server.url("/api/v1/tokens/self"),
        Some(&secret),
        None,
    );
    assert_eq!(status, 200, "{ci}");
    assert_eq!(ci["name"], "CI deploy");
    let days = days_until(&ci["expires_at"]);
    assert!(
        (29.99..=30.0).contains(&days),
        "a 30-day token: {days} days"
    );
}

#[test]
fn a_token_cannot_mint_one_that_outlives_it_and_is_told_its_limit() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let server = Server::start(d, &[("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    // The kind's default lifetime, 30 days: no room for another 30 days.
    let token = issue_token(d, "admin");
    let (_, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
    let cli_expiry = me["credential"]["expires_at"].as_str().unwrap().to_owned();

    let refused = client(d, &server, &token, README_CREATE);
    assert!(!refused.status.success());
    assert_eq!(stdout(&refused), "", "no secret for a refused token");
    assert_eq!(
        stderr(&refused).trim(),
        format!(
            "error: expires_in: a token cannot create one that outlives it, and the token \
             making this request expires at {cli_expiry}. Choose an expiry no later than \
             that, or sign in or use a longer-lived token. (invalid_request, HTTP 422)"
        )
    );

    // Within its limit, it creates tokens as before.
    let shorter = client(
        d,
        &server,
        &token,
        &[
            "token",
            "create",
            "--name",
            "CI deploy",
            "--expires-in",
            "7d",
        ],
    );
    succeeds(shorter);
}

#[test]
fn sigterm_exits_zero_and_writes_buffered_usage() {
    let dir = TempDir::new().unwrap();
    let slow_flush = [
        ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("TESSERA_USAGE_FLUSH_INTERVAL", "1h"),
    ];
    let mut server = Server::start(dir.path(), &slow_flush);
    let token = issue_token(dir.path(), "admin");
    let (status, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
    assert_eq!(status, 200, "{me}");
    let (_, before) = http(
        "GET",
        &server.url("/api/v1/tokens/self"),
        Some(&token),
        None,
    );
    assert!(
        before["last_used_at"].is_null(),
        "not written before the flush"
    );
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");

    let again = Server::start(dir.path(), &slow_flush);
    let (status, record) = http("GET", &again.url("/api/v1/tokens/self"), Some(&token), None);
    assert_eq!(status, 200, "{record}");
    assert!(
        record["last_used_at"].is_string(),
        "the shutdown wrote the buffered use: {record}"
    );
    assert_eq!(record["last_used_ip"], "127.0.0.1");
}

#[test]
fn admin_commands_manage_users_workspaces_members_and_tokens() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let added = succeeds(tessera_on(
        d,
        &[
            "admin",
            "user",
            "add",
            "alice",
            "--password",
            "alice password",
            "--json",
        ],
    ));
    let alice: Value = serde_json::from_str(&added).unwrap();
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["admin"], false);
    assert!(!added.contains("alice password"));
    let out = tessera_on(
        d,
        &["admin", "user", "add", "alice", "--password", "another pw"],
    );
    assert!(!out.status.success(), "a duplicate username is refused");

    let list = |d: &Path| -> Value {
        serde_json::from_str(&succeeds(tessera_on(
            d,
            &["admin", "user", "list", "--json"],
        )))
        .unwrap()
    };
    let status_of = |users: &Value, name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .map(|u| u["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status_of(&list(d), "alice").as_deref(), Some("active"));
    let table = succeeds(tessera_on(d, &["admin", "user", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("alice"));

    succeeds(tessera_on(d, &["admin", "user", "suspend", "alice"]));
    assert_eq!(status_of(&list(d), "alice").as_deref(), Some("suspended"));
    let refused = tessera_on(d, &["admin", "token", "issue", "--user", "alice"]);
    assert!(!refused.status.success(), "no token for a suspended user");
    succeeds(tessera_on(d, &["admin", "user", "reactivate", "alice"]));
    assert_eq!(status_of(&list(d), "alice").as_deref(), Some("active"));
    succeeds(tessera_on(
        d,
        &[
            "admin",
            "user",
            "set-password",
            "alice",
            "--password",
            "a newer password",
        ],
    ));

    let workspace: Value = serde_json::from_str(&succeeds(tessera_on(
        d,
        &["admin", "workspace", "add", "Acme", "--json"],
    )))
    .unwrap();
    let wid = workspace["id"].as_str().unwrap().to_owned();
    assert!(wid.starts_with("wsp_"));
    let workspaces: Value = serde_json::from_str(&succeeds(tessera_on(
        d,
        &["admin", "workspace", "list", "--json"],
    )))
    .unwrap();
    assert_eq!(workspaces[0]["id"], wid.as_str());
    assert!(succeeds(tessera_on(d, &["admin", "workspace", "list"])).contains("Acme"));

    let member: Value = serde_json::from_str(&succeeds(tessera_on(
        d,
        &["admin", "member", "set", &wid, "alice", "admin", "--json"],
    )))
    .unwrap();
    assert_eq!(member["role"], "admin");
    let bad_role = tessera_on(d, &["admin", "member", "set", &wid, "alice", "emperor"]);
    assert!(!bad_role.status.success());
    assert!(stderr(&bad_role).contains("role"), "{}", stderr(&bad_role));

    let token = issue_token(d, "alice");

    // What the commands did is what the server sees.
    let server = Server::start(d, &[]);
    assert!(
        server.preamble.is_empty(),
        "users exist: no first-start admin"
    );
    let (status, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["workspaces"][0]["id"], wid.as_str());
    assert_eq!(me["workspaces"][0]["role"], "admin");
    assert_eq!(sign_in(&server, "alice", "a newer password"), 200);
    assert_eq!(sign_in(&server, "alice", "alice password"), 401);

    succeeds(tessera_on(d, &["admin", "member", "remove", &wid, "alice"]));
    let (_, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
    assert_eq!(me["workspaces"], json!([]));
    let again = tessera_on(d, &["admin", "member", "remove", &wid, "alice"]);
    assert!(!again.status.success(), "not a member any more");

    succeeds(tessera_on(d, &["admin", "user", "remove", "alice"]));
    assert_eq!(status_of(&list(d), "alice").as_deref(), Some("removed"));
    // The running server hears of the removal from the other process (SQLite
    // has no NOTIFY: servers poll a changes table every 200 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let status = loop {
        let (status, _) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
        if status == 401 || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        status, 401,
        "the running server stopped the removed user's token within 2 s"
    );
    drop(server);
    let fresh = Server::start(d, &[]);
    let (status, _) = http("GET", &fresh.url("/api/v1/me"), Some(&token), None);
    assert_eq!(status, 401, "removal killed the token");
}

#[test]
fn invalid_arguments_exit_non_zero_with_usage_on_stderr() {
    let dir = TempDir::new().unwrap();
    for args in [
        &["frobnicate"][..],
        &["token", "create"],
        &["token", "revoke"],
        &["admin", "user", "add"],
        &["admin", "token", "issue"],
        &["serve", "--no-such-flag"],
        &["token", "rotate", "tok_x", "--overlap", "-5"],
    ] {
        let output = tessera(dir.path()).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert_ne!(output.status.code(), Some(0));
        let err = stderr(&output);
        assert!(err.contains("Usage:"), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    assert!(
        !dir.path().join("tessera.db").exists(),
        "a refused command opens no database"
    );
    let help = tessera(dir.path()).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(stdout(&help).contains("serve"));
}

#[test]
fn a_malformed_config_stops_the_start_naming_the_key_and_creates_no_database() {
    for (config, key) in [
        ("bogus_key = 1\n", "bogus_key"),
        (
            "[auth]\nreveal_failure_reasonz = true\n",
            "reveal_failure_reasonz",
        ),
        ("listen = \"not an address\"\n", "listen"),
        ("[usage]\nflush_interval = \"soon\"\n", "flush_interval"),
        (
            "[limits]\nmax_active_tokens_per_user = \"many\"\n",
            "max_active_tokens_per_user",
        ),
    ] {
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("tessera.toml"), config).unwrap();
        let output = tessera(dir.path())
            .arg("serve")
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{config}");
        let err = stderr(&output);
        assert!(err.contains(key), "{config}: the error names {key}: {err}");
        assert!(!stdout(&output).contains("listening"), "{config}");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(entries, ["tessera.toml"], "{config}: no database file");
    }
    // A bad value in the environment is named too.
    let dir = TempDir::new().unwrap();
    let output = tessera(dir.path())
        .arg("serve")
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env("TESSERA_MAX_ACTIVE_TOKENS_PER_USER", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("TESSERA_MAX_ACTIVE_TOKENS_PER_USER")
            || stderr(&output).contains("max_active_tokens_per_user"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("tessera.db").exists());
}

#[test]
fn an_unreachable_postgres_url_is_named_with_its_password_masked() {
    let dir = TempDir::new().unwrap();
    let started = Instant::now();
    let output = tessera(dir.path())
        .arg("serve")
        .env("TESSERA_LISTEN", "127.0.0.1:0")
        .env(
            "TESSERA_DATABASE_URL",
            "postgres://u:secretpw@127.0.0.1:1/x",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let everything = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        everything.contains("postgres://u:***@127.0.0.1:1/x"),
        "{everything}"
    );
    assert!(!everything.contains("secretpw"), "{everything}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "fails promptly"
    );
    let admin = tessera(dir.path())
        .args(["admin", "user", "list"])
        .env(
            "TESSERA_DATABASE_URL",
            "postgres://u:secretpw@127.0.0.1:1/x",
        )
        .output()
        .unwrap();
    assert!(!admin.status.success());
    assert!(!stderr(&admin).contains("secretpw"), "{}", stderr(&admin));
}

#[test]
fn a_second_server_on_the_same_sqlite_file_works_and_corrupts_nothing() {
    let dir = TempDir::new().unwrap();
    let env = [("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)];
    let one = Server::start(dir.path(), &env);
    let two = Server::start(dir.path(), &env);
    assert_ne!(one.base, two.base);
    assert!(two.preamble.is_empty(), "the admin exists already");
    let token = issue_token(dir.path(), "admin");
    for server in [&one, &two] {
        assert_eq!(http("GET", &server.url("/readyz"), None, None).0, 200);
        assert_eq!(
            http("GET", &server.url("/api/v1/me"), Some(&token), None).0,
            200
        );
    }
    // A token made through one works through the other, and both write.
    for (server, name) in [(&one, "via one"), (&two, "via two")] {
        let (status, created) = http(
            "POST",
            &server.url("/api/v1/tokens"),
            Some(&token),
            Some(json!({ "name": name })),
        );
        assert_eq!(status, 201, "{created}");
        let secret = created["token"].as_str().unwrap();
        for other in [&one, &two] {
            assert_eq!(
                http("GET", &other.url("/api/v1/me"), Some(secret), None).0,
                200
            );
        }
    }
    let (status, list) = http("GET", &one.url("/api/v1/tokens"), Some(&token), None);
    assert_eq!(status, 200);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"via one") && names.contains(&"via two"),
        "{names:?}"
    );
    let users = succeeds(tessera_on(dir.path(), &["admin", "user", "list", "--json"]));
    let users: Value = serde_json::from_str(&users).unwrap();
    assert_eq!(users[0]["username"], "admin");
}

#[test]
fn the_api_client_manages_tokens_against_a_running_server() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let server = Server::start(d, &[("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD)]);
    let token = issue_token(d, "admin");

    let me = succeeds(client(d, &server, &token, &["me"]));
    assert!(me.contains("admin"), "{me}");
    assert!(me.contains("credential:  pat tok_"), "{me}");
    let me_json: Value =
        serde_json::from_str(&succeeds(client(d, &server, &token, &["me", "--json"]))).unwrap();
    assert_eq!(me_json["user"]["username"], "admin");

    let created = client(
        d,
        &server,
        &token,
        &["token", "create", "--name", "CI deploy"],
    );
    let secret = succeeds(created.clone()).trim().to_owned();
    assert!(secret.starts_with("tsr_pat_"), "{secret}");
    assert_eq!(stdout(&created).lines().count(), 1, "the secret alone");
    assert!(stderr(&created).contains("not shown again"));

    let table = succeeds(client(d, &server, &token, &["token", "list"]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("CI deploy"), "{table}");
    assert!(!table.contains(&secret), "the list never shows a secret");
    let listed: Value = serde_json::from_str(&succeeds(client(
        d,
        &server,
        &token,
        &["token", "list", "--json"],
    )))
    .unwrap();
    let id = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "CI deploy")
        .expect("listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Verification needs a verifier credential: without one the server
    // says so, and the CLI says what to do.
    let refused = client(d, &server, "", &["verify", &secret]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("verifier_required, HTTP 401")
            && stderr(&refused).contains("tessera admin verifier add"),
        "{}",
        stderr(&refused)
    );
    let (verifier_id, verifier) = add_verifier(d, "cli check");
    assert!(verifier.starts_with("tsr_vfr_") && verifier_id.starts_with("vfr_"));
    let listed = succeeds(tessera_on(d, &["admin", "verifier", "list"]));
    assert!(
        listed.starts_with("ID") && listed.contains(&verifier_id),
        "{listed}"
    );
    assert!(
        listed.contains("cli check") && !listed.contains(&verifier),
        "{listed}"
    );
    let client = |d: &Path, server: &Server, token: &str, args: &[&str]| -> Output {
        if args[0] == "verify" {
            verify_with(d, server, &verifier, args[1])
        } else {
            client(d, server, token, args)
        }
    };

    let verified = client(d, &server, "", &["verify", &secret]);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    assert!(
        stdout(&verified).starts_with("valid"),
        "{}",
        stdout(&verified)
    );
    let garbage = client(d, &server, "", &["verify", "tsr_pat_nope"]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(stdout(&garbage).contains("token_invalid"));

    let rotated = succeeds(client(d, &server, &token, &["token", "rotate", &id]))
        .trim()
        .to_owned();
    assert!(rotated.starts_with("tsr_pat_"));
    assert_ne!(rotated, secret);
    assert_eq!(
        client(d, &server, "", &["verify", &rotated]).status.code(),
        Some(0)
    );

    succeeds(client(d, &server, &token, &["token", "revoke", &id]));
    assert_eq!(
        client(d, &server, "", &["verify", &rotated]).status.code(),
        Some(1),
        "revoked at once"
    );

    // A server error is shown with its message and a non-zero exit.
    let missing = client(
        d,
        &server,
        &token,
        &["token", "revoke", "tok_doesnotexist000000"],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("Not found. (not_found, HTTP 404)"),
        "{}",
        stderr(&missing)
    );

    let all = succeeds(client(d, &server, &token, &["token", "revoke", "--all"]));
    assert!(all.contains("Revoked 1 tokens."), "{all}");
    let after = client(d, &server, &token, &["me"]);
    assert!(!after.status.success());
    assert!(
        stderr(&after).contains("(token_invalid, HTTP 401)"),
        "{}",
        stderr(&after)
    );
    let no_token = client(d, &server, "", &["token", "list"]);
    assert!(!no_token.status.success());
    assert!(stderr(&no_token).contains("TESSERA_TOKEN"));

    // A verifier revoked on the database, with the server running, is
    // refused by the server within its change feed's delay.
    let (_, second) = add_verifier(d, "short-lived");
    assert!(
        verify_with(d, &server, &second, "tsr_pat_nope")
            .status
            .code()
            == Some(1)
    );
    let revoked_id = {
        let list = succeeds(tessera_on(d, &["admin", "verifier", "list", "--json"]));
        let list: Value = serde_json::from_str(&list).unwrap();
        list[0]["id"].as_str().unwrap().to_owned()
    };
    succeeds(tessera_on(d, &["admin", "verifier", "revoke", &revoked_id]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = verify_with(d, &server, &second, "tsr_pat_nope");
        if stderr(&answer).contains("verifier_required") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation never reached the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let again = tessera_on(d, &["admin", "verifier", "revoke", &revoked_id]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("no unrevoked verifier"),
        "{}",
        stderr(&again)
    );
    let bad = tessera_on(d, &["admin", "verifier", "add", "x", "--kind", "nope"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("no kind \"nope\""),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn every_seed_profile_serves_as_shipped_and_issues_its_own_tokens() {
    for (profile, prefix) in [
        ("groupchat", "gcp_"),
        ("groo", "groo_pat_"),
        ("teamgantt", ""),
        ("teamday", "td_"),
        ("orgroles", "org_pat_"),
    ] {
        let dir = TempDir::new().unwrap();
        let d = dir.path();
        let server = Server::start(
            d,
            &[
                ("TESSERA_PROFILE", profile),
                ("TESSERA_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ],
        );
        assert_eq!(http("GET", &server.url("/readyz"), None, None).0, 200);
        // The admin commands read the same profile, here with the flag.
        let workspace = succeeds(tessera_on(
            d,
            &[
                "admin",
                "workspace",
                "add",
                "Acme",
                "--json",
                "--profile",
                profile,
            ],
        ));
        let workspace: Value = serde_json::from_str(&workspace).unwrap();
        let workspace = workspace["id"].as_str().unwrap();
        let role = if profile == "teamday" {
            "admin"
        } else {
            "owner"
        };
        if profile != "teamgantt" {
            succeeds(tessera_on(
                d,
                &[
                    "admin",
                    "member",
                    "set",
                    "--profile",
                    profile,
                    workspace,
                    "admin",
                    role,
                ],
            ));
        }
        let mut issue = vec![
            "admin",
            "token",
            "issue",
            "--profile",
            profile,
            "--user",
            "admin",
            "--name",
            "cli",
        ];
        if matches!(profile, "teamday" | "orgroles") {
            issue.extend(["--workspace", workspace]);
        }
        let token = succeeds(tessera_on(d, &issue)).trim().to_owned();
        assert!(token.starts_with(prefix), "{profile}: {token}");
        if profile == "teamgantt" {
            assert!(token.starts_with("tok_") && token.contains('|'), "{token}");
        }
        let (status, me) = http("GET", &server.url("/api/v1/me"), Some(&token), None);
        assert_eq!(status, 200, "{profile}: {me}");
        // The default prefix is not one of this deployment's.
        let (status, _) = http(
            "GET",
            &server.url("/api/v1/me"),
            Some("tsr_pat_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000"),
            None,
        );
        assert_eq!(status, 401, "{profile}");
    }
}

#[test]
fn an_unknown_profile_or_a_profile_with_a_config_file_is_refused() {
    let dir = TempDir::new().unwrap();
    let output = tessera_on(dir.path(), &["serve", "--profile", "gitlab"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("gitlab") && err.contains("teamday"), "{err}");
    let output = tessera_on(
        dir.path(),
        &["serve", "--profile", "groo", "--config", "tessera.toml"],
    );
    assert!(!output.status.success());
    assert!(stderr(&output).contains("--config"), "{}", stderr(&output));
    assert!(!dir.path().join("tessera.db").exists());
}

#[test]
fn a_rank_loop_or_a_role_missing_from_the_order_is_refused_at_start_naming_the_key() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    for (order, says) in [
        (r#"["boss", "staff", "boss"]"#, "more than once"),
        (r#"["boss"]"#, "\"staff\" is not in the order"),
        (
            r#"["boss", "staff", "ghost"]"#,
            "\"ghost\" is not a configured role",
        ),
    ] {
        std::fs::write(
            d.join("tessera.toml"),
            format!(
                "role_order = {order}\n[roles]\nboss = [\"tokens:manage\"]\nstaff = [\"tokens:manage\"]\n"
            ),
        )
        .unwrap();
        let output = tessera_on(d, &["serve", "--config", "tessera.toml"]);
        assert!(!output.status.success(), "{order}");
        let err = stderr(&output);
        assert!(
            err.contains("role_order") && err.contains(says),
            "{order}: {err}"
        );
    }
    assert!(!d.join("tessera.db").exists(), "nothing was started");
}
