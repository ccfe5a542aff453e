//! SIGTERM on the embedded gateway (and in front of etcd 3.5.1): every open stream (JSON lines, Server-Sent Events,
//! WebSocket) gets exactly one final `Unavailable` error, a unary request in flight still gets
//! its answer, the process exits 0 within the grace period, and the data directory is free for
//! the next process at once.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use support::http_stream::Stream;
use support::process::{die_with_parent, kill_child};
use support::watch_gauges::await_watch_gauges;
use support::websocket_client::{WsEvent, ws_connect, ws_next, ws_send, ws_text};
use support::{Etcd, EtcdVersion, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FINAL_ERROR: &str = r#"{"error":{"grpc_code":14,"http_code":503,"message":"the gateway is shutting down","http_status":"Service Unavailable","code":14}}"#;
const WATCH_A: &str = r#"{"create_request":{"key":"YQ=="}}"#;
const GRACE: Duration = Duration::from_secs(5);

/// A gateway process on an embedded store in `data_dir`.
struct Process {
    addr: String,
    child: Child,
}

impl Process {
    fn start(data_dir: &Path, log: &Path, args: &[&str]) -> Process {
        let log = std::fs::File::create(log).expect("create the gateway log");
        let mut command = Command::new(Gateway::binary());
        command
            .args(["--data-dir", data_dir.to_str().expect("UTF-8 path")])
            .args(["--listen-addr", "127.0.0.1:0", "--log-level", "warn"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        die_with_parent(&mut command);
        let mut child = command.spawn().expect("spawn the gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = sender.send(first);
            }
            for _ in lines {}
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("the gateway's listening line");
        let addr = line
            .strip_prefix("etcd-gateway listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Process { addr, child }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// The exit status, if the process exits within `wait`.
    fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_every_stream_answers_requests_in_flight_and_frees_the_data_dir() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut gateway = Process::start(&data_dir, &dir.path().join("first.log"), &[]);
    let addr = gateway.addr.clone();

    let mut lines = Stream::post(&addr, "/v3/watch", &[], WATCH_A).await;
    assert!(lines.next_line().await.contains(r#""created":true"#));
    let sse = [("accept", "text/event-stream")];
    let mut events = Stream::post(&addr, "/v3/watch", &sse, WATCH_A).await;
    assert!(events.next_event().await.contains(r#""created":true"#));
    let (mut socket, _) = ws_connect(&addr, "/v3/watch", &[])
        .await
        .expect("WebSocket");
    ws_send(&mut socket, WATCH_A).await;
    assert!(
        ws_text(&mut socket, "created")
            .await
            .contains(r#""created":true"#)
    );
    let (mut unary_socket, _) = ws_connect(&addr, "/v3/kv/range", &[])
        .await
        .expect("WebSocket");
    ws_send(&mut unary_socket, r#"{"key":"YQ=="}"#).await;
    assert!(
        ws_text(&mut unary_socket, "range")
            .await
            .contains(r#""header""#)
    );

    // A unary request in flight: its head and half its body are sent before the signal.
    let body = br#"{"key":"YQ==","value":"Yg=="}"#;
    let mut unary = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /v3/kv/put HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    unary.write_all(head.as_bytes()).await.unwrap();
    unary.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    gateway.terminate();

    assert_eq!(lines.next_line().await, format!("{FINAL_ERROR}\n"));
    lines.expect_end().await;
    assert_eq!(
        events.next_event().await,
        format!("data: {FINAL_ERROR}\n\n")
    );
    assert_eq!(events.next_delimited(b"\n\n", GRACE).await, Ok(None));
    assert_eq!(ws_text(&mut socket, "final").await, FINAL_ERROR);
    assert_eq!(ws_next(&mut socket, GRACE).await, WsEvent::Closed);
    assert_eq!(ws_next(&mut unary_socket, GRACE).await, WsEvent::Closed);

    // The request in flight is finished and answered.
    unary.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(GRACE, unary.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "no answer to the request in flight");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains(r#""revision":"2""#), "{answer}");

    let status = gateway.wait_exit(GRACE + Duration::from_secs(2));
    let took = signalled.elapsed();
    assert_eq!(
        status.map(|status| status.code()),
        Some(Some(0)),
        "exit after {took:?}"
    );
    assert!(took < GRACE, "exited {took:?} after SIGTERM");

    // The next process opens the same data directory at once, with the write above.
    let next = Process::start(&data_dir, &dir.path().join("second.log"), &[]);
    let reply = support::http::post(&next.addr, "/v3/kv/range", r#"{"key":"YQ=="}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_eq!(reply.expect_json()["kvs"][0]["value"], "Yg==");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_completes_does_not_hold_the_process_past_the_grace() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let log = dir.path().join("gateway.log");
    let mut gateway = Process::start(&data_dir, &log, &["--shutdown-grace", "1s"]);
    let mut stalled = TcpStream::connect(&gateway.addr).await.expect("connect");
    let head = "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
    stalled.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    gateway.terminate();
    let status = gateway.wait_exit(GRACE);
    let took = signalled.elapsed();
    assert_eq!(
        status.map(|status| status.code()),
        Some(Some(0)),
        "after {took:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM with a 1s grace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_front_of_etcd_ends_the_watch_and_cancels_it_upstream() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let mut gateway = Gateway::start(&etcd.client_url()).await;

    let mut lines = Stream::post(&gateway.addr, "/v3/watch", &[], WATCH_A).await;
    assert!(lines.next_line().await.contains(r#""created":true"#));
    await_watch_gauges(&etcd, (1, 1), GRACE).await;

    let pid = gateway.pid().expect("the gateway is running");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");

    assert_eq!(lines.next_line().await, format!("{FINAL_ERROR}\n"));
    lines.expect_end().await;
    let exit = gateway
        .wait_exit(GRACE)
        .expect("exited within the grace period");
    assert!(exit.success(), "exit status {exit}");
    // The upstream watch went with it.
    await_watch_gauges(&etcd, (0, 0), GRACE).await;
}
