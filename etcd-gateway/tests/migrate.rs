//! `etcd-gateway migrate`: an embedded store with history (overwrites, a deletion, a
//! compaction, leases) copied into a fresh etcd 3.5.1, checked through etcd's own JSON
//! gateway; and the refusals: a store in use, a target that already holds keys.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use support::http;
use support::{Etcd, EtcdVersion, Gateway};

/// The lease the copied keys are attached to, and its TTL.
const LEASE: i64 = 0x1234;
const LEASE_TTL: i64 = 300;
/// A lease without keys.
const EMPTY_LEASE: i64 = 0x5678;
const EMPTY_LEASE_TTL: i64 = 60;
/// Keys under `many/`: more than one txn of etcd's default 128 operations.
const MANY: usize = 300;

fn b64(data: impl AsRef<[u8]>) -> String {
    BASE64.encode(data)
}

/// `POST path` with a JSON body to `addr`; asserts a 200 and returns the JSON answer.
async fn post(addr: &str, path: &str, body: Value) -> Value {
    let reply = http::post(addr, path, &body.to_string()).await;
    assert_eq!(reply.status, 200, "{path} {body}: {}", reply.describe());
    reply.expect_json()
}

async fn put(addr: &str, key: &[u8], value: &[u8], lease: i64) -> Value {
    post(
        addr,
        "/v3/kv/put",
        json!({"key": b64(key), "value": b64(value), "lease": lease.to_string()}),
    )
    .await
}

/// Runs `etcd-gateway migrate` with `args`.
fn migrate(args: &[&str]) -> Output {
    Command::new(Gateway::binary())
        .arg("migrate")
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("run etcd-gateway migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes the store's history through the embedded gateway; returns the (key, value, lease)
/// triples expected at the end, in key order.
async fn write_history(addr: &str) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    for (id, ttl) in [(LEASE, LEASE_TTL), (EMPTY_LEASE, EMPTY_LEASE_TTL)] {
        post(
            addr,
            "/v3/lease/grant",
            json!({"ID": id.to_string(), "TTL": ttl.to_string()}),
        )
        .await;
    }
    put(addr, b"a", b"first", 0).await;
    put(addr, b"b", b"leased", LEASE).await;
    put(addr, b"c", b"old", 0).await;
    put(addr, b"c", b"new", 0).await;
    put(addr, b"d", b"deleted soon", LEASE).await;
    post(addr, "/v3/kv/deleterange", json!({"key": b64("d")})).await;
    let revision = put(addr, b"\xffbinary\x00key", b"\x00\x01\xfe", 0).await["header"]["revision"]
        .as_str()
        .expect("revision")
        .to_owned();
    post(
        addr,
        "/v3/kv/compaction",
        json!({"revision": revision, "physical": true}),
    )
    .await;
    put(addr, b"e", b"after the compaction", LEASE).await;
    put(addr, b"a", b"", 0).await;
    let big = vec![b'x'; 100 * 1024];
    for index in 0..MANY {
        let value: &[u8] = if index % 50 == 0 { &big } else { b"small" };
        put(addr, format!("many/{index:03}").as_bytes(), value, 0).await;
    }

    let mut expected: Vec<(Vec<u8>, Vec<u8>, i64)> = vec![
        (b"a".to_vec(), b"".to_vec(), 0),
        (b"b".to_vec(), b"leased".to_vec(), LEASE),
        (b"c".to_vec(), b"new".to_vec(), 0),
        (b"e".to_vec(), b"after the compaction".to_vec(), LEASE),
        (b"\xffbinary\x00key".to_vec(), b"\x00\x01\xfe".to_vec(), 0),
    ];
    for index in 0..MANY {
        let value = if index % 50 == 0 {
            big.clone()
        } else {
            b"small".to_vec()
        };
        expected.push((format!("many/{index:03}").into_bytes(), value, 0));
    }
    expected.sort();
    expected
}

/// Every key of etcd at `addr` as (key, value, lease), in key order.
async fn all_keys(addr: &str) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let body = post(
        addr,
        "/v3/kv/range",
        json!({"key": b64([0]), "range_end": b64([0])}),
    )
    .await;
    let decode = |kv: &Value, field: &str| {
        BASE64
            .decode(kv[field].as_str().unwrap_or(""))
            .expect("base64 field")
    };
    body["kvs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let lease = kv["lease"].as_str().map_or(0, |id| id.parse().unwrap());
            (decode(kv, "key"), decode(kv, "value"), lease)
        })
        .collect()
}

fn data_dir_arg(dir: &Path) -> &str {
    dir.to_str().expect("UTF-8 temp path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_the_latest_revision_with_leases_into_etcd_3_5_and_verifies_it() {
    let dir = tempfile::Builder::new()
        .prefix("etcd-gw-test-migrate-")
        .tempdir()
        .expect("create temp dir");
    let data_dir = dir.path().join("data");
    let data = data_dir_arg(&data_dir);
    let gateway_args = ["--data-dir", data, "--name", "g1"];
    let (etcd, gateway) = tokio::join!(
        Etcd::start(EtcdVersion::V3_5),
        Gateway::start_with_args(&gateway_args)
    );
    let expected = write_history(&gateway.addr).await;
    let to = etcd.client_url();

    // While the gateway runs on the directory, the store is locked.
    let out = migrate(&["--data-dir", data, "--to", &to]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        format!(
            "Error: the store in {data} is in use by another process (is a gateway running on \
             it?): stop it first, then migrate\n"
        )
    );
    drop(gateway);

    let out = migrate(&["--data-dir", data, "--to", &to]);
    assert!(
        out.status.success(),
        "migrate failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let keys = expected.len();
    assert_eq!(
        text(&out.stdout),
        format!(
            "copied {keys} keys (2 attached to leases) and 2 leases from {data} (revision {}) \
             to {to}\nverified: {keys} of {keys} keys equal on both sides (values and leases)\n",
            MANY + 10
        )
    );

    // etcd holds exactly the latest revision of every key, leases attached.
    let addr = etcd.addr();
    assert_eq!(all_keys(&addr).await, expected);
    let lease = post(
        &addr,
        "/v3/lease/timetolive",
        json!({"ID": LEASE.to_string(), "keys": true}),
    )
    .await;
    let ttl: i64 = lease["TTL"].as_str().expect("TTL").parse().unwrap();
    assert!(ttl > 0 && ttl <= LEASE_TTL, "{lease}");
    assert_eq!(lease["grantedTTL"], LEASE_TTL.to_string(), "{lease}");
    // etcd lists a lease's keys in no particular order (its lessor keeps them in a map).
    let mut attached: Vec<&str> = lease["keys"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    attached.sort_unstable();
    let (b, e) = (b64("b"), b64("e"));
    assert_eq!(attached, [b.as_str(), e.as_str()], "{lease}");
    let empty = post(
        &addr,
        "/v3/lease/timetolive",
        json!({"ID": EMPTY_LEASE.to_string()}),
    )
    .await;
    assert_eq!(empty["grantedTTL"], EMPTY_LEASE_TTL.to_string(), "{empty}");

    // A second run finds the keys there and refuses.
    let out = migrate(&["--data-dir", data, "--to", &to]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stderr),
        format!(
            "Error: the target cluster at {to} already holds {keys} keys: copying into it would \
             overwrite the keys of the same name and mix the others with the copy, so the copy \
             could not be verified key for key; migrate into an empty cluster, or pass --force \
             to copy anyway\n"
        )
    );

    // With --force it copies again (the leases exist already) and verifies.
    put(&addr, b"etcd's own", b"kept", 0).await;
    let out = migrate(&["--data-dir", data, "--to", &to, "--force"]);
    assert!(
        out.status.success(),
        "migrate --force failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).ends_with(&format!(
            "verified: {keys} of {keys} keys equal on both sides (values and leases); the \
             target holds 1 keys of its own\n"
        )),
        "{}",
        text(&out.stdout)
    );
    // The lease reused by the second copy is still there once the command has exited.
    let lease = post(
        &addr,
        "/v3/lease/timetolive",
        json!({"ID": LEASE.to_string()}),
    )
    .await;
    let ttl: i64 = lease["TTL"].as_str().expect("TTL").parse().unwrap();
    assert!(ttl > 0, "{lease}");
}

#[test]
fn a_directory_without_a_store_is_refused() {
    let dir = tempfile::tempdir().expect("create temp dir");
    let data = data_dir_arg(dir.path());
    let out = migrate(&["--data-dir", data, "--to", "http://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert_eq!(
        text(&out.stderr),
        format!("Error: no embedded store in {data}: {data}/db does not exist\n")
    );
    assert!(!dir.path().join("db").exists(), "nothing is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_into_a_cluster_with_authentication_as_the_user_given() {
    let dir = tempfile::Builder::new()
        .prefix("etcd-gw-test-migrate-")
        .tempdir()
        .expect("create temp dir");
    let data_dir = dir.path().join("data");
    let data = data_dir_arg(&data_dir);
    let gateway_args = ["--data-dir", data, "--name", "g1"];
    let (etcd, gateway) = tokio::join!(
        Etcd::start(EtcdVersion::V3_5),
        Gateway::start_with_args(&gateway_args)
    );
    post(
        &gateway.addr,
        "/v3/lease/grant",
        json!({"ID": LEASE.to_string(), "TTL": LEASE_TTL.to_string()}),
    )
    .await;
    put(&gateway.addr, b"k1", b"v1", LEASE).await;
    put(&gateway.addr, b"k2", b"v2", 0).await;
    drop(gateway);

    // etcd's documented setup: root with role root, then authentication on.
    let addr = etcd.addr();
    post(
        &addr,
        "/v3/auth/user/add",
        json!({"name": "root", "password": "rootpw"}),
    )
    .await;
    post(&addr, "/v3/auth/role/add", json!({"name": "root"})).await;
    post(
        &addr,
        "/v3/auth/user/grant",
        json!({"user": "root", "role": "root"}),
    )
    .await;
    post(&addr, "/v3/auth/enable", json!({})).await;
    let to = etcd.client_url();

    // etcd 3.5.1 server/etcdserver/api/v3rpc/rpctypes: ErrGRPCUserEmpty.
    let out = migrate(&["--data-dir", data, "--to", &to]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("Error: cannot count the keys of {to}\n"))
            && stderr.contains("etcdserver: user name is empty"),
        "{stderr}"
    );
    // ErrGRPCAuthFailed.
    let out = migrate(&["--data-dir", data, "--to", &to, "--user", "root:wrong"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot authenticate as \"root\"")
            && stderr.contains("etcdserver: authentication failed, invalid user ID or password"),
        "{stderr}"
    );

    let out = migrate(&["--data-dir", data, "--to", &to, "--user", "root:rootpw"]);
    assert!(
        out.status.success(),
        "migrate failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout)
            .ends_with("verified: 2 of 2 keys equal on both sides (values and leases)\n"),
        "{}",
        text(&out.stdout)
    );
}
