use super::*;
use crate::etcdserverpb::range_request::{SortOrder, SortTarget};

/// a=1 (2), b=22 (3), c=3 (4), a=4 (5), d=0 (6), delete c (7).
async fn sample() -> Env {
    let env = Env::new();
    env.put("a", "1").await;
    env.put("b", "22").await;
    env.put("c", "3").await;
    env.put("a", "4").await;
    env.put("d", "0").await;
    env.delete(del_req("c", "")).await.unwrap();
    assert_eq!(env.store.current_revision(), 7);
    env
}

fn a() -> KeyValue {
    kv("a", "4", 2, 5, 2)
}
fn b() -> KeyValue {
    kv("b", "22", 3, 3, 1)
}
fn d() -> KeyValue {
    kv("d", "0", 6, 6, 1)
}

fn keys(resp: &RangeResponse) -> Vec<String> {
    resp.kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn fresh_store_is_at_revision_1() {
    let env = Env::new();
    let resp = env.get("missing").await;
    assert_eq!(
        resp,
        RangeResponse {
            header: env.hdr(1),
            kvs: vec![],
            more: false,
            count: 0,
        }
    );
    let header = resp.header.unwrap();
    assert_ne!(header.cluster_id, 0);
    assert_ne!(header.member_id, 0);
    assert_eq!(header.raft_term, 2);
}

#[tokio::test]
async fn single_key_prefix_and_open_ranges() {
    let env = sample().await;
    assert_eq!(
        env.get("a").await,
        RangeResponse {
            header: env.hdr(7),
            kvs: vec![a()],
            more: false,
            count: 1,
        }
    );
    assert_eq!(
        env.get("c").await,
        RangeResponse {
            header: env.hdr(7),
            ..Default::default()
        },
        "deleted"
    );
    assert_eq!(
        env.range(range_req("a", "c")).await.unwrap(),
        RangeResponse {
            header: env.hdr(7),
            kvs: vec![a(), b()],
            more: false,
            count: 2,
        }
    );
    let from_b = env.range(range_req("b", "\0")).await.unwrap();
    assert_eq!(from_b.kvs, vec![b(), d()]);
    assert_eq!(from_b.count, 2);
    let all = env.range(range_req("\0", "\0")).await.unwrap();
    assert_eq!(all.kvs, vec![a(), b(), d()]);
    let inverted = env.range(range_req("c", "a")).await.unwrap();
    assert_eq!(
        inverted,
        RangeResponse {
            header: env.hdr(7),
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn limit_more_and_count() {
    let env = sample().await;
    let mut r = range_req("\0", "\0");
    r.limit = 1;
    assert_eq!(
        env.range(r.clone()).await.unwrap(),
        RangeResponse {
            header: env.hdr(7),
            kvs: vec![a()],
            more: true,
            count: 3,
        }
    );
    r.limit = 2;
    let resp = env.range(r.clone()).await.unwrap();
    assert_eq!(
        (keys(&resp), resp.more, resp.count),
        (vec!["a".into(), "b".into()], true, 3)
    );
    r.limit = 3;
    let resp = env.range(r.clone()).await.unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (3, false, 3));
    r.limit = 10;
    let resp = env.range(r).await.unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (3, false, 3));
}

#[tokio::test]
async fn historical_revisions() {
    let env = sample().await;
    let mut r = range_req("\0", "\0");
    r.revision = 4;
    assert_eq!(
        env.range(r.clone()).await.unwrap(),
        RangeResponse {
            // The header has the current revision, not the one read.
            header: env.hdr(7),
            kvs: vec![kv("a", "1", 2, 2, 1), b(), kv("c", "3", 4, 4, 1)],
            more: false,
            count: 3,
        }
    );
    r.revision = 1;
    assert_eq!(env.range(r.clone()).await.unwrap().count, 0);
    r.revision = -1;
    assert_eq!(env.range(r.clone()).await.unwrap().kvs, vec![a(), b(), d()]);
    r.revision = 7;
    assert_eq!(env.range(r.clone()).await.unwrap().kvs, vec![a(), b(), d()]);
    r.revision = 8;
    assert_status(env.range(r).await, Code::OutOfRange, FUTURE_REV);
}

#[tokio::test]
async fn keys_only_and_count_only() {
    let env = sample().await;
    let mut r = range_req("a", "\0");
    r.keys_only = true;
    let resp = env.range(r).await.unwrap();
    assert_eq!(
        resp.kvs,
        vec![
            KeyValue {
                value: vec![],
                ..a()
            },
            KeyValue {
                value: vec![],
                ..b()
            },
            KeyValue {
                value: vec![],
                ..d()
            },
        ]
    );
    let mut r = range_req("a", "\0");
    r.count_only = true;
    r.limit = 1;
    assert_eq!(
        env.range(r).await.unwrap(),
        RangeResponse {
            header: env.hdr(7),
            kvs: vec![],
            more: false,
            count: 3,
        }
    );
}

#[tokio::test]
async fn revision_filters_do_not_change_count() {
    let env = sample().await;
    let all = || range_req("\0", "\0");
    let cases: Vec<(RangeRequest, Vec<KeyValue>)> = vec![
        (
            RangeRequest {
                min_mod_revision: 4,
                ..all()
            },
            vec![a(), d()],
        ),
        (
            RangeRequest {
                max_mod_revision: 5,
                ..all()
            },
            vec![a(), b()],
        ),
        (
            RangeRequest {
                min_create_revision: 3,
                ..all()
            },
            vec![b(), d()],
        ),
        (
            RangeRequest {
                max_create_revision: 2,
                ..all()
            },
            vec![a()],
        ),
        (
            RangeRequest {
                min_mod_revision: 4,
                max_mod_revision: 5,
                ..all()
            },
            vec![a()],
        ),
    ];
    for (r, expected) in cases {
        let resp = env.range(r.clone()).await.unwrap();
        assert_eq!(resp.kvs, expected, "{r:?}");
        assert_eq!((resp.count, resp.more), (3, false), "{r:?}");
    }
    // The limit applies after the filters.
    let resp = env
        .range(RangeRequest {
            min_mod_revision: 4,
            limit: 1,
            ..all()
        })
        .await
        .unwrap();
    assert_eq!((resp.kvs, resp.more, resp.count), (vec![a()], true, 3));
}

#[tokio::test]
async fn sorting() {
    let env = sample().await;
    let sorted = |target: SortTarget, order: SortOrder| RangeRequest {
        sort_target: target as i32,
        sort_order: order as i32,
        ..range_req("\0", "\0")
    };
    let cases = [
        (SortTarget::Key, SortOrder::None, ["a", "b", "d"]),
        (SortTarget::Key, SortOrder::Ascend, ["a", "b", "d"]),
        (SortTarget::Key, SortOrder::Descend, ["d", "b", "a"]),
        // Values compare as bytes: "0" < "22" < "4".
        (SortTarget::Value, SortOrder::Ascend, ["d", "b", "a"]),
        (SortTarget::Value, SortOrder::Descend, ["a", "b", "d"]),
        // Another target without an order sorts ascending; ties stay in key order.
        (SortTarget::Version, SortOrder::None, ["b", "d", "a"]),
        (SortTarget::Version, SortOrder::Descend, ["a", "b", "d"]),
        (SortTarget::Create, SortOrder::Ascend, ["a", "b", "d"]),
        (SortTarget::Create, SortOrder::Descend, ["d", "b", "a"]),
        (SortTarget::Mod, SortOrder::Ascend, ["b", "a", "d"]),
        (SortTarget::Mod, SortOrder::Descend, ["d", "a", "b"]),
    ];
    for (target, order, expected) in cases {
        let resp = env.range(sorted(target, order)).await.unwrap();
        assert_eq!(keys(&resp), expected, "{target:?} {order:?}");
        assert_eq!(resp.count, 3);
    }
    // Sorting happens before the limit.
    let resp = env
        .range(RangeRequest {
            limit: 2,
            ..sorted(SortTarget::Mod, SortOrder::Descend)
        })
        .await
        .unwrap();
    assert_eq!((resp.kvs, resp.more, resp.count), (vec![d(), a()], true, 3));
}

#[tokio::test]
async fn compacted_revisions() {
    let env = sample().await;
    env.compact(5).await.unwrap();
    let mut r = range_req("\0", "\0");
    r.revision = 4;
    assert_status(env.range(r.clone()).await, Code::OutOfRange, COMPACTED);
    r.revision = 5;
    assert_eq!(
        env.range(r).await.unwrap().kvs,
        vec![a(), b(), kv("c", "3", 4, 4, 1)]
    );
}

#[tokio::test]
async fn empty_key_is_rejected() {
    let env = Env::new();
    assert_status(
        env.range(get_req("")).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    assert_status(
        env.range(range_req("", "\0")).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
}

#[tokio::test]
async fn range_stream_is_not_served() {
    let env = Env::new();
    let err = env
        .kv
        .range_stream(Request::new(get_req("a")))
        .await
        .err()
        .expect("an error");
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(
        err.message(),
        "embedded backend does not support RangeStream yet"
    );
}
