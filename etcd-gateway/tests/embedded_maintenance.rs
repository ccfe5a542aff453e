//! The Maintenance service of the embedded store, against etcd 3.5.1 where the answers can
//! be compared:
//!
//! - `HashKV` gives etcd's hash for the same writes (puts, deletes, txns, leases,
//!   compaction), read through etcd's native gRPC (3.5.1's gateway has no `hashkv` route);
//! - `MoveLeader` and `Downgrade` answer as a single 3.5.1 member does;
//! - `Status`' `dbSizeInUse` drops after a compaction, `Defragment` shrinks the file;
//! - a snapshot read from `/v3/maintenance/snapshot` has etcd's framing and restores with
//!   `etcd-gateway snapshot restore` into a data directory the gateway starts from.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::etcd::{Etcd, EtcdVersion};
use support::http;
use support::http_stream::{Stream, parse};
use support::{Gateway, json::error_body};
use tonic::transport::Channel;

use etcd_gateway::embedded::snapshot::{CHECKSUM_BYTES, SNAPSHOT_CHUNK_BYTES, sha256_of};
use etcd_gateway::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_gateway::etcdserverpb::kv_client::KvClient;
use etcd_gateway::etcdserverpb::lease_client::LeaseClient;
use etcd_gateway::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_gateway::etcdserverpb::request_op::Request as Op;
use etcd_gateway::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, HashKvRequest, HashKvResponse,
    LeaseGrantRequest, PutRequest, RequestOp, TxnRequest,
};

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .expect("a valid URL")
        .connect()
        .await
        .unwrap_or_else(|err| panic!("connect to {url}: {err}"))
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("etcd-gw-test-maintenance-")
        .tempdir()
        .expect("create temp dir")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..PutRequest::default()
    }
}

/// One write of the sequence both stores get.
#[derive(Clone, Debug)]
enum Step {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Grant(i64),
    Compact(i64),
}

/// Puts, overwrites, deletes (single and range), txns taking both branches, a key with a
/// lease, compactions: everything that shapes etcd's `key` bucket.
fn steps() -> Vec<Step> {
    let compare_version = |key: &str, version: i64| Compare {
        key: key.into(),
        result: CompareResult::Equal as i32,
        target: CompareTarget::Version as i32,
        target_union: Some(TargetUnion::Version(version)),
        ..Compare::default()
    };
    let txn = |compare: Compare| TxnRequest {
        compare: vec![compare],
        success: vec![
            RequestOp {
                request: Some(Op::RequestPut(put("t/c", "from txn"))),
            },
            RequestOp {
                request: Some(Op::RequestPut(put("t/d", "from txn"))),
            },
            RequestOp {
                request: Some(Op::RequestDeleteRange(DeleteRangeRequest {
                    key: "a".into(),
                    ..DeleteRangeRequest::default()
                })),
            },
        ],
        failure: vec![RequestOp {
            request: Some(Op::RequestPut(put("t/failed", "x"))),
        }],
    };
    vec![
        Step::Put(put("a", "1")),
        Step::Put(put("b", "2")),
        Step::Put(put("a", "3")),
        Step::Delete(DeleteRangeRequest {
            key: "b".into(),
            ..DeleteRangeRequest::default()
        }),
        Step::Txn(txn(compare_version("a", 2))),
        Step::Txn(txn(compare_version("a", 7))),
        Step::Grant(0x1234),
        Step::Put(PutRequest {
            lease: 0x1234,
            ..put("leased", "v")
        }),
        Step::Put(put("a", "again")),
        Step::Compact(5),
        Step::Put(put("t/c", "later")),
        Step::Delete(DeleteRangeRequest {
            key: "t/".into(),
            range_end: "t0".into(),
            prev_kv: true,
        }),
        Step::Put(put("b", "back")),
        Step::Compact(11),
        Step::Put(put("z", &"long value ".repeat(100))),
    ]
}

async fn apply(channel: &Channel, step: &Step) {
    let mut kv = KvClient::new(channel.clone());
    match step.clone() {
        Step::Put(request) => drop(kv.put(request).await.expect("put")),
        Step::Delete(request) => drop(kv.delete_range(request).await.expect("delete")),
        Step::Txn(request) => drop(kv.txn(request).await.expect("txn")),
        Step::Grant(id) => {
            let grant = LeaseGrantRequest { id, ttl: 600 };
            LeaseClient::new(channel.clone())
                .lease_grant(grant)
                .await
                .expect("lease grant");
        }
        Step::Compact(revision) => {
            let compact = CompactionRequest {
                revision,
                physical: true,
            };
            kv.compact(compact).await.expect("compact");
        }
    }
}

/// HashKV's answer without the member's ids: (hash, header revision, compact revision), or
/// the error's (code, message).
async fn hash_kv(channel: &Channel, revision: i64) -> Result<(u32, i64, i64), (i32, String)> {
    MaintenanceClient::new(channel.clone())
        .hash_kv(HashKvRequest { revision })
        .await
        .map(|reply| {
            let HashKvResponse {
                header,
                hash,
                compact_revision,
                ..
            } = reply.into_inner();
            (hash, header.expect("a header").revision, compact_revision)
        })
        .map_err(|status| (status.code() as i32, status.message().to_owned()))
}

/// etcd 3.5.1 `server/mvcc/kvstore.go` `HashByRev`: after every write of the same sequence,
/// HashKV at the current revision and at every earlier revision (hashes, or the
/// `required revision has been compacted` / `is a future revision` errors) are etcd's.
#[tokio::test(flavor = "multi_thread")]
async fn hash_kv_equals_etcd_3_5_1() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start_embedded().await;
    let theirs = channel(&etcd.client_url()).await;
    let ours = channel(&format!("http://{}", gateway.addr)).await;

    assert_eq!(
        hash_kv(&ours, 0).await,
        hash_kv(&theirs, 0).await,
        "empty store"
    );
    for (number, step) in steps().iter().enumerate() {
        apply(&theirs, step).await;
        apply(&ours, step).await;
        let expected = hash_kv(&theirs, 0).await;
        let (_, current, _) = expected.clone().expect("etcd hashes its current revision");
        for revision in 0..=current + 1 {
            assert_eq!(
                hash_kv(&ours, revision).await,
                hash_kv(&theirs, revision).await,
                "HashKV at {revision} after step {number} {step:?}"
            );
        }
    }

    // The JSON route answers the same hash.
    let expected = hash_kv(&ours, 0).await.expect("a hash");
    let reply = http::post(&gateway.addr, "/v3/maintenance/hashkv", "{}").await;
    let body = reply.expect_json();
    assert_eq!(reply.status, 200, "{body}");
    assert_eq!(body["hash"], json!(expected.0));
    assert_eq!(body["compact_revision"], json!(expected.2.to_string()));
    let compacted = http::post(
        &gateway.addr,
        "/v3/maintenance/hashkv",
        r#"{"revision": "3"}"#,
    )
    .await;
    assert_eq!(
        (compacted.status, compacted.expect_json()),
        (
            400,
            // etcd 3.5.1 api/v3rpc/rpctypes/error.go: ErrGRPCCompacted (OutOfRange).
            error_body(11, "etcdserver: mvcc: required revision has been compacted")
        )
    );
}

/// `POST path` with `body` on the gateway at `addr`; the status and the JSON answer with
/// the member's ids left out of the header.
async fn post_masked(addr: &str, path: &str, body: &Value) -> (u16, Value) {
    let reply = http::post(addr, path, &body.to_string()).await;
    let mut answer = reply.expect_json();
    if let Some(header) = answer.get_mut("header").and_then(Value::as_object_mut) {
        header.remove("cluster_id");
        header.remove("member_id");
    }
    // `Hash` hashes each store's own file, so only its presence is compared.
    if let Some(hash) = answer.get_mut("hash").filter(|_| path.ends_with("/hash")) {
        *hash = json!("<hash>");
    }
    (reply.status, answer)
}

/// The member id `Status` reports, as the JSON gateway prints it.
async fn member_id(addr: &str) -> String {
    let status = http::post(addr, "/v3/maintenance/status", "{}").await;
    status.expect_json()["header"]["member_id"]
        .as_str()
        .expect("a member id")
        .to_owned()
}

/// etcd 3.5.1 `maintenance.go` `MoveLeader`, `server.go` `MoveLeader` and `v3_server.go`
/// `Downgrade`, with `Defragment` and `Hash`: the answers of etcd's own gateway and ours,
/// equal but for the member ids and `Hash`'s value.
#[tokio::test(flavor = "multi_thread")]
async fn move_leader_and_downgrade_answer_as_a_single_etcd_member() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start_embedded().await;
    let targets = [etcd.addr(), gateway.addr.clone()];
    let mut answers: Vec<Vec<(u16, Value)>> = Vec::new();
    for addr in &targets {
        let own_id = member_id(addr).await;
        let requests = [
            (
                "/v3/maintenance/transfer-leadership",
                json!({"targetID": own_id}),
            ),
            (
                "/v3/maintenance/transfer-leadership",
                json!({"targetID": "12345"}),
            ),
            ("/v3/maintenance/transfer-leadership", json!({})),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "VALIDATE", "version": "3.4"}),
            ),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "VALIDATE", "version": "3.3"}),
            ),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "VALIDATE", "version": "three"}),
            ),
            ("/v3/maintenance/downgrade", json!({"action": "CANCEL"})),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "ENABLE", "version": "3.4.0"}),
            ),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "ENABLE", "version": "3.4"}),
            ),
            (
                "/v3/maintenance/downgrade",
                json!({"action": "VALIDATE", "version": "3.4"}),
            ),
            ("/v3/maintenance/downgrade", json!({"action": "CANCEL"})),
            ("/v3/maintenance/downgrade", json!({"action": "CANCEL"})),
            ("/v3/maintenance/defragment", json!({})),
            ("/v3/maintenance/hash", json!({})),
        ];
        let mut side = Vec::new();
        for (path, body) in &requests {
            side.push(post_masked(addr, path, body).await);
        }
        answers.push(side);
    }
    assert_eq!(
        answers[1], answers[0],
        "ours (left) against etcd 3.5.1 (right)"
    );
    // What etcd 3.5.1 answered, for the record.
    assert_eq!(answers[0][0], (200, json!({})));
    assert_eq!(
        answers[0][1],
        (400, error_body(9, "etcdserver: bad leader transferee"))
    );
    assert_eq!(answers[0][3].1["version"], json!("3.5.0"));
    // etcd 3.5.1 server/etcdserver/apply.go: DowngradeInfoSet is applied without a result,
    // so an enable (and a cancel) times out although it took effect.
    assert_eq!(
        answers[0][7],
        (503, error_body(14, "etcdserver: request timed out"))
    );
    assert_eq!(answers[0][12], (200, json!({})));
    assert_eq!(
        answers[0][13],
        (
            200,
            json!({"header": {"revision": "1", "raft_term": "2"}, "hash": "<hash>"})
        )
    );
    assert_eq!(
        answers[0][8].1,
        error_body(9, "etcdserver: cluster has a downgrade job in progress")
    );
}

/// `Status` of the gateway at `addr`: (dbSize, dbSizeInUse).
async fn db_sizes(addr: &str) -> (i64, i64) {
    let reply = http::post(addr, "/v3/maintenance/status", "{}").await;
    let body = reply.expect_json();
    let number = |name: &str| {
        body[name]
            .as_str()
            .and_then(|text| text.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no {name} in {body}"))
    };
    (number("dbSize"), number("dbSizeInUse"))
}

/// After many large values are written, deleted and compacted away, `dbSizeInUse` drops
/// below `dbSize`; `Defragment` (etcd's empty answer) brings the file down, and the store
/// keeps reading and writing.
#[tokio::test(flavor = "multi_thread")]
async fn defragment_shrinks_the_file_after_a_compaction() {
    let gateway = Gateway::start_embedded().await;
    let ours = channel(&format!("http://{}", gateway.addr)).await;
    let mut kv = KvClient::new(ours.clone());
    let big = "x".repeat(64 * 1024);
    for number in 0..160 {
        kv.put(put(&format!("big/{number:03}"), &big))
            .await
            .expect("put");
    }
    kv.put(put("kept", "small")).await.expect("put");
    let deleted = kv
        .delete_range(DeleteRangeRequest {
            key: "big/".into(),
            range_end: "big0".into(),
            ..DeleteRangeRequest::default()
        })
        .await
        .expect("delete")
        .into_inner();
    let revision = deleted.header.expect("a header").revision;
    kv.compact(CompactionRequest {
        revision,
        physical: true,
    })
    .await
    .expect("compact");

    let (size_before, in_use) = db_sizes(&gateway.addr).await;
    assert!(
        size_before > 10 << 20,
        "the file holds the values: {size_before}"
    );
    assert!(
        in_use < size_before / 4,
        "after the compaction {in_use} of {size_before} bytes are in use"
    );

    let defragment = http::post(&gateway.addr, "/v3/maintenance/defragment", "{}").await;
    assert_eq!(
        (defragment.status, defragment.expect_json()),
        (200, json!({}))
    );
    let (size_after, in_use_after) = db_sizes(&gateway.addr).await;
    assert!(
        size_after < size_before / 4,
        "defragmentation shrinks the file: {size_before} -> {size_after}"
    );
    assert!(in_use_after <= size_after, "{in_use_after} <= {size_after}");

    let range = http::post(
        &gateway.addr,
        "/v3/kv/range",
        &json!({"key": b64(b"kept")}).to_string(),
    )
    .await;
    assert_eq!(range.expect_json()["kvs"][0]["value"], json!(b64(b"small")));
    kv.put(put("after", "defragment"))
        .await
        .expect("a write after defragment");
}

/// Reads a streamed snapshot from the JSON gateway: the blobs of every message, checking
/// etcd 3.5.1's framing (`maintenance.go` `Snapshot`): 32 KiB blobs with the bytes still to
/// come, then the SHA-256 of them all with `remaining_bytes` 0; no header.
async fn read_snapshot(addr: &str) -> Vec<u8> {
    let mut stream = Stream::post(addr, "/v3/maintenance/snapshot", &[], "{}").await;
    assert_eq!(stream.status, 200);
    let mut messages: Vec<Value> = stream
        .read_to_end()
        .await
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| parse(line)["result"].clone())
        .collect();
    let checksum_message = messages.pop().expect("a checksum message");
    let decode = |message: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(message["blob"].as_str().expect("a blob"))
            .expect("base64")
    };
    let mut database = Vec::new();
    for message in &messages {
        assert!(message.get("header").is_none(), "{message}");
        let blob = decode(message);
        assert!(blob.len() <= SNAPSHOT_CHUNK_BYTES, "{}", blob.len());
        database.extend_from_slice(&blob);
    }
    let total = database.len() as u64;
    let mut sent = 0u64;
    for message in &messages {
        sent += decode(message).len() as u64;
        let remaining = message
            .get("remaining_bytes")
            .and_then(Value::as_str)
            .map_or(0, |text| text.parse::<u64>().expect("a number"));
        assert_eq!(remaining, total - sent, "{message}");
    }
    assert!(
        checksum_message
            .get("remaining_bytes")
            .is_none_or(|n| n == "0")
    );
    let checksum = decode(&checksum_message);
    assert_eq!(checksum.len(), CHECKSUM_BYTES);
    assert_eq!(checksum, sha256_of(&database).to_vec());
    database.extend_from_slice(&checksum);
    database
}

fn restore(file: &Path, data_dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(Gateway::binary())
        .args(["snapshot", "restore"])
        .arg(file)
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .output()
        .expect("run the restore")
}

/// A snapshot taken through the JSON gateway restores into a new data directory from
/// which the gateway serves the same keys at the same revisions (with new member ids); a
/// damaged file and an existing database are refused.
#[tokio::test(flavor = "multi_thread")]
async fn snapshot_restores_into_a_new_data_directory() {
    let gateway = Gateway::start_embedded().await;
    let ours = channel(&format!("http://{}", gateway.addr)).await;
    for step in steps() {
        apply(&ours, &step).await;
    }
    let mut kv = KvClient::new(ours.clone());
    for number in 0..40 {
        kv.put(put(&format!("many/{number}"), &"v".repeat(3000)))
            .await
            .expect("put");
    }
    let snapshot = read_snapshot(&gateway.addr).await;
    assert!(
        snapshot.len() > 2 * SNAPSHOT_CHUNK_BYTES,
        "{}",
        snapshot.len()
    );
    let everything = json!({"key": b64(b"\0"), "range_end": b64(b"\0")}).to_string();
    let before = http::post(&gateway.addr, "/v3/kv/range", &everything)
        .await
        .expect_json();
    let hash_before = hash_kv(&ours, 0).await.expect("a hash");

    let dir = temp_dir();
    let file = dir.path().join("snapshot.db");
    std::fs::write(&file, &snapshot).expect("write the snapshot");
    let data_dir = dir.path().join("restored");
    let restored = restore(&file, &data_dir, &[]);
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(stdout.starts_with("restored snapshot "), "{stdout}");

    let again = restore(&file, &data_dir, &[]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a database"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let mut damaged = snapshot.clone();
    damaged[100] ^= 0xff;
    let damaged_file = dir.path().join("damaged.db");
    std::fs::write(&damaged_file, &damaged).expect("write");
    let refused = restore(&damaged_file, &dir.path().join("other"), &[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("fails its integrity check"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let old_member = member_id(&gateway.addr).await;
    let data_dir = data_dir.to_str().expect("UTF-8 path");
    let from_snapshot = Gateway::start_with_args(&["--data-dir", data_dir]).await;
    let after = http::post(&from_snapshot.addr, "/v3/kv/range", &everything)
        .await
        .expect_json();
    assert_eq!(after["kvs"], before["kvs"]);
    assert_eq!(after["count"], before["count"]);
    assert_eq!(after["header"]["revision"], before["header"]["revision"]);
    assert_ne!(member_id(&from_snapshot.addr).await, old_member);
    let restored_channel = channel(&format!("http://{}", from_snapshot.addr)).await;
    assert_eq!(hash_kv(&restored_channel, 0).await, Ok(hash_before));
}
