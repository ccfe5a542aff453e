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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::ServiceExt;

use crate::backend::Backend;
use crate::tls::ServerTls;

/// The complete application of `backend`: the JSON gateway, plus the gRPC services if the
/// backend has some to serve.
pub fn app(backend: &Backend, max_body_bytes: usize) -> axum::Router {
    let gateway = crate::app(backend.transport(), max_body_bytes);
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

/// Serves `app` on `listener` (over TLS if `tls` is given) until `shutdown` resolves, then
/// lets the open requests finish.
///
/// Each connection is served by hyper's automatic HTTP/1.1-or-HTTP/2 builder: with TLS the
/// client picks by ALPN (`h2` or `http/1.1`), without it HTTP/2 is recognized by its preface
/// (prior knowledge). Upgrades (WebSocket) are supported on both.
pub async fn run(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let tls = tls.map(Arc::new);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        // One reference count per connection: the finished router is shared, never rebuilt
        // (serving a `Router` through axum's per-connection `with_state` would rebuild every
        // route's service stack: ~200 KiB per connection with this route table, paid by
        // every open watch stream).
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        // Plain and TLS connections are separate tasks, so a plain connection's task does
        // not carry the (larger) state of a TLS handshake.
        match &tls {
            None => {
                tokio::spawn(async move {
                    let served = serve_connection(TokioIo::new(tcp), service, watcher).await;
                    if let Err(err) = served {
                        tracing::trace!(%peer, %err, "connection ended with an error");
                    }
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
                    let served = serve_connection(TokioIo::new(stream), service, watcher).await;
                    if let Err(err) = served {
                        tracing::trace!(%peer, %err, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one connection with HTTP/1.1 or HTTP/2, shut down gracefully with the server.
async fn serve_connection<IO>(
    io: TokioIo<IO>,
    service: TowerToHyperService<axum::Router>,
    watcher: Watcher,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // The CONNECT protocol carries WebSockets over HTTP/2.
        builder.http2().enable_connect_protocol();
        builder
            .serve_connection_with_upgrades(io, service)
            .into_owned()
    };
    watcher.watch(connection).await
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
