//! Stream framing on the wire: every stream message, with its terminating newline, is exactly
//! one HTTP/1.1 chunk — never split across chunks, never two messages in one chunk.
//!
//! Client parsers of etcd's JSON gateway rely on it: Apache APISIX's lua-resty-etcd reads until
//! a chunk ends in `\n`, etcd3gw parses each chunk as one message (and skips a bare `\n` chunk).
//! The tests read the responses over a raw TCP socket and decode the chunked transfer coding
//! themselves, so chunk boundaries are observed exactly as a client sees them: for watch
//! (events far larger than 64 KiB, and many events written as fast as possible), lease
//! keepalive, snapshot and election observe, on the upstream backend (etcd 3.5.1) and on the
//! embedded one, and for the final error line, whose keys are compared with etcd 3.5.1's own
//! gateway.

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use support::EtcdVersion::{self, V3_5};
use support::{Etcd, Gateway, http};

/// How long a single chunk may take to arrive.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a test's gateway serves from.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// In front of an etcd server of this version.
    Upstream(EtcdVersion),
    /// Its embedded store.
    Embedded,
}

/// The gateway under test with whatever it needs kept alive.
struct Setup {
    gateway: Gateway,
    _etcd: Option<Etcd>,
}

impl Setup {
    async fn start(backend: Backend) -> Setup {
        match backend {
            Backend::Upstream(version) => {
                let etcd = Etcd::start(version).await;
                let gateway = Gateway::start(&etcd.client_url()).await;
                Setup {
                    gateway,
                    _etcd: Some(etcd),
                }
            }
            Backend::Embedded => Setup {
                gateway: Gateway::start_embedded().await,
                _etcd: None,
            },
        }
    }

    fn addr(&self) -> &str {
        &self.gateway.addr
    }

    /// A unary call that must succeed.
    async fn call(&self, path: &str, body: &str) -> Value {
        let reply = http::post(self.addr(), path, body).await;
        assert_eq!(
            reply.status,
            200,
            "{path} {body:.200}: {}",
            reply.describe()
        );
        reply.expect_json()
    }
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod upstream_3_4 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Upstream(super::EtcdVersion::V3_4)).await;
                }
            )*
        }
        mod upstream_3_5 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Upstream(super::EtcdVersion::V3_5)).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Embedded).await;
                }
            )*
        }
    };
}

both_backends!(
    watch_events_larger_than_64_kib,
    watch_under_load,
    keepalive,
    keepalive_server_sent_events,
    snapshot,
    election_observe,
    final_error_line,
);

/// A streamed response read chunk by chunk from a raw HTTP/1.1 connection.
struct ChunkedResponse {
    reader: BufReader<TcpStream>,
    status: u16,
    head: String,
}

impl ChunkedResponse {
    /// Sends `POST path` with `body` (and `headers`) and reads the response head, which must
    /// announce `Transfer-Encoding: chunked`.
    async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(CHUNK_TIMEOUT, reader.read_line(&mut line))
                .await
                .unwrap_or_else(|_| panic!("{path}: no response head in time"))
                .expect("read response head");
            assert!(read > 0, "{path}: connection closed in the head: {head}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("{path}: bad status line: {head}"));
        let response = ChunkedResponse {
            reader,
            status,
            head,
        };
        assert_eq!(response.status, 200, "{path}: {}", response.head);
        assert!(
            response
                .head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{path}: not chunked: {}",
            response.head
        );
        response
    }

    /// The next chunk's data, or `None` at the last (empty) chunk.
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        tokio::time::timeout(CHUNK_TIMEOUT, self.read_chunk())
            .await
            .unwrap_or_else(|_| panic!("no chunk within {CHUNK_TIMEOUT:?}"))
    }

    async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let mut size_line = String::new();
        self.reader
            .read_line(&mut size_line)
            .await
            .expect("read chunk size");
        let size_text = size_line
            .trim_end_matches("\r\n")
            .split(';')
            .next()
            .unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
        let mut data = vec![0; size + 2];
        self.reader
            .read_exact(&mut data)
            .await
            .expect("read chunk data");
        assert_eq!(
            &data[size..],
            b"\r\n",
            "chunk of {size} bytes not ended by CRLF"
        );
        data.truncate(size);
        if size == 0 {
            return None; // the last chunk (no trailers are sent)
        }
        Some(data)
    }

    /// The next chunk, checked to hold exactly one JSON-lines message; returns the message.
    async fn next_message(&mut self, what: &str) -> Value {
        let chunk = self
            .next_chunk()
            .await
            .unwrap_or_else(|| panic!("{what}: the stream ended"));
        one_message(&chunk, what)
    }

    /// Reads the rest of the stream, every chunk holding exactly one message.
    async fn messages_to_end(&mut self, what: &str) -> Vec<Value> {
        let mut messages = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            messages.push(one_message(&chunk, what));
        }
        messages
    }
}

/// Checks that `chunk` is one complete message and its newline (`{...}\n`, no other newline)
/// and returns the message.
fn one_message(chunk: &[u8], what: &str) -> Value {
    let shown = || String::from_utf8_lossy(&chunk[..chunk.len().min(300)]).into_owned();
    assert_eq!(
        chunk.last(),
        Some(&b'\n'),
        "{what}: chunk of {} bytes does not end with a newline: {}",
        chunk.len(),
        shown()
    );
    let newlines = chunk.iter().filter(|byte| **byte == b'\n').count();
    assert_eq!(
        newlines,
        1,
        "{what}: chunk of {} bytes holds {newlines} lines: {}",
        chunk.len(),
        shown()
    );
    let message: Value = serde_json::from_slice(chunk)
        .unwrap_or_else(|err| panic!("{what}: chunk is not one JSON message ({err}): {}", shown()));
    assert!(
        message.get("result").is_some() || message.get("error").is_some(),
        "{what}: neither result nor error: {}",
        shown()
    );
    message
}

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// A value of `len` bytes that is not all one byte.
fn big_value(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|index| (index % 251) as u8 ^ seed)
        .collect::<Vec<_>>()
}

/// Watch events carrying values of 70 KiB, 300 KiB and 1 MiB: each event message (the 1 MiB
/// one is about 1.4 MB of JSON) arrives as one chunk.
async fn watch_events_larger_than_64_kib(backend: Backend) {
    let setup = Setup::start(backend).await;
    let prefix = b64(b"big/");
    let body = json!({"create_request": {"key": prefix, "range_end": b64(b"big0")}}).to_string();
    let mut watch = ChunkedResponse::post(setup.addr(), "/v3/watch", &[], &body).await;
    let created = watch.next_message("watch created").await;
    assert_eq!(created["result"]["created"], json!(true), "{created}");

    for (index, len) in [70 * 1024, 300 * 1024, 1024 * 1024].into_iter().enumerate() {
        let key = format!("big/{index}");
        let value = big_value(len, index as u8);
        let put = json!({"key": b64(key.as_bytes()), "value": b64(&value)}).to_string();
        setup.call("/v3/kv/put", &put).await;
        let what = format!("{backend:?}: event with a {len}-byte value");
        let event = watch.next_message(&what).await;
        let kv = &event["result"]["events"][0]["kv"];
        assert_eq!(kv["key"], json!(b64(key.as_bytes())), "{what}");
        assert_eq!(kv["value"], json!(b64(&value)), "{what}");
    }
}

/// Many events written as fast as possible by concurrent writers, plus one txn of 64 puts
/// (one message with 64 events), watched by several streams at once: every message of every
/// stream is its own chunk.
async fn watch_under_load(backend: Backend) {
    const WATCHERS: usize = 4;
    const WRITERS: usize = 16;
    const PUTS_EACH: usize = 25;
    const TXN_PUTS: usize = 64;
    let setup = Setup::start(backend).await;
    let body =
        json!({"create_request": {"key": b64(b"load/"), "range_end": b64(b"load0")}}).to_string();
    let mut watches = Vec::new();
    for _ in 0..WATCHERS {
        let mut watch = ChunkedResponse::post(setup.addr(), "/v3/watch", &[], &body).await;
        let created = watch.next_message("watch created").await;
        assert_eq!(created["result"]["created"], json!(true), "{created}");
        watches.push(watch);
    }

    let addr = setup.addr().to_owned();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let addr = addr.clone();
            tokio::spawn(async move {
                for put in 0..PUTS_EACH {
                    let key = format!("load/{writer}/{put}");
                    let value = big_value(512 + put * 97, writer as u8);
                    let body = json!({"key": b64(key.as_bytes()), "value": b64(&value)});
                    let reply = http::post(&addr, "/v3/kv/put", &body.to_string()).await;
                    assert_eq!(reply.status, 200, "{key}: {}", reply.describe());
                }
            })
        })
        .collect();
    let success: Vec<Value> = (0..TXN_PUTS)
        .map(|put| {
            let key = format!("load/txn/{put}");
            json!({"requestPut": {"key": b64(key.as_bytes()), "value": b64(&big_value(2048, 7))}})
        })
        .collect();
    setup
        .call("/v3/kv/txn", &json!({"success": success}).to_string())
        .await;
    for writer in writers {
        writer.await.expect("writer");
    }

    let expected = WRITERS * PUTS_EACH + TXN_PUTS;
    for (watcher, watch) in watches.iter_mut().enumerate() {
        let mut seen = 0;
        let mut messages = 0;
        while seen < expected {
            let what = format!(
                "{backend:?}: watcher {watcher}, message {messages} ({seen} of {expected} events)"
            );
            let message = watch.next_message(&what).await;
            let events = message["result"]["events"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no events: {message:.300}"));
            seen += events.len();
            messages += 1;
        }
        assert_eq!(seen, expected, "{backend:?}: watcher {watcher}: events");
    }
}

/// Keepalive answers, one per request message, each its own chunk; the stream ends with the
/// body.
async fn keepalive(backend: Backend) {
    const REQUESTS: usize = 50;
    let setup = Setup::start(backend).await;
    setup
        .call("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    let body = r#"{"ID":"7587"}"#.repeat(REQUESTS);
    let mut stream = ChunkedResponse::post(setup.addr(), "/v3/lease/keepalive", &[], &body).await;
    let answers = stream
        .messages_to_end(&format!("{backend:?}: keepalive"))
        .await;
    assert_eq!(answers.len(), REQUESTS, "{backend:?}: {answers:?}");
    for answer in &answers {
        assert_eq!(answer["result"]["ID"], json!("7587"), "{answer}");
        assert_eq!(answer["result"]["TTL"], json!("60"), "{answer}");
    }
}

/// With `Accept: text/event-stream` every event (`data: {...}\n\n`) is one chunk.
async fn keepalive_server_sent_events(backend: Backend) {
    const REQUESTS: usize = 20;
    let setup = Setup::start(backend).await;
    setup
        .call("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    let body = r#"{"ID":"7587"}"#.repeat(REQUESTS);
    let headers = [("Accept", "text/event-stream")];
    let mut stream =
        ChunkedResponse::post(setup.addr(), "/v3/lease/keepalive", &headers, &body).await;
    let mut events = 0;
    while let Some(chunk) = stream.next_chunk().await {
        let text = String::from_utf8(chunk).expect("UTF-8 event");
        let data = text
            .strip_prefix("data: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("{backend:?}: not one event per chunk: {text:?}"));
        assert!(!data.contains('\n'), "{backend:?}: two events: {text:?}");
        let event: Value = serde_json::from_str(data).expect("event data is JSON");
        assert_eq!(event["result"]["ID"], json!("7587"), "{event}");
        events += 1;
    }
    assert_eq!(events, REQUESTS, "{backend:?}: events");
}

/// A snapshot of a database holding several MiB: every blob message is one chunk.
async fn snapshot(backend: Backend) {
    let setup = Setup::start(backend).await;
    for index in 0..4u8 {
        let key = format!("snap/{index}");
        let put = json!({"key": b64(key.as_bytes()), "value": b64(&big_value(1024 * 1024, index))});
        setup.call("/v3/kv/put", &put.to_string()).await;
    }
    let mut stream =
        ChunkedResponse::post(setup.addr(), "/v3/maintenance/snapshot", &[], "{}").await;
    let messages = stream
        .messages_to_end(&format!("{backend:?}: snapshot"))
        .await;
    let bytes: usize = messages
        .iter()
        .map(|message| {
            let blob = message["result"]["blob"].as_str().unwrap_or_default();
            B64.decode(blob).expect("blob is base64").len()
        })
        .sum();
    assert!(
        messages.len() > 1 && bytes > 4 * 1024 * 1024,
        "{backend:?}: {} messages, {bytes} bytes",
        messages.len()
    );
}

/// Leader changes of an election, each one chunk.
async fn election_observe(backend: Backend) {
    const PROCLAIMS: usize = 30;
    let setup = Setup::start(backend).await;
    setup
        .call("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    let name = b64(b"elect");
    let campaign = json!({"name": name, "lease": 7587, "value": b64(b"v0")}).to_string();
    let leader = setup.call("/v3/election/campaign", &campaign).await["leader"].clone();
    let body = json!({"name": name}).to_string();
    let mut observe = ChunkedResponse::post(setup.addr(), "/v3/election/observe", &[], &body).await;
    let first = observe.next_message("observe: first leader").await;
    assert_eq!(first["result"]["kv"]["value"], json!(b64(b"v0")), "{first}");
    for index in 1..=PROCLAIMS {
        let value = big_value(1000 * index, index as u8);
        let proclaim = json!({"leader": leader, "value": b64(&value)}).to_string();
        setup.call("/v3/election/proclaim", &proclaim).await;
    }
    // Observe reports the current leader value; proclaims in quick succession may be
    // reported once, but the last one always is.
    let last = b64(&big_value(1000 * PROCLAIMS, PROCLAIMS as u8));
    loop {
        let message = observe.next_message(&format!("{backend:?}: observe")).await;
        if message["result"]["kv"]["value"] == json!(last) {
            break;
        }
    }
}

/// The line that ends a stream after its first message (here: the deadline of
/// `Grpc-Timeout` passing) is one chunk, with etcd 3.5.1's keys (grpc-gateway v1
/// `runtime.StreamError`: `grpc_code`, `http_code`, `message`, `http_status`) plus
/// grpc-gateway v2's `code`, followed by the last chunk.
async fn final_error_line(backend: Backend) {
    let setup = Setup::start(backend).await;
    let body = json!({"create_request": {"key": b64(b"foo")}}).to_string();
    let headers = [("Grpc-Timeout", "1S")];
    let mut watch = ChunkedResponse::post(setup.addr(), "/v3/watch", &headers, &body).await;
    let created = watch.next_message("watch created").await;
    assert_eq!(created["result"]["created"], json!(true), "{created}");
    let chunk = watch.next_chunk().await.expect("the error line");
    assert_eq!(
        String::from_utf8_lossy(&chunk),
        "{\"error\":{\"grpc_code\":4,\"http_code\":504,\"message\":\"context deadline exceeded\",\"http_status\":\"Gateway Timeout\",\"code\":4}}\n",
        "{backend:?}"
    );
    assert_eq!(
        watch.next_chunk().await,
        None,
        "{backend:?}: after the error line"
    );
}

/// etcd 3.5.1's own gateway ends a watch whose deadline passed with the same keys, minus
/// grpc-gateway v2's `code`, and without the newline (grpc-gateway v1's
/// `handleForwardResponseStreamError` writes no delimiter after it): the reference for
/// [`final_error_line`]. Ours ends the line with `\n` like every other message, so parsers
/// that read until a chunk ends in a newline see it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn final_error_line_of_etcd_gateway() {
    let etcd = Etcd::start(V3_5).await;
    let body = json!({"create_request": {"key": b64(b"foo")}}).to_string();
    let headers = [("Grpc-Timeout", "1S")];
    let mut watch = ChunkedResponse::post(&etcd.addr(), "/v3/watch", &headers, &body).await;
    let created = watch.next_message("etcd: watch created").await;
    assert_eq!(created["result"]["created"], json!(true), "{created}");
    let mut rest = Vec::new();
    while let Some(chunk) = watch.next_chunk().await {
        rest.extend_from_slice(&chunk);
    }
    // etcd's gateway races the deadline against the watch stream: its last line is code 4
    // (504) or, when the stream's own error wins, code 2 (500); both without a newline.
    let rest = String::from_utf8_lossy(&rest);
    let deadline = "{\"error\":{\"grpc_code\":4,\"http_code\":504,\"message\":\"context deadline exceeded\",\"http_status\":\"Gateway Timeout\"}}";
    let unknown = "{\"error\":{\"grpc_code\":2,\"http_code\":500,\"message\":\"context deadline exceeded\",\"http_status\":\"Internal Server Error\"}}";
    assert!(
        rest == deadline || rest == unknown,
        "etcd's final line: {rest}"
    );
}
