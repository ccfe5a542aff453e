//! The JSON error shape and the gRPC code → HTTP status mapping.
//!
//! Error bodies are `{"error":MSG,"code":N,"message":MSG}` (grpc-gateway v1.16 field order),
//! where `N` is the numeric gRPC code and `MSG` the status message.

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use std::io::Write as _;
use tonic::{Code, Status};

/// Maps a gRPC code to an HTTP status using grpc-gateway v1.16's table.
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// Serializes the error body `{"error":MSG,"code":N,"message":MSG}`.
pub(crate) fn error_body(code: Code, message: &str) -> Bytes {
    let escaped = serde_json::to_string(message).expect("a string always serializes");
    let code = code as i32;
    let mut body = Vec::with_capacity(2 * escaped.len() + 40);
    body.extend_from_slice(b"{\"error\":");
    body.extend_from_slice(escaped.as_bytes());
    body.extend_from_slice(b",\"code\":");
    write!(body, "{code}").expect("writing to a Vec cannot fail");
    body.extend_from_slice(b",\"message\":");
    body.extend_from_slice(escaped.as_bytes());
    body.push(b'}');
    Bytes::from(body)
}

/// The JSON error response for a gRPC status, with the HTTP status from [`http_status`].
pub fn error_response(status: &Status) -> Response {
    error_response_with(http_status(status.code()), status)
}

/// The JSON error response for a gRPC status, with an explicit HTTP status
/// (e.g. 413 for an oversized body, whose gRPC code alone would map to 429).
pub(crate) fn error_response_with(http: StatusCode, status: &Status) -> Response {
    json_response(http, error_body(status.code(), status.message()))
}

/// A response with the given status, `Content-Type: application/json` and `body`.
pub fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 404 for a path no route matches: `{"error":"Not Found","code":5,"message":"Not Found"}`.
pub fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        Bytes::from_static(br#"{"error":"Not Found","code":5,"message":"Not Found"}"#),
    )
}

/// 405 for a known path requested with a method it does not serve:
/// `{"error":"Method Not Allowed","code":12,"message":"Method Not Allowed"}`.
pub(crate) fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(
            br#"{"error":"Method Not Allowed","code":12,"message":"Method Not Allowed"}"#,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn status_table() {
        let expected = [
            (0, 200),
            (1, 408),
            (2, 500),
            (3, 400),
            (4, 504),
            (5, 404),
            (6, 409),
            (7, 403),
            (8, 429),
            (9, 400),
            (10, 409),
            (11, 400),
            (12, 501),
            (13, 500),
            (14, 503),
            (15, 500),
            (16, 401),
            (17, 500),
            (99, 500),
        ];
        for (code, http) in expected {
            assert_eq!(
                http_status(Code::from_i32(code)).as_u16(),
                http,
                "code {code}"
            );
        }
    }

    #[test]
    fn body_shape_and_escaping() {
        assert_eq!(
            &error_body(Code::Unknown, r#""leader" field must be provided"#)[..],
            br#"{"error":"\"leader\" field must be provided","code":2,"message":"\"leader\" field must be provided"}"#
        );
        assert_eq!(
            &error_body(Code::Unauthenticated, "")[..],
            br#"{"error":"","code":16,"message":""}"#
        );
    }

    #[tokio::test]
    async fn response_has_status_content_type_and_body() {
        let response = error_response(&Status::out_of_range("compacted"));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            &body[..],
            br#"{"error":"compacted","code":11,"message":"compacted"}"#
        );
    }

    #[test]
    fn routing_errors_match_the_general_shape() {
        assert_eq!(
            error_body(Code::NotFound, "Not Found"),
            Bytes::from_static(br#"{"error":"Not Found","code":5,"message":"Not Found"}"#)
        );
        assert_eq!(
            error_body(Code::Unimplemented, "Method Not Allowed"),
            Bytes::from_static(
                br#"{"error":"Method Not Allowed","code":12,"message":"Method Not Allowed"}"#
            )
        );
    }
}
