//! HTTP/JSON gateway for etcd's gRPC API.
//!
//! The route handlers and message types are generated from etcd's `.proto` files (see
//! [`generated`]); [`gateway_runtime`] does the HTTP work; this crate adds configuration,
//! the backends ([`backend`]: the [`upstream`] connection, or the [`embedded`] store whose
//! gRPC services are also served natively, see [`serve`]) and etcd's `/version` and `/health`
//! endpoints, Prometheus [`metrics`] at `/metrics`, the [`logging`] setup, [`tls`] on both
//! sides, and the [`migrate`] command (embedded store to a real etcd cluster).
#![deny(missing_docs)]

pub mod backend;
pub mod config;
pub mod docs;
pub mod embedded;
pub mod logging;
pub mod metrics;
pub mod migrate;
#[rustfmt::skip]
pub mod generated;
pub mod resume;
pub mod serve;
pub mod status;
pub mod tls;
pub mod upstream;

use axum::routing::get;
use gateway_runtime::{GatewayRouter, GrpcTransport};

pub use generated::{authpb, etcdserverpb, mvccpb, v3electionpb, v3lockpb};

/// The API prefix of etcd's gateway since 3.4.
pub const API_PREFIX: &str = "/v3/";
/// Older prefixes still served: `/v3beta/` (etcd 3.3) and `/v3alpha/` (etcd 3.2).
pub const LEGACY_PREFIXES: &[&str] = &["/v3beta/", "/v3alpha/"];

/// The complete HTTP application in front of `transport`: every request counted, timed and
/// logged by route ([`metrics::http`]), every gRPC call by method and code
/// ([`metrics::grpc`]); its streams end when `shutdown` begins.
pub fn app(
    transport: GrpcTransport,
    max_body_bytes: usize,
    shutdown: gateway_runtime::shutdown::ShutdownListener,
) -> axum::Router {
    let router = GatewayRouter::new(metrics::grpc::instrument_transport(transport))
        .prefix_aliases(API_PREFIX, LEGACY_PREFIXES)
        .max_body_bytes(max_body_bytes)
        .shutdown(shutdown)
        .route("/version", get(status::version))
        .route("/metrics", get(metrics::serve_metrics));
    let router = status::health::routes()
        .into_iter()
        .fold(router, |router, (path, route)| router.route(&path, route));
    let router = docs::routes()
        .into_iter()
        .fold(router, |router, (path, route)| router.route(path, route));
    generated::routes::register(router)
        .into_router()
        .layer(axum::middleware::from_fn(metrics::http::observe))
}
