//! One client connection: accepted within the connection cap, served with HTTP/1.1 or HTTP/2,
//! closed when idle (after `--idle-timeout`, or sooner when all connection slots are taken) or
//! when the server shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::response::Response;
use gateway_runtime::shutdown::ShutdownListener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// How long an HTTP/1.1 client may take to send a request's headers once it began.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection must have been without a request in flight before it is closed to
/// make room for a new one when all connection slots are taken.
const MIN_IDLE_UNDER_PRESSURE: Duration = Duration::from_secs(1);

/// How often a full server asks its idle connections to make room again.
const PRESSURE_INTERVAL: Duration = Duration::from_secs(1);

/// File descriptors kept out of reach of client connections: the store's files, upstream
/// connections, metrics listeners.
const RESERVED_FILE_DESCRIPTORS: usize = 64;

/// `configured`, lowered so that client connections cannot use up the process's file
/// descriptors (the soft limit of open files, less [`RESERVED_FILE_DESCRIPTORS`]).
pub(super) fn connection_cap(configured: usize) -> usize {
    let configured = configured.clamp(1, Semaphore::MAX_PERMITS);
    let Some(open_files) = open_files_limit() else {
        return configured;
    };
    let cap = open_files.saturating_sub(RESERVED_FILE_DESCRIPTORS).max(1);
    if cap < configured {
        tracing::warn!(
            max_connections = configured,
            open_files,
            cap,
            "--max-connections lowered to fit the open files limit"
        );
        return cap;
    }
    configured
}

/// The soft limit of open files (`ulimit -n`), from `/proc/self/limits`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Accepts the next connection once a connection slot is free; while all are taken, asks the
/// idle connections (through `pressure`) to close every [`PRESSURE_INTERVAL`].
pub(super) async fn accept(
    listener: &TcpListener,
    connections: &Arc<Semaphore>,
    pressure: &watch::Sender<u64>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = loop {
        let acquire = Arc::clone(connections).acquire_owned();
        match tokio::time::timeout(PRESSURE_INTERVAL, acquire).await {
            Ok(permit) => break permit.expect("the connection semaphore is never closed"),
            Err(_) => {
                tracing::debug!("all connection slots taken, closing idle connections");
                pressure.send_modify(|round| *round += 1);
            }
        }
    };
    let (tcp, peer) = listener.accept().await?;
    Ok((tcp, peer, permit))
}

/// Serves one connection with HTTP/1.1 or HTTP/2 until it ends, it has been idle for
/// `idle_timeout`, or the server shuts down (then it ends once its requests are answered).
pub(super) async fn serve_connection<IO>(
    io: TokioIo<IO>,
    service: TowerToHyperService<axum::Router>,
    idle_timeout: Duration,
    pressure: watch::Receiver<u64>,
    closing: ShutdownListener,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let service = Tracked {
        inner: service,
        activity: Arc::clone(&activity),
    };
    let connection = {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        // The CONNECT protocol carries WebSockets over HTTP/2.
        builder.http2().enable_connect_protocol();
        builder
            .serve_connection_with_upgrades(io, service)
            .into_owned()
    };
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return served,
        () = activity.idle_for(idle_timeout) => tracing::trace!("closing an idle connection"),
        () = activity.idle_under(pressure) => tracing::trace!("closing an idle connection to make room"),
        () = closing.begun() => {}
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}

/// When a connection last had a request in flight.
struct Activity {
    /// Requests whose response (body included) is not finished.
    in_flight: AtomicUsize,
    /// When the last request finished (or the connection opened).
    last_finished: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            last_finished: Mutex::new(Instant::now()),
        }
    }

    /// Resolves once no request has been in flight for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let wait = if self.in_flight.load(Ordering::Acquire) == 0 {
                let since = self.last_finished.lock().expect("not poisoned").elapsed();
                match timeout.checked_sub(since) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                }
            } else {
                timeout
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Resolves when `pressure` asks for room while no request has been in flight for
    /// [`MIN_IDLE_UNDER_PRESSURE`].
    async fn idle_under(&self, mut pressure: watch::Receiver<u64>) {
        while pressure.changed().await.is_ok() {
            if self.in_flight.load(Ordering::Acquire) == 0
                && self.last_finished.lock().expect("not poisoned").elapsed()
                    >= MIN_IDLE_UNDER_PRESSURE
            {
                return;
            }
        }
        std::future::pending().await
    }

    /// Counts a request in flight until the returned guard is dropped.
    fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }
}

/// A request in flight on a connection.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.last_finished.lock().expect("not poisoned") = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The connection's service: each request counted in flight until its response body ends;
/// an HTTP/1.1 request without `Host` refused as Go refuses it.
struct Tracked {
    inner: TowerToHyperService<axum::Router>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        if super::host::lacks_host(&request) {
            return Box::pin(async { Ok(super::host::missing_host()) });
        }
        let busy = self.activity.begin();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| axum::body::Body::new(BusyBody { body, _busy: busy })))
        })
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct BusyBody {
    body: axum::body::Body,
    _busy: Busy,
}

impl http_body::Body for BusyBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Handles a failed `accept`: out of file descriptors (or another resource) waits a moment
/// instead of spinning; per-connection errors are only logged.
pub(super) async fn accept_error(err: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        tracing::debug!(%err, "accept");
    } else {
        tracing::error!(%err, "accept failed, retrying in 1s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
