//! Election and lock on a store in a temporary directory, with etcd 3.5.1's answers
//! (recorded from its gateway, `server/etcdserver/api/v3election`, `v3lock`).

use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::{Code, Request, Status};

use crate::embedded::lease::{LeaseOptions, Lessor};
use crate::embedded::mvcc::Store;
use crate::embedded::{ElectionService, LockService};
use crate::etcdserverpb::{PutRequest, RangeRequest, ResponseHeader};
use crate::mvccpb::KeyValue;
use crate::v3electionpb::election_server::Election;
use crate::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, ProclaimRequest, ResignRequest,
};
use crate::v3lockpb::lock_server::Lock;
use crate::v3lockpb::{LockRequest, UnlockRequest};

/// How long a call that must block is given to (wrongly) complete.
const BLOCKED: Duration = Duration::from_millis(300);

struct Env {
    _dir: TempDir,
    store: Arc<Store>,
    lessor: Arc<Lessor>,
    election: ElectionService,
    lock: LockService,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open store"));
        let options = LeaseOptions {
            min_ttl: 1,
            expiry_check: Duration::from_millis(50),
        };
        let lessor = Lessor::open(Arc::clone(&store), options).expect("lessor");
        Self {
            _dir: dir,
            store,
            election: ElectionService::new(Arc::clone(&lessor)),
            lock: LockService::new(Arc::clone(&lessor)),
            lessor,
        }
    }

    fn hdr(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.store.header(revision))
    }

    async fn grant(&self, ttl: i64) -> i64 {
        self.lessor.grant(0, ttl).await.expect("grant").0
    }

    async fn campaign(
        &self,
        name: &str,
        lease: i64,
        value: &str,
    ) -> Result<CampaignResponse, Status> {
        let request = CampaignRequest {
            name: name.into(),
            lease,
            value: value.into(),
        };
        self.election
            .campaign(Request::new(request))
            .await
            .map(|response| response.into_inner())
    }

    async fn lock(&self, name: &str, lease: i64) -> Result<Vec<u8>, Status> {
        let request = LockRequest {
            name: name.into(),
            lease,
        };
        let response = self.lock.lock(Request::new(request)).await?;
        Ok(response.into_inner().key)
    }

    fn keys(&self, prefix: &str) -> Vec<Vec<u8>> {
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().expect("prefix") += 1;
        let response = self
            .store
            .range(&RangeRequest {
                key: prefix.into(),
                range_end: end,
                ..Default::default()
            })
            .expect("range");
        response.kvs.into_iter().map(|kv| kv.key).collect()
    }

    /// Waits (bounded) until the keys under `prefix` are `expected`.
    async fn await_keys(&self, prefix: &str, expected: &[Vec<u8>]) {
        let mut expected = expected.to_vec();
        expected.sort();
        for _ in 0..100 {
            if self.keys(prefix) == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.keys(prefix), expected, "keys under {prefix}");
    }
}

fn key(name: &str, lease: i64) -> Vec<u8> {
    format!("{name}/{lease:x}").into_bytes()
}

fn unknown(status: &Status) -> (Code, &str) {
    (status.code(), status.message())
}

#[tokio::test]
async fn campaign_answers_the_leader_key_and_leader_reads_it() {
    let env = Env::new();
    let lease = env.grant(30).await;
    let response = env.campaign("el", lease, "v1").await.expect("campaign");
    assert_eq!(
        response,
        CampaignResponse {
            header: env.hdr(2),
            leader: Some(LeaderKey {
                name: b"el".to_vec(),
                key: key("el", lease),
                rev: 2,
                lease,
            }),
        }
    );
    let leader = env
        .election
        .leader(Request::new(LeaderRequest { name: "el".into() }))
        .await
        .expect("leader")
        .into_inner();
    assert_eq!(leader.header, env.hdr(2));
    assert_eq!(
        leader.kv,
        Some(KeyValue {
            key: key("el", lease),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"v1".to_vec(),
            lease,
        })
    );
    // The same lease again takes the key over; a new value is proclaimed on it.
    let again = env
        .campaign("el", lease, "v2")
        .await
        .expect("campaign again");
    assert_eq!(again.header, env.hdr(2));
    assert_eq!(again.leader.expect("leader").rev, 2);
    assert_eq!(env.store.current_revision(), 3);
}

#[tokio::test]
async fn a_second_campaign_waits_for_the_first_to_resign() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    let leader = env.campaign("el", first, "a").await.expect("first");
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.campaign("el", second, "b").await }
    });
    tokio::time::sleep(BLOCKED).await;
    assert!(!waiting.is_finished(), "the second campaign must wait");
    let resigned = env
        .election
        .resign(Request::new(ResignRequest {
            leader: leader.leader,
        }))
        .await
        .expect("resign")
        .into_inner();
    assert_eq!(resigned.header, env.hdr(4));
    let won = waiting.await.expect("task").expect("second campaign");
    // etcd answers the header of the campaign's own txn.
    assert_eq!(won.header, env.hdr(3));
    assert_eq!(won.leader.expect("leader").key, key("el", second));
}

#[tokio::test]
async fn election_errors_are_etcds() {
    let env = Env::new();
    let status = env.campaign("el", 12345, "v").await.expect_err("no lease");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "etcdserver: requested lease not found")
    );
    let status = env
        .election
        .leader(Request::new(LeaderRequest { name: "el".into() }))
        .await
        .expect_err("no leader");
    assert_eq!(unknown(&status), (Code::Unknown, "election: no leader"));
    let status = env
        .election
        .proclaim(Request::new(ProclaimRequest::default()))
        .await
        .expect_err("no leader key");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, r#""leader" field must be provided"#)
    );
    let status = env
        .election
        .resign(Request::new(ResignRequest::default()))
        .await
        .expect_err("no leader key");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, r#""leader" field must be provided"#)
    );
    let lease = env.grant(30).await;
    let status = env
        .election
        .proclaim(Request::new(ProclaimRequest {
            leader: Some(LeaderKey {
                name: "el".into(),
                key: key("el", lease),
                rev: 3,
                lease,
            }),
            value: "v".into(),
        }))
        .await
        .expect_err("not leader");
    assert_eq!(unknown(&status), (Code::Unknown, "election: not leader"));
}

#[tokio::test]
async fn lease_zero_sessions_grant_a_lease_of_sixty_seconds() {
    let env = Env::new();
    let response = env.campaign("el", 0, "v").await.expect("campaign");
    let lease = response.leader.expect("leader").lease;
    let info = env.lessor.time_to_live(lease, true).expect("granted lease");
    assert_eq!(info.granted_ttl, 60);
    assert_eq!(info.keys, vec![key("el", lease)]);
}

#[tokio::test]
async fn a_cancelled_campaign_resigns() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    env.campaign("el", first, "a").await.expect("first");
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.campaign("el", second, "b").await }
    });
    env.await_keys("el/", &[key("el", first), key("el", second)])
        .await;
    waiting.abort();
    env.await_keys("el/", &[key("el", first)]).await;
}

#[tokio::test]
async fn observe_streams_the_leader_its_proclaims_and_the_next_leader() {
    let env = Env::new();
    let mut stream = env
        .election
        .observe(Request::new(LeaderRequest { name: "el".into() }))
        .await
        .expect("observe")
        .into_inner();
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    let leader = env.campaign("el", first, "a").await.expect("first");
    let next = stream.next().await.expect("leader").expect("ok");
    assert_eq!(next.header, env.hdr(2));
    assert_eq!(next.kv.expect("kv").value, b"a");
    env.election
        .proclaim(Request::new(ProclaimRequest {
            leader: leader.leader.clone(),
            value: "b".into(),
        }))
        .await
        .expect("proclaim");
    let next = stream.next().await.expect("proclaim").expect("ok");
    assert_eq!(next.header, env.hdr(3));
    assert_eq!(next.kv.expect("kv").value, b"b");
    let env = Arc::new(env);
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.campaign("el", second, "c").await }
    });
    env.await_keys("el/", &[key("el", first), key("el", second)])
        .await;
    env.lessor.revoke(first).await.expect("revoke");
    waiting.await.expect("task").expect("second wins");
    let next = stream.next().await.expect("next leader").expect("ok");
    assert_eq!(next.kv.expect("kv").key, key("el", second));
}

#[tokio::test]
async fn lock_waits_while_held_and_unlock_releases() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    let held = env.lock("lk", first).await.expect("lock");
    assert_eq!(held, key("lk", first));
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.lock("lk", second).await }
    });
    tokio::time::sleep(BLOCKED).await;
    assert!(!waiting.is_finished(), "the second lock must wait");
    let unlocked = env
        .lock
        .unlock(Request::new(UnlockRequest { key: held }))
        .await
        .expect("unlock")
        .into_inner();
    assert_eq!(unlocked.header, env.hdr(4));
    assert_eq!(
        waiting.await.expect("task").expect("lock"),
        key("lk", second)
    );
    // Unlocking a key that does not exist answers the current revision.
    let unlocked = env
        .lock
        .unlock(Request::new(UnlockRequest { key: "none".into() }))
        .await
        .expect("unlock")
        .into_inner();
    assert_eq!(unlocked.header, env.hdr(4));
    let status = env
        .lock
        .unlock(Request::new(UnlockRequest::default()))
        .await
        .expect_err("no key");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "etcdserver: key is not provided")
    );
}

#[tokio::test]
async fn a_lock_whose_caller_goes_away_leaves_no_key() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    env.lock("lk", first).await.expect("lock");
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.lock("lk", second).await }
    });
    env.await_keys("lk/", &[key("lk", first), key("lk", second)])
        .await;
    waiting.abort();
    env.await_keys("lk/", &[key("lk", first)]).await;
}

#[tokio::test]
async fn a_revoked_holder_releases_and_a_revoked_waiter_stops() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    let third = env.grant(30).await;
    env.lock("lk", first).await.expect("lock");
    let spawn_lock = |lease| {
        let env = Arc::clone(&env);
        tokio::spawn(async move { env.lock("lk", lease).await })
    };
    let second_waits = spawn_lock(second);
    env.await_keys("lk/", &[key("lk", first), key("lk", second)])
        .await;
    let third_waits = spawn_lock(third);
    env.await_keys(
        "lk/",
        &[key("lk", first), key("lk", second), key("lk", third)],
    )
    .await;
    env.lessor.revoke(third).await.expect("revoke waiter");
    let status = third_waits.await.expect("task").expect_err("expired");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "mutex: session is expired")
    );
    env.lessor.revoke(first).await.expect("revoke holder");
    assert_eq!(
        second_waits.await.expect("task").expect("lock"),
        key("lk", second)
    );
}

#[tokio::test]
async fn lock_with_an_unknown_lease_fails_as_etcd() {
    let env = Env::new();
    let status = env.lock("lk", 999).await.expect_err("no lease");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "etcdserver: requested lease not found")
    );
    // A key put meanwhile under the prefix does not make a lock wait forever once deleted.
    env.store
        .put(PutRequest {
            key: "lk/other".into(),
            ..Default::default()
        })
        .await
        .expect("put");
    assert_eq!(env.keys("lk/"), vec![b"lk/other".to_vec()]);
}

#[tokio::test]
async fn a_waiter_whose_lease_expires_stops_waiting() {
    let env = Arc::new(Env::new());
    let holder = env.grant(30).await;
    let short = env.grant(1).await;
    env.lock("lk", holder).await.expect("lock");
    env.campaign("el", holder, "a").await.expect("campaign");
    let lock = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.lock("lk", short).await }
    });
    let campaign = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.campaign("el", short, "b").await }
    });
    let answers = tokio::time::timeout(Duration::from_secs(5), async {
        (lock.await.expect("task"), campaign.await.expect("task"))
    })
    .await
    .expect("both waiters stop once the lease expires");
    let status = answers.0.expect_err("expired");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "mutex: session is expired")
    );
    let status = answers.1.expect_err("expired");
    assert_eq!(
        unknown(&status),
        (Code::Unknown, "etcdserver: requested lease not found")
    );
    env.await_keys("lk/", &[key("lk", holder)]).await;
    env.await_keys("el/", &[key("el", holder)]).await;
}

#[tokio::test]
async fn a_campaign_whose_key_is_deleted_is_not_leader() {
    let env = Arc::new(Env::new());
    let first = env.grant(30).await;
    let second = env.grant(30).await;
    env.campaign("el", first, "a").await.expect("campaign");
    let waiting = tokio::spawn({
        let env = Arc::clone(&env);
        async move { env.campaign("el", second, "b").await }
    });
    env.await_keys("el/", &[key("el", first), key("el", second)])
        .await;
    env.store
        .delete_range(crate::etcdserverpb::DeleteRangeRequest {
            key: key("el", second),
            ..Default::default()
        })
        .await
        .expect("delete");
    let status = waiting.await.expect("task").expect_err("not leader");
    assert_eq!(unknown(&status), (Code::Unknown, "election: not leader"));
}
