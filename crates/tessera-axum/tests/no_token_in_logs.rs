//! No log line carries a presented token, whatever happens to it: accepted,
//! cached, refused, or stuck on an unreachable Tessera. Its own test binary,
//! because it installs the process-wide subscriber.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use tessera_axum::{TesseraConfig, TesseraLayer};
use tracing_subscriber::fmt::MakeWriter;

use support::{request, Product, Tessera};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_logged() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .init();

    let tessera = Tessera::start().await;
    let alice = tessera.user("alice").await;
    let ws = tessera.workspace("acme").await;
    tessera.join(&ws, &alice, "viewer").await;
    let product = Product::new(&TesseraLayer::new(tessera.config()));
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let down = Product::new(&TesseraLayer::new(TesseraConfig::new(format!(
        "http://{closed}"
    ))));

    // Accepted, then cached, then refused for a permission, then refused
    // for a workspace, then nobody to ask; finally revoked.
    product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    product
        .send(request("GET", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    product
        .send(request("POST", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    product
        .send(request("GET", "/tasks", Some(&alice.token), None))
        .await;
    down.send(request("GET", "/me", Some(&alice.token), None))
        .await;
    tessera.revoke(&alice.token).await;
    let (status, _, _) = product
        .send(request("POST", "/tasks", Some(&alice.token), Some(&ws)))
        .await;
    assert_eq!(status, 401);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("Tessera refused the token") && logs.contains("answering 503"),
        "the layer's own lines were captured:\n{logs}"
    );
    let secret = alice.token.rsplit('_').next().unwrap();
    assert!(secret.len() >= 16);
    assert!(
        !logs.contains(secret),
        "a log line carries the token:\n{logs}"
    );
}
