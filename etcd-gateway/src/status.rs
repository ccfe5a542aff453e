//! etcd's `/version` endpoint and, in [`health`], its health endpoints, answered from the
//! backend's Maintenance.Status (whose `errors` list the active alarms, as etcd's do).

pub mod health;

use axum::{extract::State, http::StatusCode, response::Response};
use gateway_runtime::GrpcTransport;
use serde_json::json;

pub use health::{health, livez, readyz};

/// `GET /version`: `{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}`, as etcd answers it.
pub async fn version(State(transport): State<GrpcTransport>) -> Response {
    match health::status(transport).await {
        Ok(status) => {
            let cluster = cluster_version(&status.version);
            // Built by hand to keep etcd's key order.
            let body = format!(
                r#"{{"etcdserver":{},"etcdcluster":{}}}"#,
                json!(status.version),
                json!(cluster)
            );
            gateway_runtime::error::json_response(StatusCode::OK, body.into())
        }
        Err(status) => gateway_runtime::error::error_response(&status),
    }
}

/// The cluster version etcd reports: the server's `major.minor` with patch 0.
fn cluster_version(server: &str) -> String {
    let mut parts = server.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}.0"),
        _ => server.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_version;

    #[test]
    fn cluster_version_drops_the_patch() {
        assert_eq!(cluster_version("3.5.1"), "3.5.0");
        assert_eq!(cluster_version("3.4.23"), "3.4.0");
        assert_eq!(cluster_version("weird"), "weird");
    }
}
