//! Malformed and unusual requests against our gateway (etcd 3.5.1 upstream): exact statuses
//! and exact JSON bodies, and the gateway keeps serving afterwards.

mod support;

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use support::http::{self, Reply};
use support::json::error_body;
use support::scenario::check_error_shape;
use support::{Etcd, EtcdVersion, Gateway};

const MIB: usize = 1024 * 1024;
const BODY_LIMIT: usize = 16 * MIB;

async fn setup() -> (Etcd, Gateway) {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    (etcd, gateway)
}

fn assert_error(reply: &Reply, status: u16, code: u32, contains: &str, what: &str) {
    let json = reply
        .json()
        .unwrap_or_else(|| panic!("{what}: not JSON: {}", reply.describe()));
    if let Err(e) = check_error_shape(&json, reply.status, status, code, contains) {
        panic!("{what}: {e}");
    }
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}: content type"
    );
}

fn assert_exact(reply: &Reply, status: u16, body: &Value, what: &str) {
    assert_eq!(
        (reply.status, reply.json()),
        (status, Some(body.clone())),
        "{what}: raw answer {}",
        reply.describe()
    );
}

/// The gateway process is alive and still answers a normal request correctly.
async fn assert_still_serving(gateway: &mut Gateway) {
    assert!(
        gateway.is_alive(),
        "gateway exited:\n{}",
        gateway.log_tail()
    );
    let reply = http::post(&gateway.addr, "/v3/maintenance/status", "{}").await;
    assert_eq!(reply.status, 200, "{}", reply.describe());
    assert_eq!(reply.expect_json()["version"], json!("3.5.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_errors_are_400_code_3_naming_the_field() {
    let (_etcd, mut gateway) = setup().await;
    let addr = gateway.addr.clone();
    // (path, body, text the message must contain)
    let cases: &[(&str, &str, &[&str])] = &[
        ("/v3/kv/range", "not json", &[]),
        ("/v3/kv/range", r#"{"key":"#, &[]),
        ("/v3/kv/range", r#"{"key":"Zm9v",}"#, &[]),
        ("/v3/kv/range", r#"[{"key":"Zm9v"}]"#, &[]),
        ("/v3/kv/range", r#""Zm9v""#, &[]),
        ("/v3/kv/range", "42", &[]),
        ("/v3/kv/range", r#"{"key":123}"#, &["key"]),
        (
            "/v3/kv/range",
            r#"{"key":"Zm9v","limit":"abc"}"#,
            &["limit"],
        ),
        ("/v3/kv/range", r#"{"key":"Zm9v","limit":1.5}"#, &["limit"]),
        ("/v3/kv/range", r#"{"key":"Zm9v","limit":true}"#, &["limit"]),
        (
            "/v3/kv/range",
            r#"{"key":"Zm9v","keys_only":"true"}"#,
            &["keys_only"],
        ),
        (
            "/v3/kv/range",
            r#"{"key":"Zm9v","keys_only":1}"#,
            &["keys_only"],
        ),
        ("/v3/kv/range", r#"{"key":"!!!!"}"#, &["key"]),
        (
            "/v3/kv/put",
            r#"{"key":"Zm9v","value":"Zm 9v"}"#,
            &["value"],
        ),
        (
            "/v3/kv/range",
            r#"{"key":"Zm9v","sort_order":"BOGUS"}"#,
            &["sort_order"],
        ),
        (
            "/v3/kv/range",
            r#"{"key":"Zm9v","sort_order":"descend"}"#,
            &["sort_order"],
        ),
        (
            "/v3/kv/txn",
            r#"{"compare":[{"target":"BOGUS","key":"Zm9v"}]}"#,
            &["compare", "target"],
        ),
        (
            "/v3/kv/txn",
            r#"{"success":[{"request_put":{"key":5}}]}"#,
            &["success", "request_put", "key"],
        ),
        ("/v3/lease/grant", r#"{"TTL":"sixty"}"#, &["TTL"]),
        ("/v3/lease/grant", r#"{"TTL":60,"ID":{"x":1}}"#, &["ID"]),
        (
            "/v3/cluster/member/add",
            r#"{"peerURLs":"http://127.0.0.1:9"}"#,
            &["peerURLs"],
        ),
        ("/v3/auth/user/add", r#"{"name":["root"]}"#, &["name"]),
        (
            "/v3/maintenance/alarm",
            r#"{"action":"BOGUS"}"#,
            &["action"],
        ),
    ];
    for (path, body, fields) in cases {
        let reply = http::post(&addr, path, body).await;
        let what = format!("POST {path} {body}");
        assert_error(&reply, 400, 3, "", &what);
        let message = reply.expect_json()["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        for field in *fields {
            assert!(
                message.contains(field),
                "{what}: message {message:?} does not name {field:?}"
            );
        }
    }
    assert_still_serving(&mut gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_methods_prefixes_and_cors() {
    let (_etcd, mut gateway) = setup().await;
    let addr = gateway.addr.clone();
    let not_found = error_body(5, "Not Found");
    let not_allowed = error_body(12, "Method Not Allowed");

    for (method, path) in [
        ("POST", "/v3/kv/nosuch"),
        ("POST", "/v3/KV/range"),
        ("POST", "/v3/kv/range/"),
        ("POST", "/v3/"),
        ("POST", "/v3/kv/lease/grant"),
        ("POST", "/v2/keys/foo"),
        ("POST", "/nosuch"),
        ("GET", "/v3/bogus"),
    ] {
        let reply = http::request(&addr, method, path, &[], "{}")
            .await
            .expect("answer");
        assert_exact(&reply, 404, &not_found, &format!("{method} {path}"));
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("GET", "/v3/kv/range"),
        ("PUT", "/v3/kv/put"),
        ("DELETE", "/v3/kv/deleterange"),
        ("PATCH", "/v3/lease/grant"),
        ("GET", "/v3beta/kv/range"),
    ] {
        let reply = http::request(&addr, method, path, &[], Bytes::new())
            .await
            .expect("answer");
        assert_exact(&reply, 405, &not_allowed, &format!("{method} {path}"));
    }

    // Seed a key, then compare the prefixes with /v3 on the same server.
    let put = http::post(&addr, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#).await;
    assert_eq!(put.status, 200, "{}", put.describe());
    let v3 = http::post(&addr, "/v3/kv/range", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(v3.status, 200, "{}", v3.describe());
    assert_eq!(v3.expect_json()["kvs"][0]["value"], json!("YmFy"));
    for prefix in ["/v3beta", "/v3alpha"] {
        let reply = http::post(&addr, &format!("{prefix}/kv/range"), r#"{"key":"Zm9v"}"#).await;
        assert_eq!(
            (reply.status, reply.json()),
            (200, v3.json()),
            "{prefix}/kv/range: {}",
            reply.describe()
        );
    }

    // OPTIONS: 200, empty body, CORS headers, on any path.
    for path in ["/v3/kv/range", "/v3/nosuch", "/health"] {
        let reply = http::request(&addr, "OPTIONS", path, &[], Bytes::new())
            .await
            .expect("answer");
        assert_eq!(reply.status, 200, "OPTIONS {path}");
        assert!(
            reply.body.is_empty(),
            "OPTIONS {path}: body {:?}",
            reply.text()
        );
        assert_cors(&reply, &format!("OPTIONS {path}"));
    }
    // CORS on success, gateway errors and routing errors alike.
    assert_cors(&v3, "range");
    assert_cors(
        &http::post(&addr, "/v3/kv/range", "{}").await,
        "server error",
    );
    assert_cors(
        &http::post(&addr, "/v3/kv/range", "nope").await,
        "decode error",
    );
    assert_cors(&http::post(&addr, "/v3/nosuch", "{}").await, "404");
    assert_cors(&http::get(&addr, "/v3/kv/range").await, "405");

    // Streaming routes are POST routes too.
    for path in [
        "/v3/watch",
        "/v3/lease/keepalive",
        "/v3/maintenance/snapshot",
        "/v3/election/observe",
    ] {
        let reply = http::get(&addr, path).await;
        assert_exact(&reply, 405, &not_allowed, &format!("GET {path}"));
    }

    assert_still_serving(&mut gateway).await;
}

fn assert_cors(reply: &Reply, what: &str) {
    for (name, value) in [
        ("access-control-allow-origin", "*"),
        (
            "access-control-allow-methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        ),
        (
            "access-control-allow-headers",
            "accept, content-type, authorization",
        ),
    ] {
        assert_eq!(reply.header(name), Some(value), "{what}: {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lenient_decoding_matches_etcd() {
    let (_etcd, mut gateway) = setup().await;
    let addr = gateway.addr.clone();
    let put = http::post(&addr, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#).await;
    assert_eq!(put.status, 200, "{}", put.describe());
    let plain = http::post(&addr, "/v3/kv/range", r#"{"key":"Zm9v"}"#).await;
    assert_eq!(plain.status, 200, "{}", plain.describe());
    let expected = plain.expect_json();
    assert_eq!(expected["count"], json!("1"));

    for (what, body, headers) in [
        (
            "null fields are unset",
            r#"{"key":"Zm9v","range_end":null,"limit":null,"sort_order":null,"keys_only":null,"revision":null}"#,
            vec![],
        ),
        (
            "trailing garbage is ignored",
            r#"{"key":"Zm9v"} garbage"#,
            vec![],
        ),
        (
            "only the first value counts",
            r#"{"key":"Zm9v"}{"key":"bm9wZQ=="}"#,
            vec![],
        ),
        ("leading whitespace", "\n\t {\"key\":\"Zm9v\"}", vec![]),
        (
            "unknown fields are ignored",
            r#"{"key":"Zm9v","bogus":{"a":[1,null]},"Key":"eA=="}"#,
            vec![],
        ),
        (
            "lowerCamel names",
            r#"{"key":"Zm9v","keysOnly":false,"countOnly":false}"#,
            vec![],
        ),
        ("int64 as string", r#"{"key":"Zm9v","limit":"0"}"#, vec![]),
        ("enum as number", r#"{"key":"Zm9v","sort_order":0}"#, vec![]),
        (
            "duplicate key: last wins",
            r#"{"key":"bm9wZQ==","key":"Zm9v"}"#,
            vec![],
        ),
        (
            "Content-Type is ignored",
            r#"{"key":"Zm9v"}"#,
            vec![("Content-Type", "text/plain")],
        ),
        (
            "form content type (curl -d) is ignored",
            r#"{"key":"Zm9v"}"#,
            vec![("Content-Type", "application/x-www-form-urlencoded")],
        ),
    ] {
        let reply = http::post_with(&addr, "/v3/kv/range", &headers, body).await;
        assert_eq!(
            (reply.status, reply.json()),
            (200, Some(expected.clone())),
            "{what}: {body}: {}",
            reply.describe()
        );
    }

    // Base64 without padding and URL-safe base64 are accepted.
    let put = http::post(&addr, "/v3/kv/put", r#"{"key":"Zm8","value":"-_8"}"#).await;
    assert_eq!(put.status, 200, "{}", put.describe());
    let reply = http::post(&addr, "/v3/kv/range", r#"{"key":"Zm8="}"#).await;
    let kv = &reply.expect_json()["kvs"][0];
    assert_eq!(
        (&kv["key"], &kv["value"]),
        (&json!("Zm8="), &json!("+/8=")),
        "{}",
        reply.describe()
    );

    // An empty body is the empty message.
    for body in ["", "   \n", "{}", "null"] {
        let reply = http::post(&addr, "/v3/kv/range", body).await;
        assert_exact(
            &reply,
            400,
            &error_body(3, "etcdserver: key is not provided"),
            &format!("range with body {body:?}"),
        );
        let reply = http::post(&addr, "/v3/maintenance/status", body).await;
        assert_eq!(
            reply.status,
            200,
            "status with body {body:?}: {}",
            reply.describe()
        );
        assert_eq!(reply.expect_json()["version"], json!("3.5.1"));
    }

    assert_still_serving(&mut gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_16_mib_are_rejected_with_413() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let limit = BODY_LIMIT.to_string();
    let mut gateway = Gateway::start_with_args(&[
        "--endpoints",
        &etcd.client_url(),
        "--max-request-bytes",
        &limit,
    ])
    .await;
    let addr = gateway.addr.clone();

    // Exactly 16 MiB is accepted: a valid request padded with trailing whitespace.
    let mut body = br#"{"key":"Zm9v"}"#.to_vec();
    body.resize(BODY_LIMIT, b' ');
    let reply = http::request(&addr, "POST", "/v3/kv/range", &[], body)
        .await
        .expect("answer");
    assert_eq!(reply.status, 200, "16 MiB body: {}", reply.describe());
    assert_eq!(reply.expect_json()["header"]["revision"], json!("1"));

    // One byte more, announced with Content-Length.
    let mut body = br#"{"key":"Zm9v"}"#.to_vec();
    body.resize(BODY_LIMIT + 1, b' ');
    let head = format!(
        "POST /v3/kv/range HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let reply = http::raw_request(
        &addr,
        &head,
        Bytes::from(body.clone()),
        Duration::from_millis(300),
    )
    .await
    .expect("answer");
    assert_error(&reply, 413, 8, "", "Content-Length 16 MiB + 1");

    // The same size sent chunked, without a Content-Length.
    let mut chunked = Vec::with_capacity(body.len() + 64);
    for part in body.chunks(MIB) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head =
        format!("POST /v3/kv/range HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n");
    let reply = http::raw_request(
        &addr,
        &head,
        Bytes::from(chunked),
        Duration::from_millis(300),
    )
    .await
    .expect("answer");
    assert_error(&reply, 413, 8, "", "chunked 16 MiB + 1");

    assert_still_serving(&mut gateway).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_503_code_14() {
    // Nothing listens on this port.
    let port = support::process::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut gateway = Gateway::start(&endpoint).await;
    let addr = gateway.addr.clone();
    for (path, body) in [
        ("/v3/kv/range", r#"{"key":"Zm9v"}"#),
        ("/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#),
        ("/v3/maintenance/status", "{}"),
        ("/v3/election/leader", r#"{"name":"ZQ=="}"#),
    ] {
        let reply = http::post(&addr, path, body).await;
        assert_error(&reply, 503, 14, "", &format!("POST {path} with etcd down"));
    }
    // Decoding still comes first.
    let reply = http::post(&addr, "/v3/kv/range", r#"{"key":1}"#).await;
    assert_error(&reply, 400, 3, "key", "decode error with etcd down");

    let reply = http::get(&addr, "/health").await;
    assert_eq!(reply.status, 503, "{}", reply.describe());
    let health = reply.expect_json();
    assert_eq!(health["health"], json!("false"), "{health}");
    assert!(
        health["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "health without a reason: {health}"
    );
    assert_eq!(health.as_object().map(|o| o.len()), Some(2), "{health}");
    assert!(
        gateway.is_alive(),
        "gateway exited:\n{}",
        gateway.log_tail()
    );
}
