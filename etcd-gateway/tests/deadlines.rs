//! Deadlines, and the same answer for the same input whatever the backend or the timing.
//!
//! Every check runs on three sides: etcd's own gateway (3.4.23 and 3.5.1, the reference), ours
//! in front of that etcd, and ours on its embedded store.
//!
//! * A deadline that passes (`Grpc-Timeout`, or the gateway's `--request-timeout`) is
//!   `504 {"error":"context deadline exceeded","code":4,...}` (grpc-gateway v1.16: Go's
//!   `context.DeadlineExceeded` → `codes.DeadlineExceeded` → 504), never a cancellation
//!   (408, code 1). On a stream that has started it is the final error line.
//! * `Grpc-Timeout: 0n` sets no deadline (grpc-gateway v1.16 applies only a non-zero timeout).
//! * A malformed first message on `/v3/lease/keepalive` always gets the same status.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::http_stream::Stream;
use support::websocket_client::{WsEvent, ws_connect, ws_next, ws_send, ws_text};
use support::{Etcd, EtcdVersion, Gateway, http};

/// The unary error of a passed deadline, as etcd's gateway writes it.
fn deadline_body() -> Value {
    json!({"error": "context deadline exceeded", "code": 4, "message": "context deadline exceeded"})
}

/// etcd's gateway, ours in front of the same etcd, and ours on its embedded store.
struct Sides {
    etcd: Etcd,
    upstream: Gateway,
    embedded: Gateway,
}

impl Sides {
    async fn start(version: EtcdVersion, upstream_args: &[&str]) -> Sides {
        let etcd = Etcd::start(version).await;
        let endpoint = format!("http://{}", etcd.addr());
        let mut args = vec!["--endpoints", endpoint.as_str()];
        args.extend_from_slice(upstream_args);
        let (upstream, embedded) =
            tokio::join!(Gateway::start_with_args(&args), Gateway::start_embedded());
        Sides {
            etcd,
            upstream,
            embedded,
        }
    }

    /// `(name, address)` of each side.
    fn all(&self) -> [(String, String); 3] {
        let version = self.etcd.version;
        [
            (format!("etcd {version}"), self.etcd.addr()),
            (
                format!("ours on etcd {version}"),
                self.upstream.addr.clone(),
            ),
            ("ours embedded".to_owned(), self.embedded.addr.clone()),
        ]
    }
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A `Grpc-Timeout` that has passed by the time the call is made is 504 on every side, and on
/// every kind of unary call; `0n` is no deadline (200).
async fn passed_and_zero_timeouts(version: EtcdVersion) {
    let sides = Sides::start(version, &[]).await;
    let put = json!({"key": b64("k"), "value": b64("v")}).to_string();
    let range = json!({"key": b64("k")}).to_string();
    for (side, addr) in sides.all() {
        for timeout in ["1n", "1u", "2n"] {
            for (path, body) in [("/v3/kv/put", &put), ("/v3/kv/range", &range)] {
                let reply = http::post_with(&addr, path, &[("grpc-timeout", timeout)], body).await;
                assert_eq!(
                    (reply.status, reply.json()),
                    (504, Some(deadline_body())),
                    "{side} {path} grpc-timeout {timeout}"
                );
            }
        }
        let reply = http::post_with(&addr, "/v3/kv/range", &[("grpc-timeout", "0n")], &range).await;
        assert_eq!(reply.status, 200, "{side} 0n: {}", reply.describe());
        assert!(reply.expect_json()["header"].is_object(), "{side} 0n");
    }
}

#[tokio::test]
async fn passed_and_zero_timeouts_v3_4() {
    passed_and_zero_timeouts(EtcdVersion::V3_4).await;
}

#[tokio::test]
async fn passed_and_zero_timeouts_v3_5() {
    passed_and_zero_timeouts(EtcdVersion::V3_5).await;
}

/// Holds the lock `name` on `addr` with a fresh lease, so a second `Lock` waits.
async fn hold_lock(addr: &str, name: &str, lease: i64) {
    let grant = http::post(
        addr,
        "/v3/lease/grant",
        &json!({"TTL": 60, "ID": lease}).to_string(),
    )
    .await;
    assert_eq!(grant.status, 200, "{addr}: {}", grant.describe());
    let lock = json!({"name": b64(name), "lease": lease}).to_string();
    let held = http::post(addr, "/v3/lock/lock", &lock).await;
    assert_eq!(held.status, 200, "{addr}: {}", held.describe());
}

/// A call that waits (a lock held elsewhere) past its `Grpc-Timeout`: 504 on every side.
async fn deadline_passing_during_the_call(version: EtcdVersion) {
    let sides = Sides::start(version, &[]).await;
    for (index, (side, addr)) in sides.all().into_iter().enumerate() {
        let name = format!("held-{index}");
        hold_lock(&addr, &name, 7000 + index as i64).await;
        let body = json!({"name": b64(&name)}).to_string();
        let reply =
            http::post_with(&addr, "/v3/lock/lock", &[("grpc-timeout", "300m")], &body).await;
        assert_eq!(
            (reply.status, reply.json()),
            (504, Some(deadline_body())),
            "{side}"
        );
    }
}

#[tokio::test]
async fn deadline_passing_during_the_call_v3_4() {
    deadline_passing_during_the_call(EtcdVersion::V3_4).await;
}

#[tokio::test]
async fn deadline_passing_during_the_call_v3_5() {
    deadline_passing_during_the_call(EtcdVersion::V3_5).await;
}

/// The gateway's own `--request-timeout` passing is the same 504 as a client's deadline.
#[tokio::test]
async fn request_timeout_is_a_passed_deadline() {
    let sides = Sides::start(EtcdVersion::V3_5, &["--request-timeout", "300ms"]).await;
    let addr = sides.upstream.addr.clone();
    hold_lock(&addr, "rt", 7100).await;
    let reply = http::post(
        &addr,
        "/v3/lock/lock",
        &json!({"name": b64("rt")}).to_string(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.json()),
        (504, Some(deadline_body())),
        "{}",
        reply.describe()
    );
}

/// A watch whose `Grpc-Timeout` passes after it was created: the created message, then the
/// final error line with code 4. etcd's line has no `code`; ours adds it (some parsers need
/// it), otherwise the same. etcd's own gateway is racy here: its line is code 4 (504) when the
/// client side notices the deadline first and code 2 (500, `Unknown`, the same message) when
/// the server's canceled stream ends first; ours is always code 4.
async fn deadline_passing_on_a_stream(version: EtcdVersion) {
    let sides = Sides::start(version, &[]).await;
    let body = json!({"create_request": {"key": b64("w")}}).to_string();
    for (side, addr) in sides.all() {
        let mut stream = Stream::post(&addr, "/v3/watch", &[("grpc-timeout", "300m")], &body).await;
        let created: Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(created["result"]["created"], true, "{side}: {created}");
        let last: Value = serde_json::from_str(&stream.next_line().await).unwrap();
        let mut want = json!({"error": {
            "grpc_code": 4,
            "http_code": 504,
            "message": "context deadline exceeded",
            "http_status": "Gateway Timeout",
        }});
        if side.starts_with("etcd") {
            let mut unknown = want.clone();
            unknown["error"]["grpc_code"] = json!(2);
            unknown["error"]["http_code"] = json!(500);
            unknown["error"]["http_status"] = json!("Internal Server Error");
            assert!(last == want || last == unknown, "{side}: {last}");
        } else {
            want["error"]["code"] = json!(4);
            assert_eq!(last, want, "{side}");
        }
        stream.expect_end().await;

        // `0n`: no deadline, the watch is created.
        let mut stream = Stream::post(&addr, "/v3/watch", &[("grpc-timeout", "0n")], &body).await;
        let created: Value = serde_json::from_str(&stream.next_line().await).unwrap();
        assert_eq!(created["result"]["created"], true, "{side} 0n: {created}");
    }
}

#[tokio::test]
async fn deadline_passing_on_a_stream_v3_4() {
    deadline_passing_on_a_stream(EtcdVersion::V3_4).await;
}

#[tokio::test]
async fn deadline_passing_on_a_stream_v3_5() {
    deadline_passing_on_a_stream(EtcdVersion::V3_5).await;
}

/// A WebSocket watch whose handshake's `Grpc-Timeout` passes: the final error message is code
/// 4, `context deadline exceeded`, on both our backends (etcd's WebSocket proxy does not apply
/// the handshake's `Grpc-Timeout`).
#[tokio::test]
async fn deadline_passing_on_a_websocket() {
    let sides = Sides::start(EtcdVersion::V3_5, &[]).await;
    let request = json!({"create_request": {"key": b64("w")}}).to_string();
    for (side, addr) in sides.all().into_iter().skip(1) {
        let (mut socket, _) = ws_connect(&addr, "/v3/watch", &[("grpc-timeout", "300m")])
            .await
            .unwrap_or_else(|err| panic!("{side}: {err}"));
        ws_send(&mut socket, &request).await;
        let created: Value = serde_json::from_str(&ws_text(&mut socket, &side).await).unwrap();
        assert_eq!(created["result"]["created"], true, "{side}: {created}");
        let last: Value = serde_json::from_str(&ws_text(&mut socket, &side).await).unwrap();
        assert_eq!(
            last,
            json!({"error": {
                "grpc_code": 4,
                "http_code": 504,
                "message": "context deadline exceeded",
                "http_status": "Gateway Timeout",
                "code": 4,
            }}),
            "{side}"
        );
        assert_eq!(
            ws_next(&mut socket, Duration::from_secs(5)).await,
            WsEvent::Closed,
            "{side}"
        );
    }
}

/// A malformed first message on `/v3/lease/keepalive`, sent 100 times: every answer is the
/// same 400 (the body reader's error wins over the call ending because its input ended).
#[tokio::test]
async fn malformed_first_keepalive_message_always_gets_the_same_answer() {
    let sides = Sides::start(EtcdVersion::V3_5, &[]).await;
    for (side, addr) in sides.all().into_iter().skip(1) {
        let mut answers = std::collections::BTreeMap::new();
        for _ in 0..100 {
            let reply = http::post(&addr, "/v3/lease/keepalive", r#"{"ID":"x"}"#).await;
            *answers.entry((reply.status, reply.text())).or_insert(0) += 1;
        }
        let answers: Vec<_> = answers.into_iter().collect();
        assert_eq!(answers.len(), 1, "{side}: {answers:?}");
        let ((status, body), count) = &answers[0];
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (*status, &body["code"], *count),
            (400, &json!(3), 100),
            "{side}"
        );
    }
}

/// A request message over etcd's received-message limit (`--max-request-bytes` 1.5 MiB plus
/// 512 KiB of gRPC overhead), with the gateway's body limit raised so the message gets
/// through it: etcd 3.5.1 refuses it with `ResourceExhausted` (grpc-go: `grpc: received message
/// larger than max (N vs. M)`), 429; the embedded backend answers the same (tonic's own
/// refusal would be `OutOfRange`, 400).
#[tokio::test]
async fn oversized_message_is_resource_exhausted_on_both_backends() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let endpoint = format!("http://{}", etcd.addr());
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("data");
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    let limit = ["--max-request-bytes", "8000000"];
    let upstream_args = [&["--endpoints", endpoint.as_str()][..], &limit].concat();
    let embedded_args = [&["--data-dir", data_dir][..], &limit].concat();
    let (upstream, embedded) = tokio::join!(
        Gateway::start_with_args(&upstream_args),
        Gateway::start_with_args(&embedded_args),
    );
    let value = "x".repeat(2_500_000);
    let body = json!({"key": b64("big"), "value": b64(&value)}).to_string();
    let message = "grpc: received message larger than max (2500010 vs. 2097152)";
    let want = json!({"error": message, "code": 8, "message": message});
    for (side, addr) in [
        ("etcd", etcd.addr()),
        ("ours on etcd", upstream.addr.clone()),
        ("ours embedded", embedded.addr.clone()),
    ] {
        let reply = http::post(&addr, "/v3/kv/put", &body).await;
        assert_eq!(
            (reply.status, reply.json()),
            (429, Some(want.clone())),
            "{side}"
        );
    }
}

/// The same oversized message over the embedded backend's native gRPC API: `ResourceExhausted`
/// with grpc-go's message, as etcd 3.5.1's gRPC server answers it.
#[tokio::test]
async fn oversized_grpc_message_is_resource_exhausted() {
    use etcd_gateway::etcdserverpb::PutRequest;
    use etcd_gateway::etcdserverpb::kv_client::KvClient;

    let (etcd, embedded) = tokio::join!(Etcd::start(EtcdVersion::V3_5), Gateway::start_embedded());
    for (side, addr) in [
        ("etcd", etcd.addr()),
        ("ours embedded", embedded.addr.clone()),
    ] {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap_or_else(|err| panic!("{side}: {err}"));
        let put = PutRequest {
            key: b"big".to_vec(),
            value: vec![b'x'; 2_500_000],
            ..Default::default()
        };
        let status = KvClient::new(channel).put(put).await.expect_err(side);
        assert_eq!(
            (status.code(), status.message()),
            (
                tonic::Code::ResourceExhausted,
                "grpc: received message larger than max (2500010 vs. 2097152)"
            ),
            "{side}"
        );
    }
}
