//! One listener for everything, as etcd has: the JSON gateway over HTTP/1.1 and HTTP/2, and,
//! with the embedded backend, etcd's native gRPC API.
//!
//! Requests are told apart the way etcd does it: an HTTP/2 request whose `content-type` is
//! `application/grpc` (or `application/grpc+<codec>`, or with parameters) goes to the gRPC
//! services; every other request goes to the JSON gateway. HTTP/2 is accepted with prior
//! knowledge (h2c, as gRPC clients speak it) next to HTTP/1.1 on the same port; with TLS
//! (`--cert-file`), the client chooses by ALPN.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use gateway_runtime::shutdown::{Shutdown, ShutdownListener};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tonic::service::Routes;
use tower::ServiceExt;

use crate::backend::Backend;
use crate::config::parse_duration;
use crate::tls::ServerTls;

mod connection;
mod host;

use connection::{accept, accept_error, connection_cap, serve_connection};

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
    /// message of a bidirectional stream, each WebSocket message. Larger requests get 413 (gRPC
    /// code 8) [default: 2162688, etcd's 1.5 MiB × 4/3 for base64 plus 64 KiB of JSON].
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

    /// Most client connections open at once (lowered to fit the open files limit); while all
    /// are taken, further clients wait and connections idle for a second are closed.
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
            .map(crate::embedded::message_size::as_resource_exhausted)
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
