//! The `etcd-client` crate (etcd's Rust gRPC client, whose protos `proto/` comes from) against
//! the embedded store served over gRPC in this process: put, get, prefix, delete, txn, lease
//! with keepalive, watch and compaction errors, each answer asserted as etcd 3.5 gives it.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, EventType, GetOptions, PutOptions, Txn, TxnOp, WatchStream,
};
use etcd_gateway::embedded::Embedded;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// Serves a fresh embedded store on a free loopback port; returns its endpoint and the store
/// (kept alive by the caller) with its data directory.
async fn serve() -> (String, Embedded, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("local addr"));
    let embedded = Embedded::open(dir.path().join("data"), "default", vec![endpoint.clone()])
        .expect("open the embedded store");
    let routes = embedded.routes();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("serve gRPC");
    });
    (endpoint, embedded, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_client_against_the_embedded_store() {
    let (endpoint, _embedded, _dir) = serve().await;
    let mut client = Client::connect([endpoint], None).await.expect("connect");

    // Put and get: revisions count from 1, as in a fresh etcd.
    client.put("/rs/a", "1", None).await.expect("put a");
    client.put("/rs/b", "2", None).await.expect("put b");
    let got = client.get("/rs/a", None).await.expect("get a");
    let kv = &got.kvs()[0];
    assert_eq!(
        (
            kv.key(),
            kv.value(),
            kv.version(),
            kv.create_revision(),
            kv.mod_revision()
        ),
        (&b"/rs/a"[..], &b"1"[..], 1, 2, 2)
    );
    assert_eq!(got.header().expect("header").revision(), 3);
    assert!(
        client
            .get("/rs/none", None)
            .await
            .expect("get none")
            .kvs()
            .is_empty()
    );

    // Prefix range and count.
    let prefix = client
        .get("/rs/", Some(GetOptions::new().with_prefix()))
        .await
        .expect("prefix");
    let pairs: Vec<_> = prefix
        .kvs()
        .iter()
        .map(|kv| (kv.key(), kv.value()))
        .collect();
    assert_eq!(
        pairs,
        [(&b"/rs/a"[..], &b"1"[..]), (&b"/rs/b"[..], &b"2"[..])]
    );
    let count = client
        .get(
            "/rs/",
            Some(GetOptions::new().with_prefix().with_count_only()),
        )
        .await
        .expect("count");
    assert_eq!((count.count(), count.kvs().len()), (2, 0));

    // Txn: both branches.
    let txn = Txn::new()
        .when([Compare::value("/rs/a", CompareOp::Equal, "1")])
        .and_then([TxnOp::put("/rs/c", "3", None), TxnOp::get("/rs/b", None)]);
    let answer = client.txn(txn).await.expect("txn");
    assert!(answer.succeeded());
    assert_eq!(answer.op_responses().len(), 2);
    let txn = Txn::new()
        .when([Compare::version("/rs/a", CompareOp::Greater, 5)])
        .or_else([TxnOp::delete("/rs/c", None)]);
    assert!(!client.txn(txn).await.expect("txn else").succeeded());
    assert!(
        client
            .get("/rs/c", None)
            .await
            .expect("get c")
            .kvs()
            .is_empty()
    );

    // Lease: grant, attach, keepalive, time to live with keys, revoke deletes the key.
    let lease = client.lease_grant(30, None).await.expect("grant");
    assert_eq!(lease.ttl(), 30);
    client
        .put(
            "/rs/leased",
            "x",
            Some(PutOptions::new().with_lease(lease.id())),
        )
        .await
        .expect("put leased");
    let (mut keeper, mut responses) = client
        .lease_keep_alive(lease.id())
        .await
        .expect("keepalive");
    keeper.keep_alive().await.expect("send keepalive");
    let renewed = responses
        .message()
        .await
        .expect("keepalive answer")
        .expect("an answer");
    assert_eq!((renewed.id(), renewed.ttl()), (lease.id(), 30));
    let ttl = client
        .lease_time_to_live(
            lease.id(),
            Some(etcd_client::LeaseTimeToLiveOptions::new().with_keys()),
        )
        .await
        .expect("time to live");
    assert_eq!(
        (ttl.granted_ttl(), ttl.keys()),
        (30, &[b"/rs/leased".to_vec()][..])
    );
    assert!(ttl.ttl() > 0 && ttl.ttl() <= 30);
    client.lease_revoke(lease.id()).await.expect("revoke");
    assert!(
        client
            .get("/rs/leased", None)
            .await
            .expect("get leased")
            .kvs()
            .is_empty()
    );

    // Watch: created, then the put's event.
    let mut stream = client.watch("/rs/w", None).await.expect("watch");
    let created = next_watch_message(&mut stream).await;
    assert!(created.created() && created.events().is_empty());
    client.put("/rs/w", "v", None).await.expect("put w");
    let message = next_watch_message(&mut stream).await;
    let event = &message.events()[0];
    let kv = event.kv().expect("event kv");
    assert_eq!(
        (event.event_type(), kv.key(), kv.value(), kv.mod_revision()),
        (EventType::Put, &b"/rs/w"[..], &b"v"[..], 8)
    );
    stream
        .cancel(message.watch_id())
        .await
        .expect("cancel watch");

    // Delete, then compaction and its errors.
    let deleted = client.delete("/rs/a", None).await.expect("delete");
    assert_eq!(deleted.deleted(), 1);
    let put = client.put("/rs/z", "last", None).await.expect("put z");
    let revision = put.header().expect("header").revision();
    client.compact(revision, None).await.expect("compact");
    let compacted = (
        tonic::Code::OutOfRange,
        "etcdserver: mvcc: required revision has been compacted".to_owned(),
    );
    let err = client
        .compact(1, None)
        .await
        .expect_err("compacted revision");
    assert_eq!(status_of(err), compacted);
    let err = client
        .get("/rs/b", Some(GetOptions::new().with_revision(1)))
        .await
        .expect_err("range at a compacted revision");
    assert_eq!(status_of(err), compacted);
    let err = client
        .compact(revision + 100, None)
        .await
        .expect_err("future revision");
    assert_eq!(
        status_of(err),
        (
            tonic::Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision".to_owned()
        )
    );
}

/// The next message of a watch stream, within 10 s.
async fn next_watch_message(stream: &mut WatchStream) -> etcd_client::WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a watch message in time")
        .expect("the watch stream")
        .expect("a message")
}

/// The gRPC status of a failed call.
fn status_of(err: etcd_client::Error) -> (tonic::Code, String) {
    match err {
        etcd_client::Error::GRpcStatus(status) => (status.code(), status.message().to_owned()),
        other => panic!("expected a gRPC status, got {other}"),
    }
}
