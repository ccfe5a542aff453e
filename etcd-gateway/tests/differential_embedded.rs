//! The differential scenarios against a second target: our binary without `--endpoints`, on its
//! embedded store (side B), compared with etcd's own gateway on a fresh etcd 3.5.1 (side A, the
//! reference). The step lists and stream scenarios are the ones of `tests/differential.rs` (KV,
//! lease) and `tests/streaming.rs` (watch, keepalive), shared through `support::kv_lease` and
//! `support::watch_keepalive`: one scenario list, two targets. Their expectations are etcd's
//! answers; a difference there is a bug of the embedded store.
//!
//! Auth, election, lock, the rest of maintenance and membership changes are compared in
//! `tests/differential_embedded_api.rs`.
//!
//! # Inherent differences
//!
//! The embedded store is not etcd: these values differ by design. Each is asserted on each side
//! (etcd's value and ours) and left out of the comparison, nothing else is.
//!
//! | id | etcd 3.5.1 | embedded store |
//! |----|------------|----------------|
//! | `ids` | random `cluster_id`/`member_id`, `raft_term` of the election (masked as for two etcd servers) | its own IDs; `raft_term` 2 |
//! | `status-version` | Status `version` `3.5.1` (the server) | `3.5.0` (the API level it implements) |
//! | `status-raft-index` | Status `raftIndex`/`raftAppliedIndex` count raft entries (member and cluster-version records too) | no raft log: the store's own index |
//! | `peer-urls` | the member's `--initial-advertise-peer-urls` (`http://127.0.0.1:<peer>`) | no peer port: etcd's default `http://localhost:2380` |
//! | `progress-interval` | started with `--experimental-watch-progress-notify-interval 1s` | no such flag (etcd's default, 10 minutes): the progress notification part of `watch_control` is skipped |

mod support;

use serde_json::{Value, json};
use support::EtcdVersion::V3_5;
use support::json::diff;
use support::kv_lease::{kv, kv_more, lease};
use support::scenario::{Pair, Step};
use support::{Target, http, stream_pair, watch_keepalive};

/// Runs a step list of `tests/differential.rs` with the embedded store as side B.
async fn run(steps: Vec<Step>) {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    pair.run(&steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_steps() {
    run(kv(V3_5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_more_steps() {
    run(kv_more(V3_5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_steps() {
    run(lease(V3_5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events() {
    watch_keepalive::watch_events(V3_5, Target::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_control() {
    watch_keepalive::watch_control(V3_5, Target::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive() {
    let mut pair = stream_pair::Pair::start_target(V3_5, &[], Target::Embedded).await;
    watch_keepalive::keepalive(&mut pair).await;
}

/// Replaces the value at `pointer` by a marker after checking it against `want`.
fn take(body: &mut Value, pointer: &str, want: &Value, side: &str) -> Result<(), String> {
    let slot = body
        .pointer_mut(pointer)
        .ok_or_else(|| format!("{side}: nothing at {pointer} in {want}"))?;
    if diff(slot, want).is_some() {
        return Err(format!("{side}: {pointer} is {slot}, expected {want}"));
    }
    *slot = json!("<inherently different>");
    Ok(())
}

/// Maintenance.Status and Cluster.MemberList, the two implemented methods of those services:
/// equal to etcd's answers but for the rows of the table above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_member_list() {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    let (a, b) = (pair.a.addr.clone(), pair.b.addr.clone());
    let mut wrong = Vec::new();
    // Each side's own raft indexes (present on both sides, values not compared).
    let own = |body: &Value, pointer: &str| body.pointer(pointer).cloned().unwrap_or(Value::Null);
    for path in ["/v3/cluster/member/list", "/v3/maintenance/status"] {
        let (ra, rb) = tokio::join!(http::post(&a, path, "{}"), http::post(&b, path, "{}"));
        assert_eq!((ra.status, rb.status), (200, 200), "{path}");
        let mut ma = pair.a.masker.mask(&ra.expect_json());
        let mut mb = pair.b.masker.mask(&rb.expect_json());
        let fields: Vec<(&str, Value, Value)> = match path {
            "/v3/maintenance/status" => {
                let mut fields = vec![("/version", json!("3.5.1"), json!("3.5.0"))];
                for key in ["/raftIndex", "/raftAppliedIndex"] {
                    fields.push((key, own(&ma, key), own(&mb, key)));
                }
                fields
            }
            _ => vec![(
                "/members/0/peerURLs",
                json!(["http://127.0.0.1:<peer>"]),
                json!(["http://localhost:2380"]),
            )],
        };
        for (pointer, want_a, want_b) in &fields {
            if let Err(e) = take(&mut ma, pointer, want_a, "etcd") {
                wrong.push(format!("{path}: {e}"));
            }
            if let Err(e) = take(&mut mb, pointer, want_b, "ours") {
                wrong.push(format!("{path}: {e}"));
            }
        }
        if let Some(d) = diff(&ma, &mb) {
            wrong.push(format!(
                "{path}: masked bodies differ at {d}\n  etcd: {ma}\n  ours: {mb}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
