//! The Lease service: grant, revoke, keep-alive, time-to-live, list, expiry, persistence,
//! and the events of revoked keys.

use std::time::Duration;

use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::codegen::tokio_stream::wrappers::UnboundedReceiverStream;

use super::watch::{WatchClient, del_ev, watch_key};
use super::*;
use crate::embedded::{LeaseOptions, LeaseService, Lessor};
use crate::etcdserverpb::lease_server::Lease;
use crate::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, WatchCreateRequest,
};
use crate::mvccpb::Event;

const LEASE_EXISTS: &str = "etcdserver: lease already exists";
const TTL_TOO_LARGE: &str = "etcdserver: too large lease TTL";

/// A store, its KV service and a Lease service on it.
struct LeaseEnv {
    env: Env,
    lease: LeaseService,
}

impl std::ops::Deref for LeaseEnv {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

impl LeaseEnv {
    fn new() -> Self {
        Self::with(Env::new(), LeaseOptions::default())
    }

    fn with(env: Env, options: LeaseOptions) -> Self {
        let lessor = Lessor::open(Arc::clone(&env.store), options).expect("lessor");
        Self {
            env,
            lease: LeaseService::new(lessor),
        }
    }

    /// Closes everything and opens the same directory again.
    fn reopen(self, options: LeaseOptions) -> Self {
        let Self { env, lease } = self;
        drop(lease);
        Self::with(env.reopen(), options)
    }

    async fn grant(&self, id: i64, ttl: i64) -> Result<LeaseGrantResponse, Status> {
        self.lease
            .lease_grant(Request::new(LeaseGrantRequest { id, ttl }))
            .await
            .map(|r| r.into_inner())
    }

    async fn revoke(&self, id: i64) -> Result<LeaseRevokeResponse, Status> {
        self.lease
            .lease_revoke(Request::new(LeaseRevokeRequest { id }))
            .await
            .map(|r| r.into_inner())
    }

    async fn ttl(&self, id: i64, keys: bool) -> LeaseTimeToLiveResponse {
        self.lease
            .lease_time_to_live(Request::new(LeaseTimeToLiveRequest { id, keys }))
            .await
            .expect("timetolive")
            .into_inner()
    }

    async fn leases(&self) -> LeaseLeasesResponse {
        self.lease
            .lease_leases(Request::new(LeaseLeasesRequest {}))
            .await
            .expect("leases")
            .into_inner()
    }

    async fn put_lease(&self, key: &str, value: &str, lease: i64) -> Result<PutResponse, Status> {
        self.put_req(PutRequest {
            key: key.into(),
            value: value.into(),
            lease,
            ..Default::default()
        })
        .await
    }

    fn granted(&self, revision: i64, id: i64, ttl: i64) -> LeaseGrantResponse {
        LeaseGrantResponse {
            header: self.hdr(revision),
            id,
            ttl,
            error: String::new(),
        }
    }

    fn time_to_live(
        &self,
        revision: i64,
        id: i64,
        ttl: i64,
        granted_ttl: i64,
        keys: &[&str],
    ) -> LeaseTimeToLiveResponse {
        LeaseTimeToLiveResponse {
            header: self.hdr(revision),
            id,
            ttl,
            granted_ttl,
            keys: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
        }
    }
}

fn leased(
    key: &str,
    value: &str,
    create: i64,
    modified: i64,
    version: i64,
    lease: i64,
) -> KeyValue {
    KeyValue {
        lease,
        ..kv(key, value, create, modified, version)
    }
}

#[tokio::test]
async fn grant_checks_and_defaults() {
    let env = LeaseEnv::new();
    assert_eq!(env.grant(7587, 30).await.unwrap(), env.granted(1, 7587, 30));
    assert_status(
        env.grant(7587, 30).await,
        Code::FailedPrecondition,
        LEASE_EXISTS,
    );
    assert_status(
        env.grant(1, 9_000_000_001).await,
        Code::OutOfRange,
        TTL_TOO_LARGE,
    );
    assert_eq!(
        env.grant(2, 9_000_000_000).await.unwrap(),
        env.granted(1, 2, 9_000_000_000)
    );
    // TTLs below the minimum get the minimum.
    for (id, ttl) in [(10, 0), (11, 1), (12, -5)] {
        assert_eq!(env.grant(id, ttl).await.unwrap(), env.granted(1, id, 2));
    }
    assert_eq!(env.grant(-3, 5).await.unwrap(), env.granted(1, -3, 5));
    // No id: a random positive one.
    let chosen = env.grant(0, 60).await.unwrap();
    assert!(chosen.id > 0);
    assert_eq!(chosen, env.granted(1, chosen.id, 60));
    // A grant changes no revision.
    assert_eq!(env.store.current_revision(), 1);
}

#[tokio::test]
async fn put_attaches_and_time_to_live_lists_the_keys() {
    let env = LeaseEnv::new();
    assert_status(
        env.put_lease("k", "v", 5).await,
        Code::NotFound,
        LEASE_NOT_FOUND,
    );
    env.grant(5, 60).await.unwrap();
    env.grant(6, 60).await.unwrap();
    env.put_lease("b", "1", 5).await.unwrap(); // 2
    env.put_lease("a", "1", 5).await.unwrap(); // 3
    env.put_lease("c", "1", 5).await.unwrap(); // 4
    assert_eq!(env.get("a").await.kvs, vec![leased("a", "1", 3, 3, 1, 5)]);
    assert_eq!(
        env.ttl(5, true).await,
        env.time_to_live(4, 5, 59, 60, &["a", "b", "c"])
    );
    assert_eq!(env.ttl(5, false).await, env.time_to_live(4, 5, 59, 60, &[]));

    // Re-put without a lease detaches; with another lease moves; a delete detaches.
    env.put("a", "2").await; // 5
    env.put_lease("b", "2", 6).await.unwrap(); // 6
    env.put_lease("d", "1", 6).await.unwrap(); // 7
    env.delete(del_req("d", "")).await.unwrap(); // 8
    env.txn(txn_req(
        vec![],
        vec![RequestOp {
            request: Some(Op::RequestPut(PutRequest {
                key: "e".into(),
                value: "1".into(),
                lease: 6,
                ..Default::default()
            })),
        }],
        vec![],
    ))
    .await
    .unwrap(); // 9
    // ignore_lease keeps the lease.
    env.put_req(PutRequest {
        key: "c".into(),
        value: "2".into(),
        ignore_lease: true,
        ..Default::default()
    })
    .await
    .unwrap(); // 10
    assert_eq!(
        env.ttl(5, true).await,
        env.time_to_live(10, 5, 59, 60, &["c"])
    );
    assert_eq!(
        env.ttl(6, true).await,
        env.time_to_live(10, 6, 59, 60, &["b", "e"])
    );
    // Unknown lease: TTL -1, no error.
    assert_eq!(
        env.ttl(404, true).await,
        LeaseTimeToLiveResponse {
            header: env.hdr(10),
            id: 404,
            ttl: -1,
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn leases_are_listed() {
    let env = LeaseEnv::new();
    assert_eq!(
        env.leases().await,
        LeaseLeasesResponse {
            header: env.hdr(1),
            leases: vec![],
        }
    );
    env.grant(3, 100).await.unwrap();
    env.grant(1, 10).await.unwrap();
    env.grant(2, 50).await.unwrap();
    // Soonest expiry first.
    assert_eq!(
        env.leases().await,
        LeaseLeasesResponse {
            header: env.hdr(1),
            leases: vec![
                LeaseStatus { id: 1 },
                LeaseStatus { id: 2 },
                LeaseStatus { id: 3 }
            ],
        }
    );
}

#[tokio::test]
async fn revoke_deletes_the_keys_in_one_revision_seen_by_watchers() {
    let env = LeaseEnv::new();
    env.grant(9, 60).await.unwrap();
    env.put_lease("k2", "v", 9).await.unwrap(); // 2
    env.put_lease("k1", "v", 9).await.unwrap(); // 3
    env.put("other", "v").await; // 4
    env.put_lease("k3", "v", 9).await.unwrap(); // 5

    let service = env.watch_service();
    let mut w = WatchClient::open(&service);
    w.create(WatchCreateRequest {
        range_end: "\0".into(),
        prev_kv: true,
        ..watch_key("\0")
    });
    assert_eq!(w.next().await, env.created(5, 0));

    assert_eq!(
        env.revoke(9).await.unwrap(),
        LeaseRevokeResponse { header: env.hdr(6) }
    );
    let del = |key: &str, create: i64| Event {
        prev_kv: Some(leased(key, "v", create, create, 1, 9)),
        ..del_ev(key, 6)
    };
    assert_eq!(
        w.next().await,
        env.events(6, 0, vec![del("k1", 3), del("k2", 2), del("k3", 5)])
    );
    w.assert_quiet().await;
    assert_eq!(env.range(range_req("\0", "\0")).await.unwrap().count, 1);
    assert_eq!(env.ttl(9, true).await.ttl, -1);
    assert_status(env.revoke(9).await, Code::NotFound, LEASE_NOT_FOUND);
    assert_status(env.revoke(0).await, Code::NotFound, LEASE_NOT_FOUND);
    assert_status(
        env.put_lease("k1", "v", 9).await,
        Code::NotFound,
        LEASE_NOT_FOUND,
    );

    // A lease without keys: no revision.
    env.grant(10, 60).await.unwrap();
    assert_eq!(
        env.revoke(10).await.unwrap(),
        LeaseRevokeResponse { header: env.hdr(6) }
    );
    w.assert_quiet().await;
}

#[tokio::test]
async fn keep_alive_answers_each_request_then_ends() {
    let env = LeaseEnv::new();
    env.grant(7587, 30).await.unwrap();
    env.put("k", "v").await; // 2
    let (tx, rx) = mpsc::unbounded_channel();
    let mut responses = env.lease.keep_alive(UnboundedReceiverStream::new(rx));
    for id in [7587, 999, 7587] {
        tx.send(Ok(LeaseKeepAliveRequest { id })).unwrap();
    }
    let answer = |id, ttl| LeaseKeepAliveResponse {
        header: env.hdr(2),
        id,
        ttl,
    };
    for want in [answer(7587, 30), answer(999, 0), answer(7587, 30)] {
        let got = tokio::time::timeout(Duration::from_secs(5), responses.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, want);
    }
    drop(tx);
    let end = tokio::time::timeout(Duration::from_secs(5), responses.next())
        .await
        .unwrap();
    assert!(end.is_none());
}

#[tokio::test]
async fn expired_leases_are_revoked_and_keep_alive_extends() {
    let options = LeaseOptions {
        min_ttl: 1,
        expiry_check: Duration::from_millis(50),
    };
    let env = LeaseEnv::with(Env::new(), options);
    env.grant(1, 1).await.unwrap();
    env.grant(2, 1).await.unwrap();
    env.put_lease("a", "v", 1).await.unwrap(); // 2
    env.put_lease("b", "v", 2).await.unwrap(); // 3
    let service = env.watch_service();
    let mut w = WatchClient::open(&service);
    w.create(WatchCreateRequest {
        range_end: "\0".into(),
        ..watch_key("\0")
    });
    assert_eq!(w.next().await, env.created(3, 0));

    // Lease 2 is kept alive past lease 1's expiry.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        env.lease.lessor().renew(2).unwrap();
    }
    assert_eq!(w.next().await, env.events(4, 0, vec![del_ev("a", 4)]));
    assert_eq!(env.ttl(1, false).await.ttl, -1);
    assert_eq!(env.ttl(2, false).await.granted_ttl, 1);
    assert_eq!(env.leases().await.leases, vec![LeaseStatus { id: 2 }]);
    assert_eq!(
        env.lease.lessor().renew(1),
        Err(crate::embedded::EtcdError::LeaseNotFound)
    );
    // Without keep-alives lease 2 expires as well.
    assert_eq!(w.next().await, env.events(5, 0, vec![del_ev("b", 5)]));
    assert_eq!(env.leases().await.leases, vec![]);
}

#[tokio::test]
async fn leases_and_their_keys_survive_a_restart() {
    // No expiry during the test.
    let options = LeaseOptions {
        expiry_check: Duration::from_secs(3600),
        ..Default::default()
    };
    let env = LeaseEnv::with(Env::new(), options.clone());
    env.grant(1, 100).await.unwrap();
    env.grant(2, 200).await.unwrap();
    env.grant(3, 300).await.unwrap();
    env.put_lease("x", "v", 1).await.unwrap(); // 2
    env.put_lease("y", "v", 1).await.unwrap(); // 3
    env.put_lease("z", "v", 2).await.unwrap(); // 4
    env.put("y", "plain").await; // 5
    env.revoke(3).await.unwrap();

    let env = env.reopen(options);
    assert_eq!(
        env.leases().await.leases,
        vec![LeaseStatus { id: 1 }, LeaseStatus { id: 2 }]
    );
    // The remaining TTL starts over from the granted TTL.
    assert_eq!(
        env.ttl(1, true).await,
        env.time_to_live(5, 1, 99, 100, &["x"])
    );
    assert_eq!(
        env.ttl(2, true).await,
        env.time_to_live(5, 2, 199, 200, &["z"])
    );
    assert_status(
        env.grant(2, 10).await,
        Code::FailedPrecondition,
        LEASE_EXISTS,
    );
    env.put_lease("w", "v", 2).await.unwrap(); // 6
    assert_eq!(
        env.revoke(2).await.unwrap(),
        LeaseRevokeResponse { header: env.hdr(7) }
    );
    assert_eq!(
        env.range(range_req("\0", "\0")).await.unwrap().kvs,
        vec![leased("x", "v", 2, 2, 1, 1), kv("y", "plain", 3, 5, 2)]
    );
}
