//! One listener for everything, as etcd has: the JSON gateway over HTTP/1.1 and HTTP/2, and,
//! with the embedded backend, etcd's native gRPC API.
//!
//! Requests are told apart the way etcd does it: an HTTP/2 request whose `content-type` is
//! `application/grpc` (or `application/grpc+<codec>`, or with parameters) goes to the gRPC
//! services; every other request goes to the JSON gateway. HTTP/2 is accepted with prior
//! knowledge (h2c, as gRPC clients speak it) next to HTTP/1.1 on the same port; with TLS
//! (`--cert-file`), the client chooses by ALPN.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use gateway_runtime::shutdown::{Shutdown, ShutdownListener};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tonic::service::Routes;
use tower::ServiceExt;

use crate::backend::Backend;
use crate::config::parse_duration;
use crate::tls::ServerTls;

/// etcd's default `--max-request-bytes` (1.5 MiB): the largest request etcd accepts.
pub const ETCD_MAX_REQUEST_BYTES: usize = 1536 * 1024;

/// The default request size limit: etcd's 1.5 MiB grown by a third for base64 (the gateway's
/// JSON carries keys and values base64-encoded) plus 64 KiB for the JSON around them:
/// 2,162,688 bytes.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = ETCD_MAX_REQUEST_BYTES / 3 * 4 + 64 * 1024;

/// Request limits, connection limits and shutdown.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Largest accepted request, in bytes: a unary or server-streaming request body, each
    /// message of a bidirectional stream, each WebSocket message [default: etcd's 1.5 MiB
    /// grown by a third for base64, plus 64 KiB of JSON]. Larger requests get 413 (gRPC code 8).
    #[arg(
        long,
        env = "ETCD_GATEWAY_MAX_REQUEST_BYTES",
        alias = "max-request-body-bytes",
        default_value_t = DEFAULT_MAX_REQUEST_BYTES,
        hide_default_value = true
    )]
    pub max_request_bytes: usize,

    /// Time the open requests get to finish on SIGTERM or SIGINT; open streams end at once.
    #[arg(long, env = "ETCD_GATEWAY_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Connections without a request in flight for this long are closed.
    #[arg(long, env = "ETCD_GATEWAY_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Most client connections open at once; further clients wait to be accepted.
    #[arg(long, env = "ETCD_GATEWAY_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
}

/// The complete application of `backend`: the JSON gateway, plus the gRPC services if the
/// backend has some to serve. Its streams end when `shutdown` begins.
pub fn app(backend: &Backend, max_body_bytes: usize, shutdown: ShutdownListener) -> axum::Router {
    let gateway = crate::app(backend.transport(), max_body_bytes, shutdown);
    match backend.grpc_routes() {
        Some(grpc) => with_grpc(gateway, grpc),
        None => gateway,
    }
}

/// `gateway` with gRPC requests (see [`is_grpc`]) sent to `grpc` instead.
pub fn with_grpc(gateway: axum::Router, grpc: Routes) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch)
        .with_state(Dispatch { gateway, grpc })
}

/// Whether etcd would hand `request` to its gRPC server: HTTP/2 with a gRPC content type.
pub fn is_grpc<B>(request: &http::Request<B>) -> bool {
    request.version() == http::Version::HTTP_2
        && request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("application/grpc"))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
}

#[derive(Clone)]
struct Dispatch {
    gateway: axum::Router,
    grpc: Routes,
}

async fn dispatch(State(to): State<Dispatch>, request: Request) -> Response {
    let response = if is_grpc(&request) {
        to.grpc
            .oneshot(request)
            .await
            .map(IntoResponse::into_response)
    } else {
        to.gateway.oneshot(request).await
    };
    // Both routers are infallible.
    match response {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// How long a client may take to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an HTTP/1.1 client may take to send a request's headers once it began.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (over TLS if `tls` is given) until `signal` resolves, then shuts
/// down within `limits.shutdown_grace`: no new connections, every open stream and WebSocket
/// session ended at once through `shutdown` (see [`gateway_runtime::shutdown`]), requests in
/// flight answered.
///
/// Each connection is served by hyper's automatic HTTP/1.1-or-HTTP/2 builder: with TLS the
/// client picks by ALPN (`h2` or `http/1.1`), without it HTTP/2 is recognized by its preface
/// (prior knowledge). Upgrades (WebSocket) are supported on both. At most
/// `limits.max_connections` connections are open at once (and no more than the open files
/// limit allows): while all are taken, accepting waits and the connections idle for a second
/// or more are closed to make room. A connection without a request in flight for
/// `limits.idle_timeout` is closed.
pub async fn run(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<ServerTls>,
    limits: &ServeArgs,
    shutdown: Shutdown,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let tls = tls.map(Arc::new);
    let max_connections = connection_cap(limits.max_connections);
    let connections = Arc::new(Semaphore::new(max_connections));
    let pressure = watch::Sender::new(0u64);
    let idle_timeout = limits.idle_timeout;
    let mut signal = std::pin::pin!(signal);
    loop {
        let accepted = tokio::select! {
            () = &mut signal => break,
            accepted = accept(&listener, &connections, &pressure) => accepted,
        };
        let (tcp, peer, permit) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_error(err).await;
                continue;
            }
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        // One reference count per connection: the finished router is shared, never rebuilt
        // (serving a `Router` through axum's per-connection `with_state` would rebuild every
        // route's service stack: ~200 KiB per connection with this route table, paid by
        // every open watch stream).
        let service = TowerToHyperService::new(app.clone());
        let closing = shutdown.listener();
        let pressure = pressure.subscribe();
        // Plain and TLS connections are separate tasks, so a plain connection's task does
        // not carry the (larger) state of a TLS handshake.
        match &tls {
            None => {
                tokio::spawn(async move {
                    let io = TokioIo::new(tcp);
                    let served =
                        serve_connection(io, service, idle_timeout, pressure, closing).await;
                    if let Err(err) = served {
                        tracing::trace!(%peer, %err, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Some(tls) => {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp));
                    let stream = match handshake.await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            return tracing::debug!(%peer, %err, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let io = TokioIo::new(stream);
                    let served =
                        serve_connection(io, service, idle_timeout, pressure, closing).await;
                    if let Err(err) = served {
                        tracing::trace!(%peer, %err, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    drop(app);
    tracing::info!(grace = ?limits.shutdown_grace, "shutting down");
    shutdown.begin();
    let drained = async {
        // Every connection returns its permit when it ends; WebSocket sessions (which
        // outlive their connection's HTTP exchange) hold a shutdown listener until they end.
        let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
        let _all_closed = connections.acquire_many(all).await;
        shutdown.listeners_gone().await;
    };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(grace = ?limits.shutdown_grace, "connections still open after the shutdown grace period");
    }
    Ok(())
}

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
fn connection_cap(configured: usize) -> usize {
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
async fn accept(
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
async fn serve_connection<IO>(
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

/// The connection's service: each request counted in flight until its response body ends.
struct Tracked {
    inner: TowerToHyperService<axum::Router>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
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
async fn accept_error(err: std::io::Error) {
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

#[cfg(test)]
mod tests {
    use super::is_grpc;

    fn request(version: http::Version, content_type: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder().version(version);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn grpc_is_http2_with_a_grpc_content_type() {
        use http::Version;
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;x=y",
        ] {
            assert!(
                is_grpc(&request(Version::HTTP_2, Some(content_type))),
                "{content_type}"
            );
            assert!(
                !is_grpc(&request(Version::HTTP_11, Some(content_type))),
                "{content_type}"
            );
        }
        for content_type in [Some("application/json"), Some("application/grpc-web"), None] {
            assert!(
                !is_grpc(&request(Version::HTTP_2, content_type)),
                "{content_type:?}"
            );
        }
    }
}
