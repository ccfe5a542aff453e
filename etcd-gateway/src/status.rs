//! etcd's `/version` and `/health` endpoints, answered from the backend's Maintenance.Status
//! (whose `errors` list the active alarms, as etcd's do).

use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
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

/// `GET /health`: `{"health":"true"}`, or 503 `{"health":"false","reason":...}`. An active
/// alarm gives etcd 3.5's reason (`ALARM NOSPACE`, `ALARM CORRUPT`) unless its type is named
/// in an `exclude` query parameter (`/health?exclude=NOSPACE`), as etcd's.
pub async fn health(State(transport): State<GrpcTransport>, RawQuery(query): RawQuery) -> Response {
    let excluded = excluded_alarms(query.as_deref().unwrap_or_default());
    let reason = match upstream_status(transport).await {
        Ok(status) => match alarm_reason(&status.errors, &excluded) {
            Some(reason) => reason,
            None if status.leader == 0 => "no leader".to_owned(),
            None => {
                let others: Vec<&String> = status
                    .errors
                    .iter()
                    .filter(|error| alarm_type(error).is_none())
                    .collect();
                if others.is_empty() {
                    return json_response(StatusCode::OK, json!({"health": "true"}));
                }
                others
                    .iter()
                    .map(|error| error.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        },
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

/// The alarm type of a `Status` error that reports an alarm (`memberID:1 alarm:NOSPACE `).
fn alarm_type(error: &str) -> Option<&str> {
    let rest = error.strip_prefix("memberID:")?;
    let (_member, alarm) = rest.split_once(" alarm:")?;
    Some(alarm.trim_end())
}

/// etcd's `/health` reason for the first active alarm not excluded: `ALARM NOSPACE`,
/// `ALARM CORRUPT`, or `ALARM UNKNOWN` for another type.
fn alarm_reason(errors: &[String], excluded: &[String]) -> Option<String> {
    errors
        .iter()
        .filter_map(|error| alarm_type(error))
        .find(|alarm| !excluded.iter().any(|name| name == alarm))
        .map(|alarm| match alarm {
            "NOSPACE" | "CORRUPT" => format!("ALARM {alarm}"),
            _ => "ALARM UNKNOWN".to_owned(),
        })
}

/// The alarm types named by the `exclude` parameters of a query string.
fn excluded_alarms(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == "exclude")
        .map(|(_, value)| value.to_owned())
        .collect()
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
    use super::{alarm_reason, cluster_version, excluded_alarms};

    #[test]
    fn alarms_give_etcds_health_reasons() {
        let errors = vec![
            "etcdserver: no leader".to_owned(),
            "memberID:10276657743932975437 alarm:NOSPACE ".to_owned(),
        ];
        assert_eq!(alarm_reason(&errors, &[]).as_deref(), Some("ALARM NOSPACE"));
        let excluded = excluded_alarms("exclude=NOSPACE&other=1");
        assert_eq!(excluded, vec!["NOSPACE".to_owned()]);
        assert_eq!(alarm_reason(&errors, &excluded), None);
        let corrupt = vec!["memberID:1 alarm:CORRUPT ".to_owned()];
        assert_eq!(
            alarm_reason(&corrupt, &[]).as_deref(),
            Some("ALARM CORRUPT")
        );
        let unknown = vec!["memberID:1 alarm:7 ".to_owned()];
        assert_eq!(
            alarm_reason(&unknown, &[]).as_deref(),
            Some("ALARM UNKNOWN")
        );
    }

    #[test]
    fn cluster_version_drops_the_patch() {
        assert_eq!(cluster_version("3.5.1"), "3.5.0");
        assert_eq!(cluster_version("3.4.23"), "3.4.0");
        assert_eq!(cluster_version("weird"), "weird");
    }
}
