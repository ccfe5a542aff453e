//! The type-erased gRPC transport shared by every route.

use bytes::Bytes;
use tower::{BoxError, Service, ServiceExt, util::BoxCloneSyncService};

/// The gRPC transport every generated handler sends through (an upstream
/// [`tonic::transport::Channel`], or an in-process service), type-erased.
///
/// The error type is [`tonic::Status`] rather than a boxed error: with a `dyn Error` in the
/// service error, the futures of tonic clients built on this transport cannot be proven `Send`
/// (a higher-ranked lifetime limitation of the compiler), so they could not serve as handlers.
/// Cloning is cheap enough to do once per request.
pub type GrpcTransport = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    tonic::Status,
>;

/// Boxes any tonic-compatible gRPC service (e.g. [`tonic::transport::Channel`]) into a
/// [`GrpcTransport`].
///
/// Response bodies are wrapped into [`tonic::body::Body`]. Service errors are converted with
/// [`tonic::Status::try_from_error`]; those that carry no recognizable gRPC status (connection
/// refused, broken connection, ...) become [`tonic::Code::Unavailable`], so a gateway whose
/// upstream is unreachable answers 503.
pub fn transport<S, B>(svc: S) -> GrpcTransport
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        svc.map_response(|response: http::Response<B>| response.map(tonic::body::Body::new))
            .map_err(transport_error),
    )
}

/// Turns a transport-level error into a [`tonic::Status`]; tonic's timeout layer giving up is
/// a passed deadline (`DeadlineExceeded`), not the `Cancelled` tonic would make of it.
fn transport_error<E: Into<BoxError>>(err: E) -> tonic::Status {
    let err = err.into();
    if crate::deadline::is_timeout_expired(err.as_ref()) {
        return crate::deadline::deadline_exceeded();
    }
    match tonic::Status::try_from_error(err) {
        Ok(status) => status,
        Err(err) => tonic::Status::unavailable(format!("transport error: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real channel must be accepted (compile-time check only).
    #[allow(dead_code)]
    fn accepts_channel(channel: tonic::transport::Channel) -> GrpcTransport {
        transport(channel)
    }

    #[tokio::test]
    async fn plain_errors_become_unavailable() {
        let svc = tower::service_fn(|_req: http::Request<tonic::body::Body>| async {
            Err::<http::Response<tonic::body::Body>, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))
        });
        let err = transport(svc)
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert_eq!(err.message(), "transport error: connection refused");
    }

    #[tokio::test]
    async fn statuses_pass_through() {
        let svc = tower::service_fn(|_req: http::Request<tonic::body::Body>| async {
            Err::<http::Response<tonic::body::Body>, _>(tonic::Status::cancelled("gone"))
        });
        let err = transport(svc)
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Cancelled);
    }

    #[tokio::test]
    async fn timeouts_of_the_timeout_layer_are_passed_deadlines() {
        let svc = tower::service_fn(|_req: http::Request<tonic::body::Body>| async {
            Err::<http::Response<tonic::body::Body>, _>(tonic::TimeoutExpired(()))
        });
        let err = transport(svc)
            .oneshot(http::Request::new(tonic::body::Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(err.message(), "context deadline exceeded");
    }
}
