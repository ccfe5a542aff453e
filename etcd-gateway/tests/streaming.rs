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
use support::json::header as h;
use support::stream::{
    Call, MESSAGE_TIMEOUT, PROGRESS_NOTIFY_1S, Pair, QUIET, Stream, assert_stream_head,
    await_watch_gauges, parse, watch_gauges,
};
use support::{Gateway, Mode, http};

fn b64(s: &str) -> String {
    B64.encode(s)
}

fn put(key: &str, value: &str) -> String {
    json!({"key": b64(key), "value": b64(value)}).to_string()
}

fn delete(key: &str) -> String {
    json!({"key": b64(key)}).to_string()
}

/// A masked key-value as etcd returns it.
fn kv(key: &str, value: &str, create: u64, modr: u64, version: u64) -> Value {
    json!({
        "key": b64(key),
        "create_revision": create.to_string(),
        "mod_revision": modr.to_string(),
        "version": version.to_string(),
        "value": b64(value),
    })
}

fn put_event(kv: Value) -> Value {
    json!({"kv": kv})
}

fn delete_event(key: &str, modr: u64) -> Value {
    json!({"type": "DELETE", "kv": {"key": b64(key), "mod_revision": modr.to_string()}})
}

fn result(message: Value) -> Value {
    json!({ "result": message })
}

fn created(revision: u64) -> Value {
    result(json!({"header": h(revision), "created": true}))
}

fn events(revision: u64, events: Vec<Value>) -> Value {
    result(json!({"header": h(revision), "events": events}))
}

fn create_request(fields: Value) -> String {
    json!({ "create_request": fields }).to_string()
}

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

both_versions!(watch_events);

/// Key, prefix, history replay, prev_kv and filter watches, each on its own stream, fed by the
/// same writes.
async fn watch_events(version: EtcdVersion) {
    let mut pair = Pair::start(version, &[]).await;
    pair.write("/v3/kv/put", &put("foo", "bar")).await; // 2
    pair.write("/v3/kv/put", &put("foo", "baz")).await; // 3
    pair.write("/v3/kv/put", &put("foo1", "1")).await; // 4

    let prefix = json!({"key": b64("foo"), "range_end": b64("fop")});
    let requests = [
        ("key", create_request(json!({"key": b64("foo")}))),
        ("prefix", create_request(prefix.clone())),
        (
            "history",
            create_request(json!({"key": b64("foo"), "start_revision": "2"})),
        ),
        (
            "prev_kv",
            create_request(json!({"key": b64("foo"), "prev_kv": true})),
        ),
        (
            "noput",
            create_request(json!({"key": b64("foo"), "range_end": b64("fop"), "filters": ["NOPUT"]})),
        ),
        (
            "nodelete",
            create_request(json!({"key": b64("foo"), "range_end": b64("fop"), "filters": [1]})),
        ),
    ];
    let mut streams = Vec::new();
    for (name, body) in &requests {
        let (mut sa, mut sb) = pair.open("/v3/watch", &[], body).await;
        pair.next_both(&mut sa, &mut sb, &created(4)).await;
        streams.push((*name, sa, sb));
    }
    let mut expect = async |pair: &mut Pair, name: &str, want: Value| {
        let (_, sa, sb) = streams
            .iter_mut()
            .find(|(n, _, _)| *n == name)
            .expect("stream");
        pair.next_both(sa, sb, &want).await;
    };
    // The history watch replays revisions 2 and 3 in one message.
    expect(
        &mut pair,
        "history",
        events(
            4,
            vec![
                put_event(kv("foo", "bar", 2, 2, 1)),
                put_event(kv("foo", "baz", 2, 3, 2)),
            ],
        ),
    )
    .await;

    pair.write("/v3/kv/put", &put("foo", "qux")).await; // 5
    let foo5 = events(5, vec![put_event(kv("foo", "qux", 2, 5, 3))]);
    for name in ["key", "prefix", "history", "nodelete"] {
        expect(&mut pair, name, foo5.clone()).await;
    }
    expect(
        &mut pair,
        "prev_kv",
        events(
            5,
            vec![json!({"kv": kv("foo", "qux", 2, 5, 3), "prev_kv": kv("foo", "baz", 2, 3, 2)})],
        ),
    )
    .await;

    pair.write("/v3/kv/deleterange", &delete("foo1")).await; // 6
    for name in ["prefix", "noput"] {
        expect(&mut pair, name, events(6, vec![delete_event("foo1", 6)])).await;
    }

    pair.write("/v3/kv/deleterange", &delete("foo")).await; // 7
    for name in ["key", "prefix", "history", "noput"] {
        expect(&mut pair, name, events(7, vec![delete_event("foo", 7)])).await;
    }
    expect(
        &mut pair,
        "prev_kv",
        events(
            7,
            vec![json!({
                "type": "DELETE",
                "kv": {"key": b64("foo"), "mod_revision": "7"},
                "prev_kv": kv("foo", "qux", 2, 5, 3),
            })],
        ),
    )
    .await;

    pair.write("/v3/kv/put", &put("bar", "x")).await; // 8: matches no watch
    pair.write("/v3/kv/put", &put("foo2", "2")).await; // 9
    for name in ["prefix", "nodelete"] {
        expect(
            &mut pair,
            name,
            events(9, vec![put_event(kv("foo2", "2", 9, 9, 1))]),
        )
        .await;
    }
    // Nothing else on any stream (the writes above were the last ones).
    let quiet = streams
        .iter_mut()
        .map(|(_, sa, sb)| async move { tokio::join!(sa.expect_quiet(QUIET), sb.expect_quiet(QUIET)) });
    futures_util::future::join_all(quiet).await;
}
