//! The JSON gateway's request metrics: a middleware counting every request by route template
//! (the router path, e.g. `/v3/kv/put`, never the raw path), method and status, timing it, and
//! counting the streams and WebSocket sessions it opens; it also writes the request log line.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use gateway_runtime::session::{SessionGuard, SessionHook, SessionKind};
use http::Method;
use prometheus::IntGauge;

use super::registry::metrics;

/// The route label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware (for [`axum::middleware::from_fn`] on the routed gateway): counts, times and
/// logs each request, and counts the sessions it opens.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .into();
    let method = request.method().clone();
    let method_label = method_label(&method);
    request
        .extensions_mut()
        .insert(session_hook(Arc::clone(&route)));
    let response = next.run(request).await;
    let latency = started.elapsed();
    let status = response.status();
    let metrics = metrics();
    metrics
        .http_requests
        .with_label_values(&[&*route, method_label, status.as_str()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[&*route, method_label])
        .observe(latency.as_secs_f64());
    crate::logging::log_request(&method, &route, status, latency);
    response
}

/// The method label: a standard method's name, `other` for any extension method (which a
/// client may invent without bound).
fn method_label(method: &Method) -> &str {
    match method.as_str() {
        name @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS" | "CONNECT"
        | "TRACE") => name,
        _ => "other",
    }
}

/// Counts the sessions of `route` while they are open.
fn session_hook(route: Arc<str>) -> SessionHook {
    SessionHook::new(move |kind| -> SessionGuard {
        let gauges = match kind {
            SessionKind::Stream => &metrics().open_streams,
            SessionKind::WebSocket => &metrics().websockets,
        };
        Box::new(OpenSession::new(gauges.with_label_values(&[&*route])))
    })
}

/// One open session: counted up on creation, down on drop.
struct OpenSession(IntGauge);

impl OpenSession {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.dec();
    }
}
