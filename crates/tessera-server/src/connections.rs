//! Serving accepted connections so that no client can hold the server:
//! a request head must arrive within `header_read_timeout` (slowloris), a
//! connection with nothing to do is closed after `idle_timeout`, and at
//! most `max_connections` are open at once, below the open-file limit.
//! At the bound, a newcomer takes the place of the oldest connection with
//! no request in progress; when every one is answering, it waits a moment
//! and is then closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tower::{Service, ServiceExt};

use crate::config::ServerConfig;
use crate::connection_bound::{connection_bound, connection_to_close, OpenConnection};

/// How long a newcomer waits for room when the bound is reached.
const ADMISSION_WAIT: Duration = Duration::from_millis(250);

/// After an accept error (out of file descriptors, say), wait this long
/// before the next accept rather than spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Raises the soft open-file limit to the hard one where allowed, and
/// returns the bound on connections that leaves room below it.
pub fn prepare_bound(config: &ServerConfig) -> usize {
    let open_file_limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    };
    let bound = connection_bound(config.max_connections, open_file_limit);
    if let Some(wanted) = bound.lowered_from {
        tracing::warn!(
            wanted,
            max_connections = bound.max_connections,
            open_file_limit,
            "[server] max_connections is above what the open-file limit allows: lowered"
        );
    }
    tracing::info!(
        max_connections = bound.max_connections,
        open_file_limit,
        header_read_timeout = ?config.header_read_timeout,
        idle_timeout = ?config.idle_timeout,
        "connections bounded"
    );
    bound.max_connections
}

/// Accepts on `listener` and answers with `app` until `shutdown` resolves,
/// then lets each connection finish its request and waits for all of them.
pub async fn serve_connections<S>(
    listener: TcpListener,
    app: S,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    let max_connections = prepare_bound(config);
    let room = Arc::new(Semaphore::new(max_connections));
    let waiting = Arc::new(Semaphore::new(max_connections / 16 + 1));
    let open = Arc::new(OpenConnections::default());
    let (stopping_tx, stopping) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let idle_timeout = config.idle_timeout;
    let header_read_timeout = config.header_read_timeout;

    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // At the bound, the newcomer waits for room in its own task, so
        // that accepting goes on; only so many may wait at once.
        let admission = match room.clone().try_acquire_owned() {
            Ok(permit) => Admission::Admitted(permit),
            Err(_) => {
                open.close_one_idle();
                match waiting.clone().try_acquire_owned() {
                    Ok(turn) => Admission::Waiting(turn),
                    Err(_) => {
                        tracing::debug!(%remote, max_connections, "at the bound: closed a new connection");
                        continue;
                    }
                }
            }
        };
        let room = room.clone();
        let _ = stream.set_nodelay(true);
        let open = open.clone();
        let builder = builder.clone();
        let app = app.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let permit = match admission {
                Admission::Admitted(permit) => permit,
                Admission::Waiting(_turn) => {
                    match tokio::time::timeout(ADMISSION_WAIT, room.acquire_owned()).await {
                        Ok(Ok(permit)) => permit,
                        _ => {
                            tracing::warn!(
                                %remote,
                                "every connection is answering: closed a new one"
                            );
                            return;
                        }
                    }
                }
            };
            let (id, activity, close) = open.add();
            let service = hyper::service::service_fn({
                let activity = activity.clone();
                move |request: Request<Incoming>| {
                    answer(app.clone(), request, remote, activity.clone())
                }
            });
            let io = TokioIo::new(TrackedStream {
                inner: stream,
                activity: activity.clone(),
            });
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(connection);
            let mut draining = false;
            loop {
                let idle_deadline = activity.idle_deadline(header_read_timeout, idle_timeout);
                tokio::select! {
                    _ = connection.as_mut() => break,
                    () = close.notified() => {
                        if activity.requests_in_progress() == 0 {
                            break;
                        }
                        if !draining {
                            connection.as_mut().graceful_shutdown();
                            draining = true;
                        }
                    }
                    () = tokio::time::sleep_until(idle_deadline.into()) => {
                        let idle = Instant::now()
                            >= activity.idle_deadline(header_read_timeout, idle_timeout);
                        if idle && activity.requests_in_progress() == 0 {
                            break;
                        }
                    }
                    changed = stopping.changed(), if !draining => {
                        let _ = changed;
                        connection.as_mut().graceful_shutdown();
                        draining = true;
                    }
                }
            }
            open.remove(id);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection holds a permit until it ends: all back means all done.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = room.acquire_many(all).await;
    Ok(())
}

/// One request, answered by `app` with the peer's address as axum's
/// [`ConnectInfo`]; counted as in progress until its response body ends.
async fn answer<S>(
    app: S,
    request: Request<Incoming>,
    remote: SocketAddr,
    activity: Arc<Activity>,
) -> Result<Response<Body>, Infallible>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let in_progress = InProgress::start(activity);
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ConnectInfo(remote));
    let response = app.oneshot(request).await?;
    Ok(response.map(|body| {
        Body::new(body.map_frame(move |frame| {
            let _still_answering = &in_progress;
            frame
        }))
    }))
}

/// A newcomer's place: admitted, or waiting (a turn among the few that may).
enum Admission {
    Admitted(tokio::sync::OwnedSemaphorePermit),
    /// Held while waiting, then dropped.
    Waiting(tokio::sync::OwnedSemaphorePermit),
}

/// What one connection's task and its requests share.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened` of the last byte read or written.
    last_active_ms: AtomicU64,
    requests: AtomicUsize,
    /// Whether a request head ever arrived on this connection.
    any_request: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            requests: AtomicUsize::new(0),
            any_request: AtomicBool::new(false),
        }
    }

    /// When the connection may be closed for doing nothing: a connection
    /// that never sent a request head gets the header-read timeout from
    /// its opening (HTTP version detection reads before hyper's own timer
    /// starts, so a client sending nothing would otherwise wait out the
    /// idle timeout); after that, the idle timeout from the last byte.
    fn idle_deadline(&self, header_read_timeout: Duration, idle_timeout: Duration) -> Instant {
        if self.any_request.load(Ordering::Acquire) {
            self.last_active() + idle_timeout
        } else {
            self.opened + header_read_timeout.min(idle_timeout)
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    fn last_active(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }

    fn requests_in_progress(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }
}

/// A request in progress on its connection, until dropped.
struct InProgress(Arc<Activity>);

impl InProgress {
    fn start(activity: Arc<Activity>) -> InProgress {
        activity.requests.fetch_add(1, Ordering::AcqRel);
        activity.any_request.store(true, Ordering::Release);
        InProgress(activity)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.touch();
        self.0.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections, for choosing one to close at the bound.
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
}

struct Entry {
    accepted: Instant,
    activity: Arc<Activity>,
    close: Arc<Notify>,
}

impl OpenConnections {
    fn add(&self) -> (u64, Arc<Activity>, Arc<Notify>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        let close = Arc::new(Notify::new());
        let entry = Entry {
            accepted: activity.opened,
            activity: activity.clone(),
            close: close.clone(),
        };
        self.lock().insert(id, entry);
        (id, activity, close)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection without a request in progress to close,
    /// and forgets it at once, so that the next newcomer picks another.
    fn close_one_idle(&self) {
        let mut entries = self.lock();
        let open: Vec<OpenConnection> = entries
            .iter()
            .map(|(id, entry)| OpenConnection {
                id: *id,
                accepted: entry.accepted,
                requests_in_progress: entry.activity.requests_in_progress(),
            })
            .collect();
        if let Some(entry) = connection_to_close(&open).and_then(|id| entries.remove(&id)) {
            entry.close.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // A panic while holding it leaves the map whole: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A TCP stream that notes when bytes last moved, for the idle timeout.
struct TrackedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for TrackedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for TrackedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
