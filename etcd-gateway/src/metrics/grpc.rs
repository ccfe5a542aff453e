//! gRPC call metrics, read from the calls' HTTP/2 exchange: the final code is the
//! `grpc-status` of the response headers (a trailers-only answer) or trailers; a response body
//! dropped before its trailers is `Canceled`.
//!
//! - [`instrument_transport`]: the calls the gateway sends, on its [`GrpcTransport`] (to the
//!   upstream cluster, or in process to the embedded store);
//! - [`instrument_routes`]: the calls the embedded store's gRPC services answer, native and
//!   in process alike, as etcd's `grpc_server_handled_total`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use gateway_runtime::GrpcTransport;
use http_body::{Body, Frame, SizeHint};
use tonic::service::Routes;
use tonic::{Code, Status};
use tower::Service;
use tower::util::BoxCloneSyncService;

use super::registry::metrics;

/// `transport` with every call counted by service, method and code, and unary calls timed.
pub fn instrument_transport(transport: GrpcTransport) -> GrpcTransport {
    BoxCloneSyncService::new(ObservedTransport { inner: transport })
}

/// `routes` with every call they answer counted in `grpc_server_handled_total`.
pub fn instrument_routes(routes: Routes) -> Routes {
    let router = routes
        .into_axum_router()
        .layer(axum::middleware::from_fn(observe_server_call));
    Routes::from(router).prepare()
}

/// The kind of an etcd RPC, as grpc-go's metrics name it.
pub fn grpc_type(service: &str, method: &str) -> &'static str {
    match (service, method) {
        ("etcdserverpb.Watch", "Watch") | ("etcdserverpb.Lease", "LeaseKeepAlive") => "bidi_stream",
        ("etcdserverpb.Maintenance", "Snapshot") | ("v3electionpb.Election", "Observe") => {
            "server_stream"
        }
        _ => "unary",
    }
}

/// grpc-go's name of `code` (`Canceled`, not `Cancelled`), as etcd's metrics label it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Which side of a call is recorded.
enum Side {
    /// A call the gateway sent, started at the instant.
    Client(Instant),
    /// A call the embedded services answered.
    Server,
}

/// One call, recorded once its code is known.
struct Call {
    side: Side,
    service: String,
    method: String,
}

impl Call {
    /// The call of the request path `/<package.Service>/<Method>`.
    fn new(side: Side, path: &str) -> Self {
        let path = path.strip_prefix('/').unwrap_or(path);
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        Self {
            side,
            service: service.to_owned(),
            method: method.to_owned(),
        }
    }

    fn finish(self, code: Code) {
        let metrics = metrics();
        let kind = grpc_type(&self.service, &self.method);
        let (service, method, code) = (&*self.service, &*self.method, code_name(code));
        match self.side {
            Side::Client(started) => {
                metrics
                    .upstream_calls
                    .with_label_values(&[service, method, code])
                    .inc();
                if kind == "unary" {
                    metrics
                        .upstream_duration
                        .with_label_values(&[service, method])
                        .observe(started.elapsed().as_secs_f64());
                }
            }
            Side::Server => metrics
                .grpc_server_handled
                .with_label_values(&[service, method, code, kind])
                .inc(),
        }
    }

    /// Records the call now if `headers` carry its final status, or when `body` ends.
    fn watch<B>(self, response: http::Response<B>) -> http::Response<ObservedBody<B>> {
        let (parts, body) = response.into_parts();
        let call = match Status::from_header_map(&parts.headers) {
            Some(status) => {
                self.finish(status.code());
                None
            }
            None => Some(self),
        };
        http::Response::from_parts(parts, ObservedBody { inner: body, call })
    }
}

/// A call's response body, recording the call at its trailers, error, end or drop.
struct ObservedBody<B> {
    inner: B,
    call: Option<Call>,
}

impl<B> ObservedBody<B> {
    fn finish(&mut self, code: Code) {
        if let Some(call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl<B> Body for ObservedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<tower::BoxError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                    self.finish(status.code());
                }
            }
            Poll::Ready(Some(Err(_))) => self.finish(Code::Unavailable),
            Poll::Ready(None) => self.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for ObservedBody<B> {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// The transport with every call recorded.
#[derive(Clone)]
struct ObservedTransport {
    inner: GrpcTransport,
}

type CallFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Status>> + Send>>;

impl Service<http::Request<tonic::body::Body>> for ObservedTransport {
    type Response = http::Response<tonic::body::Body>;
    type Error = Status;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> CallFuture {
        let call = Call::new(Side::Client(Instant::now()), request.uri().path());
        let response = self.inner.call(request);
        Box::pin(async move {
            match response.await {
                Ok(response) => Ok(call.watch(response).map(tonic::body::Body::new)),
                Err(status) => {
                    call.finish(status.code());
                    Err(status)
                }
            }
        })
    }
}

/// Middleware on the embedded gRPC routes: records every call they answer.
async fn observe_server_call(request: Request, next: Next) -> Response {
    let call = Call::new(Side::Server, request.uri().path());
    let response = next.run(request).await;
    call.watch(response).map(axum::body::Body::new)
}
