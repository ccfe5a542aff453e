//! WebSocket upgrades (`GET /v3/...` with `Upgrade: websocket`) against etcd 3.5.1: every text
//! message from the client is one request message; stream routes answer one `{"result":...}`
//! text message per response, unary routes one plain response (or error) per request.
//!
//! Where etcd's own WebSocket proxy behaves the same, both gateways (each in front of its own
//! fresh etcd) must send the same messages after masking run-specific IDs. etcd's proxy does
//! not always answer a close frame, so its sockets are closed by dropping the connection, and
//! every read has a timeout.
//!
//! # Differences from etcd 3.5.1's gateway (asserted exactly on each side)
//!
//! | id | etcd's gateway | ours |
//! |----|----------------|------|
//! | `ws-unary` | unary and server-streaming routes never answer over a WebSocket (the gateway reads the whole request body, which only ends with the socket) | one message per request: the response, or `{"error":M,"code":N,"message":M}`; a server stream's messages, then the socket is closed |
//! | `ws-bad-message` | an undecodable message after the first is ignored; the watch goes on | a final `{"error":{"grpc_code":3,...,"code":3}}` message, then the socket is closed |
//! | `ws-bearer` | `Sec-WebSocket-Protocol: Bearer, <token>` and the `token` cookie are sent to etcd as `Authorization: Bearer <token>`, which etcd 3.5.1 does not strip: the watch is created and canceled (`permission denied`) | the token authenticates |
//! | `ws-authorization` | a plain `Authorization: <token>` handshake header is not forwarded (`permission denied`, as without a token) | the token authenticates |
//! | `get-without-upgrade` | 405 `text/plain` `Method Not Allowed` | 405 JSON `{"error":"Method Not Allowed","code":12,...}` with `Allow: POST` |

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::EtcdVersion::V3_5;
use support::http_stream::{MESSAGE_TIMEOUT, QUIET, parse};
use support::json::{Masker, header as h};
use support::stream_pair::Pair;
use support::watch_gauges::{await_watch_gauges, watch_gauges};
use support::websocket_client::{Socket, WsEvent, ws_connect, ws_next, ws_send, ws_text};
use support::{Etcd, Gateway, http};

/// How long etcd's gateway is given to (not) answer a request it never answers.
const NO_ANSWER: Duration = Duration::from_secs(1);

fn b64(s: &str) -> String {
    B64.encode(s)
}

fn put(key: &str, value: &str) -> String {
    json!({"key": b64(key), "value": b64(value)}).to_string()
}

fn kv(key: &str, value: &str, create: u64, modr: u64, version: u64) -> Value {
    json!({
        "key": b64(key),
        "create_revision": create.to_string(),
        "mod_revision": modr.to_string(),
        "version": version.to_string(),
        "value": b64(value),
    })
}

fn result(message: Value) -> Value {
    json!({ "result": message })
}

fn create_request(fields: Value) -> String {
    json!({ "create_request": fields }).to_string()
}

async fn connect(addr: &str, path: &str, headers: &[(&str, &str)]) -> Socket {
    let (socket, response) = ws_connect(addr, path, headers)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 101, "{addr}{path}");
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let lower = |name: &str| header(name).map(str::to_ascii_lowercase);
    assert_eq!(
        lower("upgrade").as_deref(),
        Some("websocket"),
        "{addr}{path}"
    );
    assert_eq!(
        lower("connection").as_deref(),
        Some("upgrade"),
        "{addr}{path}"
    );
    socket
}

/// Connects to the same path on both sides.
async fn connect_both(pair: &Pair, path: &str) -> (Socket, Socket) {
    tokio::join!(
        connect(&pair.a.addr, path, &[]),
        connect(&pair.b.addr, path, &[])
    )
}

/// Sends `text` on both sockets.
async fn send_both(sa: &mut Socket, sb: &mut Socket, text: &str) {
    tokio::join!(ws_send(sa, text), ws_send(sb, text));
}

/// The next message of both sockets: equal after masking (byte-exact with IDs replaced) and
/// equal to `want`.
async fn next_both(pair: &mut Pair, sa: &mut Socket, sb: &mut Socket, want: &Value) {
    let (ma, mb) = tokio::join!(ws_text(sa, "etcd"), ws_text(sb, "ours"));
    assert!(
        !ma.ends_with('\n') && !mb.ends_with('\n'),
        "{ma:?} / {mb:?}"
    );
    pair.compare_messages(&ma, &mb, want);
}

async fn quiet_both(sa: &mut Socket, sb: &mut Socket) {
    let (ea, eb) = tokio::join!(ws_next(sa, QUIET), ws_next(sb, QUIET));
    assert_eq!((ea, eb), (WsEvent::Timeout, WsEvent::Timeout));
}

/// Watch, keepalive, unary and server-streaming routes over WebSockets, and a plain GET.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_over_websockets() {
    let mut pair = Pair::start_ours(V3_5, &[]).await;
    pair.write("/v3/kv/put", &put("foo", "bar")).await; // 2

    // Watch: create, events, progress, a second watch, cancel, all on one socket.
    let (mut sa, mut sb) = connect_both(&pair, "/v3/watch").await;
    send_both(
        &mut sa,
        &mut sb,
        &create_request(json!({"key": b64("foo")})),
    )
    .await;
    let created = result(json!({"header": h(2), "created": true}));
    next_both(&mut pair, &mut sa, &mut sb, &created).await;
    pair.write("/v3/kv/put", &put("foo", "baz")).await; // 3
    let want = result(json!({"header": h(3), "events": [{"kv": kv("foo", "baz", 2, 3, 2)}]}));
    next_both(&mut pair, &mut sa, &mut sb, &want).await;
    send_both(&mut sa, &mut sb, r#"{"progress_request":{}}"#).await;
    let want = result(json!({"header": h(3), "watch_id": "-1"}));
    next_both(&mut pair, &mut sa, &mut sb, &want).await;
    let watch_bar = create_request(json!({"key": b64("bar"), "watch_id": 9}));
    send_both(&mut sa, &mut sb, &watch_bar).await;
    let want = result(json!({"header": h(3), "watch_id": "9", "created": true}));
    next_both(&mut pair, &mut sa, &mut sb, &want).await;
    send_both(&mut sa, &mut sb, r#"{"cancel_request":{"watch_id":0}}"#).await;
    let want = result(json!({"header": h(3), "canceled": true}));
    next_both(&mut pair, &mut sa, &mut sb, &want).await;
    pair.write("/v3/kv/put", &put("foo", "qux")).await; // 4: watch 0 is gone
    pair.write("/v3/kv/put", &put("bar", "1")).await; // 5
    let want = result(json!({"header": h(5), "watch_id": "9",
        "events": [{"kv": kv("bar", "1", 5, 5, 1)}]}));
    next_both(&mut pair, &mut sa, &mut sb, &want).await;
    quiet_both(&mut sa, &mut sb).await;

    // `ws-bad-message`: ours ends the call with an error message and closes the socket; etcd
    // ignores the message and keeps watching.
    send_both(&mut sa, &mut sb, "value=").await;
    let error = r#"{"error":{"grpc_code":3,"http_code":400,"message":"request body is not JSON: expected a JSON object","http_status":"Bad Request","code":3}}"#;
    assert_eq!(ws_text(&mut sb, "ours").await, error);
    assert_eq!(ws_next(&mut sb, MESSAGE_TIMEOUT).await, WsEvent::Closed);
    pair.write("/v3/kv/put", &put("bar", "2")).await; // 6
    let event = ws_text(&mut sa, "etcd").await;
    let want = result(json!({"header": h(6), "watch_id": "9",
        "events": [{"kv": kv("bar", "2", 5, 6, 2)}]}));
    assert_eq!(pair.a.mask(&event), want);
    drop((sa, sb));

    // Keepalive: one result per request on the same socket.
    pair.write("/v3/lease/grant", r#"{"TTL":60,"ID":7587}"#)
        .await;
    let (mut sa, mut sb) = connect_both(&pair, "/v3/lease/keepalive").await;
    for _ in 0..3 {
        send_both(&mut sa, &mut sb, r#"{"ID":7587}"#).await;
        let want = result(json!({"header": h(6), "ID": "7587", "TTL": "60"}));
        next_both(&mut pair, &mut sa, &mut sb, &want).await;
    }
    send_both(&mut sa, &mut sb, r#"{"ID":"999"}"#).await;
    next_both(
        &mut pair,
        &mut sa,
        &mut sb,
        &result(json!({"header": h(6), "ID": "999"})),
    )
    .await;
    quiet_both(&mut sa, &mut sb).await;
    drop((sa, sb));

    // `ws-unary`: ours answers each request with what POST answers (compared byte for byte with
    // etcd's HTTP answer); etcd's WebSocket answers nothing.
    let (mut sa, mut sb) = connect_both(&pair, "/v3/kv/range").await;
    let requests = [
        (
            r#"{"key":"Zm9v"}"#,
            json!({"header": h(6), "kvs": [kv("foo", "qux", 2, 4, 3)], "count": "1"}),
        ),
        (
            "{}",
            json!({"error": "etcdserver: key is not provided", "code": 3,
                "message": "etcdserver: key is not provided"}),
        ),
        (r#"{"key":"bm9uZQ=="}"#, json!({"header": h(6)})),
    ];
    for (request, want) in &requests {
        ws_send(&mut sa, request).await;
        ws_send(&mut sb, request).await;
        let frame = ws_text(&mut sb, "ours").await;
        let over_http = http::post(&pair.a.etcd.addr(), "/v3/kv/range", request).await;
        pair.compare_messages(&over_http.text(), &frame, want);
    }
    assert_eq!(ws_next(&mut sa, NO_ANSWER).await, WsEvent::Timeout, "etcd");
    assert_eq!(ws_next(&mut sb, QUIET).await, WsEvent::Timeout, "ours");
    drop((sa, sb));

    // A server stream over a WebSocket: ours sends the snapshot's messages, then closes; etcd's
    // sends nothing.
    let (mut sa, mut sb) = connect_both(&pair, "/v3/maintenance/snapshot").await;
    send_both(&mut sa, &mut sb, "{}").await;
    let read_ours = async {
        let mut blobs = Vec::new();
        loop {
            match ws_next(&mut sb, MESSAGE_TIMEOUT).await {
                WsEvent::Text(text) => {
                    let message = parse(&text);
                    let blob = message["result"]["blob"].as_str().expect("blob");
                    blobs.push(B64.decode(blob).expect("base64"));
                }
                WsEvent::Closed => return blobs,
                other => panic!(
                    "snapshot over a WebSocket: {other:?} after {} blobs",
                    blobs.len()
                ),
            }
        }
    };
    let (etcd_answer, mut blobs) = tokio::join!(ws_next(&mut sa, NO_ANSWER), read_ours);
    assert_eq!(etcd_answer, WsEvent::Timeout, "etcd snapshot");
    let digest = blobs.pop().expect("the SHA-256 message");
    assert_eq!(digest, Sha256::digest(blobs.concat()).as_slice());
    drop((sa, sb));

    // `get-without-upgrade`.
    for path in [
        "/v3/watch",
        "/v3/lease/keepalive",
        "/v3/maintenance/snapshot",
    ] {
        let (ra, rb) = tokio::join!(http::get(&pair.a.addr, path), http::get(&pair.b.addr, path));
        assert_eq!(
            (ra.status, ra.text().as_str()),
            (405, "Method Not Allowed\n"),
            "{path}"
        );
        assert_eq!(ra.header("content-type"), Some("text/plain; charset=utf-8"));
        let want =
            json!({"error": "Method Not Allowed", "code": 12, "message": "Method Not Allowed"});
        assert_eq!((rb.status, rb.json()), (405, Some(want)), "{path}");
        assert_eq!(
            rb.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        assert_eq!(rb.header("allow"), Some("POST"), "{path}");
    }
}

/// Tokens on the WebSocket handshake, with auth enabled: ours accepts the `Bearer, <token>`
/// subprotocol (and selects `Bearer`), the `token` cookie and a plain `Authorization` header.
/// etcd's gateway in front of the same etcd is asked the same watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_on_the_handshake() {
    let etcd = Etcd::start(V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    let mut masker = Masker::new();
    let list = http::post(&etcd.addr(), "/v3/cluster/member/list", "{}").await;
    let member = list.expect_json()["members"][0]["ID"]
        .as_str()
        .expect("ID")
        .to_owned();
    masker.seed_id(&member, "<member g1>");
    for (path, body) in [
        ("/v3/kv/put", put("foo", "bar").as_str()),
        ("/v3/auth/user/add", r#"{"name":"root","password":"pw"}"#),
        ("/v3/auth/role/add", r#"{"name":"root"}"#),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/enable", "{}"),
    ] {
        let reply = http::post(&etcd.addr(), path, body).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.describe());
    }
    let reply = http::post(
        &etcd.addr(),
        "/v3/auth/authenticate",
        r#"{"name":"root","password":"pw"}"#,
    )
    .await;
    let token = reply.expect_json()["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let subprotocol = format!("Bearer, {token}");
    let cookie = format!("token={token}");
    let ways: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "subprotocol",
            vec![("sec-websocket-protocol", subprotocol.as_str())],
        ),
        ("cookie", vec![("cookie", cookie.as_str())]),
        ("authorization", vec![("authorization", token.as_str())]),
        ("none", vec![]),
    ];
    let watch = create_request(json!({"key": b64("foo")}));
    // etcd 3.5.1 creates and cancels a watch it does not permit (no token, or an unknown one
    // such as `Bearer <token>`, which it does not strip).
    let refused = result(json!({"header": h(2), "created": true, "canceled": true,
        "cancel_reason": "rpc error: code = PermissionDenied desc = etcdserver: permission denied"}));
    for (way, headers) in &ways {
        let (socket, response) = ws_connect(&gateway.addr, "/v3/watch", headers)
            .await
            .unwrap_or_else(|e| panic!("{way}: {e}"));
        let mut socket = socket;
        let protocol = response.headers().get("sec-websocket-protocol");
        let want_protocol = (*way == "subprotocol").then_some("Bearer");
        assert_eq!(
            protocol.and_then(|v| v.to_str().ok()),
            want_protocol,
            "ours {way}"
        );
        ws_send(&mut socket, &watch).await;
        let answer = masker.mask(&parse(&ws_text(&mut socket, way).await));
        let want = if *way == "none" {
            refused.clone()
        } else {
            result(json!({"header": h(2), "created": true}))
        };
        assert_eq!(answer, want, "ours, watch, token by {way}");

        let mut socket = connect(&gateway.addr, "/v3/kv/range", headers).await;
        ws_send(&mut socket, r#"{"key":"Zm9v"}"#).await;
        let answer = masker.mask(&parse(&ws_text(&mut socket, way).await));
        let want = if *way == "none" {
            json!({"error": "etcdserver: user name is empty", "code": 3,
                "message": "etcdserver: user name is empty"})
        } else {
            json!({"header": h(2), "kvs": [kv("foo", "bar", 2, 2, 1)], "count": "1"})
        };
        assert_eq!(answer, want, "ours, range, token by {way}");

        // etcd's gateway (`ws-bearer`, `ws-authorization`).
        let (socket, response) = ws_connect(&etcd.addr(), "/v3/watch", headers)
            .await
            .unwrap_or_else(|e| panic!("etcd {way}: {e}"));
        let mut socket = socket;
        let protocol = response.headers().get("sec-websocket-protocol");
        assert_eq!(
            protocol.and_then(|v| v.to_str().ok()),
            want_protocol,
            "etcd {way}"
        );
        ws_send(&mut socket, &watch).await;
        let answer = masker.mask(&parse(&ws_text(&mut socket, way).await));
        assert_eq!(answer, refused, "etcd, watch, token by {way}");
    }
}

/// Closing a WebSocket (close handshake or dropped connection) cancels the upstream watch; a
/// cancel request on the socket removes the watcher but keeps the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_socket_cancels_the_upstream_watch() {
    let etcd = Etcd::start(V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    assert_eq!(watch_gauges(&etcd).await, (0, 0));
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut socket = connect(&gateway.addr, "/v3/watch", &[]).await;
        ws_send(&mut socket, &create_request(json!({"key": b64("foo")}))).await;
        let created = parse(&ws_text(&mut socket, "created").await);
        assert_eq!(created["result"]["created"], json!(true), "{created}");
        sockets.push(socket);
    }
    await_watch_gauges(&etcd, (3, 3), MESSAGE_TIMEOUT).await;
    let prompt = Duration::from_secs(2);

    // A close handshake: ours answers the close frame.
    let mut closing = sockets.pop().expect("socket");
    tokio::time::timeout(MESSAGE_TIMEOUT, closing.close(None))
        .await
        .expect("close in time")
        .expect("close");
    assert_eq!(
        ws_next(&mut closing, MESSAGE_TIMEOUT).await,
        WsEvent::Closed
    );
    await_watch_gauges(&etcd, (2, 2), prompt).await;

    // The connection dropped without a close frame.
    drop(sockets.pop());
    await_watch_gauges(&etcd, (1, 1), prompt).await;

    // Cancel on the socket, then close it.
    let mut last = sockets.pop().expect("socket");
    ws_send(&mut last, r#"{"cancel_request":{"watch_id":0}}"#).await;
    let canceled = parse(&ws_text(&mut last, "canceled").await);
    assert_eq!(canceled["result"]["canceled"], json!(true), "{canceled}");
    await_watch_gauges(&etcd, (0, 1), prompt).await;
    drop(last);
    await_watch_gauges(&etcd, (0, 0), prompt).await;
}
