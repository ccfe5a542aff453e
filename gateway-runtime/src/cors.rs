//! CORS headers on every response and the blanket `OPTIONS` answer, as etcd's gateway sends
//! them.

use axum::{Router, extract::Request, middleware::Next, response::Response};
use http::{HeaderValue, Method, header};
use tower_http::set_header::SetResponseHeaderLayer;

const ALLOW_ORIGIN: HeaderValue = HeaderValue::from_static("*");
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static("accept, content-type, authorization");

/// `router` answering `OPTIONS` on any path with 200 and an empty body before routing, and
/// with the CORS headers on every response.
///
/// tower-http's `CorsLayer` is not used: it sends the method and header lists only on
/// preflight requests (with `Origin`), joined without spaces, where etcd sends them always.
pub(crate) fn layer(router: Router) -> Router {
    router
        .layer(axum::middleware::from_fn(answer_options))
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            ALLOW_ORIGIN,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            ALLOW_METHODS,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            ALLOW_HEADERS,
        ))
}

/// Middleware: `OPTIONS` is 200 with an empty body on any path, routed or not.
async fn answer_options(request: Request, next: Next) -> Response {
    if request.method() == Method::OPTIONS {
        Response::default()
    } else {
        next.run(request).await
    }
}
