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
