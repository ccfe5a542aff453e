//! etcd's `/version` and `/health` endpoints, answered from the upstream's Maintenance.Status.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, response::Response};
use gateway_runtime::GrpcTransport;
use serde_json::json;

use crate::etcdserverpb::{StatusRequest, StatusResponse, maintenance_client::MaintenanceClient};

/// How long `/health` waits for the upstream.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

async fn upstream_status(transport: GrpcTransport) -> Result<StatusResponse, tonic::Status> {
    let mut request = tonic::Request::new(StatusRequest {});
    request.set_timeout(HEALTH_TIMEOUT);
    Ok(MaintenanceClient::new(transport)
        .status(request)
        .await?
        .into_inner())
}

/// `GET /version`: `{"etcdserver":"3.5.1","etcdcluster":"3.5.0"}`, as etcd answers it.
pub async fn version(State(transport): State<GrpcTransport>) -> Response {
    match upstream_status(transport).await {
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

/// `GET /health`: `{"health":"true"}`, or 503 `{"health":"false","reason":...}`.
pub async fn health(State(transport): State<GrpcTransport>) -> Response {
    let reason = match upstream_status(transport).await {
        Ok(status) if status.leader == 0 => "no leader".to_owned(),
        Ok(status) if !status.errors.is_empty() => status.errors.join("; "),
        Ok(_) => return json_response(StatusCode::OK, json!({"health": "true"})),
        Err(status) => status.message().to_owned(),
    };
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"health": "false", "reason": reason}),
    )
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    gateway_runtime::error::json_response(status, body.to_string().into())
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
