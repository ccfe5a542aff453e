//! Prometheus metrics, served at `GET /metrics` (and on `--listen-metrics-urls`):
//!
//! - [`http`]: every JSON gateway request by route template, method and status, its latency,
//!   and the open streams and WebSocket sessions by route;
//! - [`grpc`]: the gRPC calls the gateway sends (to the upstream cluster, or in process to the
//!   embedded store) by method and code, and, with the embedded backend, etcd's
//!   `grpc_server_handled_total` for native and in-process calls alike;
//! - [`embedded`]: the embedded store's gauges under etcd's names, and its commit latency;
//! - [`record_member_health`]: the health of each upstream member;
//! - [`listener`]: the separate metrics listener.
//!
//! Every metric lives in one process-wide registry ([`registry`]).

mod args;
pub mod embedded;
pub mod grpc;
pub mod http;
pub mod listener;
pub mod registry;

pub use args::ObservabilityArgs;
pub use registry::{render, serve_metrics};

/// Records whether the upstream member at `url` is healthy
/// (`etcd_gateway_upstream_member_healthy{member=url}` 1 or 0).
pub fn record_member_health(url: &str, healthy: bool) {
    registry::metrics()
        .member_healthy
        .with_label_values(&[url])
        .set(i64::from(healthy));
}

#[cfg(test)]
mod tests {
    use super::{record_member_health, render};

    #[test]
    fn member_health_is_one_gauge_per_member() {
        record_member_health("http://10.0.0.1:2379", true);
        record_member_health("http://10.0.0.2:2379", true);
        record_member_health("http://10.0.0.2:2379", false);
        let text = render();
        for line in [
            r#"etcd_gateway_upstream_member_healthy{member="http://10.0.0.1:2379"} 1"#,
            r#"etcd_gateway_upstream_member_healthy{member="http://10.0.0.2:2379"} 0"#,
        ] {
            assert!(
                text.lines().any(|sample| sample == line),
                "{line} in:\n{text}"
            );
        }
    }
}
