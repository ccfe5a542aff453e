//! The watch and keepalive stream scenarios of `tests/streaming.rs`, shared with
//! `tests/differential_embedded.rs`, which runs them with our binary's embedded store as side B.
//! Row ids in backquotes refer to the difference tables at the top of those files.

use serde_json::{Value, json};

use super::EtcdVersion;
use super::gateway::{Mode, Target};
use super::http_stream::{QUIET, Stream};
use super::json::header as h;
use super::stream_pair::{PROGRESS_NOTIFY_1S, Pair};

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub fn put(key: &str, value: &str) -> String {
    json!({"key": b64(key), "value": b64(value)}).to_string()
}

pub fn delete(key: &str) -> String {
    json!({"key": b64(key)}).to_string()
}

/// A masked key-value as etcd returns it.
pub fn kv(key: &str, value: &str, create: u64, modr: u64, version: u64) -> Value {
    json!({
        "key": b64(key),
        "create_revision": create.to_string(),
        "mod_revision": modr.to_string(),
        "version": version.to_string(),
        "value": b64(value),
    })
}

pub fn put_event(kv: Value) -> Value {
    json!({"kv": kv})
}

pub fn delete_event(key: &str, modr: u64) -> Value {
    json!({"type": "DELETE", "kv": {"key": b64(key), "mod_revision": modr.to_string()}})
}

pub fn result(message: Value) -> Value {
    json!({ "result": message })
}

pub fn created(revision: u64) -> Value {
    result(json!({"header": h(revision), "created": true}))
}

pub fn events(revision: u64, events: Vec<Value>) -> Value {
    result(json!({"header": h(revision), "events": events}))
}

pub fn create_request(fields: Value) -> String {
    json!({ "create_request": fields }).to_string()
}

/// Key, prefix, history replay, prev_kv and filter watches, each on its own stream, fed by the
/// same writes.
pub async fn watch_events(version: EtcdVersion, target: Target) {
    let mut pair = Pair::start_target(version, &[], target).await;
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
            create_request(
                json!({"key": b64("foo"), "range_end": b64("fop"), "filters": ["NOPUT"]}),
            ),
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
    let quiet = streams.iter_mut().map(|(_, sa, sb)| async move {
        tokio::join!(sa.expect_quiet(QUIET), sb.expect_quiet(QUIET))
    });
    futures_util::future::join_all(quiet).await;
}

/// Several requests in one body: creates (server-chosen and client-given watch IDs), cancels,
/// progress requests, progress notifications, and a watch on a compacted revision.
pub async fn watch_control(version: EtcdVersion, target: Target) {
    let mut pair = Pair::start_target(version, &PROGRESS_NOTIFY_1S, target).await;
    pair.write("/v3/kv/put", &put("a", "1")).await; // 2

    // Three creates in one body (newline-separated, then concatenated): IDs 0, 1 and the
    // client's 7. Each watch then gets only its own key's events.
    let body = format!(
        "{}\n{}{}",
        create_request(json!({"key": b64("a")})),
        create_request(json!({"key": b64("b")})),
        create_request(json!({"key": b64("c"), "watch_id": 7})),
    );
    let (mut sa, mut sb) = pair.open("/v3/watch", &[], &body).await;
    pair.next_both(&mut sa, &mut sb, &created(2)).await;
    for id in ["1", "7"] {
        let want = result(json!({"header": h(2), "watch_id": id, "created": true}));
        pair.next_both(&mut sa, &mut sb, &want).await;
    }
    pair.write("/v3/kv/put", &put("b", "2")).await; // 3
    let want = result(json!({"header": h(3), "watch_id": "1",
        "events": [put_event(kv("b", "2", 3, 3, 1))]}));
    pair.next_both(&mut sa, &mut sb, &want).await;
    pair.write("/v3/kv/put", &put("c", "3")).await; // 4
    let want = result(json!({"header": h(4), "watch_id": "7",
        "events": [put_event(kv("c", "3", 4, 4, 1))]}));
    pair.next_both(&mut sa, &mut sb, &want).await;
    pair.write("/v3/kv/put", &put("a", "4")).await; // 5
    pair.next_both(
        &mut sa,
        &mut sb,
        &events(5, vec![put_event(kv("a", "4", 2, 5, 2))]),
    )
    .await;
    pair.quiet_both(&mut sa, &mut sb, QUIET).await;
    drop((sa, sb));

    // Create, cancel it, cancel an unknown ID (no answer), ask for progress; a duplicate
    // client watch ID is refused in-band.
    let body = [
        create_request(json!({"key": b64("d"), "watch_id": 3})),
        json!({"cancel_request": {"watch_id": 3}}).to_string(),
        json!({"cancel_request": {"watch_id": 99}}).to_string(),
        json!({"progress_request": {}}).to_string(),
        create_request(json!({"key": b64("e"), "watch_id": 5})),
        create_request(json!({"key": b64("f"), "watch_id": 5})),
    ]
    .join("\n");
    let (mut sa, mut sb) = pair.open("/v3/watch", &[], &body).await;
    let wants = [
        json!({"header": h(5), "watch_id": "3", "created": true}),
        json!({"header": h(5), "watch_id": "3", "canceled": true}),
        json!({"header": h(5), "watch_id": "-1"}),
        json!({"header": h(5), "watch_id": "5", "created": true}),
        json!({"header": h(5), "watch_id": "-1", "created": true, "canceled": true,
            "cancel_reason": "mvcc: duplicate watch ID provided on the WatchStream"}),
    ];
    for want in wants {
        pair.next_both(&mut sa, &mut sb, &result(want)).await;
    }
    pair.write("/v3/kv/put", &put("d", "x")).await; // 6: the canceled watch stays silent
    pair.write("/v3/kv/put", &put("e", "y")).await; // 7
    let want = result(json!({"header": h(7), "watch_id": "5",
        "events": [put_event(kv("e", "y", 7, 7, 1))]}));
    pair.next_both(&mut sa, &mut sb, &want).await;
    pair.quiet_both(&mut sa, &mut sb, QUIET).await;
    drop((sa, sb));

    // A watch from a compacted revision is created, then canceled with the compact revision.
    pair.write("/v3/kv/compaction", r#"{"revision":"6","physical":true}"#)
        .await;
    let (mut sa, mut sb) = pair
        .open(
            "/v3/watch",
            &[],
            &create_request(json!({"key": b64("a"), "start_revision": 2})),
        )
        .await;
    pair.next_both(&mut sa, &mut sb, &created(7)).await;
    let compacted = json!({"header": {"cluster_id": "<cluster_id>", "member_id": "<member g1>",
        "raft_term": "<raft_term>"}, "canceled": true, "compact_revision": "6"});
    pair.next_both(&mut sa, &mut sb, &result(compacted)).await;
    pair.quiet_both(&mut sa, &mut sb, QUIET).await;
    drop((sa, sb));

    // Progress notifications (etcd runs with a 1 s interval): header-only lines. The embedded
    // store has no such flag (`progress-interval` in tests/differential_embedded.rs).
    if pair.target == Target::Embedded {
        return;
    }
    let body = create_request(json!({"key": b64("a"), "progress_notify": true}));
    let (mut sa, mut sb) = pair.open("/v3/watch", &[], &body).await;
    pair.next_both(&mut sa, &mut sb, &created(7)).await;
    for _ in 0..2 {
        pair.next_both(&mut sa, &mut sb, &result(json!({"header": h(7)})))
            .await;
    }
}

/// Lease keepalive: one line per request, then the end of the stream with the end of the body.
pub async fn keepalive(pair: &mut Pair) {
    let version = pair.label();
    pair.write("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;

    // Three requests for a live lease (newline, space and no separator), then one for an
    // unknown lease: one line each, then the end of the stream.
    let body = r#"{"ID":7587}
{"ID":"7587"} {"ID":7587}{"ID":999}"#;
    let (mut sa, mut sb) = pair.open("/v3/lease/keepalive", &[], body).await;
    let live = result(json!({"header": h(1), "ID": "7587", "TTL": "60"}));
    for _ in 0..3 {
        pair.next_both(&mut sa, &mut sb, &live).await;
    }
    let unknown = result(json!({"header": h(1), "ID": "999"}));
    pair.next_both(&mut sa, &mut sb, &unknown).await;
    tokio::join!(sa.expect_end(), sb.expect_end());

    let (mut sa, mut sb) = pair
        .open("/v3/lease/keepalive", &[], r#"{"ID":424242}{"ID":424242}"#)
        .await;
    let unknown = result(json!({"header": h(1), "ID": "424242"}));
    for _ in 0..2 {
        pair.next_both(&mut sa, &mut sb, &unknown).await;
    }
    tokio::join!(sa.expect_end(), sb.expect_end());

    // Empty body (`empty-keepalive`): no message, the stream just ends.
    let (mut sa, mut sb) = tokio::join!(
        Stream::post(&pair.a.addr, "/v3/lease/keepalive", &[], ""),
        Stream::post(&pair.b.addr, "/v3/lease/keepalive", &[], ""),
    );
    for (side, stream) in [("etcd", &sa), ("ours", &sb)] {
        assert_eq!(stream.status, 200, "{version} {side}: empty keepalive");
        assert_eq!(stream.header("content-type"), Some("application/json"));
        assert_eq!(stream.header("transfer-encoding"), Some("chunked"));
    }
    let grpc_ct = |s: &Stream| s.header("grpc-metadata-content-type").map(str::to_owned);
    assert_eq!(grpc_ct(&sa), None, "{version} etcd: empty keepalive");
    if pair.mode == Mode::Binary {
        assert_eq!(
            grpc_ct(&sb).as_deref(),
            Some("application/grpc"),
            "{version} ours"
        );
    }
    tokio::join!(sa.expect_end(), sb.expect_end());
}
