use super::*;
use crate::embedded::key_index::Revision;
use crate::embedded::storage::Storage;

/// a=1 (2), a=2 (3), b=1 (4), a=3 (5), delete b (6), c=1 (7).
async fn sample() -> Env {
    let env = Env::new();
    env.put("a", "1").await;
    env.put("a", "2").await;
    env.put("b", "1").await;
    env.put("a", "3").await;
    env.delete(del_req("b", "")).await.unwrap();
    env.put("c", "1").await;
    env
}

fn at(key: &str, revision: i64) -> RangeRequest {
    RangeRequest {
        revision,
        ..get_req(key)
    }
}

/// The revisions of the rows left in storage (the store must be closed).
fn stored_revisions(env: Env) -> (Env, Vec<(i64, i64)>) {
    let path = env.path();
    let Env { dir, store, kv } = env;
    drop(kv);
    drop(Arc::into_inner(store).unwrap());
    let revs = {
        let storage = Storage::open(&path).unwrap();
        let rows = storage.read().unwrap();
        rows.rows_from(Revision::new(0, 0))
            .unwrap()
            .map(|row| {
                let (rev, _, _) = row.unwrap();
                (rev.main, rev.sub)
            })
            .collect()
    };
    let store = Arc::new(Store::open(&path).unwrap());
    let kv = KvService::new(Arc::clone(&store));
    (Env { dir, store, kv }, revs)
}

#[tokio::test]
async fn compaction_limits() {
    let env = sample().await;
    assert_status(env.compact(8).await, Code::OutOfRange, FUTURE_REV);
    assert_eq!(
        env.compact(4).await.unwrap(),
        CompactionResponse { header: env.hdr(7) }
    );
    assert_eq!(env.store.current_revision(), 7, "compaction is not a write");
    assert_eq!(env.store.compact_revision(), 4);
    assert_status(env.compact(4).await, Code::OutOfRange, COMPACTED);
    assert_status(env.compact(3).await, Code::OutOfRange, COMPACTED);
    assert_status(env.compact(0).await, Code::OutOfRange, COMPACTED);
    env.compact(7).await.unwrap();
}

#[tokio::test]
async fn compaction_at_zero_on_a_new_store() {
    let env = Env::new();
    env.compact(0).await.unwrap();
    // As observed on etcd: compacting 0 again (or an empty request) is "compacted".
    assert_status(env.compact(0).await, Code::OutOfRange, COMPACTED);
    env.compact(1).await.unwrap();
}

#[tokio::test]
async fn compaction_keeps_what_reads_at_or_after_it_need() {
    let env = sample().await;
    env.compact(4).await.unwrap();
    assert_status(env.range(at("a", 3)).await, Code::OutOfRange, COMPACTED);
    assert_eq!(
        env.range(at("a", 4)).await.unwrap().kvs,
        vec![kv("a", "2", 2, 3, 2)]
    );
    assert_eq!(
        env.range(at("b", 4)).await.unwrap().kvs,
        vec![kv("b", "1", 4, 4, 1)]
    );
    assert_eq!(
        env.range(at("a", 5)).await.unwrap().kvs,
        vec![kv("a", "3", 2, 5, 3)]
    );
    assert_eq!(env.range(at("b", 6)).await.unwrap().count, 0);
    let (env, revs) = stored_revisions(env);
    // a@2 is gone; a@3 (latest at 4) stays; b@4 stays (deleted only at 6).
    assert_eq!(revs, vec![(3, 0), (4, 0), (5, 0), (6, 0), (7, 0)]);

    env.compact(6).await.unwrap();
    assert_eq!(
        env.range(at("a", 6)).await.unwrap().kvs,
        vec![kv("a", "3", 2, 5, 3)]
    );
    assert_eq!(env.range(at("b", 6)).await.unwrap().count, 0);
    let (env, revs) = stored_revisions(env);
    // b's whole life, tombstone included, is gone.
    assert_eq!(revs, vec![(5, 0), (7, 0)]);

    // After a restart the compaction revision, versions and create revisions are intact.
    assert_eq!(env.store.compact_revision(), 6);
    assert_status(env.range(at("a", 5)).await, Code::OutOfRange, COMPACTED);
    assert_status(env.compact(6).await, Code::OutOfRange, COMPACTED);
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "3", 2, 5, 3)]);
    env.put("a", "4").await;
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "4", 2, 8, 4)]);
    env.put("b", "again").await;
    assert_eq!(env.get("b").await.kvs, vec![kv("b", "again", 9, 9, 1)]);
}

#[tokio::test]
async fn revision_survives_when_its_rows_are_compacted() {
    let env = Env::new();
    env.put("a", "1").await;
    env.delete(del_req("a", "")).await.unwrap();
    env.compact(3).await.unwrap();
    let (env, revs) = stored_revisions(env);
    assert!(revs.is_empty());
    assert_eq!(env.store.current_revision(), 3);
    assert_eq!(env.put("b", "1").await.header, env.hdr(4));
}

#[tokio::test]
async fn history_reads() {
    let env = sample().await;
    let history = env.store.history(2, 100, true).unwrap();
    assert_eq!(history.through_revision, 7);
    let revisions: Vec<i64> = history.events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![2, 3, 4, 5, 6, 7]);
    let delete = &history.events[4].events[0];
    assert_eq!(
        delete.r#type,
        crate::mvccpb::event::EventType::Delete as i32
    );
    assert_eq!(
        delete.kv,
        Some(KeyValue {
            key: "b".into(),
            mod_revision: 6,
            ..Default::default()
        })
    );
    assert_eq!(delete.prev_kv, Some(kv("b", "1", 4, 4, 1)));
    assert_eq!(
        history.events[1].events[0].prev_kv,
        Some(kv("a", "1", 2, 2, 1))
    );
    assert_eq!(history.events[0].events[0].prev_kv, None);

    let limited = env.store.history(3, 2, false).unwrap();
    assert_eq!(limited.through_revision, 4);
    assert_eq!(limited.events.len(), 2);
    assert_eq!(limited.events[0].events[0].prev_kv, None);
    let future = env.store.history(8, 10, false).unwrap();
    assert_eq!((future.events.len(), future.through_revision), (0, 7));

    env.compact(4).await.unwrap();
    assert_eq!(
        env.store.history(3, 10, false),
        Err(crate::embedded::EtcdError::Compacted)
    );
    let after = env.store.history(4, 10, true).unwrap();
    let revisions: Vec<i64> = after.events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![4, 5, 6, 7]);
    // The version before revision 4 is compacted away: no prev_kv.
    assert_eq!(after.events[0].events[0].prev_kv, None);
    assert_eq!(
        after.events[1].events[0].prev_kv,
        Some(kv("a", "2", 2, 3, 2))
    );
}
