//! Auth, election, lock and maintenance on the embedded store, held to etcd: the same scripted
//! requests go to etcd 3.5.1's own gateway on a fresh etcd (side A, the reference) and to our
//! binary without `--endpoints`, on a fresh embedded store (side B). Every step asserts the
//! status on both sides and equal JSON after masking run-specific values (IDs, tokens, sizes,
//! hashes; `support::json`), and equal to the expectation written here, which is etcd 3.5.1's
//! answer. Tokens differ per side: each side's token is captured from its own `authenticate`
//! answer and sent back in `Authorization`. Streams (watch, observe, snapshot) are compared by
//! their first lines or their framing, `HashKV` over native gRPC for equality with etcd.
//!
//! `GATEWAY_UNDER_TEST=etcd` runs side B on a second etcd 3.5.1 (its own gateway) instead,
//! which checks the scenarios and their expectations against etcd alone; `SCENARIO_TRACE=1`
//! prints each step with etcd's masked answer.
//!
//! # Inherent differences
//!
//! The embedded store is not etcd: these values differ by design. Each is asserted on each side
//! (etcd's value and ours) and left out of the comparison, nothing else is.
//!
//! | id | etcd 3.5.1 | embedded store |
//! |----|------------|----------------|
//! | `ids` | random `cluster_id`/`member_id`, lease IDs chosen by the server, `raft_term` of its election | its own IDs; `raft_term` 2 (all masked) |
//! | `tokens` | simple token `<16 random letters>.<index>` | its own simple token (masked; each side sends back its own) |
//! | `status-version` | Status `version` `3.5.1` (the server) | `3.5.0` (the API level it implements) |
//! | `status-raft-index` | Status `raftIndex`/`raftAppliedIndex` count raft entries | no raft log: the store's own index (present, not compared) |
//! | `db-size` | `dbSize`, `dbSizeInUse` of bbolt's file | redb's file and in-use size (masked) |
//! | `hash` | `Hash` is a CRC-32C of bbolt's file | a hash of redb's contents (masked; `HashKV` is compared for equality) |
//! | `snapshot-size` | a bbolt file: its size decides the number of 32 KiB blobs | a redb file: another size, the same framing (compared: line format, blob sizes, `remaining_bytes`, SHA-256 trailer) |
//! | `peer-urls` | the member's `--initial-advertise-peer-urls` (`http://127.0.0.1:<peer>`) | no peer port: etcd's default `http://localhost:2380` (until a `MemberUpdate` sets them) |
//! | `hashkv-route` | `POST /v3/maintenance/hashkv` → 404 text `Not Found` (etcd 3.5.1 binds HashKV to `/v3/maintenance/hash`) | our router serves the route: 200 with the `HashKV` answer |
//!
//! Behaviours of etcd 3.5.1 recorded here that are easy to get wrong: `LeaseTimeToLive` checks
//! no permission (even with `keys`); `LeaseRevoke` needs write permission on every attached key;
//! a password for a `no_password` user is `Unknown` (500, code 2) with the auth store's own
//! message; maintenance calls by a non-root user are `Unknown` too (500, code 2,
//! `auth: permission denied`: `server/etcdserver/api/v3rpc/maintenance.go` returns the auth
//! store's error unmapped); a watch on a forbidden key is created and canceled with the
//! printed gRPC status as `cancel_reason`; a user may read itself with `UserGet`; a password change
//! invalidates the user's simple tokens.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::EtcdVersion::V3_5;
use support::json::header as h;
use support::kv_lease::{NOT_FOUND_TEXT, b64, cluster_header, entry};
use support::pair_calls::{
    Field, Inherent, Waiting, b_is_embedded, both_pending, compare_with_inherent,
    first_lines_equal, grpc_channel, read_snapshot, shape, snapshot_framing, start_reference_pair,
};
use support::scenario::{Outcome, Pair, Step, post};

use etcd_gateway::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_gateway::etcdserverpb::{HashKvRequest, HashKvResponse};

const AUTH: &str = "Authorization";
/// etcd 3.5.1 `api/v3rpc/rpctypes/error.go`: ErrGRPCPermissionDenied (code 7, HTTP 403).
const DENIED: &str = "etcdserver: permission denied";
/// ErrGRPCUserEmpty (code 3, HTTP 400): a request without a token while auth is enabled.
const USER_EMPTY: &str = "etcdserver: user name is empty";
/// ErrGRPCAuthFailed (code 3, HTTP 400).
const AUTH_FAILED: &str = "etcdserver: authentication failed, invalid user ID or password";
/// ErrGRPCInvalidAuthToken (code 16, HTTP 401).
const INVALID_TOKEN: &str = "etcdserver: invalid auth token";
/// ErrGRPCInvalidAuthMgmt (code 3, HTTP 400): changing the root user or role while enabled.
const INVALID_MGMT: &str = "etcdserver: invalid auth management";

/// `{"key":K,"value":V}` with both base64-encoded, plus `extra` fields.
fn put_body(key: &str, value: &str, extra: Value) -> String {
    let mut body = json!({"key": b64(key), "value": b64(value)});
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// A range request for `key` (and `range_end`, when given).
fn range_body(key: &str, range_end: Option<&str>) -> String {
    match range_end {
        Some(end) => json!({"key": b64(key), "range_end": b64(end)}).to_string(),
        None => json!({"key": b64(key)}).to_string(),
    }
}

/// A step sent with `user`'s token (captured as `<user>_token`).
fn as_user(step: Step, user: &str) -> Step {
    let template = format!("{{{{{user}_token}}}}");
    step.header(AUTH, &template)
}

/// Users, roles and grants set up before auth is enabled: `root` (root role), `alice`
/// (reader: READ on the key `foo`; writer: WRITE on the range [`a`, `c`)), `bob` (rw:
/// READWRITE on the prefix `pre/`), `carol` (no password, rw). Leases 5000 (key `pre/l`) and
/// 5001 (key `other`). Ends at revision 6, auth revision 17.
fn auth_setup() -> Vec<Step> {
    let perm = |role: &str, perm: Value| json!({"name": role, "perm": perm}).to_string();
    vec![
        post("/v3/auth/status", "{}").json(json!({"header": h(1), "authRevision": "1"})),
        post("/v3/auth/enable", "{}")
            .named("enable without a root user")
            .failed_precondition("etcdserver: root user does not exist"),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"pass"}"#,
        )
        .named("authenticate while disabled")
        .failed_precondition("etcdserver: authentication is not enabled"),
        post("/v3/auth/user/add", r#"{"name":"root","password":"pass"}"#)
            .json(json!({"header": h(1)})),
        post("/v3/auth/enable", "{}")
            .named("enable with a root user without the root role")
            .failed_precondition("etcdserver: root user does not have root role"),
        post("/v3/auth/user/add", r#"{"name":"root","password":"x"}"#)
            .failed_precondition("etcdserver: user name already exists"),
        post("/v3/auth/user/add", r#"{"password":"x"}"#).error(400, 3, USER_EMPTY),
        post("/v3/auth/role/add", r#"{"name":"root"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/role/add", "{}").error(400, 3, "etcdserver: role name is empty"),
        post("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#)
            .json(json!({"header": h(1)})),
        post(
            "/v3/auth/user/add",
            r#"{"name":"alice","password":"alicepw"}"#,
        )
        .json(json!({"header": h(1)})),
        post("/v3/auth/user/add", r#"{"name":"bob","password":"bobpw"}"#)
            .json(json!({"header": h(1)})),
        post(
            "/v3/auth/user/add",
            r#"{"name":"carol","options":{"no_password":true}}"#,
        )
        .named("user without a password")
        .json(json!({"header": h(1)})),
        post("/v3/auth/role/add", r#"{"name":"reader"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/role/add", r#"{"name":"writer"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/role/add", r#"{"name":"rw"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/role/add", r#"{"name":"rw"}"#)
            .failed_precondition("etcdserver: role name already exists"),
        post(
            "/v3/auth/role/grant",
            &perm("reader", json!({"permType": "READ", "key": b64("foo")})),
        )
        .named("grant READ on a key")
        .json(json!({"header": h(1)})),
        post(
            "/v3/auth/role/grant",
            &perm(
                "writer",
                json!({"permType": "WRITE", "key": b64("a"), "range_end": b64("c")}),
            ),
        )
        .named("grant WRITE on a range")
        .json(json!({"header": h(1)})),
        post(
            "/v3/auth/role/grant",
            &perm(
                "rw",
                json!({"permType": "READWRITE", "key": b64("pre/"), "range_end": b64("pre0")}),
            ),
        )
        .named("grant READWRITE on a prefix")
        .json(json!({"header": h(1)})),
        post(
            "/v3/auth/role/grant",
            &perm("nosuch", json!({"key": b64("foo")})),
        )
        .failed_precondition("etcdserver: role name not found"),
        post("/v3/auth/user/grant", r#"{"user":"alice","role":"reader"}"#)
            .json(json!({"header": h(1)})),
        post("/v3/auth/user/grant", r#"{"user":"alice","role":"writer"}"#)
            .json(json!({"header": h(1)})),
        post("/v3/auth/user/grant", r#"{"user":"bob","role":"rw"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/user/grant", r#"{"user":"carol","role":"rw"}"#)
            .json(json!({"header": h(1)})),
        post("/v3/auth/user/grant", r#"{"user":"nosuch","role":"rw"}"#)
            .failed_precondition("etcdserver: user name not found"),
        post("/v3/auth/user/grant", r#"{"user":"alice","role":"nosuch"}"#)
            .failed_precondition("etcdserver: role name not found"),
        post("/v3/auth/user/get", r#"{"name":"alice"}"#)
            .json(json!({"header": h(1), "roles": ["reader", "writer"]})),
        post("/v3/auth/user/get", r#"{"name":"carol"}"#)
            .json(json!({"header": h(1), "roles": ["rw"]})),
        post("/v3/auth/user/get", r#"{"name":"nosuch"}"#)
            .failed_precondition("etcdserver: user name not found"),
        post("/v3/auth/user/list", "{}")
            .json(json!({"header": h(1), "users": ["alice", "bob", "carol", "root"]})),
        post("/v3/auth/role/get", r#"{"role":"reader"}"#)
            .json(json!({"header": h(1), "perm": [{"key": b64("foo")}]})),
        post("/v3/auth/role/get", r#"{"role":"writer"}"#).json(json!({"header": h(1),
            "perm": [{"permType": "WRITE", "key": b64("a"), "range_end": b64("c")}]})),
        post("/v3/auth/role/get", r#"{"role":"rw"}"#).json(json!({"header": h(1),
            "perm": [{"permType": "READWRITE", "key": b64("pre/"), "range_end": b64("pre0")}]})),
        post("/v3/auth/role/get", r#"{"role":"root"}"#).json(json!({"header": h(1)})),
        post("/v3/auth/role/get", r#"{"role":"nosuch"}"#)
            .failed_precondition("etcdserver: role name not found"),
        post("/v3/auth/role/list", "{}")
            .json(json!({"header": h(1), "roles": ["reader", "root", "rw", "writer"]})),
        post("/v3/auth/status", "{}").json(json!({"header": h(1), "authRevision": "17"})),
        // Data, written while auth is disabled.
        post("/v3/lease/grant", r#"{"TTL":60,"ID":5000}"#)
            .json(json!({"header": h(1), "ID": "5000", "TTL": "60"})),
        post("/v3/lease/grant", r#"{"TTL":60,"ID":5001}"#)
            .json(json!({"header": h(1), "ID": "5001", "TTL": "60"})),
        post("/v3/kv/put", &put_body("foo", "bar", json!({}))).json(json!({"header": h(2)})),
        post("/v3/kv/put", &put_body("b", "1", json!({}))).json(json!({"header": h(3)})),
        post("/v3/kv/put", &put_body("pre/x", "1", json!({}))).json(json!({"header": h(4)})),
        post(
            "/v3/kv/put",
            &put_body("other", "o", json!({"lease": 5001})),
        )
        .json(json!({"header": h(5)})),
        post(
            "/v3/kv/put",
            &put_body("pre/l", "l", json!({"lease": 5000})),
        )
        .json(json!({"header": h(6)})),
    ]
}

/// Auth enabled: tokens, permission checks on KV, txn and lease calls, root rules, password
/// change, revokes and deletes, then auth disabled again.
fn auth_enabled() -> Vec<Step> {
    let foo_range = json!({"header": h(6), "kvs": [entry("foo", "bar", 2, 2, 1)], "count": "1"});
    let txn = |compare_key: &str, put_key: &str| {
        json!({
            "compare": [{"key": b64(compare_key), "target": "VERSION", "result": "GREATER", "version": "0"}],
            "success": [{"requestPut": {"key": b64(put_key), "value": b64("t")}}],
            "failure": [{"requestRange": {"key": b64("foo")}}],
        })
        .to_string()
    };
    vec![
        post("/v3/auth/enable", "{}").json(json!({"header": h(6)})),
        post("/v3/auth/enable", "{}")
            .named("enable again without a token")
            .error(400, 3, USER_EMPTY),
        post("/v3/kv/put", &put_body("foo", "x", json!({})))
            .named("put without a token")
            .error(400, 3, USER_EMPTY),
        post("/v3/kv/range", &range_body("foo", None))
            .named("range without a token")
            .error(400, 3, USER_EMPTY),
        post("/v3/kv/range", &range_body("foo", None))
            .named("range with an unknown token")
            .header(AUTH, "bogus.1")
            .error(401, 16, INVALID_TOKEN),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"wrong"}"#,
        )
        .error(400, 3, AUTH_FAILED),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"nosuch","password":"pass"}"#,
        )
        .error(400, 3, AUTH_FAILED),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"carol","password":"x"}"#,
        )
        .named("authenticate a user without a password")
        .error(
            500,
            2,
            "auth: authentication failed, password was given for no password user",
        ),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"root","password":"pass"}"#,
        )
        .capture("root_token", "/token")
        .json(json!({"header": h(6), "token": "<token1>"})),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"alice","password":"alicepw"}"#,
        )
        .capture("alice_token", "/token")
        .json(json!({"header": h(6), "token": "<token2>"})),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"bob","password":"bobpw"}"#,
        )
        .capture("bob_token", "/token")
        .json(json!({"header": h(6), "token": "<token3>"})),
        as_user(post("/v3/auth/status", "{}"), "root")
            .json(json!({"header": h(6), "enabled": true, "authRevision": "17"})),
        as_user(post("/v3/auth/enable", "{}"), "root")
            .named("enable again as root")
            .json(json!({"header": h(6)})),
        as_user(post("/v3/kv/range", &range_body("foo", None)), "root").json(foo_range.clone()),
        // alice: READ on `foo`, WRITE on [a, c).
        as_user(post("/v3/kv/range", &range_body("foo", None)), "alice")
            .named("read a key granted READ")
            .json(foo_range.clone()),
        as_user(
            post("/v3/kv/range", &range_body("foo", Some("fop"))),
            "alice",
        )
        .named("read a range around a key granted READ")
        .error(403, 7, DENIED),
        as_user(
            post("/v3/kv/put", &put_body("foo", "x", json!({}))),
            "alice",
        )
        .named("write a key granted READ")
        .error(403, 7, DENIED),
        as_user(post("/v3/kv/put", &put_body("b", "2", json!({}))), "alice")
            .named("write in a range granted WRITE")
            .json(json!({"header": h(7)})),
        as_user(post("/v3/kv/put", &put_body("c", "2", json!({}))), "alice")
            .named("write at the range end (excluded)")
            .error(403, 7, DENIED),
        as_user(post("/v3/kv/range", &range_body("b", None)), "alice")
            .named("read a key granted WRITE only")
            .error(403, 7, DENIED),
        as_user(
            post("/v3/kv/put", &put_body("b", "3", json!({"prev_kv": true}))),
            "alice",
        )
        .named("put with prev_kv needs READ too")
        .error(403, 7, DENIED),
        as_user(
            post("/v3/kv/deleterange", r#"{"key":"Yg==","prev_kv":true}"#),
            "alice",
        )
        .named("delete with prev_kv needs READ too")
        .error(403, 7, DENIED),
        as_user(post("/v3/kv/deleterange", r#"{"key":"Yg=="}"#), "alice")
            .named("delete in a range granted WRITE")
            .json(json!({"header": h(8), "deleted": "1"})),
        as_user(post("/v3/kv/txn", &txn("foo", "a")), "alice")
            .named("txn: compare a readable key, put a writable one")
            .json(json!({"header": h(9), "succeeded": true,
                "responses": [{"response_put": {"header": {"revision": "9"}}}]})),
        as_user(post("/v3/kv/txn", &txn("other", "a")), "alice")
            .named("txn comparing a forbidden key")
            .error(403, 7, DENIED),
        as_user(post("/v3/kv/txn", &txn("foo", "foo")), "alice")
            .named("txn putting a forbidden key")
            .error(403, 7, DENIED),
        as_user(post("/v3/auth/user/get", r#"{"name":"alice"}"#), "alice")
            .named("a user reads itself")
            .json(json!({"header": h(9), "roles": ["reader", "writer"]})),
        as_user(post("/v3/auth/user/get", r#"{"name":"root"}"#), "alice")
            .named("a user reads another user")
            .error(403, 7, DENIED),
        as_user(post("/v3/auth/user/list", "{}"), "alice").error(403, 7, DENIED),
        as_user(post("/v3/auth/role/add", r#"{"name":"x"}"#), "alice").error(403, 7, DENIED),
        as_user(post("/v3/maintenance/defragment", "{}"), "alice")
            .named("defragment by a non-root user")
            .error(500, 2, "auth: permission denied"),
        // bob: READWRITE on the prefix `pre/`.
        as_user(
            post(
                "/v3/kv/put",
                &put_body("pre/y", "2", json!({"prev_kv": true})),
            ),
            "bob",
        )
        .named("put with prev_kv under a READWRITE prefix")
        .json(json!({"header": h(10)})),
        as_user(
            post("/v3/kv/range", &range_body("pre/", Some("pre0"))),
            "bob",
        )
        .named("read the whole READWRITE prefix")
        .json(json!({"header": h(10), "count": "3", "kvs": [
            {"key": b64("pre/l"), "create_revision": "6", "mod_revision": "6", "version": "1",
                "value": b64("l"), "lease": "5000"},
            entry("pre/x", "1", 4, 4, 1),
            entry("pre/y", "2", 10, 10, 1),
        ]})),
        as_user(
            post("/v3/kv/range", &range_body("pre", Some("pre0"))),
            "bob",
        )
        .named("read beyond the prefix")
        .error(403, 7, DENIED),
        as_user(
            post("/v3/lease/timetolive", r#"{"ID":5001,"keys":true}"#),
            "bob",
        )
        .named("timetolive with keys of a forbidden key (no check in 3.5.1)")
        .field("/ID", json!("5001"))
        .field("/grantedTTL", json!("60"))
        .field("/keys", json!([b64("other")])),
        post("/v3/lease/timetolive", r#"{"ID":5000,"keys":true}"#)
            .named("timetolive without a token")
            .field("/ID", json!("5000"))
            .field("/keys", json!([b64("pre/l")])),
        as_user(post("/v3/lease/revoke", r#"{"ID":5001}"#), "bob")
            .named("revoke a lease with a forbidden key")
            .error(403, 7, DENIED),
        as_user(post("/v3/lease/revoke", r#"{"ID":5000}"#), "bob")
            .named("revoke a lease with permitted keys")
            .json(json!({"header": h(11)})),
        // Root rules.
        as_user(post("/v3/auth/user/delete", r#"{"name":"root"}"#), "root")
            .named("delete the root user while enabled")
            .error(400, 3, INVALID_MGMT),
        as_user(post("/v3/auth/role/delete", r#"{"role":"root"}"#), "root")
            .named("delete the root role while enabled")
            .error(400, 3, INVALID_MGMT),
        as_user(
            post("/v3/auth/user/revoke", r#"{"name":"root","role":"root"}"#),
            "root",
        )
        .named("revoke the root role from root while enabled")
        .error(400, 3, INVALID_MGMT),
        // Changes by root.
        as_user(
            post("/v3/auth/role/revoke", r#"{"role":"reader","key":"Zm9v"}"#),
            "root",
        )
        .json(json!({"header": h(11)})),
        as_user(
            post("/v3/auth/role/revoke", r#"{"role":"reader","key":"Zm9v"}"#),
            "root",
        )
        .failed_precondition("etcdserver: permission is not granted to the role"),
        as_user(post("/v3/kv/range", &range_body("foo", None)), "alice")
            .named("read after the permission was revoked")
            .error(403, 7, DENIED),
        as_user(
            post(
                "/v3/auth/user/changepw",
                r#"{"name":"alice","password":"newpw"}"#,
            ),
            "root",
        )
        .json(json!({"header": h(11)})),
        as_user(
            post(
                "/v3/auth/user/changepw",
                r#"{"name":"nosuch","password":"x"}"#,
            ),
            "root",
        )
        .failed_precondition("etcdserver: user name not found"),
        as_user(post("/v3/kv/put", &put_body("a", "n", json!({}))), "alice")
            .named("a token from before the password change")
            .error(401, 16, INVALID_TOKEN),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"alice","password":"alicepw"}"#,
        )
        .named("authenticate with the old password")
        .error(400, 3, AUTH_FAILED),
        post(
            "/v3/auth/authenticate",
            r#"{"name":"alice","password":"newpw"}"#,
        )
        .capture("alice_token", "/token")
        .json(json!({"header": h(11), "token": "<token4>"})),
        as_user(post("/v3/kv/put", &put_body("a", "n", json!({}))), "alice")
            .named("a token from after the password change")
            .json(json!({"header": h(12)})),
        as_user(
            post(
                "/v3/auth/user/revoke",
                r#"{"name":"alice","role":"writer"}"#,
            ),
            "root",
        )
        .json(json!({"header": h(12)})),
        as_user(
            post(
                "/v3/auth/user/revoke",
                r#"{"name":"alice","role":"writer"}"#,
            ),
            "root",
        )
        .failed_precondition("etcdserver: role is not granted to the user"),
        as_user(post("/v3/kv/put", &put_body("a", "m", json!({}))), "alice")
            .named("write after the role was revoked")
            .error(403, 7, DENIED),
        as_user(post("/v3/auth/user/delete", r#"{"name":"alice"}"#), "root")
            .json(json!({"header": h(12)})),
        as_user(post("/v3/auth/user/delete", r#"{"name":"alice"}"#), "root")
            .failed_precondition("etcdserver: user name not found"),
        as_user(post("/v3/kv/range", &range_body("foo", None)), "alice")
            .named("token of a deleted user")
            .error(401, 16, INVALID_TOKEN),
        as_user(post("/v3/auth/role/delete", r#"{"role":"writer"}"#), "root")
            .json(json!({"header": h(12)})),
        as_user(post("/v3/auth/role/delete", r#"{"role":"writer"}"#), "root")
            .failed_precondition("etcdserver: role name not found"),
        as_user(post("/v3/auth/status", "{}"), "root")
            .json(json!({"header": h(12), "enabled": true, "authRevision": "22"})),
        post("/v3/auth/disable", "{}")
            .named("disable without a token")
            .error(400, 3, USER_EMPTY),
        as_user(post("/v3/auth/disable", "{}"), "bob")
            .named("disable by a non-root user")
            .error(403, 7, DENIED),
        as_user(post("/v3/auth/disable", "{}"), "root").json(json!({"header": h(12)})),
        post("/v3/auth/status", "{}").json(json!({"header": h(12), "authRevision": "23"})),
        post("/v3/kv/range", &range_body("foo", None))
            .named("range without a token once disabled")
            .json(json!({"header": h(12), "kvs": [entry("foo", "bar", 2, 2, 1)], "count": "1"})),
        post("/v3/auth/user/list", "{}")
            .json(json!({"header": h(12), "users": ["bob", "carol", "root"]})),
    ]
}

/// Auth, end to end; a watch on a forbidden key is answered on its stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth() {
    let mut pair = start_reference_pair(V3_5).await;
    pair.run(&auth_setup()).await;
    let enabled = auth_enabled();
    // Up to and including bob's authenticate: tokens of every user are captured.
    let split = enabled
        .iter()
        .position(|step| step.captures.iter().any(|(var, _)| var == "bob_token"))
        .expect("bob authenticates")
        + 1;
    pair.run(&enabled[..split]).await;

    // etcd 3.5.1 `server/etcdserver/api/v3rpc/watch.go`: a create request the user may not
    // read is answered created and canceled; the reason is `ErrGRPCPermissionDenied.Error()`,
    // the gRPC status as Go prints it. The stream stays open.
    let denied = json!({"result": {"header": h(6), "created": true, "canceled": true,
        "cancel_reason": format!("rpc error: code = PermissionDenied desc = {DENIED}")}});
    let create = |key: &str| json!({"create_request": {"key": b64(key)}}).to_string();
    first_lines_equal(
        &mut pair,
        "watch a forbidden key",
        "/v3/watch",
        &[(AUTH, "{{alice_token}}")],
        &create("other"),
        &denied,
    )
    .await;
    first_lines_equal(
        &mut pair,
        "watch without a token",
        "/v3/watch",
        &[],
        &create("foo"),
        &denied,
    )
    .await;
    first_lines_equal(
        &mut pair,
        "watch a key granted READ",
        "/v3/watch",
        &[(AUTH, "{{alice_token}}")],
        &create("foo"),
        &json!({"result": {"header": h(6), "created": true}}),
    )
    .await;
    pair.run(&enabled[split..]).await;
}

/// Campaign, leader, proclaim, observe, a campaign waiting for the leader to resign, resign,
/// and the errors of each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election() {
    let mut pair = start_reference_pair(V3_5).await;
    let name = b64("election");
    let key = b64("election/7d0"); // lease 2000
    let by_name = json!({"name": name}).to_string();
    let leader = |rev: u64, mod_rev: u64, version: u64, value: &str| {
        json!({"key": key, "create_revision": rev.to_string(), "mod_revision": mod_rev.to_string(),
            "version": version.to_string(), "value": b64(value), "lease": "2000"})
    };
    pair.run(&[
        post("/v3/lease/grant", r#"{"TTL":60,"ID":2000}"#)
            .json(json!({"header": h(1), "ID": "2000", "TTL": "60"})),
        post("/v3/lease/grant", r#"{"TTL":60,"ID":3000}"#)
            .json(json!({"header": h(1), "ID": "3000", "TTL": "60"})),
        post("/v3/election/leader", &by_name)
            .named("leader before any campaign")
            .error(500, 2, "election: no leader"),
        post(
            "/v3/election/campaign",
            &json!({"name": name, "value": b64("v1"), "lease": 2000}).to_string(),
        )
        .capture("leader", "/leader")
        .json(json!({"header": h(2),
            "leader": {"name": name, "key": key, "rev": "2", "lease": "2000"}})),
        post("/v3/election/leader", &by_name)
            .json(json!({"header": h(2), "kv": leader(2, 2, 1, "v1")})),
    ])
    .await;
    first_lines_equal(
        &mut pair,
        "observe a leader",
        "/v3/election/observe",
        &[],
        &by_name,
        &json!({"result": {"header": h(2), "kv": leader(2, 2, 1, "v1")}}),
    )
    .await;
    let other = json!({"name": name, "key": b64("election/bb8"), "rev": "2", "lease": "3000"});
    pair.run(&[
        post(
            "/v3/election/proclaim",
            r#"{"leader":{{leader}},"value":"djI="}"#,
        )
        .json(json!({"header": h(3)})),
        post(
            "/v3/election/proclaim",
            &json!({"leader": other, "value": b64("v9")}).to_string(),
        )
        .named("proclaim by a non-leader")
        .error(500, 2, "election: not leader"),
        post("/v3/election/proclaim", r#"{"value":"djI="}"#).error(
            500,
            2,
            "\"leader\" field must be provided",
        ),
        post("/v3/election/leader", &by_name)
            .json(json!({"header": h(3), "kv": leader(2, 3, 2, "v2")})),
    ])
    .await;
    first_lines_equal(
        &mut pair,
        "observe after a proclaim",
        "/v3/election/observe",
        &[],
        &by_name,
        &json!({"result": {"header": h(3), "kv": leader(2, 3, 2, "v2")}}),
    )
    .await;
    // A second campaigner waits for the leader's key to go, then leads.
    let waiter = Waiting::start(
        &pair,
        "a campaign while another leader holds",
        "/v3/election/campaign",
        &json!({"name": name, "value": b64("w0"), "lease": 3000}).to_string(),
    );
    waiter
        .assert_waiting(&pair, Duration::from_millis(500))
        .await;
    pair.run(&[
        post("/v3/election/resign", "{}").error(500, 2, "\"leader\" field must be provided"),
        post("/v3/election/resign", r#"{"leader":{{leader}}}"#).json(json!({"header": h(5)})),
    ])
    .await;
    let waiter_key = b64("election/bb8"); // lease 3000
    // The answer's header is the one of the write that created the waiter's key (revision 4),
    // not of the revision that ended the wait (etcd's `concurrency.Election.Campaign`).
    let (leader_a, leader_b) = waiter
        .finish(
            &mut pair,
            &json!({"header": h(4), "leader": {"name": name, "key": waiter_key, "rev": "4",
                "lease": "3000"}}),
        )
        .await;
    pair.a
        .vars
        .insert("waiter".into(), leader_a["leader"].to_string());
    pair.b
        .vars
        .insert("waiter".into(), leader_b["leader"].to_string());
    pair.run(&[
        post("/v3/election/resign", r#"{"leader":{{leader}}}"#)
            .named("resign a leader that resigned")
            .json(json!({"header": h(5)})),
        post(
            "/v3/election/proclaim",
            r#"{"leader":{{leader}},"value":"djM="}"#,
        )
        .named("proclaim after the resign")
        .error(500, 2, "election: not leader"),
        post("/v3/election/leader", &by_name)
            .named("the waiter leads")
            .json(
                json!({"header": h(5), "kv": {"key": waiter_key, "create_revision": "4",
                "mod_revision": "4", "version": "1", "value": b64("w0"), "lease": "3000"}}),
            ),
        post("/v3/election/resign", r#"{"leader":{{waiter}}}"#).json(json!({"header": h(6)})),
        post("/v3/election/leader", &by_name)
            .named("leader once everyone resigned")
            .error(500, 2, "election: no leader"),
        post(
            "/v3/election/campaign",
            &json!({"name": name, "value": b64("x1")}).to_string(),
        )
        .named("campaign with a session lease made by the server")
        .capture("leader2", "/leader")
        .json(json!({"header": h(7), "leader": {
            "name": name, "key": "<key election/<id1>>", "rev": "7", "lease": "<id1>"}})),
        post("/v3/election/leader", &by_name).json(json!({"header": h(7), "kv": {
            "key": "<key election/<id1>>", "create_revision": "7", "mod_revision": "7",
            "version": "1", "value": b64("x1"), "lease": "<id1>"}})),
        post("/v3/election/resign", r#"{"leader":{{leader2}}}"#).json(json!({"header": h(8)})),
        post(
            "/v3/election/campaign",
            &json!({"name": name, "lease": 4242}).to_string(),
        )
        .named("campaign with an unknown lease")
        .error(500, 2, "etcdserver: requested lease not found"),
    ])
    .await;
}

/// A lock is held; a second locker of the same name waits until its client gives up (and
/// leaves no key behind), the holder unlocks, the next lock is granted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock() {
    let mut pair = start_reference_pair(V3_5).await;
    let lock1 = |lease_hex: &str| b64(&format!("lock1/{lease_hex}"));
    pair.run(&[
        post("/v3/lease/grant", r#"{"TTL":60,"ID":4000}"#)
            .json(json!({"header": h(1), "ID": "4000", "TTL": "60"})),
        post("/v3/lease/grant", r#"{"TTL":60,"ID":5000}"#)
            .json(json!({"header": h(1), "ID": "5000", "TTL": "60"})),
        post("/v3/lock/lock", r#"{"name":"bG9jazE=","lease":4000}"#)
            .capture("held", "/key")
            .json(json!({"header": h(2), "key": lock1("fa0")})),
    ])
    .await;
    both_pending(
        &pair,
        "a second locker while the lock is held",
        "/v3/lock/lock",
        r#"{"name":"bG9jazE=","lease":5000}"#,
        Duration::from_secs(1),
    )
    .await;
    let holder = json!({"key": lock1("fa0"), "create_revision": "2", "mod_revision": "2",
        "version": "1", "lease": "4000"});
    pair.run(&[
        // The waiter's key (revision 3) is deleted when its client goes (revision 4).
        post("/v3/kv/range", &range_body("lock1/", Some("lock10")))
            .settle()
            .named("only the holder's key is left")
            .json(json!({"header": h(4), "kvs": [holder], "count": "1"})),
        post("/v3/lock/lock", r#"{"name":"bG9jazE=","lease":5000}"#)
            .header("Grpc-Timeout", "500m")
            .named("a second locker with a deadline")
            .error(504, 4, "context deadline exceeded"),
        post("/v3/kv/range", &range_body("lock1/", Some("lock10")))
            .settle()
            .named("still only the holder's key")
            .field("/count", json!("1"))
            .field("/header/revision", json!("6")),
        post("/v3/lock/unlock", r#"{"key":"{{held}}"}"#).json(json!({"header": h(7)})),
        post("/v3/lock/unlock", r#"{"key":"{{held}}"}"#)
            .named("unlock twice")
            .json(json!({"header": h(7)})),
        post("/v3/lock/unlock", "{}").error(500, 2, "etcdserver: key is not provided"),
        post("/v3/lock/lock", r#"{"name":"bG9jazE=","lease":5000}"#)
            .named("lock again once unlocked")
            .capture("next", "/key")
            .json(json!({"header": h(8), "key": lock1("1388")})),
        post("/v3/lock/unlock", r#"{"key":"{{next}}"}"#).json(json!({"header": h(9)})),
        post("/v3/lock/lock", r#"{"name":"bG9jazI=","lease":4242}"#)
            .named("lock with an unknown lease")
            .error(500, 2, "etcdserver: requested lease not found"),
        post("/v3/lock/lock", "")
            .named("lock with an empty body (server session)")
            .capture("anonymous", "/key")
            .json(json!({"header": h(10), "key": "<key /<id1>>"})),
        post("/v3/lock/unlock", r#"{"key":"{{anonymous}}"}"#).json(json!({"header": h(11)})),
    ])
    .await;
}

/// HashKV over native gRPC at `revision` on both sides: equal hashes, revisions and compact
/// revisions, or the same error.
async fn hash_kv_equal(pair: &Pair, revision: i64) -> Result<HashKvResponse, tonic::Status> {
    let call = |channel: tonic::transport::Channel| async move {
        MaintenanceClient::new(channel)
            .hash_kv(HashKvRequest { revision })
            .await
            .map(tonic::Response::into_inner)
    };
    let (ca, cb) = tokio::join!(grpc_channel(&pair.a), grpc_channel(&pair.b));
    let (ra, rb) = tokio::join!(call(ca), call(cb));
    let summary = |r: &Result<HashKvResponse, tonic::Status>| match r {
        Ok(resp) => format!(
            "hash {} compact_revision {} header revision {}",
            resp.hash,
            resp.compact_revision,
            resp.header.as_ref().map_or(-1, |h| h.revision)
        ),
        Err(status) => format!("error {:?} {:?}", status.code(), status.message()),
    };
    let (sa, sb) = (summary(&ra), summary(&rb));
    assert!(
        sa == sb,
        "HashKV {{revision: {revision}}} over gRPC: etcd and {} differ\n  etcd: {sa}\n  {}: {sb}",
        pair.b.label,
        pair.b.label
    );
    ra
}

/// Status, Hash, HashKV (equal to etcd's), alarms and the NOSPACE refusal, defragment,
/// snapshot framing, leader transfer to itself, downgrade, member list and update of itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance() {
    let mut pair = start_reference_pair(V3_5).await;
    let status_inherent = [
        Inherent {
            pointer: "/version",
            etcd: Field::Is(json!("3.5.1")),
            embedded: Field::Is(json!("3.5.0")),
        },
        Inherent {
            pointer: "/raftIndex",
            etcd: Field::Present,
            embedded: Field::Present,
        },
        Inherent {
            pointer: "/raftAppliedIndex",
            etcd: Field::Present,
            embedded: Field::Present,
        },
    ];
    let status = |revision: u64, extra: Value| {
        let mut body = json!({"header": h(revision), "version": "<inherently different>",
            "dbSize": "<db_size>", "leader": "<member g1>", "raftIndex": "<inherently different>",
            "raftTerm": "<raft_term>", "raftAppliedIndex": "<inherently different>",
            "dbSizeInUse": "<db_size>"});
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        body
    };
    compare_with_inherent(
        &mut pair,
        "/v3/maintenance/status",
        "{}",
        &status_inherent,
        &status(1, json!({})),
    )
    .await;

    // The same writes on both sides, then HashKV at several revisions (etcd 3.5.1
    // `server/mvcc/kvstore.go` hashByRev: CRC-32C over the key bucket up to the revision).
    pair.run(&[
        post("/v3/lease/grant", r#"{"TTL":600,"ID":7000}"#)
            .json(json!({"header": h(1), "ID": "7000", "TTL": "600"})),
        post("/v3/kv/put", &put_body("a", "1", json!({}))).json(json!({"header": h(2)})),
        post("/v3/kv/put", &put_body("b", "2", json!({"lease": 7000})))
            .json(json!({"header": h(3)})),
        post("/v3/kv/put", &put_body("a", "3", json!({}))).json(json!({"header": h(4)})),
        post("/v3/kv/deleterange", r#"{"key":"Yg=="}"#)
            .json(json!({"header": h(5), "deleted": "1"})),
        post("/v3/kv/put", &put_body("c", "4", json!({}))).json(json!({"header": h(6)})),
    ])
    .await;
    let latest = hash_kv_equal(&pair, 0)
        .await
        .expect("HashKV at the latest revision");
    assert_eq!(latest.compact_revision, -1, "no compaction yet: {latest:?}");
    for revision in [1, 3, 5] {
        hash_kv_equal(&pair, revision)
            .await
            .expect("HashKV at an old revision");
    }
    let future = hash_kv_equal(&pair, 100)
        .await
        .expect_err("a future revision");
    assert_eq!(
        (future.code(), future.message()),
        (
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );
    pair.run(&[post("/v3/kv/compaction", r#"{"revision":4}"#).json(json!({"header": h(6)}))])
        .await;
    let compacted = hash_kv_equal(&pair, 0)
        .await
        .expect("HashKV after a compaction");
    assert_eq!(compacted.compact_revision, 4, "{compacted:?}");
    hash_kv_equal(&pair, 5)
        .await
        .expect("HashKV above the compaction");
    let old = hash_kv_equal(&pair, 3)
        .await
        .expect_err("a compacted revision");
    assert_eq!(
        (old.code(), old.message()),
        (
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted"
        )
    );

    let hashkv_embedded = Outcome::Json(
        200,
        json!({"header": h(6), "hash": "<hash>", "compact_revision": "4"}),
    );
    pair.run(&[
        post("/v3/maintenance/hash", "{}").json(json!({"header": h(6), "hash": "<hash>"})),
        post("/v3/maintenance/hashkv", r#"{"revision":0}"#).known(
            V3_5,
            "hashkv-route",
            Outcome::Text(404, NOT_FOUND_TEXT),
            hashkv_embedded,
        ),
        post("/v3/maintenance/defragment", "{}").json(json!({})),
        post("/v3/maintenance/alarm", r#"{"action":"GET"}"#).json(json!({"header": h(6)})),
        post(
            "/v3/maintenance/alarm",
            r#"{"action":"ACTIVATE","memberID":"{{member_id}}","alarm":"NOSPACE"}"#,
        )
        .json(json!({"header": h(6), "alarms": [{"memberID": "<member g1>", "alarm": "NOSPACE"}]})),
        post("/v3/maintenance/alarm", "{}")
            .named("alarm GET (enum 0) with an alarm")
            .json(json!({"header": h(6), "alarms": [{"memberID": "<member g1>", "alarm": "NOSPACE"}]})),
        post("/v3/kv/put", &put_body("d", "5", json!({})))
            .named("put while NOSPACE is raised")
            .error(429, 8, "etcdserver: mvcc: database space exceeded"),
        post("/v3/kv/range", &range_body("a", None))
            .named("range while NOSPACE is raised")
            .json(json!({"header": h(6), "kvs": [entry("a", "3", 2, 4, 2)], "count": "1"})),
    ])
    .await;
    compare_with_inherent(
        &mut pair,
        "/v3/maintenance/status",
        "{}",
        &status_inherent,
        &status(
            6,
            json!({"errors": ["memberID:<member g1> alarm:NOSPACE "]}),
        ),
    )
    .await;
    pair.run(&[
        post(
            "/v3/maintenance/alarm",
            r#"{"action":"DEACTIVATE","memberID":"{{member_id}}","alarm":"NOSPACE"}"#,
        )
        .json(json!({"header": h(6), "alarms": [{"memberID": "<member g1>", "alarm": "NOSPACE"}]})),
        post("/v3/maintenance/alarm", r#"{"action":"GET"}"#)
            .named("alarm GET once deactivated")
            .json(json!({"header": h(6)})),
        post("/v3/kv/put", &put_body("d", "5", json!({})))
            .named("put once the alarm is deactivated")
            .json(json!({"header": h(7)})),
        post(
            "/v3/maintenance/transfer-leadership",
            r#"{"targetID":"{{member_id}}"}"#,
        )
        .named("transfer leadership to itself")
        .json(json!({})),
        post("/v3/maintenance/transfer-leadership", r#"{"targetID":123}"#)
            .failed_precondition("etcdserver: bad leader transferee"),
        post(
            "/v3/maintenance/downgrade",
            r#"{"action":"VALIDATE","version":"3.4"}"#,
        )
        .json(json!({"header": h(7), "version": "3.5.0"})),
        post("/v3/maintenance/downgrade", r#"{"action":"CANCEL"}"#)
            .failed_precondition("etcdserver: no inflight downgrade job"),
    ])
    .await;
    snapshot_framing_equal(&pair).await;

    // Membership: the member itself; its peer URLs differ until it is updated.
    let me = json!({"ID": "<member g1>", "name": "g1", "peerURLs": "<inherently different>",
        "clientURLs": ["http://127.0.0.1:<client>"]});
    compare_with_inherent(
        &mut pair,
        "/v3/cluster/member/list",
        "{}",
        &[Inherent {
            pointer: "/members/0/peerURLs",
            etcd: Field::Is(json!(["http://127.0.0.1:<peer>"])),
            embedded: Field::Is(json!(["http://localhost:2380"])),
        }],
        &json!({"header": cluster_header(), "members": [me]}),
    )
    .await;
    let updated = json!({"ID": "<member g1>", "name": "g1", "peerURLs": ["http://127.0.0.1:2390"],
        "clientURLs": ["http://127.0.0.1:<client>"]});
    pair.run(&[
        post(
            "/v3/cluster/member/update",
            r#"{"ID":"{{member_id}}","peerURLs":["http://127.0.0.1:2390"]}"#,
        )
        .named("update the member's own peer URLs")
        .json(json!({"header": cluster_header(), "members": [updated.clone()]})),
        post("/v3/cluster/member/list", "{}")
            .json(json!({"header": cluster_header(), "members": [updated]})),
        post(
            "/v3/cluster/member/update",
            r#"{"ID":12345,"peerURLs":["http://127.0.0.1:11"]}"#,
        )
        .settle()
        .error(404, 5, "etcdserver: member not found"),
    ])
    .await;
}

/// Snapshot streams of both sides: etcd's framing on each (`snapshot-size`: the number of
/// blobs and their total differ), the same response head, the same shape of the first line.
async fn snapshot_framing_equal(pair: &Pair) {
    let (a, b) = tokio::join!(read_snapshot(&pair.a), read_snapshot(&pair.b));
    let mut wrong = Vec::new();
    for (label, (status, content_type, lines)) in [("etcd", &a), (pair.b.label, &b)] {
        if *status != 200 || content_type.as_deref() != Some("application/json") {
            wrong.push(format!(
                "{label}: status {status}, Content-Type {content_type:?}: {}",
                lines.first().map(String::as_str).unwrap_or("<no line>")
            ));
            continue;
        }
        if let Err(e) = snapshot_framing(lines) {
            wrong.push(format!("{label}: {e}"));
        }
    }
    let first = |lines: &[String]| lines.first().map(|l| shape(l)).unwrap_or_default();
    assert!(
        wrong.is_empty(),
        "snapshot framing:\n  {}\n  etcd's first line: {}\n  {}'s first line: {}",
        wrong.join("\n  "),
        first(&a.2),
        pair.b.label,
        first(&b.2)
    );
    if !b_is_embedded(pair) {
        return;
    }
    // The embedded store's snapshot is a redb file, not etcd's bbolt one.
    let size = snapshot_framing(&b.2).expect("checked above").size;
    assert!(size > 0, "embedded snapshot of {size} bytes");
}
