//! The gateway's logs on stderr: no ANSI escapes when stderr is not a terminal, JSON lines
//! with `--log-format json`, one `debug` line per request, and never a password or token,
//! even at `trace`, through etcd's whole auth flow against etcd 3.5.1.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use support::http_stream::Stream;
use support::process::{die_with_parent, kill_child};
use support::websocket_client::{ws_connect, ws_send, ws_text};
use support::{Etcd, EtcdVersion, Gateway, http};
use tempfile::TempDir;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const BANNER: &str = "etcd-gateway listening on http://";
const PASSWORD: &str = "Pw-never-in-logs-7f3a9";
const WRONG_PASSWORD: &str = "Wrong-pw-never-in-logs-41c2";
/// The tag of the per-request line (its tracing target).
const REQUEST_TARGET: &str = "etcd_gateway::request";

/// The gateway binary with its stderr captured in a file (the shared harness fixes the log
/// level at `warn`).
struct LoggedGateway {
    addr: String,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl LoggedGateway {
    /// Starts the gateway with `args` plus an ephemeral `--listen-addr`; waits for its banner.
    fn start(args: &[&str]) -> LoggedGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("stderr.log");
        let mut command = Command::new(Gateway::binary());
        command
            .args(args)
            .args(["--listen-addr", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("create log"));
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("spawn etcd-gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, banner) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = sender.send(first);
            }
            for _ in lines {}
        });
        let line = banner.recv_timeout(STARTUP_TIMEOUT).unwrap_or_else(|_| {
            kill_child(&mut child);
            panic!(
                "no banner within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        let addr = line
            .strip_prefix(BANNER)
            .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"))
            .to_owned();
        LoggedGateway {
            addr,
            child,
            log,
            _dir: dir,
        }
    }

    /// Stops the gateway and returns everything it wrote to stderr.
    fn stop(mut self) -> String {
        kill_child(&mut self.child);
        std::fs::read_to_string(&self.log).expect("read stderr log")
    }
}

async fn post_json(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Value {
    let reply = http::post_with(addr, path, headers, body).await;
    assert_eq!(reply.status, 200, "POST {path}: {}", reply.describe());
    reply.expect_json()
}

/// The request lines of `log`.
fn request_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains(REQUEST_TARGET))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_through_the_auth_flow() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let endpoint = etcd.client_url();
    let gateway = LoggedGateway::start(&["--endpoints", &endpoint, "--log-level", "trace"]);
    let addr = gateway.addr.clone();

    let user = format!(r#"{{"name":"root","password":"{PASSWORD}"}}"#);
    post_json(&addr, "/v3/auth/user/add", &[], &user).await;
    post_json(&addr, "/v3/auth/role/add", &[], r#"{"name":"root"}"#).await;
    post_json(
        &addr,
        "/v3/auth/user/grant",
        &[],
        r#"{"user":"root","role":"root"}"#,
    )
    .await;
    post_json(&addr, "/v3/auth/enable", &[], "{}").await;
    let wrong = format!(r#"{{"name":"root","password":"{WRONG_PASSWORD}"}}"#);
    let refused = http::post(&addr, "/v3/auth/authenticate", &wrong).await;
    assert_eq!(
        refused.status,
        400,
        "wrong password: {}",
        refused.describe()
    );
    let token = post_json(&addr, "/v3/auth/authenticate", &[], &user).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(token.len() >= 8, "token {token:?}");

    let auth = [("Authorization", token.as_str())];
    let put = r#"{"key":"YQ==","value":"Yg=="}"#;
    post_json(&addr, "/v3/kv/put", &auth, put).await;
    post_json(&addr, "/v3/kv/range", &auth, r#"{"key":"YQ=="}"#).await;
    let bearer = format!("Bearer {token}");
    post_json(
        &addr,
        "/v3/kv/range",
        &[("Authorization", &bearer)],
        r#"{"key":"YQ=="}"#,
    )
    .await;
    let denied = http::post(&addr, "/v3/kv/range", r#"{"key":"YQ=="}"#).await;
    // etcd 3.5.1: InvalidArgument "etcdserver: user name is empty".
    assert_eq!(denied.status, 400, "no token: {}", denied.describe());
    let watch = r#"{"create_request":{"key":"YQ=="}}"#;
    let mut stream = Stream::post(&addr, "/v3/watch", &auth, watch).await;
    assert_eq!(stream.status, 200);
    stream.next_line().await;
    drop(stream);
    let protocol = format!("Bearer, {token}");
    let (mut socket, _) = ws_connect(&addr, "/v3/watch", &[("Sec-WebSocket-Protocol", &protocol)])
        .await
        .expect("WebSocket");
    ws_send(&mut socket, watch).await;
    ws_text(&mut socket, "created").await;
    drop(socket);
    // Let the gateway log the ends of both watches.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let log = gateway.stop();
    assert!(
        log.lines().count() > 20,
        "expected a trace log, got:\n{log}"
    );
    for (secret, what) in [
        (PASSWORD, "password"),
        (WRONG_PASSWORD, "wrong password"),
        (token.as_str(), "token"),
    ] {
        let leaks: Vec<&str> = log.lines().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "the {what} is in the log:\n{leaks:#?}");
    }
    assert!(!log.contains("\x1b["), "ANSI escape codes in the log");
    // 12 HTTP requests (the WebSocket handshake is one): one line each.
    let lines = request_lines(&log);
    assert_eq!(lines.len(), 12, "request lines:\n{lines:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_plain_debug_line_per_request() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    let gateway = LoggedGateway::start(&["--data-dir", data_dir, "--log-level", "debug"]);
    let addr = gateway.addr.clone();
    post_json(&addr, "/v3/kv/put", &[], r#"{"key":"YQ==","value":"Yg=="}"#).await;
    assert_eq!(http::get(&addr, "/v3/kv/put").await.status, 405);
    let log = gateway.stop();

    assert!(
        !log.contains("\x1b["),
        "ANSI escape codes in the log:\n{log}"
    );
    let lines = request_lines(&log);
    assert_eq!(lines.len(), 2, "request lines:\n{log}");
    for (line, expected) in lines.iter().zip([
        r#"DEBUG etcd_gateway::request: request method=POST route="/v3/kv/put" status=200 latency_ms="#,
        r#"DEBUG etcd_gateway::request: request method=GET route="/v3/kv/put" status=405 latency_ms="#,
    ]) {
        assert!(line.contains(expected), "{line:?} lacks {expected:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_with_log_format_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    let gateway = LoggedGateway::start(&[
        "--data-dir",
        data_dir,
        "--log-level",
        "debug",
        "--log-format",
        "json",
    ]);
    let addr = gateway.addr.clone();
    post_json(&addr, "/v3/kv/put", &[], r#"{"key":"YQ==","value":"Yg=="}"#).await;
    let log = gateway.stop();

    let entries: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    let requests: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["target"] == REQUEST_TARGET)
        .collect();
    assert_eq!(requests.len(), 1, "request entries: {requests:#?}");
    let request = requests[0];
    assert_eq!(request["level"], "DEBUG");
    let fields = &request["fields"];
    assert_eq!(fields["message"], "request");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "/v3/kv/put");
    assert_eq!(fields["status"], 200);
    assert!(fields["latency_ms"].is_f64(), "latency_ms: {fields}");
}
