//! Size-limited reading of request bodies.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tonic::Status;

use crate::error::{error_response, error_response_with};

/// Default maximum request body size: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads a whole request body of at most `limit` bytes.
///
/// A body over the limit (announced by `Content-Length` or found while reading) yields a
/// ready-made 413 JSON error with gRPC code `ResourceExhausted`; a body that fails to arrive
/// yields a 400 JSON error.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, Response> {
    if body.size_hint().lower() > limit as u64 {
        return Err(too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(err) => {
            tracing::debug!(error = %err, "failed to read request body");
            Err(error_response(&Status::invalid_argument(format!(
                "failed to read request body: {err}"
            ))))
        }
    }
}

fn too_large(limit: usize) -> Response {
    error_response_with(
        StatusCode::PAYLOAD_TOO_LARGE,
        &Status::resource_exhausted(format!(
            "request body is larger than the limit of {limit} bytes"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> Bytes {
        response.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn reads_within_the_limit() {
        let bytes = read_body(axum::body::Body::from("12345"), 5).await.unwrap();
        assert_eq!(&bytes[..], b"12345");
    }

    #[tokio::test]
    async fn rejects_over_the_limit() {
        let response = read_body(axum::body::Body::from("123456"), 5)
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            &body_of(response).await[..],
            br#"{"error":"request body is larger than the limit of 5 bytes","code":8,"message":"request body is larger than the limit of 5 bytes"}"#
        );
    }

    #[tokio::test]
    async fn rejects_streamed_bodies_over_the_limit() {
        let chunks = futures_util::stream::iter(
            (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"abc"))),
        );
        let body = axum::body::Body::from_stream(chunks);
        let response = read_body(body, 10).await.unwrap_err();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn read_failures_are_bad_requests() {
        let chunks = futures_util::stream::iter([
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let response = read_body(axum::body::Body::from_stream(chunks), 10)
            .await
            .unwrap_err();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            &body_of(response).await[..],
            br#"{"error":"failed to read request body: connection reset","code":3,"message":"failed to read request body: connection reset"}"#
        );
    }
}
