//! One listener for everything, as etcd has: the JSON gateway over HTTP/1.1 and HTTP/2, and,
//! with the embedded backend, etcd's native gRPC API.
//!
//! Requests are told apart the way etcd does it: an HTTP/2 request whose `content-type` is
//! `application/grpc` (or `application/grpc+<codec>`, or with parameters) goes to the gRPC
//! services; every other request goes to the JSON gateway. HTTP/2 is accepted with prior
//! knowledge (h2c, as gRPC clients speak it) next to HTTP/1.1 on the same port.

use std::future::Future;

use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::ServiceExt;

use crate::backend::Backend;

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

/// Serves `app` on `listener` until `shutdown` resolves, then lets the open requests finish.
pub async fn run(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
    });
    // Served as a make-service: each connection gets a clone of the finished router (one
    // reference count), where serving the `Router` itself would rebuild every route's service
    // stack for each connection (axum's `with_state` per connection): ~200 KiB per connection
    // with this route table, paid by every open watch stream.
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
        .context("server error")
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
