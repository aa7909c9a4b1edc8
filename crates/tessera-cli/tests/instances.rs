//! Two `tessera serve` processes on one PostgreSQL database: a revocation
//! or a suspension made through one reaches the other's cache at once
//! (LISTEN/NOTIFY), measured per trial. `TRIALS` sets how many (default 5;
//! `bench/propagation.sh` runs 100 and reports the median and maximum).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use support::{http, succeeds, tessera, Server};
use tessera_store::test_support::{fresh, Backend, TestDatabase};

const LIMIT: Duration = Duration::from_secs(1);

fn postgres() -> Option<TestDatabase> {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(fresh(Backend::Postgres))
}

/// `tessera ARGS` on the PostgreSQL database.
fn admin(dir: &Path, url: &str, args: &[&str]) -> String {
    succeeds(
        tessera(dir)
            .args(args)
            .env("TESSERA_DATABASE_URL", url)
            .output()
            .expect("tessera runs"),
    )
}

/// Polls `url` with `token` until it answers 401; returns how long that took.
fn time_until_refused(url: &str, token: &str) -> Duration {
    let start = Instant::now();
    loop {
        let (status, _) = http("GET", url, Some(token), None);
        if status == 401 {
            return start.elapsed();
        }
        assert_eq!(status, 200, "the token is either still good or refused");
        assert!(start.elapsed() < Duration::from_secs(5), "never refused");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn report(what: &str, mut delays: Vec<Duration>) {
    delays.sort();
    let median = delays[delays.len() / 2];
    let max = *delays.last().expect("trials");
    println!(
        "{what}: {} trials, median {:.1} ms, max {:.1} ms",
        delays.len(),
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    assert!(max < LIMIT, "{what}: slowest {max:?}");
}

#[test]
fn a_revocation_on_one_instance_and_a_suspension_on_the_other_apply_everywhere() {
    let Some(database) = postgres() else {
        return;
    };
    let url = database.url().to_string();
    let url = url.as_str();
    let trials: usize = std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let dir = TempDir::new().unwrap();
    let d = dir.path();

    admin(
        d,
        url,
        &[
            "admin",
            "user",
            "add",
            "root",
            "--password",
            "root password",
            "--admin",
        ],
    );
    admin(
        d,
        url,
        &[
            "admin",
            "user",
            "add",
            "alice",
            "--password",
            "alice password",
        ],
    );
    let root = admin(
        d,
        url,
        &[
            "admin",
            "token",
            "issue",
            "--user",
            "root",
            "--expires-in",
            "never",
        ],
    );
    let alice = admin(
        d,
        url,
        &[
            "admin",
            "token",
            "issue",
            "--user",
            "alice",
            "--expires-in",
            "never",
        ],
    );
    let (root, alice) = (root.trim(), alice.trim());

    let env = [("TESSERA_DATABASE_URL", url)];
    let a = Server::start(d, &env);
    let b = Server::start(d, &env);

    // Revoke on A; B must refuse within a second.
    let mut delays = Vec::new();
    for i in 0..trials {
        let (status, created) = http(
            "POST",
            &a.url("/api/v1/tokens"),
            Some(alice),
            Some(json!({ "name": format!("trial {i}") })),
        );
        assert_eq!(status, 201, "{created}");
        let token = created["token"].as_str().unwrap();
        let id = created["id"].as_str().unwrap();
        // B has it cached as good.
        assert_eq!(http("GET", &b.url("/api/v1/me"), Some(token), None).0, 200);
        assert_eq!(
            http(
                "DELETE",
                &a.url(&format!("/api/v1/tokens/{id}")),
                Some(alice),
                None
            )
            .0,
            204
        );
        delays.push(time_until_refused(&b.url("/api/v1/me"), token));
    }
    report("revoke on A, refused by B", delays);

    // Suspend on B; A must refuse within a second; reactivation restores it.
    let (_, me) = http("GET", &a.url("/api/v1/me"), Some(alice), None);
    let alice_id = me["user"]["id"].as_str().unwrap().to_owned();
    let mut delays = Vec::new();
    for _ in 0..trials {
        assert_eq!(http("GET", &a.url("/api/v1/me"), Some(alice), None).0, 200);
        let suspend = b.url(&format!("/api/v1/users/{alice_id}/suspend"));
        assert_eq!(http("POST", &suspend, Some(root), None).0, 200);
        delays.push(time_until_refused(&a.url("/api/v1/me"), alice));
        let reactivate = b.url(&format!("/api/v1/users/{alice_id}/reactivate"));
        assert_eq!(http("POST", &reactivate, Some(root), None).0, 200);
        let start = Instant::now();
        while http("GET", &a.url("/api/v1/me"), Some(alice), None).0 != 200 {
            assert!(start.elapsed() < LIMIT, "reactivation did not reach A");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    report("suspend on B, refused by A", delays);
}
