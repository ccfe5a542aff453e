//! The binary without `--endpoints`: the embedded store behind the JSON gateway, and etcd's
//! native gRPC API on the same port (a tonic client and `etcdctl`), across a restart.
//!
//! The `etcdctl` test needs `/usr/bin/etcdctl` (Debian's `etcd-client` package).

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::Gateway;
use support::http;

use etcd_gateway::etcdserverpb::auth_client::AuthClient;
use etcd_gateway::etcdserverpb::cluster_client::ClusterClient;
use etcd_gateway::etcdserverpb::kv_client::KvClient;
use etcd_gateway::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_gateway::etcdserverpb::watch_client::WatchClient;
use etcd_gateway::etcdserverpb::watch_request::RequestUnion;
use etcd_gateway::etcdserverpb::{
    AuthEnableRequest, MemberListRequest, PutRequest, RangeRequest, StatusRequest,
    WatchCreateRequest, WatchRequest,
};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Starts the binary on the embedded store in `data_dir`.
async fn start(data_dir: &Path) -> Gateway {
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    Gateway::start_with_args(&["--data-dir", data_dir]).await
}

fn temp_data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("etcd-gw-test-embedded-")
        .tempdir()
        .expect("create temp dir")
}

/// `POST path` with a JSON body; returns the status and the JSON answer.
async fn post(gateway: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let reply = http::post(&gateway.addr, path, &body.to_string()).await;
    (reply.status, reply.expect_json())
}

/// The member's ids as the JSON gateway prints them, read from a range's header.
async fn ids(gateway: &Gateway) -> (String, String) {
    let (status, body) = post(gateway, "/v3/kv/range", json!({"key": "AA=="})).await;
    assert_eq!(status, 200, "{body}");
    let id = |name: &str| {
        body["header"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {body}"))
            .to_owned()
    };
    (id("cluster_id"), id("member_id"))
}

/// The JSON header of a response at `revision`.
fn header((cluster_id, member_id): &(String, String), revision: u64) -> Value {
    json!({
        "cluster_id": cluster_id,
        "member_id": member_id,
        "revision": revision.to_string(),
        "raft_term": "2",
    })
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread")]
async fn json_gateway_on_the_embedded_store() {
    let data_dir = temp_data_dir();
    let gateway = start(data_dir.path()).await;
    let ids = ids(&gateway).await;
    let foo = b64("foo");

    let put = post(
        &gateway,
        "/v3/kv/put",
        json!({"key": foo, "value": b64("bar")}),
    )
    .await;
    assert_eq!(put, (200, json!({"header": header(&ids, 2)})));

    let range = post(&gateway, "/v3/kv/range", json!({"key": foo})).await;
    assert_eq!(
        range,
        (
            200,
            json!({
                "header": header(&ids, 2),
                "kvs": [{
                    "key": foo,
                    "create_revision": "2",
                    "mod_revision": "2",
                    "version": "1",
                    "value": b64("bar"),
                }],
                "count": "1",
            })
        )
    );

    let txn = post(
        &gateway,
        "/v3/kv/txn",
        json!({
            "compare": [{"key": foo, "result": "EQUAL", "target": "VALUE", "value": b64("bar")}],
            "success": [{"request_put": {"key": foo, "value": b64("baz"), "prev_kv": true}}],
            "failure": [{"request_range": {"key": foo}}],
        }),
    )
    .await;
    assert_eq!(
        txn,
        (
            200,
            json!({
                "header": header(&ids, 3),
                "succeeded": true,
                "responses": [{"response_put": {
                    "header": {"revision": "3"},
                    "prev_kv": {
                        "key": foo,
                        "create_revision": "2",
                        "mod_revision": "2",
                        "version": "1",
                        "value": b64("bar"),
                    },
                }}],
            })
        )
    );

    let delete = post(
        &gateway,
        "/v3/kv/deleterange",
        json!({"key": foo, "prev_kv": true}),
    )
    .await;
    assert_eq!(
        delete,
        (
            200,
            json!({
                "header": header(&ids, 4),
                "deleted": "1",
                "prev_kvs": [{
                    "key": foo,
                    "create_revision": "2",
                    "mod_revision": "3",
                    "version": "2",
                    "value": b64("baz"),
                }],
            })
        )
    );

    let message = "etcdserver: mvcc: required revision is a future revision";
    let compaction = post(&gateway, "/v3/kv/compaction", json!({"revision": "5"})).await;
    assert_eq!(
        compaction,
        (
            400,
            json!({"error": message, "code": 11, "message": message})
        )
    );

    let version = http::get(&gateway.addr, "/version").await;
    assert_eq!(
        (version.status, version.text()),
        (
            200,
            r#"{"etcdserver":"3.5.0","etcdcluster":"3.5.0"}"#.to_owned()
        )
    );
    let health = http::get(&gateway.addr, "/health").await;
    assert_eq!(
        (health.status, health.text()),
        (200, r#"{"health":"true","reason":""}"#.to_owned())
    );

    let status = post(&gateway, "/v3/maintenance/status", json!({})).await;
    assert_eq!(status.0, 200, "{}", status.1);
    assert_eq!(status.1["header"], header(&ids, 4));
    assert_eq!(status.1["version"], "3.5.0");
    assert_eq!(status.1["leader"], ids.1.as_str());
    assert_eq!(status.1["raftIndex"], "4");
    assert_eq!(status.1["raftAppliedIndex"], "4");
    assert_eq!(status.1["raftTerm"], "2");
    let db_size = std::fs::metadata(data_dir.path().join("db")).unwrap().len();
    assert_eq!(status.1["dbSize"], db_size.to_string());

    let members = post(&gateway, "/v3/cluster/member/list", json!({})).await;
    assert_eq!(
        members,
        (
            200,
            json!({
                // Cluster responses carry no revision, as in etcd.
                "header": {"cluster_id": ids.0, "member_id": ids.1, "raft_term": "2"},
                "members": [{
                    "ID": ids.1,
                    "name": "default",
                    "peerURLs": ["http://localhost:2380"],
                    "clientURLs": [format!("http://{}", gateway.addr)],
                }],
            })
        )
    );

    // Leases: granted, and usable by a put.
    let (status, lease) = post(&gateway, "/v3/lease/grant", json!({"TTL": "60"})).await;
    assert_eq!(status, 200, "{lease}");
    assert_eq!(
        (&lease["header"], &lease["TTL"]),
        (&header(&ids, 4), &json!("60"))
    );
    let put = post(
        &gateway,
        "/v3/kv/put",
        json!({"key": b64("leased"), "value": b64("v"), "lease": lease["ID"]}),
    )
    .await;
    assert_eq!(put, (200, json!({"header": header(&ids, 5)})));

    // Auth cannot be enabled before the root user exists (etcd 3.5.1
    // api/v3rpc/rpctypes/error.go: ErrGRPCRootUserNotExist, FailedPrecondition → 400).
    let (status, body) = post(&gateway, "/v3/auth/enable", json!({})).await;
    let message = "etcdserver: root user does not exist";
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": message, "code": 9, "message": message})
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn native_grpc_on_the_same_port() {
    let data_dir = temp_data_dir();
    let gateway = start(data_dir.path()).await;
    let url = format!("http://{}", gateway.addr);
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .expect("connect the gRPC client");
    let mut kv = KvClient::new(channel.clone());

    // A watch stream over the same connection sees the writes below.
    let (watch_tx, watch_rx) = tokio::sync::mpsc::channel(1);
    watch_tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: b"grpc".to_vec(),
                ..Default::default()
            })),
        })
        .await
        .unwrap();
    let mut watch = WatchClient::new(channel.clone())
        .watch(tokio_stream_of(watch_rx))
        .await
        .expect("gRPC watch")
        .into_inner();
    let created = watch
        .message()
        .await
        .expect("watch stream")
        .expect("created");
    assert!(created.created, "{created:?}");

    let put = kv
        .put(PutRequest {
            key: b"grpc".to_vec(),
            value: b"native".to_vec(),
            ..Default::default()
        })
        .await
        .expect("gRPC put")
        .into_inner();
    let header = put.header.expect("put header");
    assert_eq!(header.revision, 2);
    assert_eq!(header.raft_term, 2);

    let range = kv
        .range(RangeRequest {
            key: b"grpc".to_vec(),
            ..Default::default()
        })
        .await
        .expect("gRPC range")
        .into_inner();
    assert_eq!(range.header, Some(header));
    assert_eq!(range.count, 1);
    let kv0 = &range.kvs[0];
    assert_eq!(
        (
            kv0.key.as_slice(),
            kv0.value.as_slice(),
            kv0.create_revision,
            kv0.mod_revision,
            kv0.version
        ),
        (&b"grpc"[..], &b"native"[..], 2, 2, 1)
    );

    let event = watch.message().await.expect("watch stream").expect("event");
    assert_eq!(event.events.len(), 1, "{event:?}");
    let event_kv = event.events[0].kv.as_ref().expect("event kv");
    assert_eq!(
        (event_kv.value.as_slice(), event_kv.mod_revision),
        (&b"native"[..], 2)
    );
    drop(watch_tx);

    // The JSON gateway sees the write made over gRPC, with the same ids.
    let ids = (header.cluster_id.to_string(), header.member_id.to_string());
    let json_range = post(&gateway, "/v3/kv/range", json!({"key": b64("grpc")})).await;
    assert_eq!(
        json_range,
        (
            200,
            json!({
                "header": crate::header(&ids, 2),
                "kvs": [{
                    "key": b64("grpc"),
                    "create_revision": "2",
                    "mod_revision": "2",
                    "version": "1",
                    "value": b64("native"),
                }],
                "count": "1",
            })
        )
    );
    // ... and the other way round.
    let json_put = post(
        &gateway,
        "/v3/kv/put",
        json!({"key": b64("json"), "value": b64("gateway")}),
    )
    .await;
    assert_eq!(json_put, (200, json!({"header": crate::header(&ids, 3)})));
    let range = kv
        .range(RangeRequest {
            key: b"json".to_vec(),
            ..Default::default()
        })
        .await
        .expect("gRPC range")
        .into_inner();
    assert_eq!(range.kvs.len(), 1);
    assert_eq!(range.kvs[0].value, b"gateway");
    assert_eq!(range.kvs[0].mod_revision, 3);

    let status = MaintenanceClient::new(channel.clone())
        .status(StatusRequest {})
        .await
        .expect("gRPC status")
        .into_inner();
    assert_eq!(
        (
            status.version.as_str(),
            status.leader,
            status.raft_index,
            status.raft_applied_index
        ),
        ("3.5.0", header.member_id, 3, 3)
    );

    let members = ClusterClient::new(channel.clone())
        .member_list(MemberListRequest::default())
        .await
        .expect("gRPC member list")
        .into_inner();
    assert_eq!(members.members.len(), 1);
    let member = &members.members[0];
    assert_eq!(member.id, header.member_id);
    assert_eq!(member.name, "default");
    assert_eq!(member.client_ur_ls, vec![url.clone()]);

    let err = AuthClient::new(channel)
        .auth_enable(AuthEnableRequest {})
        .await
        .expect_err("AuthEnable needs the root user");
    assert_eq!(
        (err.code(), err.message()),
        (
            tonic::Code::FailedPrecondition,
            "etcdserver: root user does not exist"
        )
    );

    // A JSON request over HTTP/2 (prior knowledge) still goes to the gateway.
    let reply = h2c_post(&gateway.addr, "/v3/kv/range", &json!({"key": b64("grpc")})).await;
    assert_eq!(reply["kvs"][0]["value"], b64("native"));
}

/// The requests sent on `rx`, as a request stream.
fn tokio_stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `POST` over cleartext HTTP/2 with prior knowledge and `content-type: application/json`.
async fn h2c_post(addr: &str, path: &str, body: &Value) -> Value {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);
    let request = hyper::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.expect("h2c request");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).expect("JSON answer")
}

/// Runs `etcdctl` (API v3) against `addr`; returns its stdout, panicking unless it succeeds.
fn etcdctl(addr: &str, args: &[&str]) -> String {
    assert!(
        Path::new(ETCDCTL).exists(),
        "{ETCDCTL} is missing: install Debian's etcd-client package (apt-get install etcd-client)"
    );
    let output = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={addr}"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {ETCDCTL}: {e}"));
    assert!(
        output.status.success(),
        "etcdctl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread")]
async fn etcdctl_against_the_embedded_store() {
    let data_dir = temp_data_dir();
    let gateway = start(data_dir.path()).await;
    let addr = gateway.addr.clone();
    let (put, get) = tokio::task::spawn_blocking(move || {
        (
            etcdctl(&addr, &["put", "k", "v"]),
            etcdctl(&addr, &["get", "k"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(put, "OK\n");
    assert_eq!(get, "k\nv\n");

    // etcdctl's write is visible through the JSON gateway.
    let (status, body) = post(&gateway, "/v3/kv/range", json!({"key": b64("k")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kvs"][0]["value"], b64("v"));
    assert_eq!(body["header"]["revision"], "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_and_revision_survive_a_restart() {
    let data_dir = temp_data_dir();
    let gateway = start(data_dir.path()).await;
    let ids = ids(&gateway).await;
    for (key, value) in [("a", "1"), ("b", "2"), ("a", "3")] {
        let put = post(
            &gateway,
            "/v3/kv/put",
            json!({"key": b64(key), "value": b64(value)}),
        )
        .await;
        assert_eq!(put.0, 200, "{}", put.1);
    }
    let before = post(
        &gateway,
        "/v3/kv/range",
        json!({"key": "AA==", "range_end": "AA=="}),
    )
    .await;
    drop(gateway); // SIGKILL: no orderly shutdown

    let gateway = start(data_dir.path()).await;
    let after = post(
        &gateway,
        "/v3/kv/range",
        json!({"key": "AA==", "range_end": "AA=="}),
    )
    .await;
    assert_eq!(after, before);
    assert_eq!(
        after,
        (
            200,
            json!({
                "header": header(&ids, 4),
                "kvs": [
                    {
                        "key": b64("a"),
                        "create_revision": "2",
                        "mod_revision": "4",
                        "version": "2",
                        "value": b64("3"),
                    },
                    {
                        "key": b64("b"),
                        "create_revision": "3",
                        "mod_revision": "3",
                        "version": "1",
                        "value": b64("2"),
                    },
                ],
                "count": "2",
            })
        )
    );
    let put = post(
        &gateway,
        "/v3/kv/put",
        json!({"key": b64("c"), "value": b64("4")}),
    )
    .await;
    assert_eq!(put, (200, json!({"header": header(&ids, 5)})));
}
