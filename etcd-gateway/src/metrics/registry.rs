//! The process-wide registry and every metric the gateway keeps.

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The gateway's metrics.
pub struct Metrics {
    /// The registry every metric below is registered in.
    pub registry: Registry,
    /// `etcd_gateway_http_requests_total{route,method,code}`.
    pub http_requests: IntCounterVec,
    /// `etcd_gateway_http_request_duration_seconds{route,method}`.
    pub http_duration: HistogramVec,
    /// `etcd_gateway_http_open_streams{route}`.
    pub open_streams: IntGaugeVec,
    /// `etcd_gateway_websocket_connections{route}`.
    pub websockets: IntGaugeVec,
    /// `etcd_gateway_upstream_calls_total{grpc_service,grpc_method,grpc_code}`.
    pub upstream_calls: IntCounterVec,
    /// `etcd_gateway_upstream_call_duration_seconds{grpc_service,grpc_method}` (unary calls).
    pub upstream_duration: HistogramVec,
    /// `etcd_gateway_upstream_member_healthy{member}`.
    pub member_healthy: IntGaugeVec,
    /// etcd's `grpc_server_handled_total{grpc_service,grpc_method,grpc_code,grpc_type}`.
    pub grpc_server_handled: IntCounterVec,
    /// etcd's `etcd_disk_backend_commit_duration_seconds`.
    pub backend_commit: Histogram,
}

/// The metrics, registered on first use.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let metrics = Self {
            http_requests: IntCounterVec::new(
                Opts::new(
                    "etcd_gateway_http_requests_total",
                    "HTTP requests answered, by route template, method and status code.",
                ),
                &["route", "method", "code"],
            )
            .expect("valid metric"),
            http_duration: HistogramVec::new(
                HistogramOpts::new(
                    "etcd_gateway_http_request_duration_seconds",
                    "Time from an HTTP request's arrival to its response headers (for streams: \
                     to the first message), by route template and method.",
                ),
                &["route", "method"],
            )
            .expect("valid metric"),
            open_streams: IntGaugeVec::new(
                Opts::new(
                    "etcd_gateway_http_open_streams",
                    "Streamed HTTP responses (JSON lines or Server-Sent Events) open, by route.",
                ),
                &["route"],
            )
            .expect("valid metric"),
            websockets: IntGaugeVec::new(
                Opts::new(
                    "etcd_gateway_websocket_connections",
                    "WebSocket sessions open, by route.",
                ),
                &["route"],
            )
            .expect("valid metric"),
            upstream_calls: IntCounterVec::new(
                Opts::new(
                    "etcd_gateway_upstream_calls_total",
                    "gRPC calls sent by the gateway (to the upstream cluster or the embedded \
                     store), by service, method and final gRPC code.",
                ),
                &["grpc_service", "grpc_method", "grpc_code"],
            )
            .expect("valid metric"),
            upstream_duration: HistogramVec::new(
                HistogramOpts::new(
                    "etcd_gateway_upstream_call_duration_seconds",
                    "Duration of the unary gRPC calls sent by the gateway, by service and method.",
                ),
                &["grpc_service", "grpc_method"],
            )
            .expect("valid metric"),
            member_healthy: IntGaugeVec::new(
                Opts::new(
                    "etcd_gateway_upstream_member_healthy",
                    "Whether an upstream member answered its last health check (1) or not (0).",
                ),
                &["member"],
            )
            .expect("valid metric"),
            grpc_server_handled: IntCounterVec::new(
                Opts::new(
                    "grpc_server_handled_total",
                    "Total number of RPCs completed on the server, regardless of success or \
                     failure.",
                ),
                &["grpc_service", "grpc_method", "grpc_code", "grpc_type"],
            )
            .expect("valid metric"),
            backend_commit: Histogram::with_opts(
                HistogramOpts::new(
                    "etcd_disk_backend_commit_duration_seconds",
                    "The latency distributions of commit called by backend.",
                )
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 14).expect("valid buckets")),
            )
            .expect("valid metric"),
            registry,
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 9] = [
            Box::new(metrics.http_requests.clone()),
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.open_streams.clone()),
            Box::new(metrics.websockets.clone()),
            Box::new(metrics.upstream_calls.clone()),
            Box::new(metrics.upstream_duration.clone()),
            Box::new(metrics.member_healthy.clone()),
            Box::new(metrics.grpc_server_handled.clone()),
            Box::new(metrics.backend_commit.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("metric names are unique");
        }
        metrics
    }
}

/// Every metric in Prometheus' text format.
pub fn render() -> String {
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&metrics().registry.gather(), &mut text)
        .expect("text encoding into memory does not fail");
    String::from_utf8(text).expect("the text format is UTF-8")
}

/// `GET /metrics`.
pub async fn serve_metrics() -> Response {
    (
        [(http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        render(),
    )
        .into_response()
}
