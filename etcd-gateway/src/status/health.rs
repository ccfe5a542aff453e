//! etcd's health endpoints: `/health` (etcd 3.5.1's JSON body) and `/livez` / `/readyz` with
//! their per-check subpaths (etcd ≥ 3.5.12's plain-text bodies), in both backends.
//!
//! Each check asks the backend: `Maintenance.Status` for the alarms and the leader, a
//! one-key `Range` for reads. An upstream that cannot be reached fails them, so the gateway
//! reports unhealthy when its cluster is.

use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use gateway_runtime::GrpcTransport;

use crate::etcdserverpb::{
    RangeRequest, StatusRequest, StatusResponse, kv_client::KvClient,
    maintenance_client::MaintenanceClient,
};

/// How long each health check waits for the backend.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The checks of `/livez`, as etcd registers them.
const LIVEZ_CHECKS: &[&str] = &["serializable_read"];
/// The checks of `/readyz`, as etcd registers them (run in this order).
const READYZ_CHECKS: &[&str] = &["data_corruption", "linearizable_read", "serializable_read"];

/// The backend's `Maintenance.Status`.
pub(super) async fn status(transport: GrpcTransport) -> Result<StatusResponse, tonic::Status> {
    let mut request = tonic::Request::new(StatusRequest {});
    request.set_timeout(HEALTH_TIMEOUT);
    Ok(MaintenanceClient::new(transport)
        .status(request)
        .await?
        .into_inner())
}

/// A one-key, keys-only `Range`, as etcd's read checks do. An auth error counts as success:
/// the backend answered (etcd runs its check as root; 3.5.1 ignores these errors too).
async fn read(transport: GrpcTransport, serializable: bool) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(RangeRequest {
        key: b"a".to_vec(),
        keys_only: true,
        limit: 1,
        serializable,
        ..Default::default()
    });
    request.set_timeout(HEALTH_TIMEOUT);
    match KvClient::new(transport).range(request).await {
        Ok(_) => Ok(()),
        Err(status) if is_auth_refusal(&status) => Ok(()),
        Err(status) => Err(status),
    }
}

/// Whether `status` is the refusal of an unauthenticated or unauthorized request.
fn is_auth_refusal(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::PermissionDenied
        || status.message().ends_with("user name is empty")
}

/// The values of every `name` parameter of a query string (empty values skipped, as etcd).
fn query_values<'q>(query: &'q str, name: &str) -> Vec<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value)
        .collect()
}

/// Whether a query string has the parameter `name`, with or without a value.
fn query_has(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair.split_once('=').map_or(pair, |(key, _)| key) == name)
}

/// The alarm type of a `Status` error that reports an alarm (`memberID:1 alarm:NOSPACE `).
fn alarm_type(error: &str) -> Option<&str> {
    let rest = error.strip_prefix("memberID:")?;
    let (_member, alarm) = rest.split_once(" alarm:")?;
    Some(alarm.trim_end())
}

/// etcd's `/health` reason for the first active alarm not excluded: `ALARM NOSPACE`,
/// `ALARM CORRUPT`, or `ALARM UNKNOWN` for another type.
fn alarm_reason(errors: &[String], excluded: &[&str]) -> Option<String> {
    errors
        .iter()
        .filter_map(|error| alarm_type(error))
        .find(|alarm| !excluded.contains(alarm))
        .map(|alarm| match alarm {
            "NOSPACE" | "CORRUPT" => format!("ALARM {alarm}"),
            _ => "ALARM UNKNOWN".to_owned(),
        })
}

/// Why `/health` is unhealthy, or `None`: etcd's checks in etcd's order (alarms not
/// excluded, then the leader unless `serializable`, then a read). An unreachable backend
/// reports `GET ERROR:<message>`, as etcd's gRPC proxy does.
async fn health_problem(
    transport: GrpcTransport,
    excluded: &[&str],
    serializable: bool,
) -> Option<String> {
    let status = match status(transport.clone()).await {
        Ok(status) => status,
        Err(err) => return Some(format!("GET ERROR:{}", err.message())),
    };
    if let Some(reason) = alarm_reason(&status.errors, excluded) {
        return Some(reason);
    }
    if !serializable && status.leader == 0 {
        return Some("RAFT NO LEADER".to_owned());
    }
    read(transport, serializable)
        .await
        .err()
        .map(|err| format!("RANGE ERROR:{}", err.message()))
}

/// `GET /health`: `{"health":"true","reason":""}`, or 503 `{"health":"false","reason":...}`
/// followed by a newline, as etcd 3.5 answers. `?exclude=NOSPACE` ignores that alarm;
/// `?serializable=true` skips the leader check and reads serializably (etcd ≥ 3.5.12).
pub async fn health(State(transport): State<GrpcTransport>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let excluded = query_values(&query, "exclude");
    let serializable = query_values(&query, "serializable").first() == Some(&"true");
    match health_problem(transport, &excluded, serializable).await {
        None => json_response(StatusCode::OK, health_body("true", "")),
        Some(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            health_body("false", &reason) + "\n",
        ),
    }
}

/// etcd's `Health` JSON: `{"health":...,"reason":...}`.
fn health_body(health: &str, reason: &str) -> String {
    serde_json::json!({"health": health, "reason": reason}).to_string()
}

fn json_response(status: StatusCode, body: String) -> Response {
    gateway_runtime::error::json_response(status, body.into())
}

/// Runs one named check: `Err` carries etcd's failure text.
async fn run_check(transport: GrpcTransport, name: &str) -> Result<(), String> {
    match name {
        "data_corruption" => {
            let status = status(transport)
                .await
                .map_err(|err| err.message().to_owned())?;
            if status
                .errors
                .iter()
                .any(|error| alarm_type(error) == Some("CORRUPT"))
            {
                return Err("alarm activated: CORRUPT".to_owned());
            }
            Ok(())
        }
        "linearizable_read" => read(transport, false)
            .await
            .map_err(|err| err.message().to_owned()),
        "serializable_read" => read(transport, true)
            .await
            .map_err(|err| err.message().to_owned()),
        other => Err(format!("no health check named {other:?}")),
    }
}

/// Runs `checks` and answers as etcd's check endpoints: `ok\n` (the `[+]name ok` lines
/// first with `?verbose`) with 200, or 503 with every check's line and a blank line.
async fn run_checks(transport: GrpcTransport, checks: &[&str], verbose: bool) -> Response {
    let mut listing = String::new();
    let mut failed = false;
    for name in checks {
        match run_check(transport.clone(), name).await {
            Ok(()) => listing.push_str(&format!("[+]{name} ok\n")),
            Err(why) => {
                failed = true;
                listing.push_str(&format!("[-]{name} failed: {why}\n"));
            }
        }
    }
    if failed {
        return text_response(StatusCode::SERVICE_UNAVAILABLE, listing + "\n");
    }
    let body = if verbose { listing } else { String::new() } + "ok\n";
    text_response(StatusCode::OK, body)
}

/// A plain-text response with the headers Go's `http.Error` sets.
fn text_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The checks of a root endpoint left after its `exclude` parameters.
fn selected<'c>(checks: &[&'c str], query: &str) -> Vec<&'c str> {
    let excluded = query_values(query, "exclude");
    checks
        .iter()
        .copied()
        .filter(|name| !excluded.contains(name))
        .collect()
}

/// `GET /livez`: etcd's liveness checks (`serializable_read`), `?exclude=` and `?verbose`.
pub async fn livez(State(transport): State<GrpcTransport>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let checks = selected(LIVEZ_CHECKS, &query);
    run_checks(transport, &checks, query_has(&query, "verbose")).await
}

/// `GET /readyz`: etcd's readiness checks (`data_corruption`, `linearizable_read`,
/// `serializable_read`), `?exclude=` and `?verbose`.
pub async fn readyz(State(transport): State<GrpcTransport>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let checks = selected(READYZ_CHECKS, &query);
    run_checks(transport, &checks, query_has(&query, "verbose")).await
}

/// The routes of the health endpoints: `/health`, `/livez`, `/readyz` and one subpath per
/// check (`/readyz/linearizable_read`), each answering for that check alone.
pub fn routes<S>() -> Vec<(String, axum::routing::MethodRouter<S>)>
where
    S: Clone + Send + Sync + 'static,
    GrpcTransport: axum::extract::FromRef<S>,
{
    use axum::routing::get;
    let mut routes = vec![
        ("/health".to_owned(), get(health)),
        ("/livez".to_owned(), get(livez)),
        ("/readyz".to_owned(), get(readyz)),
    ];
    for (root, checks) in [("livez", LIVEZ_CHECKS), ("readyz", READYZ_CHECKS)] {
        for &name in checks {
            routes.push((
                format!("/{root}/{name}"),
                get(
                    move |State(transport): State<GrpcTransport>, RawQuery(query): RawQuery| async move {
                        let verbose = query_has(query.as_deref().unwrap_or_default(), "verbose");
                        run_checks(transport, &[name], verbose).await
                    },
                ),
            ));
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::{alarm_reason, query_has, query_values, selected};

    #[test]
    fn alarms_give_etcds_health_reasons() {
        let errors = vec![
            "etcdserver: no leader".to_owned(),
            "memberID:10276657743932975437 alarm:NOSPACE ".to_owned(),
        ];
        assert_eq!(alarm_reason(&errors, &[]).as_deref(), Some("ALARM NOSPACE"));
        let excluded = query_values("exclude=NOSPACE&other=1&exclude=", "exclude");
        assert_eq!(excluded, vec!["NOSPACE"]);
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
    fn exclude_and_verbose_parameters() {
        let checks = ["data_corruption", "linearizable_read", "serializable_read"];
        assert_eq!(
            selected(&checks, "exclude=linearizable_read&verbose"),
            ["data_corruption", "serializable_read"]
        );
        assert!(query_has("exclude=x&verbose", "verbose"));
        assert!(query_has("verbose=1", "verbose"));
        assert!(!query_has("verbosely", "verbose"));
    }
}
