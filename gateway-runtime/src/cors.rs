//! CORS headers on every response and the blanket `OPTIONS` answer.

use axum::{extract::Request, middleware::Next, response::Response};
use http::{HeaderMap, HeaderValue, Method, header};

const ALLOW_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static("accept, content-type, authorization");

/// Middleware: answers `OPTIONS` on any path with 200 and an empty body before routing, and
/// adds the CORS headers to every response.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        Response::default()
    } else {
        next.run(request).await
    };
    add_cors_headers(response.headers_mut());
    response
}

fn add_cors_headers(headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, ALLOW_ORIGIN);
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
}
