//! The KV and lease step lists of the unary differential suite (`tests/differential.rs`), shared
//! with `tests/differential_embedded.rs`, which runs them with our binary's embedded store as
//! side B. The version-difference ids named by `.known(...)` are rows of the table at the top
//! of `tests/differential.rs`.

use serde_json::{Value, json};

use super::EtcdVersion::{self, V3_4, V3_5};
use super::json::{error_body, header as h};
use super::scenario::{Outcome, Step, post};

/// etcd's answer for a path its gateway router does not know (Go's `http.Error`).
pub const NOT_FOUND_TEXT: &str = "Not Found\n";

pub fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Only the cluster/member part of a header (cluster APIs carry no revision).
pub fn cluster_header() -> Value {
    json!({"cluster_id": "<cluster_id>", "member_id": "<member g1>", "raft_term": "<raft_term>"})
}

pub fn entry(key: &str, value: &str, create: u64, modr: u64, version: u64) -> Value {
    json!({
        "key": b64(key),
        "create_revision": create.to_string(),
        "mod_revision": modr.to_string(),
        "version": version.to_string(),
        "value": b64(value),
    })
}

/// KV: range/put/deleterange/txn/compaction, plus the routing and decoding differences.
pub fn kv(_v: EtcdVersion) -> Vec<Step> {
    let too_many_ops = {
        let ops: Vec<String> = (0..129)
            .map(|i| {
                format!(
                    r#"{{"request_put":{{"key":"{}","value":"dg=="}}}}"#,
                    b64(&format!("k{i}"))
                )
            })
            .collect();
        format!(r#"{{"success":[{}]}}"#, ops.join(","))
    };
    vec![
        post("/v3/kv/range", r#"{"key":"Zm9v"}"#)
            .named("range of a missing key")
            .json(json!({"header": h(1)})),
        post("/v3/kv/put", r#"{"key": "Zm9v", "value": "YmFy"}"#).json(json!({"header": h(2)})),
        post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmF6","prev_kv":true}"#)
            .json(json!({"header": h(3), "prev_kv": entry("foo", "bar", 2, 2, 1)})),
        post("/v3/kv/range", r#"{"key":"Zm9v"}"#)
            .json(json!({"header": h(3), "kvs": [entry("foo", "baz", 2, 3, 2)], "count": "1"})),
        post("/v3/kv/put", r#"{"key":"Zm9vMQ==","value":"MQ=="}"#).json(json!({"header": h(4)})),
        post("/v3/kv/put", r#"{"key":"Zm9vMg==","value":"Mg=="}"#).json(json!({"header": h(5)})),
        post("/v3/kv/range", r#"{"key":"Zm9v","range_end":"Zm9w"}"#)
            .named("prefix range")
            .json(json!({"header": h(5), "kvs": [
                entry("foo", "baz", 2, 3, 2), entry("foo1", "1", 4, 4, 1), entry("foo2", "2", 5, 5, 1)
            ], "count": "3"})),
        post(
            "/v3/kv/range",
            r#"{"key":"Zm9v","range_end":"Zm9w","limit":1,"sort_order":"DESCEND","sort_target":"KEY"}"#,
        )
        .named("limit + sort")
        .json(json!({"header": h(5), "kvs": [entry("foo2", "2", 5, 5, 1)], "more": true, "count": "3"})),
        post("/v3/kv/range", r#"{"key":"Zm9v","rangeEnd":"Zm9w","countOnly":true}"#)
            .named("lowerCamel field names, count_only")
            .json(json!({"header": h(5), "count": "3"})),
        post(
            "/v3/kv/range",
            r#"{"key":"Zm9v","range_end":"Zm9w","keys_only":true,"limit":"2","sort_order":2,"sort_target":"MOD"}"#,
        )
        .named("keys_only, int64 as string, enum as number")
        .json(json!({"header": h(5), "kvs": [
            {"key": b64("foo2"), "create_revision": "5", "mod_revision": "5", "version": "1"},
            {"key": b64("foo1"), "create_revision": "4", "mod_revision": "4", "version": "1"},
        ], "more": true, "count": "3"})),
        post("/v3/kv/range", r#"{"key":"Zm9v","revision":"2"}"#)
            .named("range at an old revision")
            .json(json!({"header": h(5), "kvs": [entry("foo", "bar", 2, 2, 1)], "count": "1"})),
        post("/v3/kv/range", r#"{"key":"Zm9v","serializable":true,"min_mod_revision":3}"#)
            .json(json!({"header": h(5), "kvs": [entry("foo", "baz", 2, 3, 2)], "count": "1"})),
        post("/v3/kv/range", r#"{"key":"AA==","range_end":"AA=="}"#)
            .named("range_end \\0 = every key")
            .json(json!({"header": h(5), "kvs": [
                entry("foo", "baz", 2, 3, 2), entry("foo1", "1", 4, 4, 1), entry("foo2", "2", 5, 5, 1)
            ], "count": "3"})),
        post("/v3beta/kv/range", r#"{"key":"Zm9v"}"#)
            .named("/v3beta prefix")
            .json(json!({"header": h(5), "kvs": [entry("foo", "baz", 2, 3, 2)], "count": "1"})),
        post("/v3/kv/range", r#"{"key":"Zm9v","unknown_field":{"x":[1,2]}}"#)
            .named("unknown fields are ignored")
            .json(json!({"header": h(5), "kvs": [entry("foo", "baz", 2, 3, 2)], "count": "1"})),
        post("/v3/kv/range", "").named("empty body").error(400, 3, "etcdserver: key is not provided"),
        post("/v3/kv/put", r#"{"value":"YmFy"}"#).error(400, 3, "etcdserver: key is not provided"),
        post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy","lease":424242}"#)
            .error(404, 5, "etcdserver: requested lease not found"),
        post("/v3/kv/put", r#"{"key":"bm9wZQ==","ignore_value":true}"#)
            .error(400, 3, "etcdserver: key not found"),
        post("/v3/kv/deleterange", r#"{"key":"Zm9vMQ==","prev_kv":true}"#)
            .json(json!({"header": h(6), "deleted": "1", "prev_kvs": [entry("foo1", "1", 4, 4, 1)]})),
        post("/v3/kv/deleterange", r#"{"key":"bm9wZQ=="}"#)
            .named("delete of a missing key")
            .json(json!({"header": h(6)})),
        post("/v3/kv/deleterange", "{}").error(400, 3, "etcdserver: key is not provided"),
        post(
            "/v3/kv/txn",
            r#"{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}"#,
        )
        .named("txn CREATE compare succeeds")
        .json(json!({"header": h(7), "succeeded": true,
            "responses": [{"response_put": {"header": {"revision": "7"}}}]})),
        post(
            "/v3/kv/txn",
            r#"{"compare":[{"target":"VALUE","result":"NOT_EQUAL","key":"Zm9v","value":"YmFy"}],"success":[{"request_delete_range":{"key":"Zm9v"}}],"failure":[{"request_range":{"key":"Zm9v"}},{"request_put":{"key":"Zm9vMw==","value":"Mw=="}}]}"#,
        )
        .named("txn failure branch")
        .json(json!({"header": h(8), "responses": [
            {"response_range": {"header": {"revision": "7"}, "kvs": [entry("foo", "bar", 2, 7, 3)], "count": "1"}},
            {"response_put": {"header": {"revision": "8"}}},
        ]})),
        post(
            "/v3/kv/txn",
            r#"{"compare":[{"target":"VERSION","key":"bm9wZQ==","version":"0"},{"target":"MOD","result":"LESS","key":"Zm9v","mod_revision":"100"}],"success":[{"request_txn":{"success":[{"request_range":{"key":"Zm9vMw=="}}]}}]}"#,
        )
        .named("nested txn")
        .json(json!({"header": h(8), "succeeded": true, "responses": [{"response_txn": {
            "header": {}, "succeeded": true, "responses": [{"response_range": {
                "header": {"revision": "8"}, "kvs": [entry("foo3", "3", 8, 8, 1)], "count": "1"}}]}}]})),
        post(
            "/v3/kv/txn",
            r#"{"success":[{"request_put":{"key":"Zm9v","value":"MQ=="}},{"request_put":{"key":"Zm9v","value":"Mg=="}}]}"#,
        )
        .error(400, 3, "etcdserver: duplicate key given in txn request"),
        post("/v3/kv/txn", &too_many_ops)
            .named("129 ops")
            .error(400, 3, "etcdserver: too many operations in txn request"),
        post("/v3/kv/txn", r#"{"compare":[{"target":"VALUE","value":"YmFy"}]}"#)
            .error(400, 3, "etcdserver: key is not provided"),
        post("/v3/kv/txn", r#"{"success":[{}]}"#)
            .named("empty RequestOp")
            .error(400, 3, "etcdserver: key not found"),
        post("/v3/kv/compaction", r#"{"revision":10000}"#)
            .error(400, 11, "etcdserver: mvcc: required revision is a future revision"),
        post("/v3/kv/compaction", r#"{"revision":"5","physical":true}"#).json(json!({"header": h(8)})),
        post("/v3/kv/range", r#"{"key":"Zm9v","revision":3}"#)
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/compaction", r#"{"revision":4}"#)
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/range", r#"{"key":"Zm9v","revision":5}"#)
            .json(json!({"header": h(8), "kvs": [entry("foo", "baz", 2, 3, 2)], "count": "1"})),
        // Known differences (see the table at the top).
        post("/v3/kv/range", r#"{"key":"Zm8"}"#)
            .named("unpadded base64")
            .known(V3_4, "unpadded-base64", decode_error_etcd("illegal base64 data at input byte 0"),
                Outcome::Json(200, json!({"header": h(8)})))
            .known(V3_5, "unpadded-base64", decode_error_etcd("illegal base64 data at input byte 0"),
                Outcome::Json(200, json!({"header": h(8)}))),
        post("/v3/kv/range", r#"{"key":123}"#)
            .named("number for bytes")
            .known(V3_4, "decode-error-text",
                decode_error_etcd("json: cannot unmarshal number into Go value of type []uint8"),
                Outcome::Error { status: 400, code: 3, contains: "key" })
            .known(V3_5, "decode-error-text",
                decode_error_etcd("json: cannot unmarshal number into Go value of type []uint8"),
                Outcome::Error { status: 400, code: 3, contains: "key" }),
        post("/v3/kv/nosuch", "{}")
            .named("unknown route")
            .known(V3_4, "routing-errors", Outcome::Text(404, NOT_FOUND_TEXT),
                Outcome::Json(404, error_body(5, "Not Found")))
            .known(V3_5, "routing-errors", Outcome::Text(404, NOT_FOUND_TEXT),
                Outcome::Json(404, error_body(5, "Not Found"))),
        post("/v3/kv/range", "")
            .method("GET")
            .named("GET on a POST route")
            .known(V3_4, "routing-errors", Outcome::Text(405, "Method Not Allowed\n"),
                Outcome::Json(405, error_body(12, "Method Not Allowed")))
            .known(V3_5, "routing-errors", Outcome::Text(405, "Method Not Allowed\n"),
                Outcome::Json(405, error_body(12, "Method Not Allowed"))),
        post("/v3alpha/kv/range", r#"{"key":"bm9wZQ=="}"#)
            .named("/v3alpha prefix")
            .known(V3_4, "v3alpha-prefix", Outcome::Text(404, "404 page not found\n"),
                Outcome::Json(200, json!({"header": h(8)})))
            .known(V3_5, "v3alpha-prefix", Outcome::Text(404, "404 page not found\n"),
                Outcome::Json(200, json!({"header": h(8)}))),
    ]
}

pub fn decode_error_etcd(message: &str) -> Outcome {
    Outcome::Json(400, error_body(3, message))
}

/// Lease: grant/revoke/timetolive/leases and the /v3/kv/lease/* aliases.
pub fn lease(_v: EtcdVersion) -> Vec<Step> {
    vec![
        post("/v3/lease/grant", r#"{"TTL":60,"ID":1000}"#)
            .json(json!({"header": h(1), "ID": "1000", "TTL": "60"})),
        post("/v3/lease/grant", r#"{"TTL":60,"ID":1000}"#)
            .failed_precondition("etcdserver: lease already exists"),
        post("/v3/lease/grant", r#"{"TTL":"30"}"#)
            .named("server-chosen lease ID")
            .capture("random_lease", "/ID")
            .json(json!({"header": h(1), "ID": "<id1>", "TTL": "30"})),
        post("/v3/lease/grant", r#"{"TTL":9000000001}"#)
            .error(400, 11, "etcdserver: too large lease TTL"),
        post("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy","lease":"1000"}"#).json(json!({"header": h(2)})),
        post("/v3/kv/put", r#"{"key":"YmFy","value":"YmFy","lease":"{{random_lease}}"}"#)
            .json(json!({"header": h(3)})),
        post("/v3/kv/range", r#"{"key":"YmFy"}"#).json(json!({"header": h(3), "kvs": [{
            "key": "YmFy", "create_revision": "3", "mod_revision": "3", "version": "1",
            "value": "YmFy", "lease": "<id1>"}], "count": "1"})),
        post("/v3/lease/timetolive", r#"{"ID":1000,"keys":true}"#)
            .json(json!({"header": h(3), "ID": "1000", "TTL": "60", "grantedTTL": "60", "keys": ["Zm9v"]})),
        post("/v3/kv/lease/timetolive", r#"{"ID":"{{random_lease}}"}"#)
            .json(json!({"header": h(3), "ID": "<id1>", "TTL": "30", "grantedTTL": "30"})),
        post("/v3/lease/timetolive", r#"{"ID":999}"#)
            .named("timetolive of an unknown lease")
            .json(json!({"header": h(3), "ID": "999", "TTL": "-1"})),
        post("/v3/lease/leases", "{}")
            .json(json!({"header": h(3), "leases": [{"ID": "<id1>"}, {"ID": "1000"}]})),
        post("/v3/kv/lease/leases", "").json(json!({"header": h(3), "leases": [{"ID": "<id1>"}, {"ID": "1000"}]})),
        post("/v3/lease/revoke", r#"{"ID":1000}"#).json(json!({"header": h(4)})),
        post("/v3/kv/range", r#"{"key":"Zm9v"}"#)
            .named("key of the revoked lease is gone")
            .json(json!({"header": h(4)})),
        post("/v3/lease/revoke", r#"{"ID":1000}"#).error(404, 5, "etcdserver: requested lease not found"),
        post("/v3/kv/lease/revoke", r#"{"ID":"{{random_lease}}"}"#).json(json!({"header": h(5)})),
        post("/v3/kv/lease/revoke", r#"{"ID":"{{random_lease}}"}"#)
            .error(404, 5, "etcdserver: requested lease not found"),
        post("/v3/lease/revoke", "{}")
            .named("revoke of lease 0")
            .error(404, 5, "etcdserver: requested lease not found"),
        post("/v3/kv/lease/leases", "{}").json(json!({"header": h(5)})),
        post("/v3/lease/grant", r#"{"TTL":0,"ID":"1001"}"#)
            .named("TTL 0 is raised to the minimum")
            .json(json!({"header": h(5), "ID": "1001", "TTL": "2"})),
    ]
}

/// `entry` without its value, as a `keys_only` range answers it.
fn key_only(key: &str, create: u64, modr: u64, version: u64) -> Value {
    let mut kv = entry(key, "", create, modr, version);
    kv.as_object_mut()
        .expect("entry is an object")
        .remove("value");
    kv
}

/// `entry` with a lease (an ID the scenario chose, so it is not masked).
fn leased(key: &str, value: &str, create: u64, modr: u64, version: u64, lease: u64) -> Value {
    let mut kv = entry(key, value, create, modr, version);
    kv["lease"] = json!(lease.to_string());
    kv
}

/// A range answer at header revision `rev` with `count` keys in the range.
fn ranged(rev: u64, kvs: Vec<Value>, more: bool, count: u64) -> Value {
    let mut body = json!({"header": h(rev), "count": count.to_string()});
    if !kvs.is_empty() {
        body["kvs"] = Value::Array(kvs);
    }
    if more {
        body["more"] = json!(true);
    }
    body
}

/// A compare of `target` on `key` (`range_end` if not empty) with `result` against `value`,
/// given in the target's own field.
fn cmp(target: &str, result: &str, key: &str, range_end: &str, value: Value) -> Value {
    let field = match target {
        "VERSION" => "version",
        "CREATE" => "create_revision",
        "MOD" => "mod_revision",
        "VALUE" => "value",
        "LEASE" => "lease",
        other => panic!("unknown compare target {other}"),
    };
    let mut c = json!({"target": target, "result": result, "key": b64(key)});
    if !range_end.is_empty() {
        c["range_end"] = json!(range_end_b64(range_end));
    }
    c[field] = value;
    c
}

/// `"\0"` (every key from `key` on) is written `\0`; other ends are plain text.
fn range_end_b64(end: &str) -> String {
    if end == "\\0" {
        "AA==".into()
    } else {
        b64(end)
    }
}

/// KV semantics past the basics of [`kv`], on a fresh store: range options (count_only,
/// keys_only, serializable, revision filters, every sort target and order with a limit, past
/// revisions, `\0` range ends), put's ignore flags, txn compares on every target and result,
/// compares over ranges, nested txns, failure branches, prefix deletes and compaction.
pub fn kv_more(_v: EtcdVersion) -> Vec<Step> {
    let put = |key: &str, value: &str| json!({"key": b64(key), "value": b64(value)}).to_string();
    let range = |extra: Value| {
        let mut body = json!({"key": b64("a"), "range_end": b64("d")});
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        post("/v3/kv/range", &body.to_string())
    };
    let txn = |body: Value| post("/v3/kv/txn", &body.to_string());
    let rr = |key: &str| json!({"request_range": {"key": b64(key)}});
    // Latest state from revision 7 to 8: a, b, c.
    let a = || entry("a", "4", 2, 5, 2);
    let b = || entry("b", "6", 3, 7, 3);
    let c = || entry("c", "2", 4, 4, 1);
    // From revision 11 on.
    let a9 = || entry("a", "5", 2, 9, 4);
    let l11 = || leased("l", "1", 10, 11, 2, 7000);
    let sorted = |target: &str, order: &str| {
        range(json!({"sort_target": target, "sort_order": order, "limit": 2}))
            .named(&format!("sort by {target} {order}, limit 2"))
    };
    vec![
        post("/v3/kv/compaction", r#"{"revision":0}"#)
            .named("compaction at revision 0 of a fresh store")
            .json(json!({"header": h(1)})),
        post("/v3/kv/compaction", r#"{"revision":1,"physical":true}"#)
            .named("compaction at revision 1 of a fresh store")
            .json(json!({"header": h(1)})),
        post("/v3/kv/compaction", r#"{"revision":0}"#)
            .named("compaction at revision 0 after one at 1")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/put", &put("a", "3")).json(json!({"header": h(2)})),
        post("/v3/kv/put", &put("b", "1")).json(json!({"header": h(3)})),
        post("/v3/kv/put", &put("c", "2")).json(json!({"header": h(4)})),
        post("/v3/kv/put", &put("a", "4")).json(json!({"header": h(5)})),
        post("/v3/kv/put", &put("b", "5")).json(json!({"header": h(6)})),
        post("/v3/kv/put", &put("b", "6")).json(json!({"header": h(7)})),
        // Range options.
        range(json!({"count_only": true}))
            .named("count_only")
            .json(ranged(7, vec![], false, 3)),
        range(json!({"count_only": true, "limit": 1}))
            .named("count_only with a limit")
            .json(ranged(7, vec![], false, 3)),
        range(json!({"count_only": true, "min_mod_revision": 6}))
            .named("count_only with a filter")
            .json(ranged(7, vec![], false, 3)),
        range(json!({"keys_only": true, "limit": 2}))
            .named("keys_only with a limit")
            .json(ranged(7, vec![key_only("a", 2, 5, 2), key_only("b", 3, 7, 3)], true, 3)),
        range(json!({"keys_only": true, "limit": 1, "sort_target": "VALUE", "sort_order": "DESCEND"}))
            .named("keys_only sorted by value")
            .json(ranged(7, vec![key_only("b", 3, 7, 3)], true, 3)),
        range(json!({"serializable": true}))
            .named("serializable")
            .json(ranged(7, vec![a(), b(), c()], false, 3)),
        range(json!({"serializable": true, "limit": 1, "revision": 4}))
            .named("serializable at a past revision")
            .json(ranged(7, vec![entry("a", "3", 2, 2, 1)], true, 3)),
        range(json!({"min_create_revision": 3}))
            .named("min_create_revision, count unaffected")
            .json(ranged(7, vec![b(), c()], false, 3)),
        range(json!({"max_create_revision": 3}))
            .named("max_create_revision")
            .json(ranged(7, vec![a(), b()], false, 3)),
        range(json!({"max_mod_revision": 5}))
            .named("max_mod_revision")
            .json(ranged(7, vec![a(), c()], false, 3)),
        range(json!({"min_mod_revision": 5, "max_mod_revision": 6}))
            .named("mod revision window")
            .json(ranged(7, vec![a()], false, 3)),
        range(json!({"min_create_revision": 3, "max_mod_revision": 5, "limit": 1}))
            .named("filters then limit")
            .json(ranged(7, vec![c()], false, 3)),
        range(json!({"max_create_revision": 3, "limit": 1}))
            .named("filter with a limit below the matches")
            .json(ranged(7, vec![a()], true, 3)),
        range(json!({"min_create_revision": 100}))
            .named("filter matching nothing")
            .json(ranged(7, vec![], false, 3)),
        sorted("CREATE", "ASCEND").json(ranged(7, vec![a(), b()], true, 3)),
        sorted("CREATE", "DESCEND").json(ranged(7, vec![c(), b()], true, 3)),
        sorted("MOD", "ASCEND").json(ranged(7, vec![c(), a()], true, 3)),
        sorted("MOD", "DESCEND").json(ranged(7, vec![b(), a()], true, 3)),
        sorted("VERSION", "ASCEND").json(ranged(7, vec![c(), a()], true, 3)),
        sorted("VERSION", "DESCEND").json(ranged(7, vec![b(), a()], true, 3)),
        sorted("VALUE", "ASCEND").json(ranged(7, vec![c(), a()], true, 3)),
        sorted("VALUE", "DESCEND").json(ranged(7, vec![b(), a()], true, 3)),
        sorted("KEY", "ASCEND").json(ranged(7, vec![a(), b()], true, 3)),
        sorted("KEY", "DESCEND").json(ranged(7, vec![c(), b()], true, 3)),
        range(json!({"sort_target": "VERSION"}))
            .named("sort target without an order ascends")
            .json(ranged(7, vec![c(), a(), b()], false, 3)),
        range(json!({"sort_order": "DESCEND"}))
            .named("sort order without a target sorts by key")
            .json(ranged(7, vec![c(), b(), a()], false, 3)),
        range(json!({"sort_target": "MOD", "sort_order": "DESCEND", "max_mod_revision": 6, "limit": 1}))
            .named("filter, sort, limit")
            .json(ranged(7, vec![a()], true, 3)),
        range(json!({"revision": 4}))
            .named("range at a past revision")
            .json(ranged(7, vec![
                entry("a", "3", 2, 2, 1), entry("b", "1", 3, 3, 1), entry("c", "2", 4, 4, 1),
            ], false, 3)),
        range(json!({"revision": 3, "sort_target": "MOD", "sort_order": "DESCEND", "limit": 1}))
            .named("sorted range at a past revision")
            .json(ranged(7, vec![entry("b", "1", 3, 3, 1)], true, 2)),
        range(json!({"revision": 6, "count_only": true}))
            .named("count_only at a past revision")
            .json(ranged(7, vec![], false, 3)),
        range(json!({"revision": 1}))
            .named("range at revision 1")
            .json(json!({"header": h(7)})),
        range(json!({"revision": 8}))
            .named("range at a future revision")
            .error(400, 11, "etcdserver: mvcc: required revision is a future revision"),
        post("/v3/kv/range", &json!({"key": b64("b"), "range_end": "AA=="}).to_string())
            .named("range_end \\0 from a key")
            .json(ranged(7, vec![b(), c()], false, 2)),
        post("/v3/kv/range", &json!({"key": b64("c"), "range_end": "AA==", "revision": 3}).to_string())
            .named("range_end \\0 from a key at a past revision")
            .json(json!({"header": h(7)})),
        post("/v3/kv/range", &json!({"key": b64("b"), "range_end": b64("a")}).to_string())
            .named("range_end before the key")
            .json(json!({"header": h(7)})),
        // Put flags.
        post("/v3/kv/put", &json!({"key": b64("a"), "value": b64("5"), "ignore_lease": true, "prev_kv": true}).to_string())
            .named("ignore_lease on a key without lease")
            .json(json!({"header": h(8), "prev_kv": a()})),
        post("/v3/kv/put", &json!({"key": b64("a"), "value": b64("6"), "ignore_lease": true, "lease": 7000}).to_string())
            .named("ignore_lease with a lease")
            .error(400, 3, "etcdserver: lease is provided"),
        post("/v3/kv/put", &json!({"key": b64("a"), "value": b64("6"), "ignore_value": true}).to_string())
            .named("ignore_value with a value")
            .error(400, 3, "etcdserver: value is provided"),
        post("/v3/kv/put", &json!({"key": b64("a"), "ignore_value": true, "ignore_lease": true, "prev_kv": true}).to_string())
            .named("ignore_value and ignore_lease")
            .json(json!({"header": h(9), "prev_kv": entry("a", "5", 2, 8, 3)})),
        post("/v3/kv/put", &json!({"key": b64("zz"), "ignore_lease": true, "value": b64("1")}).to_string())
            .named("ignore_lease on a missing key")
            .error(400, 3, "etcdserver: key not found"),
        post("/v3/kv/range", &json!({"key": b64("a")}).to_string())
            .json(ranged(9, vec![a9()], false, 1)),
        post("/v3/lease/grant", r#"{"TTL":600,"ID":7000}"#)
            .json(json!({"header": h(9), "ID": "7000", "TTL": "600"})),
        post("/v3/kv/put", &json!({"key": b64("l"), "value": b64("7"), "lease": 7000}).to_string())
            .json(json!({"header": h(10)})),
        post("/v3/kv/put", &json!({"key": b64("l"), "value": b64("1"), "ignore_lease": true, "prev_kv": true}).to_string())
            .named("ignore_lease keeps the lease")
            .json(json!({"header": h(11), "prev_kv": leased("l", "7", 10, 10, 1, 7000)})),
        post("/v3/kv/range", &json!({"key": b64("l")}).to_string())
            .json(ranged(11, vec![l11()], false, 1)),
        // Txn compares: every target with GREATER, LESS and NOT_EQUAL, then a false one.
        txn(json!({"compare": [
            cmp("VERSION", "GREATER", "b", "", json!("2")),
            cmp("VERSION", "LESS", "b", "", json!(4)),
            cmp("VERSION", "NOT_EQUAL", "b", "", json!("1")),
        ], "success": [rr("b")], "failure": [rr("c")]}))
        .named("txn VERSION compares hold")
        .json(json!({"header": h(11), "succeeded": true, "responses": [
            {"response_range": {"header": {"revision": "11"}, "kvs": [b()], "count": "1"}}]})),
        txn(json!({"compare": [cmp("VERSION", "GREATER", "b", "", json!("3"))],
            "success": [rr("b")], "failure": [rr("c")]}))
        .named("txn VERSION GREATER fails")
        .json(json!({"header": h(11), "responses": [
            {"response_range": {"header": {"revision": "11"}, "kvs": [c()], "count": "1"}}]})),
        txn(json!({"compare": [
            cmp("CREATE", "GREATER", "b", "", json!("2")),
            cmp("CREATE", "LESS", "b", "", json!("4")),
            cmp("CREATE", "NOT_EQUAL", "b", "", json!("2")),
        ]}))
        .named("txn CREATE compares hold")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("CREATE", "LESS", "b", "", json!("3"))]}))
            .named("txn CREATE LESS fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [
            cmp("MOD", "GREATER", "b", "", json!("6")),
            cmp("MOD", "LESS", "b", "", json!("8")),
            cmp("MOD", "NOT_EQUAL", "b", "", json!("3")),
        ]}))
        .named("txn MOD compares hold")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("MOD", "NOT_EQUAL", "b", "", json!("7"))]}))
            .named("txn MOD NOT_EQUAL fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [
            cmp("VALUE", "GREATER", "b", "", json!(b64("5"))),
            cmp("VALUE", "LESS", "b", "", json!(b64("7"))),
            cmp("VALUE", "NOT_EQUAL", "b", "", json!(b64("60"))),
            cmp("VALUE", "LESS", "b", "", json!(b64("60"))),
        ]}))
        .named("txn VALUE compares hold")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("VALUE", "LESS", "b", "", json!(b64("6")))]}))
            .named("txn VALUE LESS fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [
            cmp("LEASE", "GREATER", "l", "", json!("6999")),
            cmp("LEASE", "LESS", "l", "", json!(7001)),
            cmp("LEASE", "NOT_EQUAL", "l", "", json!("0")),
            cmp("LEASE", "EQUAL", "a", "", json!("0")),
        ]}))
        .named("txn LEASE compares hold")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("LEASE", "NOT_EQUAL", "b", "", json!("0"))]}))
            .named("txn LEASE NOT_EQUAL on a key without lease fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [
            cmp("VERSION", "LESS", "x", "", json!("1")),
            cmp("CREATE", "EQUAL", "x", "", json!("0")),
            cmp("LEASE", "LESS", "x", "", json!("1")),
        ]}))
        .named("txn compares on a missing key see zeroes")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("VALUE", "NOT_EQUAL", "x", "", json!(b64("1")))]}))
            .named("txn VALUE compare on a missing key fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [{"target": "MOD", "result": "GREATER", "key": b64("b"), "version": "100"}]}))
            .named("txn compare value in another target's field counts as 0")
            .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [{"target": "VERSION", "key": b64("b")}]}))
            .named("txn compare without a value: EQUAL 0 fails")
            .json(json!({"header": h(11)})),
        // Compares over a range.
        txn(json!({"compare": [
            cmp("VERSION", "GREATER", "a", "d", json!("0")),
            cmp("CREATE", "LESS", "a", "d", json!("5")),
        ]}))
        .named("txn compares over a range hold")
        .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("MOD", "LESS", "a", "d", json!("8"))]}))
            .named("txn compare over a range fails on one key")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [cmp("CREATE", "EQUAL", "x", "z", json!("0"))]}))
            .named("txn compare over an empty range sees zeroes")
            .json(json!({"header": h(11), "succeeded": true})),
        txn(json!({"compare": [cmp("VALUE", "EQUAL", "x", "z", json!(""))]}))
            .named("txn VALUE compare over an empty range fails")
            .json(json!({"header": h(11)})),
        txn(json!({"compare": [cmp("VERSION", "GREATER", "a", "\\0", json!("0"))]}))
            .named("txn compare over range_end \\0")
            .json(json!({"header": h(11), "succeeded": true})),
        // Nested txn (its failure branch writes) and a failure branch that writes.
        txn(json!({
            "compare": [cmp("VERSION", "EQUAL", "a", "", json!("4"))],
            "success": [
                {"request_txn": {
                    "compare": [cmp("VALUE", "EQUAL", "a", "", json!(b64("nope")))],
                    "success": [{"request_put": {"key": b64("a"), "value": b64("x")}}],
                    "failure": [
                        {"request_put": {"key": b64("n1"), "value": b64("1"), "prev_kv": true}},
                        rr("n1"),
                    ],
                }},
                rr("c"),
            ],
            "failure": [rr("a")],
        }))
        .named("nested txn taking its failure branch")
        .json(json!({"header": h(12), "succeeded": true, "responses": [
            {"response_txn": {"header": {}, "responses": [
                {"response_put": {"header": {"revision": "12"}}},
                {"response_range": {"header": {"revision": "12"},
                    "kvs": [entry("n1", "1", 12, 12, 1)], "count": "1"}},
            ]}},
            {"response_range": {"header": {"revision": "12"}, "kvs": [c()], "count": "1"}},
        ]})),
        txn(json!({
            "compare": [cmp("VALUE", "EQUAL", "c", "", json!(b64("zzz")))],
            "success": [rr("c")],
            "failure": [
                {"request_delete_range": {"key": b64("b"), "prev_kv": true}},
                {"request_put": {"key": b64("d"), "value": b64("1")}},
                rr("b"),
            ],
        }))
        .named("failure branch deleting and putting")
        .json(json!({"header": h(13), "responses": [
            {"response_delete_range": {"header": {"revision": "13"}, "deleted": "1", "prev_kvs": [b()]}},
            {"response_put": {"header": {"revision": "13"}}},
            {"response_range": {"header": {"revision": "13"}}},
        ]})),
        // Prefix deletes.
        post("/v3/kv/put", &put("p/1", "1")).json(json!({"header": h(14)})),
        post("/v3/kv/put", &put("p/2", "2")).json(json!({"header": h(15)})),
        post("/v3/kv/deleterange", &json!({"key": b64("p/"), "range_end": b64("p0"), "prev_kv": true}).to_string())
            .named("prefix delete with prev_kv")
            .json(json!({"header": h(16), "deleted": "2",
                "prev_kvs": [entry("p/1", "1", 14, 14, 1), entry("p/2", "2", 15, 15, 1)]})),
        post("/v3/kv/deleterange", &json!({"key": b64("p/"), "range_end": b64("p0"), "prev_kv": true}).to_string())
            .named("prefix delete of nothing")
            .json(json!({"header": h(16)})),
        post("/v3/kv/deleterange", &json!({"key": b64("m"), "range_end": "AA==", "prev_kv": true}).to_string())
            .named("delete with range_end \\0 from a key")
            .json(json!({"header": h(17), "deleted": "1", "prev_kvs": [entry("n1", "1", 12, 12, 1)]})),
        post("/v3/kv/range", &json!({"key": b64("p/"), "range_end": b64("p0"), "revision": 15}).to_string())
            .named("deleted prefix at a past revision")
            .json(ranged(17, vec![entry("p/1", "1", 14, 14, 1), entry("p/2", "2", 15, 15, 1)], false, 2)),
        // Compaction.
        post("/v3/kv/compaction", r#"{"revision":15,"physical":true}"#).json(json!({"header": h(17)})),
        post("/v3/kv/range", &json!({"key": b64("p/"), "range_end": b64("p0"), "revision": 14}).to_string())
            .named("range of a compacted revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/range", &json!({"key": b64("p/"), "range_end": b64("p0"), "revision": 14, "count_only": true}).to_string())
            .named("count_only of a compacted revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/range", &json!({"key": b64("p/"), "range_end": b64("p0"), "revision": 15}).to_string())
            .named("range at the compaction revision")
            .json(ranged(17, vec![entry("p/1", "1", 14, 14, 1), entry("p/2", "2", 15, 15, 1)], false, 2)),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA==", "revision": 15, "keys_only": true}).to_string())
            .named("every key at the compaction revision")
            .json(ranged(17, vec![
                key_only("a", 2, 9, 4), key_only("c", 4, 4, 1), key_only("d", 13, 13, 1),
                {
                    let mut l = key_only("l", 10, 11, 2);
                    l["lease"] = json!("7000");
                    l
                },
                key_only("n1", 12, 12, 1), key_only("p/1", 14, 14, 1), key_only("p/2", 15, 15, 1),
            ], false, 7)),
        post("/v3/kv/range", &json!({"key": b64("b"), "revision": 15}).to_string())
            .named("key deleted before the compaction revision")
            .json(json!({"header": h(17)})),
        txn(json!({"success": [{"request_range": {"key": b64("a"), "revision": 14}}]}))
            .named("txn range of a compacted revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        txn(json!({"success": [{"request_range": {"key": b64("a"), "revision": 15}}]}))
            .named("txn range at the compaction revision")
            .json(json!({"header": h(17), "succeeded": true, "responses": [
                {"response_range": {"header": {"revision": "17"}, "kvs": [a9()], "count": "1"}}]})),
        post("/v3/kv/compaction", r#"{"revision":15}"#)
            .named("compaction at the compaction revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/compaction", r#"{"revision":17,"physical":true}"#)
            .named("compaction at the current revision")
            .json(json!({"header": h(17)})),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA==", "revision": 16}).to_string())
            .named("range just below the compaction revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA==", "revision": 17}).to_string())
            .named("every key after compacting everything")
            .json(ranged(17, vec![a9(), c(), entry("d", "1", 13, 13, 1), l11()], false, 4)),
        post("/v3/kv/put", &put("a", "7")).json(json!({"header": h(18)})),
        post("/v3/kv/range", &json!({"key": b64("a"), "revision": 17}).to_string())
            .named("range at the compaction revision after a write")
            .json(ranged(18, vec![a9()], false, 1)),
        // Checks inside txns, only on the branch taken.
        txn(json!({"success": [{"request_put": {"key": b64("zz"), "value": b64("1"), "ignore_lease": true}}]}))
            .named("txn put ignore_lease on a missing key")
            .error(400, 3, "etcdserver: key not found"),
        txn(json!({"success": [{"request_put": {"key": b64("zz"), "ignore_value": true}}]}))
            .named("txn put ignore_value on a missing key")
            .error(400, 3, "etcdserver: key not found"),
        txn(json!({"success": [{"request_put": {"key": b64("zz"), "value": b64("1"), "lease": 424242}}]}))
            .named("txn put with a missing lease")
            .error(404, 5, "etcdserver: requested lease not found"),
        txn(json!({"success": [{"request_put": {"key": b64("zz"), "value": b64("1"), "ignore_lease": true, "lease": 7000}}]}))
            .named("txn put ignore_lease with a lease")
            .error(400, 3, "etcdserver: lease is provided"),
        txn(json!({"success": [{"request_range": {"key": b64("a"), "revision": 100}}]}))
            .named("txn range at a future revision")
            .error(400, 11, "etcdserver: mvcc: required revision is a future revision"),
        txn(json!({
            "compare": [cmp("VERSION", "EQUAL", "a", "", json!("0"))],
            "success": [
                {"request_range": {"key": b64("a"), "revision": 16}},
                {"request_put": {"key": b64("zz"), "value": b64("1"), "lease": 424242}},
            ],
            "failure": [rr("c")],
        }))
        .named("checks skip the branch not taken")
        .json(json!({"header": h(18), "responses": [
            {"response_range": {"header": {"revision": "18"}, "kvs": [c()], "count": "1"}}]})),
        txn(json!({"success": [
            {"request_put": {"key": b64("x"), "value": b64("1")}},
            {"request_txn": {
                "compare": [cmp("VERSION", "EQUAL", "x", "", json!("0"))],
                "success": [rr("x")],
                "failure": [rr("c")],
            }},
        ]}))
        .named("nested compares see the store before the txn")
        .json(json!({"header": h(19), "succeeded": true, "responses": [
            {"response_put": {"header": {"revision": "19"}}},
            {"response_txn": {"header": {}, "succeeded": true, "responses": [
                {"response_range": {"header": {"revision": "19"},
                    "kvs": [entry("x", "1", 19, 19, 1)], "count": "1"}}]}},
        ]})),
        // Empty values, delete and re-create around a compaction.
        post("/v3/kv/put", &json!({"key": b64("e")}).to_string())
            .named("put without a value")
            .json(json!({"header": h(20)})),
        post("/v3/kv/range", &json!({"key": b64("e")}).to_string())
            .named("range of an empty value")
            .json(ranged(20, vec![key_only("e", 20, 20, 1)], false, 1)),
        post("/v3/kv/deleterange", &json!({"key": b64("a")}).to_string())
            .json(json!({"header": h(21), "deleted": "1"})),
        post("/v3/kv/put", &put("a", "8")).json(json!({"header": h(22)})),
        post("/v3/kv/range", &json!({"key": b64("a")}).to_string())
            .named("re-created key")
            .json(ranged(22, vec![entry("a", "8", 22, 22, 1)], false, 1)),
        post("/v3/kv/range", &json!({"key": b64("a"), "revision": 21}).to_string())
            .named("range at the tombstone revision")
            .json(json!({"header": h(22)})),
        post("/v3/kv/range", &json!({"key": b64("a"), "revision": 20}).to_string())
            .named("range before the tombstone")
            .json(ranged(22, vec![entry("a", "7", 2, 18, 5)], false, 1)),
        post("/v3/kv/compaction", r#"{"revision":21,"physical":true}"#)
            .named("compaction at a tombstone")
            .json(json!({"header": h(22)})),
        post("/v3/kv/range", &json!({"key": b64("a"), "revision": 21}).to_string())
            .named("range at a compacted tombstone")
            .json(json!({"header": h(22)})),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA==", "revision": 21, "count_only": true}).to_string())
            .named("count at the compaction revision")
            .json(ranged(22, vec![], false, 5)),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA==", "sort_target": "CREATE", "sort_order": "DESCEND", "limit": 2, "keys_only": true}).to_string())
            .named("newest keys first after a compaction")
            .json(ranged(22, vec![key_only("a", 22, 22, 1), key_only("e", 20, 20, 1)], true, 6)),
        post("/v3/kv/range", &json!({"key": b64("a"), "revision": 20}).to_string())
            .named("range below a second compaction")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/compaction", r#"{"revision":0}"#)
            .named("compaction at revision 0 after others")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        post("/v3/kv/compaction", r#"{"revision":-1}"#)
            .named("compaction at a negative revision")
            .error(400, 11, "etcdserver: mvcc: required revision has been compacted"),
        range(json!({"limit": -1}))
            .named("negative limit")
            .json(ranged(22, vec![entry("a", "8", 22, 22, 1), c()], false, 2)),
        range(json!({"revision": -1, "limit": 1}))
            .named("negative revision reads the latest")
            .json(ranged(22, vec![entry("a", "8", 22, 22, 1)], true, 2)),
        post("/v3/kv/range", &json!({"key": "AA=="}).to_string())
            .named("range of the key \\0")
            .json(json!({"header": h(22)})),
        txn(json!({"success": [
            {"request_delete_range": {"key": b64("d"), "range_end": "AA=="}},
            {"request_put": {"key": b64("e"), "value": b64("9")}},
        ]}))
        .named("txn deleting to the end then putting a deleted key")
        .json(json!({"header": h(23), "succeeded": true, "responses": [
            {"response_delete_range": {"header": {"revision": "23"}, "deleted": "4"}},
            {"response_put": {"header": {"revision": "23"}}},
        ]})),
        post("/v3/kv/range", &json!({"key": "AA==", "range_end": "AA=="}).to_string())
            .named("every key after the txn")
            .json(ranged(23, vec![entry("a", "8", 22, 22, 1), c(), entry("e", "9", 23, 23, 1)], false, 3)),
        post("/v3/kv/put", &json!({"key": b64("d"), "value": b64("2"), "prev_kv": true}).to_string())
            .named("prev_kv of a deleted key")
            .json(json!({"header": h(24)})),
        post("/v3/kv/deleterange", &json!({"key": b64("a"), "range_end": b64("a"), "prev_kv": true}).to_string())
            .named("delete of an empty interval")
            .json(json!({"header": h(24)})),
    ]
}
