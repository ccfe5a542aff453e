//! Every route of the gateway is served by the embedded store: each of etcd's 51 HTTP bindings
//! (44 in `rpc.proto`, 5 in `v3election.proto`, 2 in `v3lock.proto`: the count of etcd main's
//! annotations), under `/v3/` and the legacy `/v3beta/` and `/v3alpha/` prefixes, answers
//! something other than 501 `Unimplemented`.
//!
//! The bindings are read from the gateway's own merged `/swagger.json`, which the generator
//! writes from the same bindings the router serves; the count is asserted so that a binding
//! missing from the document cannot shrink the walk.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// etcd main's HTTP bindings: 44 + 5 + 2 (see the module documentation).
const ETCD_BINDINGS: usize = 51;

/// The prefixes every binding is served under.
const PREFIXES: [&str; 3] = ["/v3/", "/v3beta/", "/v3alpha/"];

/// How long a route may take to send its response head. Streams (watch, keepalive, snapshot,
/// observe) and calls that wait (campaign, lock) answer their head at once or not at all within
/// this time; either way they did not answer 501.
const HEAD_WAIT: Duration = Duration::from_secs(3);

/// Sends `POST path` with `body` and returns the response status, or `None` when no response
/// head arrived within [`HEAD_WAIT`] (a waiting call).
async fn status_of(addr: &str, method: &str, path: &str, body: &'static str) -> Option<u16> {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    let conn = tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid request");
    let status = match tokio::time::timeout(HEAD_WAIT, sender.send_request(request)).await {
        Ok(Ok(response)) => Some(response.status().as_u16()),
        Ok(Err(err)) => panic!("{method} {path}: {err}"),
        Err(_) => None,
    };
    conn.abort();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_answers_501() {
    let gateway = support::Gateway::start_embedded().await;
    let swagger: Value = support::http::get(&gateway.addr, "/swagger.json")
        .await
        .expect_json();
    let mut bindings = Vec::new();
    for (path, item) in swagger["paths"].as_object().expect("swagger paths") {
        for method in item.as_object().expect("a path item").keys() {
            bindings.push((method.to_uppercase(), path.clone()));
        }
    }
    assert_eq!(
        bindings.len(),
        ETCD_BINDINGS,
        "bindings in /swagger.json: {bindings:?}"
    );

    let mut answered = 0;
    let mut unimplemented = Vec::new();
    for (method, path) in &bindings {
        let rest = path
            .strip_prefix("/v3/")
            .unwrap_or_else(|| panic!("{path} is not under /v3/"));
        for prefix in PREFIXES {
            let route = format!("{prefix}{rest}");
            match status_of(&gateway.addr, method, &route, "{}").await {
                Some(501) => unimplemented.push(format!("{method} {route}")),
                Some(_) => answered += 1,
                None => {}
            }
        }
    }
    assert!(
        unimplemented.is_empty(),
        "routes answering 501 on the embedded store:\n{}",
        unimplemented.join("\n")
    );
    // Only the calls that wait by design may leave the head unanswered: at most campaign, lock
    // and observe on each prefix.
    assert!(
        answered >= (ETCD_BINDINGS - 3) * PREFIXES.len(),
        "only {answered} of {} requests were answered",
        ETCD_BINDINGS * PREFIXES.len()
    );
}
