//! Request and connection limits on the embedded gateway: oversized requests are refused while
//! they are read (unary and streaming bodies, WebSocket messages) without the process growing by
//! their size; idle and slow connections neither starve other clients nor stay open forever.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use support::Gateway;
use support::process::{die_with_parent, kill_child};
use support::websocket_client::ws_connect;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const MIB: usize = 1024 * 1024;
/// The default `--max-request-bytes`: 1.5 MiB × 4/3 + 64 KiB.
const DEFAULT_LIMIT: usize = 2 * MIB + 64 * 1024;
const WAIT: Duration = Duration::from_secs(10);

/// A gateway process on a fresh embedded store, with its pid for signals and memory readings.
struct Process {
    addr: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Process {
    fn start(args: &[&str]) -> Process {
        Process::start_with_open_files(None, args)
    }

    /// Starts the gateway, with `ulimit -n open_files` if given.
    fn start_with_open_files(open_files: Option<u32>, args: &[&str]) -> Process {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("gateway.log")).expect("create log");
        let data_dir = dir.path().join("data");
        let mut command = match open_files {
            None => Command::new(Gateway::binary()),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(Gateway::binary());
                shell
            }
        };
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
        Process {
            addr,
            child,
            _dir: dir,
        }
    }

    /// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        kill_child(&mut self.child);
    }
}

/// Sends `head` and then `body_len` bytes of `filler` (chunked if `chunked`) while reading the
/// answer; returns the status and the JSON body of the answer.
async fn oversized(addr: &str, head: &str, body_len: usize, chunked: bool) -> (u16, Value) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = head.to_owned();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let len = chunk.len().min(body_len - sent);
            if chunked {
                writer.write_all(format!("{len:x}\r\n").as_bytes()).await?;
            }
            writer.write_all(&chunk[..len]).await?;
            if chunked {
                writer.write_all(b"\r\n").await?;
            }
            sent += len;
        }
        std::io::Result::Ok(())
    });
    let mut answer = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(read)) => answer.extend_from_slice(&buf[..read]),
            Err(_) => panic!("no complete answer within {WAIT:?}: {answer:?}"),
        }
        if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n")
            && answer.ends_with(b"}")
            && answer.len() > end + 4
        {
            break;
        }
    }
    writing.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    let body = body.trim_start_matches(|c: char| c.is_ascii_hexdigit() || c.is_whitespace());
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn assert_too_large(answer: &(u16, Value), what: &str) {
    assert_eq!(answer.0, 413, "{what}: {answer:?}");
    assert_eq!(answer.1["code"], 8, "{what}: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_while_read() {
    let gateway = Process::start(&[]);
    let addr = gateway.addr.clone();
    let before = gateway.rss_kib();
    let big = 50 * MIB;

    let head = |path: &str, length: Option<usize>| match length {
        Some(length) => format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{\"key\":\"YQ==\",\"value\":\""
        ),
        None => format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
    };
    // Unary: announced by Content-Length, and chunked.
    let answer = oversized(&addr, &head("/v3/kv/put", Some(big)), big, false).await;
    assert_too_large(&answer, "unary, Content-Length 50 MiB");
    let answer = oversized(&addr, &head("/v3/kv/put", None), big, true).await;
    assert_too_large(&answer, "unary, chunked 50 MiB");
    // Server stream (the whole body) and bidirectional stream (one message).
    let answer = oversized(&addr, &head("/v3/maintenance/snapshot", None), big, true).await;
    assert_too_large(&answer, "server stream, chunked 50 MiB");
    let watch = format!("{}6\r\n{{\"a\":\"\r\n", head("/v3/watch", None));
    let answer = oversized(&addr, &watch, big, true).await;
    assert_too_large(&answer, "bidirectional stream, one 50 MiB message");

    let after = gateway.rss_kib();
    println!("VmRSS before {before} KiB, after four 50 MiB requests {after} KiB");
    assert!(
        after < before + 20 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );

    // A value etcd accepts (1.4 MiB, base64-encoded), padded to exactly the limit, is accepted.
    let value = "A".repeat(1400 * 1024 / 3 * 4);
    let mut body = format!(r#"{{"key":"YQ==","value":"{value}"}}"#).into_bytes();
    body.resize(DEFAULT_LIMIT, b' ');
    let reply = support::http::request(&addr, "POST", "/v3/kv/put", &[], body)
        .await
        .expect("answer");
    assert_eq!(reply.status, 200, "{}", reply.describe());
    // One byte over the limit is not.
    let mut body = br#"{"key":"YQ=="}"#.to_vec();
    body.resize(DEFAULT_LIMIT + 1, b' ');
    let reply = support::http::request(&addr, "POST", "/v3/kv/range", &[], body)
        .await
        .expect("answer");
    assert_eq!(reply.status, 413, "{}", reply.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_messages_end_the_session_with_code_8_and_close_1009() {
    let gateway = Process::start(&["--max-request-bytes", "100000"]);
    let addr = gateway.addr.clone();
    let message = format!(
        r#"{{"create_request":{{"key":"{}"}}}}"#,
        "A".repeat(200_000)
    );
    for path in ["/v3/watch", "/v3/kv/range"] {
        let (mut socket, _) = ws_connect(&addr, path, &[]).await.expect("WebSocket");
        socket
            .send(Message::text(message.clone()))
            .await
            .expect("send");
        let reply = tokio::time::timeout(WAIT, socket.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = reply else {
            panic!("{path}: expected the error message, got {reply:?}");
        };
        let error: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(error["error"]["code"], 8, "{path}: {text}");
        assert_eq!(
            error["error"]["message"],
            format!(
                "request message is larger than the limit of 100000 bytes: {} bytes",
                message.len()
            ),
            "{path}"
        );
        let close = tokio::time::timeout(WAIT, socket.next()).await;
        let Ok(Some(Ok(Message::Close(Some(frame))))) = close else {
            panic!("{path}: expected a close frame, got {close:?}");
        };
        assert_eq!(frame.code, CloseCode::Size, "{path}");
    }
}

/// Opens `count` connections that send nothing.
async fn idle_connections(addr: &str, count: usize) -> Vec<TcpStream> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(TcpStream::connect(addr).await.expect("connect"));
    }
    connections
}

/// Opens `count` connections that send a request head one byte a second, forever.
async fn slow_connections(addr: &str, count: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        tasks.push(tokio::spawn(async move {
            let head = b"POST /v3/kv/range HTTP/1.1\r\nX-Slow: ";
            for byte in head.iter().chain(std::iter::repeat(&b'a')) {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    tasks
}

/// Whether the gateway closes `connection` within `wait`.
async fn closed_within(connection: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(wait, connection.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A normal request is answered within a few seconds.
async fn assert_served(addr: &str, what: &str) {
    assert_served_within(addr, Duration::from_secs(3), what).await;
}

/// A normal request is answered within `wait`.
async fn assert_served_within(addr: &str, wait: Duration, what: &str) {
    let started = Instant::now();
    let body = bytes::Bytes::from_static(br#"{"key":"YQ=="}"#);
    let reply =
        support::http::request_with_timeout(addr, "POST", "/v3/kv/range", &[], body, wait).await;
    let reply = reply.unwrap_or_else(|err| panic!("{what}: {err}"));
    assert_eq!(reply.status, 200, "{what}: {}", reply.describe());
    println!("{what}: answered after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_do_not_starve_a_normal_client() {
    let gateway = Process::start(&[]);
    let addr = gateway.addr.clone();
    assert_served(&addr, "before").await;
    let before = gateway.rss_kib();
    let idle = idle_connections(&addr, 300).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_idle = gateway.rss_kib();
    println!(
        "VmRSS {before} KiB, with 300 idle connections {with_idle} KiB: {:.1} KiB per connection",
        (with_idle.saturating_sub(before)) as f64 / 300.0
    );
    // The same number again, each idle after one answered request (keep-alive).
    let mut kept = idle_connections(&addr, 300).await;
    let request =
        b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"key\":\"YQ==\"}";
    for connection in &mut kept {
        connection.write_all(request).await.expect("write");
        let mut answer = [0; 12];
        connection.read_exact(&mut answer).await.expect("answer");
        assert_eq!(&answer, b"HTTP/1.1 200");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_kept = gateway.rss_kib();
    println!(
        "VmRSS with 300 more connections idle after a request {with_kept} KiB: {:.1} KiB per connection",
        (with_kept.saturating_sub(with_idle)) as f64 / 300.0
    );
    let slow = slow_connections(&addr, 200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_served(&addr, "with 300 idle and 200 slow connections").await;
    for task in slow {
        task.abort();
    }
    drop(idle);
    drop(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_idle_longer_than_the_idle_timeout_are_closed() {
    let gateway = Process::start(&["--idle-timeout", "1s"]);
    let addr = gateway.addr.clone();
    let mut idle = idle_connections(&addr, 20).await;
    // A keep-alive connection after its answer is idle too.
    let mut used = TcpStream::connect(&addr).await.expect("connect");
    used.write_all(
        b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"key\":\"YQ==\"}",
    )
    .await
    .expect("write");
    let mut answer = [0; 12];
    used.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    // A slow sender is cut off by the idle timeout before its headers are complete.
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"POST /v3/kv/range HTTP/1.1\r\n")
        .await
        .expect("write");

    let started = Instant::now();
    for (index, connection) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(connection, WAIT).await,
            "idle connection {index} stays open"
        );
    }
    assert!(
        closed_within(&mut used, WAIT).await,
        "keep-alive connection stays open"
    );
    assert!(
        closed_within(&mut slow, WAIT).await,
        "slow connection stays open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(500),
        "closed after only {took:?}"
    );
    assert_served(&addr, "after the idle connections were closed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_outlive_the_idle_timeout() {
    let gateway = Process::start(&["--idle-timeout", "1s"]);
    let addr = gateway.addr.clone();
    let watch = r#"{"create_request":{"key":"YQ=="}}"#;
    let mut lines = support::http_stream::Stream::post(&addr, "/v3/watch", &[], watch).await;
    assert!(lines.next_line().await.contains(r#""created":true"#));
    let (mut socket, _) = ws_connect(&addr, "/v3/watch", &[])
        .await
        .expect("WebSocket");
    socket.send(Message::text(watch)).await.expect("send");
    let created = tokio::time::timeout(WAIT, socket.next()).await;
    assert!(
        matches!(created, Ok(Some(Ok(Message::Text(_))))),
        "{created:?}"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reply = support::http::post(&addr, "/v3/kv/put", r#"{"key":"YQ==","value":"Yg=="}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert!(lines.next_line().await.contains(r#""events""#));
    let event = tokio::time::timeout(WAIT, socket.next()).await;
    let Ok(Some(Ok(Message::Text(text)))) = event else {
        panic!("expected the event, got {event:?}");
    };
    assert!(text.contains(r#""events""#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_all_connections_are_taken_idle_ones_make_room() {
    let gateway = Process::start(&["--max-connections", "50"]);
    let addr = gateway.addr.clone();
    let mut idle = idle_connections(&addr, 100).await;
    assert_served_within(&addr, Duration::from_secs(10), "with 100 idle connections").await;
    assert!(
        closed_within(&mut idle[0], WAIT).await,
        "the oldest idle connection stays open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_use_up_the_open_files() {
    let gateway = Process::start_with_open_files(Some(256), &[]);
    let addr = gateway.addr.clone();
    let _idle = idle_connections(&addr, 300).await;
    assert_served_within(&addr, Duration::from_secs(10), "ulimit -n 256, 300 idle").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_sent_a_byte_a_second_is_cut_off() {
    let gateway = Process::start(&[]);
    let addr = gateway.addr.clone();
    let mut slow = TcpStream::connect(&addr).await.expect("connect");
    let started = Instant::now();
    let head = b"POST /v3/kv/range HTTP/1.1\r\nX-Slow: ";
    let mut closed = false;
    for byte in head.iter().chain([b'a'; 30].iter()) {
        if slow.write_all(&[*byte]).await.is_err()
            || closed_within(&mut slow, Duration::from_secs(1)).await
        {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(20),
        "closed after {took:?}"
    );
    println!("byte-a-second request head cut off after {took:?}");
}
