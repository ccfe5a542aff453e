//! Alarms, `--quota-backend-bytes` and a full disk on the embedded store, through the JSON
//! gateway. The expected answers are etcd 3.5.1's, recorded from a single member started with
//! `--quota-backend-bytes 300000` and filled through its own gateway:
//!
//! - a write that does not fit: `429` `{"error":"etcdserver: mvcc: database space exceeded",
//!   "code":8,...}` (`rpctypes.ErrGRPCNoSpace`, ResourceExhausted; NOSPACE raised by
//!   `v3rpc/quota.go`);
//! - while NOSPACE is active, puts, txns with a put and lease grants fail the same way
//!   (`applierV3Capped` in `etcdserver/apply.go`); ranges, deletes and compaction work;
//! - `Alarm` GET: `{"header":...,"alarms":[{"memberID":"<id>","alarm":"NOSPACE"}]}`, no
//!   `alarms` when none is active; `Status` lists `memberID:<id> alarm:NOSPACE ` in `errors`;
//! - `/health`: `503` `{"health":"false","reason":"ALARM NOSPACE"}` (`etcdhttp/metrics.go`).
//!
//! The full-disk test mounts a 4 MiB tmpfs (it needs root; it says so and passes where mounting
//! is not permitted).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use support::Gateway;
use support::http;

/// etcd's answer to a write that does not fit (HTTP status, JSON body).
fn no_space() -> (u16, Value) {
    let message = "etcdserver: mvcc: database space exceeded";
    (
        429,
        json!({"error": message, "code": 8, "message": message}),
    )
}

/// Starts the binary on the embedded store in `data_dir`, with `extra` flags.
async fn start(data_dir: &Path, extra: &[&str]) -> Gateway {
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    let mut args = vec!["--data-dir", data_dir];
    args.extend_from_slice(extra);
    Gateway::start_with_args(&args).await
}

/// `POST path` with a JSON body; returns the status and the JSON answer.
async fn post(gateway: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let reply = http::post(&gateway.addr, path, &body.to_string()).await;
    (reply.status, reply.expect_json())
}

/// `GET /health`: the status and the JSON answer.
async fn health(gateway: &Gateway) -> (u16, Value) {
    let reply = http::get(&gateway.addr, "/health").await;
    (reply.status, reply.expect_json())
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

async fn put(gateway: &Gateway, key: &str, value: &[u8]) -> (u16, Value) {
    post(
        gateway,
        "/v3/kv/put",
        json!({"key": b64(key), "value": b64(value)}),
    )
    .await
}

/// The member id as the JSON gateway prints it, and the current revision.
async fn member_and_revision(gateway: &Gateway) -> (String, i64) {
    let (status, body) = post(gateway, "/v3/kv/range", json!({"key": "AA=="})).await;
    assert_eq!(status, 200, "{body}");
    let member = body["header"]["member_id"].as_str().expect("member_id");
    let revision = body["header"]["revision"].as_str().expect("revision");
    (
        member.to_owned(),
        revision.parse().expect("numeric revision"),
    )
}

/// The answer of `Alarm` GET, without its header.
async fn alarms(gateway: &Gateway) -> Value {
    let (status, mut body) = post(gateway, "/v3/maintenance/alarm", json!({})).await;
    assert_eq!(status, 200, "{body}");
    body.as_object_mut().expect("object").remove("header");
    body
}

/// `[{"memberID": member, "alarm": "NOSPACE"}]`
fn nospace_of(member: &str) -> Value {
    json!({"alarms": [{"memberID": member, "alarm": "NOSPACE"}]})
}

async fn deactivate_nospace(gateway: &Gateway, member: &str) -> (u16, Value) {
    let (status, mut body) = post(
        gateway,
        "/v3/maintenance/alarm",
        json!({"action": "DEACTIVATE", "memberID": member, "alarm": "NOSPACE"}),
    )
    .await;
    body.as_object_mut().expect("object").remove("header");
    (status, body)
}

fn unhealthy_nospace() -> (u16, Value) {
    (503, json!({"health": "false", "reason": "ALARM NOSPACE"}))
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

#[tokio::test(flavor = "multi_thread")]
async fn quota_raises_nospace_which_survives_a_restart_until_disarmed() {
    let data_dir = temp_dir("etcd-gw-test-quota-");
    // A new database file is 72 KiB: small writes fit, a 1 MB value does not.
    let quota = ["--quota-backend-bytes", "1000000"];
    let gateway = start(data_dir.path(), &quota).await;
    let (member, _) = member_and_revision(&gateway).await;
    assert_eq!(put(&gateway, "a", b"1").await.0, 200);
    assert_eq!(alarms(&gateway).await, json!({}));

    // Over quota: refused, NOSPACE raised.
    assert_eq!(
        put(&gateway, "big", &vec![b'x'; 1_000_000]).await,
        no_space()
    );
    assert_eq!(alarms(&gateway).await, nospace_of(&member));
    assert_eq!(health(&gateway).await, unhealthy_nospace());
    let (status, body) = post(&gateway, "/v3/maintenance/status", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["errors"],
        json!([format!("memberID:{member} alarm:NOSPACE ")])
    );

    // Capped: what adds data is refused, even small; the rest works.
    assert_eq!(put(&gateway, "a", b"2").await, no_space());
    let txn_put = json!({"success": [{"requestPut": {"key": b64("t"), "value": b64("v")}}]});
    assert_eq!(post(&gateway, "/v3/kv/txn", txn_put).await, no_space());
    assert_eq!(
        post(&gateway, "/v3/lease/grant", json!({"TTL": 30})).await,
        no_space()
    );
    let (status, body) = post(&gateway, "/v3/kv/range", json!({"key": b64("a")})).await;
    assert_eq!((status, &body["kvs"][0]["value"]), (200, &json!(b64("1"))));
    let txn_read = json!({"success": [{"requestRange": {"key": b64("a")}}]});
    assert_eq!(post(&gateway, "/v3/kv/txn", txn_read).await.0, 200);
    let (status, body) = post(&gateway, "/v3/kv/deleterange", json!({"key": b64("a")})).await;
    assert_eq!((status, &body["deleted"]), (200, &json!("1")), "{body}");
    let (status, body) = post(&gateway, "/v3/kv/compaction", json!({"revision": "2"})).await;
    assert_eq!(status, 200, "{body}");

    // The alarm is recorded: still active after kill -9 and a restart.
    drop(gateway);
    let gateway = start(data_dir.path(), &quota).await;
    assert_eq!(alarms(&gateway).await, nospace_of(&member));
    assert_eq!(health(&gateway).await, unhealthy_nospace());
    assert_eq!(put(&gateway, "a", b"3").await, no_space());

    // Disarmed (the database itself is under quota): writes work again, no restart.
    assert_eq!(
        deactivate_nospace(&gateway, &member).await,
        (200, nospace_of(&member))
    );
    assert_eq!(alarms(&gateway).await, json!({}));
    assert_eq!(put(&gateway, "a", b"4").await.0, 200);
    assert_eq!(
        health(&gateway).await,
        (200, json!({"health": "true", "reason": ""}))
    );
    // Disarming again changes nothing and lists nothing.
    assert_eq!(
        deactivate_nospace(&gateway, &member).await,
        (200, json!({}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn alarm_activate_and_corrupt_as_etcd() {
    let data_dir = temp_dir("etcd-gw-test-alarm-");
    let gateway = start(data_dir.path(), &[]).await;
    let (member, revision) = member_and_revision(&gateway).await;
    let header = json!({"revision": revision.to_string(), "raft_term": "2"});
    let (status, body) = post(
        &gateway,
        "/v3/maintenance/alarm",
        json!({"action": "ACTIVATE", "memberID": "42", "alarm": "CORRUPT"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["alarms"],
        json!([{"memberID": "42", "alarm": "CORRUPT"}])
    );
    assert_eq!(body["header"]["member_id"], json!(member));
    assert_eq!(body["header"]["revision"], header["revision"]);
    // ACTIVATE of NONE is ignored.
    let (status, body) = post(
        &gateway,
        "/v3/maintenance/alarm",
        json!({"action": "ACTIVATE", "memberID": "42"}),
    )
    .await;
    assert_eq!((status, body.get("alarms")), (200, None), "{body}");

    // CORRUPT refuses every write (etcd's applierV3Corrupt) but not reads.
    let corrupt = (
        500,
        json!({"error": "etcdserver: corrupt cluster", "code": 15,
               "message": "etcdserver: corrupt cluster"}),
    );
    assert_eq!(put(&gateway, "a", b"1").await, corrupt);
    assert_eq!(
        post(&gateway, "/v3/kv/deleterange", json!({"key": b64("a")})).await,
        corrupt
    );
    assert_eq!(
        post(&gateway, "/v3/kv/range", json!({"key": b64("a")}))
            .await
            .0,
        200
    );
    assert_eq!(
        health(&gateway).await,
        (503, json!({"health": "false", "reason": "ALARM CORRUPT"}))
    );
    // `/health?exclude=CORRUPT` leaves the alarm out, as etcd's.
    let reply = http::get(&gateway.addr, "/health?exclude=CORRUPT").await;
    assert_eq!(
        (reply.status, reply.expect_json()),
        (200, json!({"health": "true", "reason": ""}))
    );

    let (status, body) = post(
        &gateway,
        "/v3/maintenance/alarm",
        json!({"action": "DEACTIVATE", "memberID": "42", "alarm": "CORRUPT"}),
    )
    .await;
    assert_eq!(
        (status, &body["alarms"]),
        (200, &json!([{"memberID": "42", "alarm": "CORRUPT"}]))
    );
    assert_eq!(put(&gateway, "a", b"1").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_over_quota_refuses_even_read_only_txns_as_etcd() {
    let data_dir = temp_dir("etcd-gw-test-over-quota-");
    // Smaller than a new database file: etcd's check `size + cost < quota` fails for every
    // put and txn, a read-only txn included; ranges still work.
    let gateway = start(data_dir.path(), &["--quota-backend-bytes", "50000"]).await;
    let (member, _) = member_and_revision(&gateway).await;
    let txn_read = json!({"success": [{"requestRange": {"key": b64("a")}}]});
    assert_eq!(post(&gateway, "/v3/kv/txn", txn_read).await, no_space());
    assert_eq!(alarms(&gateway).await, nospace_of(&member));
    assert_eq!(
        post(&gateway, "/v3/kv/range", json!({"key": "AA=="}))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&gateway, "/v3/kv/deleterange", json!({"key": "AA=="}))
            .await
            .0,
        200
    );
}

/// A tmpfs mounted for the test, unmounted on drop (also when the test panics).
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`) on a new directory; `None` where mounting
    /// is not permitted.
    fn mount(size: &str) -> Option<Tmpfs> {
        let parent = temp_dir("etcd-gw-test-tmpfs-");
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).expect("create mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(Tmpfs {
                dir,
                _parent: parent,
            }),
            Ok(output) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs ({}); run as root to test a full disk",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(err) => {
                eprintln!("skipped: cannot run mount ({err}); run as root to test a full disk");
                None
            }
        }
    }

    /// Gives the tmpfs a new size.
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} failed", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Still busy: detach it now, it goes once unused.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_survivable() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    // Declared after the mount: the gateway is killed before the tmpfs is unmounted.
    let gateway = start(&disk.dir.join("data"), &[]).await;
    let (member, _) = member_and_revision(&gateway).await;
    let value = vec![b'v'; 30_000];
    let mut written = 0;
    let refused = loop {
        assert!(written < 200, "4 MiB never filled up");
        let answer = put(&gateway, &format!("k{written}"), &value).await;
        if answer.0 != 200 {
            break answer;
        }
        written += 1;
    };
    assert!(written > 10, "only {written} puts fit");
    assert_eq!(refused, no_space(), "after {written} puts");

    // Reads keep working; the alarm is up and /health says so.
    let (status, body) = post(&gateway, "/v3/kv/range", json!({"key": b64("k0")})).await;
    assert_eq!(
        (status, &body["kvs"][0]["value"]),
        (200, &json!(b64(&value)))
    );
    let (status, body) = post(
        &gateway,
        "/v3/kv/range",
        json!({"key": "AA==", "range_end": "AA==", "count_only": true}),
    )
    .await;
    assert_eq!((status, &body["count"]), (200, &json!(written.to_string())));
    assert_eq!(alarms(&gateway).await, nospace_of(&member));
    assert_eq!(health(&gateway).await, unhealthy_nospace());

    // More space, but the alarm stays until disarmed, as in etcd.
    disk.resize("64m");
    assert_eq!(put(&gateway, "after", b"1").await, no_space());
    assert_eq!(
        deactivate_nospace(&gateway, &member).await,
        (200, nospace_of(&member))
    );
    let (status, body) = put(&gateway, "after", b"1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        health(&gateway).await,
        (200, json!({"health": "true", "reason": ""}))
    );
    let (status, body) = post(&gateway, "/v3/kv/range", json!({"key": b64("after")})).await;
    assert_eq!((status, &body["kvs"][0]["value"]), (200, &json!(b64("1"))));
    drop(gateway);
}
