//! Streaming routes over HTTP/1.1: `POST /v3/watch`, `/v3/lease/keepalive` (bidirectional),
//! `/v3/maintenance/snapshot` and `/v3/election/observe` (server streaming).
//!
//! Each differential test starts two fresh etcd servers of one version: side A is answered by
//! etcd's own gateway, side B by ours. The same writes go straight to both servers, the stream
//! lines are read one by one with a timeout, and every line must be the same on both sides
//! after masking run-specific IDs, and equal to the expected masked line. etcd's HTTP/1.1
//! gateway answers nothing before the request body is complete, so every stream request sends
//! its whole body first and then reads. Runs for etcd 3.5.1 and 3.4.23.
//!
//! `GATEWAY_UNDER_TEST=etcd` puts etcd's gateway on side B too (checks the scenarios); the
//! tests asserting our own behaviour (errors, SSE, disconnects) always use our gateway.
//!
//! # Differences from etcd's gateway (asserted exactly on each side)
//!
//! | id | etcd's gateway (3.4.23, 3.5.1) | ours |
//! |----|--------------------------------|------|
//! | `decode-error-first` | body `value=` on `/v3/watch` or `/v3/lease/keepalive` → 500 code 2 `invalid character 'v' looking for beginning of value` | 400 code 3 `invalid request body: expected a JSON object, found 'v'` |
//! | `decode-error-before-first-response` | `{valid}value=` → the stream runs with the valid request (created line), the bad rest is ignored | nothing was sent yet, so 400 code 3 as above |
//! | `decode-error-mid-stream` | a bad object after the first response is ignored silently; the stream goes on | one error line `{"error":{"grpc_code":3,"http_code":400,...,"code":3}}\n`, then the end |
//! | `error-line` | final error chunk `{"error":{"grpc_code","http_code","message","http_status"}}` with no `\n` | the same keys plus `"code"`, ended by `\n` |
//! | `grpc-timeout-watch` | `Grpc-Timeout: 1S` on a watch: error chunk with code 4/504 `context deadline exceeded` or, at times, code 2/500 (its Go client races etcd's server) | always what etcd's server sends: code 2 / 500 `context deadline exceeded` |
//! | `empty-keepalive` | empty keepalive body: 200, no lines, no `Grpc-Metadata-Content-Type` | 200, no lines, with `Grpc-Metadata-Content-Type: application/grpc` |
//! | `sse` | `Accept: text/event-stream` is ignored (JSON lines) | Server-Sent Events (`data: {...}\n\n`, `Content-Type: text/event-stream`, `Cache-Control: no-cache`) |

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::EtcdVersion::{self, V3_4, V3_5};
use support::http_stream::{Call, MESSAGE_TIMEOUT, QUIET, Stream, assert_stream_head, parse};
use support::json::header as h;
use support::stream_pair::Pair;
use support::watch_gauges::{await_watch_gauges, watch_gauges};
use support::watch_keepalive::{
    self, b64, create_request, created, delete, delete_event, events, keepalive, kv, put,
    put_event, result,
};
use support::{Target, http};

macro_rules! both_versions {
    ($($test:ident),* $(,)?) => {
        mod v3_4 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::V3_4).await;
                }
            )*
        }
        mod v3_5 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::V3_5).await;
                }
            )*
        }
    };
}

both_versions!(
    watch_events,
    watch_control,
    keepalive_and_snapshot,
    election_observe,
    request_bodies,
    upstream_error_and_sse,
    deadline_before_first_message,
    disconnect_cancels_upstream,
);

/// Key, prefix, history replay, prev_kv and filter watches (see [`watch_keepalive`]).
async fn watch_events(version: EtcdVersion) {
    watch_keepalive::watch_events(version, Target::Etcd).await;
}

/// Creates, cancels, progress and a compacted revision in one body (see [`watch_keepalive`]).
async fn watch_control(version: EtcdVersion) {
    watch_keepalive::watch_control(version, Target::Etcd).await;
}

/// Lease keepalive (the stream ends with the body) and snapshot chunks.
async fn keepalive_and_snapshot(version: EtcdVersion) {
    let mut pair = Pair::start(version, &[]).await;
    keepalive(&mut pair).await;

    // Snapshot of a database with three 40 KiB values (several chunks).
    for i in 0..3 {
        let value = B64.encode(vec![b'x' + i; 40 * 1024]);
        let body = json!({"key": b64(&format!("big{i}")), "value": value}).to_string();
        pair.write("/v3/kv/put", &body).await;
    }
    // Both streams must have the same structure; the number of lines follows the database size,
    // which differs between two servers (bbolt grows its file depending on commit timing).
    for side in [&pair.a, &pair.b] {
        let mut stream = Stream::post(&side.addr, "/v3/maintenance/snapshot", &[], "{}").await;
        let what = format!("{version} {} snapshot", side.label);
        assert_stream_head(&stream, "application/json", &what);
        let lines = stream.read_to_end().await;
        // The snapshot commits pending writes; the database size is then what status says.
        let status = http::post(&side.etcd.addr(), "/v3/maintenance/status", "{}").await;
        let db_size: usize = status.expect_json()["dbSize"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("dbSize");
        check_snapshot(&lines, db_size, &what);
    }
}

/// Checks one snapshot stream: `{"result":{"remaining_bytes":R,"blob":B}}` lines whose blobs
/// add up to the database (32 KiB each but the last), `remaining_bytes` counting down to zero
/// (then omitted), and a final line whose 32-byte blob is the SHA-256 of all the others.
fn check_snapshot(lines: &[String], db_size: usize, what: &str) {
    assert!(lines.len() >= 3, "{what}: {} lines", lines.len());
    let mut data = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        assert!(line.ends_with('\n'), "{what}: line {i} without newline");
        let value = parse(line);
        let message = value["result"]
            .as_object()
            .unwrap_or_else(|| panic!("{what}: line {i} is not a result: {line:.200}"));
        let blob = B64
            .decode(message["blob"].as_str().expect("blob"))
            .expect("base64 blob");
        // Sorted: the map's order depends on serde_json features unified across the workspace.
        let mut keys: Vec<String> = message.keys().cloned().collect();
        keys.sort();
        // Byte-exact: `remaining_bytes` (when set) comes before `blob`, nothing else.
        let blob_text = message["blob"].as_str().expect("blob");
        let exact = match message.get("remaining_bytes").and_then(Value::as_str) {
            Some(r) => {
                format!("{{\"result\":{{\"remaining_bytes\":\"{r}\",\"blob\":\"{blob_text}\"}}}}\n")
            }
            None => format!("{{\"result\":{{\"blob\":\"{blob_text}\"}}}}\n"),
        };
        assert!(
            *line == exact,
            "{what}: line {i} is not framed as expected: {line:.200}"
        );
        if i + 1 == lines.len() {
            assert_eq!(keys, ["blob"], "{what}: last line {line}");
            let digest = Sha256::digest(&data);
            assert_eq!(
                blob,
                digest.as_slice(),
                "{what}: the last blob is the SHA-256"
            );
            break;
        }
        let want_len = db_size.saturating_sub(data.len()).min(32 * 1024);
        assert_eq!(
            blob.len(),
            want_len,
            "{what}: blob {i} length (dbSize {db_size})"
        );
        data.extend_from_slice(&blob);
        let remaining = db_size - data.len();
        if remaining == 0 {
            assert_eq!(keys, ["blob"], "{what}: line {i}");
            assert_eq!(i + 2, lines.len(), "{what}: the data ends at line {i}");
        } else {
            assert_eq!(keys, ["blob", "remaining_bytes"], "{what}: line {i}");
            assert_eq!(
                message["remaining_bytes"],
                json!(remaining.to_string()),
                "{what}: line {i}"
            );
        }
    }
    assert_eq!(data.len(), db_size, "{what}: the blobs add up to dbSize");
}

/// Election observe: nothing (not even the status line) while there is no leader, then the
/// leader's key-value after a campaign and after a proclaim, and a new leader after a resign (a
/// resign itself sends nothing).
async fn election_observe(version: EtcdVersion) {
    let mut pair = Pair::start(version, &[]).await;
    pair.write("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    pair.write("/v3/lease/grant", r#"{"TTL":60,"ID":7588}"#)
        .await;
    let name = b64("elect");
    let body = json!({"name": name}).to_string();
    let (mut ca, mut cb) = tokio::join!(
        Call::post(&pair.a.addr, "/v3/election/observe", &[], &body),
        Call::post(&pair.b.addr, "/v3/election/observe", &[], &body),
    );
    tokio::join!(ca.expect_pending(QUIET), cb.expect_pending(QUIET));

    let campaign = json!({"name": name, "lease": 7587, "value": b64("v1")}).to_string();
    let leader1 = pair.write("/v3/election/campaign", &campaign).await; // 2
    let key1 = b64("elect/1da3");
    assert_eq!(
        leader1["leader"],
        json!({"name": name, "key": key1, "rev": "2", "lease": "7587"}),
        "{version}: campaign"
    );
    let (mut sa, mut sb) = tokio::join!(ca.expect_response(), cb.expect_response());
    assert_stream_head(&sa, "application/json", &format!("{version} etcd observe"));
    assert_stream_head(&sb, "application/json", &format!("{version} ours observe"));
    let leader = |value: &str, modr: u64, version: u64| {
        result(json!({"header": h(modr), "kv": {
            "key": key1, "create_revision": "2", "mod_revision": modr.to_string(),
            "version": version.to_string(), "value": b64(value), "lease": "7587",
        }}))
    };
    pair.next_both(&mut sa, &mut sb, &leader("v1", 2, 1)).await;

    let proclaim = json!({"leader": leader1["leader"], "value": b64("v2")}).to_string();
    pair.write("/v3/election/proclaim", &proclaim).await; // 3
    pair.next_both(&mut sa, &mut sb, &leader("v2", 3, 2)).await;

    let resign = json!({"leader": leader1["leader"]}).to_string();
    pair.write("/v3/election/resign", &resign).await; // 4
    pair.quiet_both(&mut sa, &mut sb, QUIET).await;

    let campaign = json!({"name": name, "lease": 7588, "value": b64("v3")}).to_string();
    pair.write("/v3/election/campaign", &campaign).await; // 5
    let want = result(json!({"header": h(5), "kv": {
        "key": b64("elect/1da4"), "create_revision": "5", "mod_revision": "5",
        "version": "1", "value": b64("v3"), "lease": "7588",
    }}));
    pair.next_both(&mut sa, &mut sb, &want).await;
    pair.quiet_both(&mut sa, &mut sb, QUIET).await;
}

/// `{"error":M,"code":C,"message":M}`.
fn unary_error(code: u32, message: &str) -> Value {
    json!({"error": message, "code": code, "message": message})
}

/// Our final stream error line (`error-line`).
fn error_line(grpc: u32, http: u16, reason: &str, message: &str) -> String {
    let message = serde_json::to_string(message).expect("string");
    format!(
        "{{\"error\":{{\"grpc_code\":{grpc},\"http_code\":{http},\"message\":{message},\"http_status\":\"{reason}\",\"code\":{grpc}}}}}\n"
    )
}

const BAD_BODY: &str = "invalid request body: expected a JSON object, found 'v'";
const GO_BAD_BODY: &str = "invalid character 'v' looking for beginning of value";

/// Request bodies of bidirectional calls: decoded as the bytes arrive (ours is full duplex over
/// HTTP/1.1), bodies that are not JSON before the first response and after it, and clients
/// killed while sending one (etcd issue #19509).
async fn request_bodies(version: EtcdVersion) {
    let mut pair = Pair::start_ours(version, &[]).await;
    let (a, b) = (pair.a.addr.clone(), pair.b.addr.clone());

    // Ours answers each keepalive request as soon as it is complete, also when an object is
    // split across writes; the end of the body ends the stream.
    pair.write("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    let mut sb = Call::post_open(&b, "/v3/lease/keepalive", &[], r#"{"ID":7587}"#)
        .await
        .expect_response()
        .await;
    assert_stream_head(
        &sb,
        "application/json",
        &format!("{version} ours keepalive"),
    );
    let live = result(json!({"header": h(1), "ID": "7587", "TTL": "60"}));
    assert_eq!(pair.b.mask(&sb.next_line().await), live);
    sb.send("\n{\"ID\":75").await;
    sb.expect_quiet(QUIET).await;
    sb.send("87}  {\"ID\":999}").await;
    assert_eq!(pair.b.mask(&sb.next_line().await), live);
    let unknown = result(json!({"header": h(1), "ID": "999"}));
    assert_eq!(pair.b.mask(&sb.next_line().await), unknown);
    sb.end_body();
    sb.expect_end().await;

    // A watch whose body stays open: a second create request after an event.
    let mut sb = Call::post_open(
        &b,
        "/v3/watch",
        &[],
        &create_request(json!({"key": b64("x")})),
    )
    .await
    .expect_response()
    .await;
    assert_eq!(pair.b.mask(&sb.next_line().await), created(1));
    pair.write("/v3/kv/put", &put("x", "1")).await; // 2
    let want = events(2, vec![put_event(kv("x", "1", 2, 2, 1))]);
    assert_eq!(pair.b.mask(&sb.next_line().await), want);
    sb.send(&create_request(json!({"key": b64("y")}))).await;
    let want = result(json!({"header": h(2), "watch_id": "1", "created": true}));
    assert_eq!(pair.b.mask(&sb.next_line().await), want);
    pair.write("/v3/kv/put", &put("y", "1")).await; // 3
    let want = result(json!({"header": h(3), "watch_id": "1",
        "events": [put_event(kv("y", "1", 3, 3, 1))]}));
    assert_eq!(pair.b.mask(&sb.next_line().await), want);
    // The end of the body leaves the watch open.
    sb.end_body();
    sb.expect_quiet(QUIET).await;
    pair.write("/v3/kv/put", &put("x", "2")).await; // 4
    let want = events(4, vec![put_event(kv("x", "2", 2, 4, 2))]);
    assert_eq!(pair.b.mask(&sb.next_line().await), want);
    drop(sb);

    // `decode-error-first`.
    for path in ["/v3/watch", "/v3/lease/keepalive"] {
        let (ra, rb) = tokio::join!(
            http::post(&a, path, "value="),
            http::post(&b, path, "value=")
        );
        assert_eq!(
            (ra.status, ra.expect_json()),
            (500, unary_error(2, GO_BAD_BODY)),
            "{version} etcd {path}"
        );
        assert_eq!(
            (rb.status, rb.expect_json()),
            (400, unary_error(3, BAD_BODY)),
            "{version} ours {path}"
        );
        assert_eq!(rb.header("content-type"), Some("application/json"));
        assert_eq!(rb.header("grpc-metadata-content-type"), None);
        assert_eq!(rb.header("content-length"), Some("144"));
    }

    // `decode-error-before-first-response`: a valid create followed by garbage in one body.
    let body = format!("{}value=", create_request(json!({"key": b64("foo")})));
    let call_a = Call::post(&a, "/v3/watch", &[], &body).await;
    let rb = http::post(&b, "/v3/watch", &body).await;
    assert_eq!(
        (rb.status, rb.expect_json()),
        (400, unary_error(3, BAD_BODY)),
        "{version} ours"
    );
    let mut sa = call_a.expect_response().await;
    assert_stream_head(&sa, "application/json", &format!("{version} etcd"));
    let line = sa.next_line().await;
    assert_eq!(pair.a.mask(&line), created(4), "{version} etcd: {line}");
    pair.write("/v3/kv/put", &put("foo", "1")).await; // 5
    let line = sa.next_line().await;
    let want = events(5, vec![put_event(kv("foo", "1", 5, 5, 1))]);
    assert_eq!(pair.a.mask(&line), want, "{version} etcd: {line}");
    drop(sa);

    // `decode-error-mid-stream` (ours; etcd's HTTP/1.1 gateway answers nothing before the body
    // ends): the error line comes after the created line, then the stream ends and the upstream
    // watch is gone.
    let first = create_request(json!({"key": b64("foo")})) + "\n";
    let mut sb = Call::post_open(&b, "/v3/watch", &[], &first)
        .await
        .expect_response()
        .await;
    assert_stream_head(&sb, "application/json", &format!("{version} ours"));
    let line = sb.next_line().await;
    assert_eq!(pair.b.mask(&line), created(5), "{version} ours: {line}");
    await_watch_gauges(&pair.b.etcd, (1, 1), MESSAGE_TIMEOUT).await;
    sb.send("value=").await;
    assert_eq!(
        sb.next_line().await,
        error_line(3, 400, "Bad Request", BAD_BODY)
    );
    sb.expect_end().await;
    await_watch_gauges(&pair.b.etcd, (0, 0), MESSAGE_TIMEOUT).await;

    // etcd issue #19509: clients that send an undecodable watch body (complete, still open,
    // or after a valid request) and go away after 100 ms must not hurt the server.
    for i in 0..10 {
        for addr in [&a, &b] {
            let call = match i % 3 {
                0 => Call::post(addr, "/v3/watch", &[], "value=").await,
                1 => Call::post_open(addr, "/v3/watch", &[], "value=").await,
                _ => {
                    let mut call = Call::post_open(addr, "/v3/watch", &[], &first).await;
                    call.send("value=").await;
                    call
                }
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            call.abort();
        }
    }
    let gateway = pair.gateway.as_mut().expect("our gateway");
    assert!(
        gateway.is_alive(),
        "gateway exited:\n{}",
        gateway.log_tail()
    );
    let (mut sa, mut sb) = pair
        .open(
            "/v3/watch",
            &[],
            &create_request(json!({"key": b64("foo")})),
        )
        .await;
    pair.next_both(&mut sa, &mut sb, &created(5)).await;
    pair.write("/v3/kv/put", &put("foo", "2")).await; // 6
    let want = events(6, vec![put_event(kv("foo", "2", 5, 6, 2))]);
    pair.next_both(&mut sa, &mut sb, &want).await;
}

/// An upstream error after the first message (`Grpc-Timeout`), and Server-Sent Events.
async fn upstream_error_and_sse(version: EtcdVersion) {
    let mut pair = Pair::start_ours(version, &[]).await;
    let watch_foo = create_request(json!({"key": b64("foo")}));
    let sse = [("accept", "text/event-stream")];
    let timeout = [("grpc-timeout", "1S")];
    let sse_timeout = [sse[0], timeout[0]];

    // `grpc-timeout-watch` (JSON lines on both sides) and the same over SSE (ours), together.
    let ((mut sa, mut sb), mut se) = tokio::join!(
        pair.open("/v3/watch", &timeout, &watch_foo),
        Stream::post(&pair.b.addr, "/v3/watch", &sse_timeout, &watch_foo),
    );
    pair.next_both(&mut sa, &mut sb, &created(1)).await;
    let (ea, eb) = tokio::join!(sa.next_line(), sb.next_line());
    let etcd_errors = [
        r#"{"error":{"grpc_code":4,"http_code":504,"message":"context deadline exceeded","http_status":"Gateway Timeout"}}"#,
        r#"{"error":{"grpc_code":2,"http_code":500,"message":"context deadline exceeded","http_status":"Internal Server Error"}}"#,
    ];
    assert!(etcd_errors.contains(&ea.as_str()), "{version} etcd: {ea:?}");
    // Ours enforces the deadline itself, so the stream always ends with DeadlineExceeded.
    let ours = error_line(4, 504, "Gateway Timeout", "context deadline exceeded");
    assert_eq!(eb, ours, "{version} ours");
    tokio::join!(sa.expect_end(), sb.expect_end());

    assert_sse_head(&se, version);
    let created_text = r#"{"result":{"header":{"cluster_id":"<cluster_id>","member_id":"<member g1>","revision":"1","raft_term":"<raft_term>"},"created":true}}"#;
    let event = se.next_event().await;
    assert_eq!(
        pair.b.mask_text(&event),
        format!("data: {created_text}\n\n")
    );
    let event = se.next_event().await;
    assert_eq!(event, format!("data: {}\n\n", ours.trim_end()));
    se.expect_end().await;

    // `sse`: etcd ignores the Accept header; ours sends events with the same JSON.
    let (mut sa, mut sb) = tokio::join!(
        Stream::post(&pair.a.addr, "/v3/watch", &sse, &watch_foo),
        Stream::post(&pair.b.addr, "/v3/watch", &sse, &watch_foo),
    );
    assert_stream_head(&sa, "application/json", &format!("{version} etcd"));
    assert_sse_head(&sb, version);
    for (write, want) in [
        (None, created(1)),
        (
            Some(("/v3/kv/put", put("foo", "bar"))),
            events(2, vec![put_event(kv("foo", "bar", 2, 2, 1))]),
        ),
        (
            Some(("/v3/kv/deleterange", delete("foo"))),
            events(3, vec![delete_event("foo", 3)]),
        ),
    ] {
        if let Some((path, body)) = write {
            pair.write(path, &body).await;
        }
        let (line, event) = tokio::join!(sa.next_line(), sb.next_event());
        let data = event
            .strip_prefix("data: ")
            .and_then(|e| e.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("{version}: not an SSE data event: {event:?}"));
        assert!(!data.contains('\n'), "{version}: {event:?}");
        assert!(line.ends_with('\n'), "{version}: {line:?}");
        pair.compare_messages(line.trim_end(), data, &want);
    }
    tokio::join!(sa.expect_quiet(QUIET), sb.expect_quiet(QUIET));
}

/// `Grpc-Timeout: 1n` on every stream route: the deadline has passed before anything was sent,
/// so the answer is the unary error 504 `context deadline exceeded` (code 4), as etcd's
/// gateway answers and as our unary routes answer.
async fn deadline_before_first_message(version: EtcdVersion) {
    let pair = Pair::start_ours(version, &[]).await;
    let deadline = [("grpc-timeout", "1n")];
    let want = unary_error(4, "context deadline exceeded");
    let routes = [
        ("/v3/maintenance/snapshot", "{}".to_owned()),
        (
            "/v3/election/observe",
            json!({"name": b64("none")}).to_string(),
        ),
        ("/v3/watch", create_request(json!({"key": b64("foo")}))),
        ("/v3/lease/keepalive", r#"{"ID":1}"#.to_owned()),
    ];
    // Every route is checked before failing, so one run shows all wrong answers.
    let mut wrong = Vec::new();
    for (path, body) in &routes {
        let (ra, rb) = tokio::join!(
            http::post_with(&pair.a.addr, path, &deadline, body),
            http::post_with(&pair.b.addr, path, &deadline, body),
        );
        for (side, reply) in [("etcd", &ra), ("ours", &rb)] {
            let ok = reply.status == 504
                && reply.json().as_ref() == Some(&want)
                && reply.header("content-type") == Some("application/json");
            if !ok {
                let text = reply.text();
                let text = &text[..text.len().min(300)];
                wrong.push(format!("{side} {path}: {} {text}", reply.status));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{version}: expected 504 {want} on every route, got:\n{}",
        wrong.join("\n")
    );
}

fn assert_sse_head(stream: &Stream, version: EtcdVersion) {
    assert_stream_head(stream, "text/event-stream", &format!("{version} ours, SSE"));
    assert_eq!(
        stream.header("cache-control"),
        Some("no-cache"),
        "{version}"
    );
}

/// Clients that go away cancel their upstream watch streams: etcd's watcher and watch stream
/// gauges drop back to zero within a couple of seconds, as they do behind etcd's own gateway.
async fn disconnect_cancels_upstream(version: EtcdVersion) {
    let pair = Pair::start_ours(version, &[]).await;
    for side in [&pair.a, &pair.b] {
        assert_eq!(
            watch_gauges(&side.etcd).await,
            (0, 0),
            "{version} {}",
            side.label
        );
    }
    let one = create_request(json!({"key": b64("a")}));
    let two = format!("{one}{}", create_request(json!({"key": b64("b")})));
    let mut held = Vec::new();
    for side in [&pair.a, &pair.b] {
        // A watch, two watches on one stream, an SSE watch, and a watch whose request body is
        // still open (etcd's gateway creates it but answers only when the body ends).
        let plain = Stream::post(&side.addr, "/v3/watch", &[], &one).await;
        let double = Stream::post(&side.addr, "/v3/watch", &[], &two).await;
        let sse = Stream::post(
            &side.addr,
            "/v3/watch",
            &[("accept", "text/event-stream")],
            &one,
        )
        .await;
        let open = Call::post_open(&side.addr, "/v3/watch", &[], &one).await;
        await_watch_gauges(&side.etcd, (5, 4), MESSAGE_TIMEOUT).await;
        held.push((plain, double, sse, open));
    }
    drop(held);
    for side in [&pair.a, &pair.b] {
        let took = await_watch_gauges(&side.etcd, (0, 0), Duration::from_secs(3)).await;
        assert!(
            took < Duration::from_secs(2),
            "{version} {}: {took:?}",
            side.label
        );
    }
}
