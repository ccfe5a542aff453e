//! `GET /version` and `GET /health` of our gateway against etcd's own, for both versions.
//!
//! | etcd | etcd's `/health` | ours |
//! |------|------------------|------|
//! | 3.4.23 | `{"health":"true"}` | `{"health":"true","reason":""}` (etcd 3.5's body) |
//! | 3.5.1 | `{"health":"true","reason":""}` | `{"health":"true","reason":""}` |
//!
//! `/version` is passed through: ours must equal etcd's exactly.

mod support;

use serde_json::json;
use support::http::{self, Reply};
use support::{Etcd, EtcdVersion, Gateway};

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

async fn check(version: EtcdVersion) {
    let mut etcd = Etcd::start(version).await;
    let mut gateway = Gateway::start(&etcd.client_url()).await;

    let theirs = http::get(&etcd.addr(), "/version").await;
    let ours = http::get(&gateway.addr, "/version").await;
    let expected =
        json!({"etcdserver": version.version(), "etcdcluster": version.cluster_version()});
    assert_eq!(
        (theirs.status, theirs.json()),
        (200, Some(expected.clone())),
        "etcd /version"
    );
    assert_eq!(
        (ours.status, ours.json()),
        (200, Some(expected)),
        "our /version: {}",
        ours.describe()
    );
    assert_eq!(ours.header("content-type"), Some("application/json"));
    assert_cors(&ours, "/version");

    let theirs = http::get(&etcd.addr(), "/health").await;
    let etcd_health = match version {
        EtcdVersion::V3_4 => json!({"health": "true"}),
        EtcdVersion::V3_5 => json!({"health": "true", "reason": ""}),
    };
    assert_eq!(
        (theirs.status, theirs.json()),
        (200, Some(etcd_health)),
        "etcd /health"
    );
    let ours = http::get(&gateway.addr, "/health").await;
    assert_eq!(
        (ours.status, ours.json()),
        (200, Some(json!({"health": "true", "reason": ""}))),
        "our /health (etcd 3.5's body, also in front of 3.4): {}",
        ours.describe()
    );
    assert_cors(&ours, "/health");

    // Upstream gone: unhealthy, with a reason, and the gateway keeps running.
    etcd.stop();
    let ours = http::get(&gateway.addr, "/health").await;
    assert_eq!(
        ours.status,
        503,
        "/health with etcd down: {}",
        ours.describe()
    );
    let body = ours.expect_json();
    assert_eq!(body["health"], json!("false"), "{body}");
    assert!(
        body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "no reason: {body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
    assert_cors(&ours, "/health with etcd down");
    assert!(
        gateway.is_alive(),
        "gateway exited:\n{}",
        gateway.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_health_etcd_3_5() {
    check(EtcdVersion::V3_5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_health_etcd_3_4() {
    check(EtcdVersion::V3_4).await;
}
