use super::*;
use crate::embedded::LeaseLookup;

#[tokio::test]
async fn puts_bump_revision_version_and_keep_create_revision() {
    let env = Env::new();
    assert_eq!(
        env.put("a", "1").await,
        PutResponse {
            header: env.hdr(2),
            prev_kv: None,
        }
    );
    let resp = env
        .put_req(PutRequest {
            key: "a".into(),
            value: "2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        resp,
        PutResponse {
            header: env.hdr(3),
            prev_kv: Some(kv("a", "1", 2, 2, 1)),
        }
    );
    env.put("b", "x").await;
    env.put("a", "3").await;
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "3", 2, 5, 3)]);
    assert_eq!(env.get("b").await.kvs, vec![kv("b", "x", 4, 4, 1)]);
    // prev_kv on a new key: none.
    let resp = env
        .put_req(PutRequest {
            key: "c".into(),
            value: "1".into(),
            prev_kv: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(resp.prev_kv, None);
    // An empty value is a value.
    env.put("e", "").await;
    assert_eq!(env.get("e").await.kvs, vec![kv("e", "", 7, 7, 1)]);
}

#[tokio::test]
async fn ignore_value_and_ignore_lease() {
    let env = Env::new();
    let ignore_value = |key: &str| PutRequest {
        key: key.into(),
        ignore_value: true,
        ..Default::default()
    };
    assert_status(
        env.put_req(ignore_value("a")).await,
        Code::InvalidArgument,
        KEY_NOT_FOUND,
    );
    assert_eq!(
        env.store.current_revision(),
        1,
        "a failed put changes nothing"
    );
    env.put("a", "old").await;
    assert_eq!(
        env.put_req(ignore_value("a")).await.unwrap(),
        PutResponse {
            header: env.hdr(3),
            prev_kv: None,
        }
    );
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "old", 2, 3, 2)]);
    assert_status(
        env.put_req(PutRequest {
            value: "new".into(),
            ..ignore_value("a")
        })
        .await,
        Code::InvalidArgument,
        "etcdserver: value is provided",
    );

    let ignore_lease = |key: &str| PutRequest {
        key: key.into(),
        value: "v".into(),
        ignore_lease: true,
        ..Default::default()
    };
    assert_status(
        env.put_req(ignore_lease("missing")).await,
        Code::InvalidArgument,
        KEY_NOT_FOUND,
    );
    env.put_req(ignore_lease("a")).await.unwrap();
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "v", 2, 4, 3)]);
    assert_status(
        env.put_req(PutRequest {
            lease: 5,
            ..ignore_lease("a")
        })
        .await,
        Code::InvalidArgument,
        "etcdserver: lease is provided",
    );
}

struct Granted(Vec<i64>);

impl LeaseLookup for Granted {
    fn exists(&self, id: i64) -> bool {
        self.0.contains(&id)
    }
}

#[tokio::test]
async fn leases_go_through_the_lookup() {
    let env = Env::new();
    let with_lease = |lease| PutRequest {
        key: "k".into(),
        value: "v".into(),
        lease,
        ..Default::default()
    };
    assert_status(
        env.put_req(with_lease(7)).await,
        Code::NotFound,
        LEASE_NOT_FOUND,
    );
    assert_eq!(env.store.current_revision(), 1);

    env.store.set_lease_lookup(Arc::new(Granted(vec![7])));
    env.put_req(with_lease(7)).await.unwrap();
    assert_eq!(env.get("k").await.kvs[0].lease, 7);
    // ignore_lease keeps the lease, a plain put drops it.
    env.put_req(PutRequest {
        key: "k".into(),
        value: "w".into(),
        ignore_lease: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(env.get("k").await.kvs[0].lease, 7);
    env.put("k", "x").await;
    assert_eq!(env.get("k").await.kvs[0].lease, 0);
    assert_status(
        env.put_req(with_lease(8)).await,
        Code::NotFound,
        LEASE_NOT_FOUND,
    );
}

#[tokio::test]
async fn deletes() {
    let env = Env::new();
    for key in ["a", "b", "c", "d"] {
        env.put(key, key).await;
    }
    // Revision 5 now.
    assert_eq!(
        env.delete(DeleteRangeRequest {
            prev_kv: true,
            ..del_req("a", "")
        })
        .await
        .unwrap(),
        DeleteRangeResponse {
            header: env.hdr(6),
            deleted: 1,
            prev_kvs: vec![kv("a", "a", 2, 2, 1)],
        }
    );
    // Nothing to delete: no new revision.
    assert_eq!(
        env.delete(del_req("a", "")).await.unwrap(),
        DeleteRangeResponse {
            header: env.hdr(6),
            deleted: 0,
            prev_kvs: vec![],
        }
    );
    assert_eq!(env.store.current_revision(), 6);
    assert_eq!(
        env.delete(del_req("b", "d")).await.unwrap(),
        DeleteRangeResponse {
            header: env.hdr(7),
            deleted: 2,
            prev_kvs: vec![],
        }
    );
    assert_eq!(
        env.range(range_req("\0", "\0")).await.unwrap().kvs,
        vec![kv("d", "d", 5, 5, 1)]
    );
    // A deleted key comes back as a new key.
    env.put("a", "again").await;
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "again", 8, 8, 1)]);
    assert_eq!(
        env.delete(DeleteRangeRequest {
            prev_kv: true,
            ..del_req("\0", "\0")
        })
        .await
        .unwrap(),
        DeleteRangeResponse {
            header: env.hdr(9),
            deleted: 2,
            prev_kvs: vec![kv("a", "again", 8, 8, 1), kv("d", "d", 5, 5, 1)],
        }
    );
    assert_eq!(env.range(range_req("\0", "\0")).await.unwrap().count, 0);
    assert_status(
        env.delete(del_req("", "")).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
}

#[tokio::test]
async fn empty_key_and_oversized_requests() {
    let env = Env::new();
    assert_status(
        env.put_req(PutRequest::default()).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    let big = PutRequest {
        key: "big".into(),
        value: vec![b'x'; 1_600_000],
        ..Default::default()
    };
    assert_status(
        env.put_req(big).await,
        Code::InvalidArgument,
        "etcdserver: request is too large",
    );
    let fits = PutRequest {
        key: "fits".into(),
        value: vec![b'x'; 1_500_000],
        ..Default::default()
    };
    env.put_req(fits).await.unwrap();
    assert_eq!(env.store.current_revision(), 2);
}

#[tokio::test]
async fn restart_continues_revisions_and_keeps_ids() {
    let env = Env::new();
    env.put("a", "1").await;
    env.put("a", "2").await;
    env.put("b", "1").await;
    env.delete(del_req("b", "")).await.unwrap();
    let (member, cluster) = (env.store.member_id(), env.store.cluster_id());
    let env = env.reopen();
    assert_eq!(
        (env.store.member_id(), env.store.cluster_id()),
        (member, cluster)
    );
    assert_eq!(env.store.current_revision(), 5);
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "2", 2, 3, 2)]);
    assert_eq!(env.get("b").await.count, 0);
    let mut old = get_req("b");
    old.revision = 4;
    assert_eq!(
        env.range(old).await.unwrap().kvs,
        vec![kv("b", "1", 4, 4, 1)]
    );
    assert_eq!(env.put("a", "3").await.header, env.hdr(6));
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "3", 2, 6, 3)]);
    assert_eq!(env.put("b", "2").await.header, env.hdr(7));
    assert_eq!(env.get("b").await.kvs, vec![kv("b", "2", 7, 7, 1)]);
    assert!(crate::embedded::storage::db_path(&env.path()).is_file());
}
