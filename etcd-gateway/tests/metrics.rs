//! `GET /metrics` (and `--listen-metrics-urls`): Prometheus text that `promtool check metrics`
//! accepts, and exact series after known requests, on the embedded store and in front of
//! etcd 3.5.1.
//!
//! Needs `/usr/bin/promtool` (Debian's `prometheus` package) and `/usr/bin/etcdctl` (Debian's
//! `etcd-client`), both installed by `scripts/install-test-deps.sh`.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::http_stream::Stream;
use support::process::free_port;
use support::websocket_client::{ws_connect, ws_send, ws_text};
use support::{Etcd, EtcdVersion, Gateway, http};

const PROMTOOL: &str = "/usr/bin/promtool";
const ETCDCTL: &str = "/usr/bin/etcdctl";
/// How long a gauge may take to follow a stream that opened or closed.
const GAUGE_WAIT: Duration = Duration::from_secs(10);

/// etcd's own metric names that promtool's linter flags (dashboards expect them as they are).
const ETCD_NAME_LINTS: &[&str] =
    &[r#"etcd_debugging_mvcc_keys_total non-counter metrics should not have "_total" suffix"#];

const PUT_A: &str = r#"{"key":"YQ==","value":"MQ=="}"#;
const PUT_A_AGAIN: &str = r#"{"key":"YQ==","value":"Mg=="}"#;

/// The text of `GET /metrics` on `addr`, checked for status and content type.
async fn scrape(addr: &str) -> String {
    let reply = http::get(addr, "/metrics").await;
    assert_eq!(reply.status, 200, "GET /metrics: {}", reply.describe());
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4"),
        "GET /metrics content type"
    );
    reply.text()
}

/// The value of the series written exactly as `series` (name and sorted labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(
            value
                .parse()
                .unwrap_or_else(|_| panic!("bad sample line {line:?}")),
        )
    })
}

/// Asserts that `series` is `expected` in `text`.
fn assert_sample(text: &str, series: &str, expected: f64) {
    assert_eq!(
        sample(text, series),
        Some(expected),
        "{series} in:\n{}",
        relevant_lines(text)
    );
}

/// The samples of `text` without histogram buckets, for failure messages.
fn relevant_lines(text: &str) -> String {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.contains("_bucket{"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Scrapes until `series` is `expected` (bounded by [`GAUGE_WAIT`]).
async fn await_sample(addr: &str, series: &str, expected: f64) {
    let deadline = Instant::now() + GAUGE_WAIT;
    loop {
        let text = scrape(addr).await;
        if sample(&text, series) == Some(expected) {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{series} did not become {expected} within {GAUGE_WAIT:?}:\n{}",
                relevant_lines(&text)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `promtool check metrics` on `text`: it must pass, or find only `allowed` problems.
fn promtool_check(text: &str, allowed: &[&str]) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: run scripts/install-test-deps.sh (Debian's prometheus package)"
    );
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {PROMTOOL}: {e}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool output");
    let problems: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .chain(String::from_utf8_lossy(&output.stdout).lines())
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let unexpected: Vec<&String> = problems
        .iter()
        .filter(|problem| !allowed.contains(&problem.as_str()))
        .collect();
    assert!(
        unexpected.is_empty() && matches!(output.status.code(), Some(0 | 3)),
        "promtool check metrics ({}): {problems:#?}",
        output.status
    );
}

/// Runs `etcdctl` (API v3) against `addr`, panicking unless it succeeds.
fn etcdctl(addr: &str, args: &[&str]) {
    assert!(
        Path::new(ETCDCTL).exists(),
        "{ETCDCTL} is missing: run scripts/install-test-deps.sh (Debian's etcd-client package)"
    );
    let output = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .args([
            &format!("--endpoints={addr}"),
            "--dial-timeout=5s",
            "--command-timeout=10s",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {ETCDCTL}: {e}"));
    assert!(
        output.status.success(),
        "etcdctl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn post_ok(addr: &str, path: &str, body: &str) {
    let reply = http::post(addr, path, body).await;
    assert_eq!(
        reply.status,
        200,
        "POST {path} {body}: {}",
        reply.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_metrics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let metrics_url = format!("http://{metrics_addr}");
    let gateway = Gateway::start_with_args(&[
        "--data-dir",
        data_dir.to_str().expect("UTF-8 temp path"),
        "--name",
        "g1",
        "--listen-metrics-urls",
        &metrics_url,
    ])
    .await;
    let addr = gateway.addr.clone();

    // Two puts through the gateway, one over native gRPC, one unknown route, one bad body.
    post_ok(&addr, "/v3/kv/put", PUT_A).await;
    post_ok(&addr, "/v3/kv/put", PUT_A_AGAIN).await;
    let native = addr.clone();
    tokio::task::spawn_blocking(move || etcdctl(&native, &["put", "b", "2"]))
        .await
        .expect("etcdctl task");
    assert_eq!(http::post(&addr, "/v3/nothing", "{}").await.status, 404);
    assert_eq!(http::post(&addr, "/v3/kv/range", "{").await.status, 400);

    let text = scrape(&addr).await;
    promtool_check(&text, ETCD_NAME_LINTS);
    for (series, value) in [
        (
            r#"etcd_gateway_http_requests_total{code="200",method="POST",route="/v3/kv/put"}"#,
            2.0,
        ),
        (
            r#"etcd_gateway_http_requests_total{code="404",method="POST",route="unmatched"}"#,
            1.0,
        ),
        (
            r#"etcd_gateway_http_requests_total{code="400",method="POST",route="/v3/kv/range"}"#,
            1.0,
        ),
        (
            r#"etcd_gateway_http_request_duration_seconds_count{method="POST",route="/v3/kv/put"}"#,
            2.0,
        ),
        // The gateway's own calls, in process.
        (
            r#"etcd_gateway_upstream_calls_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV"}"#,
            2.0,
        ),
        (
            r#"etcd_gateway_upstream_call_duration_seconds_count{grpc_method="Put",grpc_service="etcdserverpb.KV"}"#,
            2.0,
        ),
        // The server side counts native and in-process calls alike.
        (
            r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#,
            3.0,
        ),
        ("etcd_server_has_leader", 1.0),
        ("etcd_debugging_mvcc_keys_total", 2.0),
        ("etcd_disk_backend_commit_duration_seconds_count", 3.0),
    ] {
        assert_sample(&text, series, value);
    }
    let db_size = sample(&text, "etcd_mvcc_db_total_size_in_bytes").expect("db size");
    assert!(db_size > 0.0, "etcd_mvcc_db_total_size_in_bytes {db_size}");
    assert_eq!(
        sample(
            &text,
            r#"etcd_gateway_http_requests_total{code="400",method="POST",route="/v3/kv/put"}"#
        ),
        None,
        "no series for a status that never happened"
    );

    // Open streams and WebSocket sessions, by route, while they are open.
    let watch = r#"{"create_request":{"key":"YQ=="}}"#;
    let mut stream = Stream::post(&addr, "/v3/watch", &[], watch).await;
    assert_eq!(stream.status, 200);
    stream.next_line().await;
    let (mut socket, _) = ws_connect(&addr, "/v3/watch", &[])
        .await
        .expect("WebSocket");
    ws_send(&mut socket, watch).await;
    ws_text(&mut socket, "created").await;
    let open_streams = r#"etcd_gateway_http_open_streams{route="/v3/watch"}"#;
    let open_sockets = r#"etcd_gateway_websocket_connections{route="/v3/watch"}"#;
    let watches = r#"grpc_server_handled_total{grpc_code="Canceled",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}"#;
    await_sample(&addr, open_streams, 1.0).await;
    await_sample(&addr, open_sockets, 1.0).await;
    let text = scrape(&metrics_addr).await;
    promtool_check(&text, ETCD_NAME_LINTS);
    assert_eq!(sample(&text, watches), None, "no watch has ended yet");
    drop(stream);
    drop(socket);
    await_sample(&addr, open_streams, 0.0).await;
    await_sample(&addr, open_sockets, 0.0).await;
    await_sample(&addr, watches, 2.0).await;

    // The metrics listener serves /metrics and /health only.
    assert_eq!(http::get(&metrics_addr, "/health").await.status, 200);
    assert_eq!(http::get(&metrics_addr, "/v3/kv/range").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_metrics() {
    let mut etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    let addr = gateway.addr.clone();

    post_ok(&addr, "/v3/kv/put", PUT_A).await;
    post_ok(&addr, "/v3/kv/put", PUT_A_AGAIN).await;
    let revoke = http::post(&addr, "/v3/lease/revoke", r#"{"ID":"12345"}"#).await;
    assert_eq!(revoke.status, 404, "revoke: {}", revoke.describe());
    assert_eq!(http::get(&addr, "/v3beta/kv/put").await.status, 405);

    let text = scrape(&addr).await;
    promtool_check(&text, &[]);
    for (series, value) in [
        (
            r#"etcd_gateway_http_requests_total{code="200",method="POST",route="/v3/kv/put"}"#,
            2.0,
        ),
        (
            r#"etcd_gateway_http_requests_total{code="404",method="POST",route="/v3/lease/revoke"}"#,
            1.0,
        ),
        (
            r#"etcd_gateway_http_requests_total{code="405",method="GET",route="/v3beta/kv/put"}"#,
            1.0,
        ),
        (
            r#"etcd_gateway_upstream_calls_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV"}"#,
            2.0,
        ),
        (
            r#"etcd_gateway_upstream_calls_total{grpc_code="NotFound",grpc_method="LeaseRevoke",grpc_service="etcdserverpb.Lease"}"#,
            1.0,
        ),
    ] {
        assert_sample(&text, series, value);
    }
    // The embedded store's series exist only with the embedded store.
    for absent in [
        "etcd_server_has_leader",
        "etcd_debugging_mvcc_keys_total",
        "grpc_server_handled_total",
    ] {
        assert!(
            !text.lines().any(|line| line.starts_with(absent)),
            "{absent} in upstream mode:\n{}",
            relevant_lines(&text)
        );
    }
    // The member's health follows the probes: in rotation while it answers, out once it is gone.
    let member = format!(
        r#"etcd_gateway_upstream_member_healthy{{member="{}"}}"#,
        etcd.client_url()
    );
    assert_sample(&text, &member, 1.0);
    etcd.stop();
    await_sample(&addr, &member, 0.0).await;
}
