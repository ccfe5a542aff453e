//! HTTP/1.1 requests without a `Host` header, refused as Go's net/http (and so etcd) refuses
//! them: RFC 9112 §3.2 requires the header, and a server must answer 400 without it.

use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, Version, header};

/// Go's answer, its reason phrase and its body alike.
const MISSING_HOST: &str = "Bad Request: missing required Host header";

/// Whether `request` is an HTTP/1.1 request (other than `CONNECT`) without a `Host` header.
/// HTTP/1.0 needs none; HTTP/2 carries the authority in its `:authority` pseudo-header.
pub(super) fn lacks_host<B>(request: &http::Request<B>) -> bool {
    request.version() == Version::HTTP_11
        && request.method() != Method::CONNECT
        && !request.headers().contains_key(header::HOST)
}

/// Go's `400 Bad Request: missing required Host header`, as plain text, closing the
/// connection.
pub(super) fn missing_host() -> Response {
    let body = format!("400 {MISSING_HOST}");
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(
            MISSING_HOST.as_bytes(),
        ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::lacks_host;

    fn request(version: http::Version, method: &str, host: Option<&str>) -> http::Request<()> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/health")
            .version(version);
        if let Some(host) = host {
            builder = builder.header("host", host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_http_1_1_needs_a_host() {
        use http::Version;
        assert!(lacks_host(&request(Version::HTTP_11, "GET", None)));
        assert!(!lacks_host(&request(Version::HTTP_11, "GET", Some("x"))));
        assert!(!lacks_host(&request(Version::HTTP_11, "GET", Some(""))));
        assert!(!lacks_host(&request(Version::HTTP_11, "CONNECT", None)));
        assert!(!lacks_host(&request(Version::HTTP_10, "GET", None)));
        assert!(!lacks_host(&request(Version::HTTP_2, "GET", None)));
    }
}
