use super::*;
use CompareResult::{Equal, Greater, Less, NotEqual};
use CompareTarget::{Create, Lease, Mod, Value, Version};

/// a: value "v2", create 2, mod 3, version 2, lease 0; b: "x" at 4. Revision 4.
async fn sample() -> Env {
    let env = Env::new();
    env.put("a", "v1").await;
    env.put("a", "v2").await;
    env.put("b", "x").await;
    env
}

async fn succeeded(env: &Env, compare: Compare) -> bool {
    let resp = env
        .txn(txn_req(vec![compare.clone()], vec![], vec![]))
        .await
        .unwrap_or_else(|err| panic!("{compare:?}: {err:?}"));
    resp.succeeded
}

#[tokio::test]
async fn compares_on_every_target() {
    let env = sample().await;
    let cases = [
        (Version, TargetUnion::Version(2), Equal, true),
        (Version, TargetUnion::Version(1), Equal, false),
        (Version, TargetUnion::Version(1), Greater, true),
        (Version, TargetUnion::Version(2), Greater, false),
        (Version, TargetUnion::Version(3), Less, true),
        (Version, TargetUnion::Version(2), NotEqual, false),
        (Version, TargetUnion::Version(5), NotEqual, true),
        (Create, TargetUnion::CreateRevision(2), Equal, true),
        (Create, TargetUnion::CreateRevision(3), Less, true),
        (Create, TargetUnion::CreateRevision(2), Greater, false),
        (Mod, TargetUnion::ModRevision(3), Equal, true),
        (Mod, TargetUnion::ModRevision(2), Greater, true),
        (Mod, TargetUnion::ModRevision(3), NotEqual, false),
        (Value, TargetUnion::Value(b"v2".to_vec()), Equal, true),
        (Value, TargetUnion::Value(b"v1".to_vec()), Greater, true),
        (Value, TargetUnion::Value(b"v3".to_vec()), Less, true),
        (Value, TargetUnion::Value(b"v2".to_vec()), NotEqual, false),
        (Value, TargetUnion::Value(vec![]), Greater, true),
        (Lease, TargetUnion::Lease(0), Equal, true),
        (Lease, TargetUnion::Lease(1), Less, true),
        // A target whose union holds another field compares against zero.
        (Version, TargetUnion::Value(b"v2".to_vec()), Equal, false),
        (Version, TargetUnion::Value(b"v2".to_vec()), Greater, true),
        (Value, TargetUnion::Version(2), Greater, true),
    ];
    for (target, union, result, expected) in cases {
        let c = cmp("a", target, result, union);
        assert_eq!(succeeded(&env, c.clone()).await, expected, "{c:?}");
    }
}

#[tokio::test]
async fn compares_on_a_missing_key() {
    let env = sample().await;
    let cases = [
        (Create, TargetUnion::CreateRevision(0), Equal, true),
        (Version, TargetUnion::Version(0), Equal, true),
        (Mod, TargetUnion::ModRevision(0), Equal, true),
        (Lease, TargetUnion::Lease(0), Equal, true),
        (Version, TargetUnion::Version(0), Greater, false),
        (Create, TargetUnion::CreateRevision(1), Less, true),
        // VALUE never matches a missing key.
        (Value, TargetUnion::Value(vec![]), Equal, false),
        (Value, TargetUnion::Value(b"x".to_vec()), NotEqual, false),
        (Value, TargetUnion::Value(b"x".to_vec()), Less, false),
    ];
    for (target, union, result, expected) in cases {
        let c = cmp("nope", target, result, union);
        assert_eq!(succeeded(&env, c.clone()).await, expected, "{c:?}");
    }
}

#[tokio::test]
async fn compares_on_a_range() {
    let env = Env::new();
    env.put("k1", "same").await;
    env.put("k2", "same").await;
    env.put("k3", "other").await;
    let ranged = |end: &str, target, result, union| Compare {
        range_end: end.into(),
        ..cmp("k1", target, result, union)
    };
    let same = || TargetUnion::Value(b"same".to_vec());
    assert!(succeeded(&env, ranged("k3", Value, Equal, same())).await);
    assert!(!succeeded(&env, ranged("k4", Value, Equal, same())).await);
    assert!(succeeded(&env, ranged("\0", Version, Equal, TargetUnion::Version(1))).await);
    assert!(succeeded(&env, ranged("\0", Mod, Less, TargetUnion::ModRevision(5))).await);
    assert!(!succeeded(&env, ranged("\0", Mod, Less, TargetUnion::ModRevision(4))).await);
    // An empty range compares like a missing key.
    let empty = |target, result, union| Compare {
        key: "x".into(),
        range_end: "y".into(),
        ..cmp("x", target, result, union)
    };
    assert!(succeeded(&env, empty(Create, Equal, TargetUnion::CreateRevision(0))).await);
    assert!(!succeeded(&env, empty(Value, Equal, same())).await);
    // Every compare must hold.
    let resp = env
        .txn(txn_req(
            vec![
                cmp("k1", Version, Equal, TargetUnion::Version(1)),
                cmp("k3", Version, Equal, TargetUnion::Version(2)),
            ],
            vec![],
            vec![],
        ))
        .await
        .unwrap();
    assert!(!resp.succeeded);
}

#[tokio::test]
async fn one_revision_for_the_whole_txn() {
    let env = sample().await;
    let resp = env
        .txn(txn_req(
            vec![cmp("a", Version, Equal, TargetUnion::Version(2))],
            vec![
                op_get("x"),
                op_put("x", "1"),
                op_get("x"),
                op_put("y", "2"),
                op_del("b", ""),
                op_del("zz", ""),
            ],
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(
        resp,
        TxnResponse {
            header: env.hdr(5),
            succeeded: true,
            responses: vec![
                // Before any change the txn reads at the current revision...
                resp_range(4, vec![]),
                resp_put(5, None),
                // ...and after one, at its own revision, seeing its own writes.
                resp_range(5, vec![kv("x", "1", 5, 5, 1)]),
                resp_put(5, None),
                resp_del(5, 1),
                resp_del(5, 0),
            ],
        }
    );
    assert_eq!(env.store.current_revision(), 5);
    assert_eq!(env.get("y").await.kvs, vec![kv("y", "2", 5, 5, 1)]);
    assert_eq!(env.get("b").await.count, 0);
    // The next write gets the next revision.
    assert_eq!(env.put("z", "").await.header, env.hdr(6));
}

#[tokio::test]
async fn failure_branch() {
    let env = sample().await;
    let resp = env
        .txn(txn_req(
            vec![cmp("a", Value, Equal, TargetUnion::Value(b"nope".to_vec()))],
            vec![op_put("s", "1")],
            vec![op_get("a"), op_put("f", "1")],
        ))
        .await
        .unwrap();
    assert_eq!(
        resp,
        TxnResponse {
            header: env.hdr(5),
            succeeded: false,
            responses: vec![
                resp_range(4, vec![kv("a", "v2", 2, 3, 2)]),
                resp_put(5, None)
            ],
        }
    );
    assert_eq!(env.get("s").await.count, 0);
    assert_eq!(env.get("f").await.count, 1);
}

#[tokio::test]
async fn txns_without_changes_keep_the_revision() {
    let env = sample().await;
    let read_only = env
        .txn(txn_req(vec![], vec![op_get("a")], vec![op_get("b")]))
        .await
        .unwrap();
    assert_eq!(
        read_only,
        TxnResponse {
            header: env.hdr(4),
            succeeded: true,
            responses: vec![resp_range(4, vec![kv("a", "v2", 2, 3, 2)])],
        }
    );
    // A write txn whose branch changes nothing.
    let no_op = env
        .txn(txn_req(
            vec![],
            vec![op_del("missing", "")],
            vec![op_put("a", "x")],
        ))
        .await
        .unwrap();
    assert_eq!(
        no_op,
        TxnResponse {
            header: env.hdr(4),
            succeeded: true,
            responses: vec![resp_del(4, 0)],
        }
    );
    let empty = env.txn(txn_req(vec![], vec![], vec![])).await.unwrap();
    assert_eq!(
        empty,
        TxnResponse {
            header: env.hdr(4),
            succeeded: true,
            responses: vec![],
        }
    );
    assert_eq!(env.store.current_revision(), 4);
}

#[tokio::test]
async fn nested_txns() {
    let env = sample().await;
    let resp = env
        .txn(txn_req(
            vec![],
            vec![
                op_put("outer", "1"),
                op_txn(
                    vec![cmp("a", Version, Equal, TargetUnion::Version(99))],
                    vec![op_put("then", "1")],
                    vec![op_put("else", "1"), op_get("outer")],
                ),
                op_txn(vec![], vec![op_get("else")], vec![]),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let nested = |succeeded, responses| ResponseOp {
        response: Some(OpResponse::ResponseTxn(TxnResponse {
            // Nested txns have an empty header.
            header: Some(ResponseHeader::default()),
            succeeded,
            responses,
        })),
    };
    assert_eq!(
        resp,
        TxnResponse {
            header: env.hdr(5),
            succeeded: true,
            responses: vec![
                resp_put(5, None),
                nested(
                    false,
                    vec![
                        resp_put(5, None),
                        resp_range(5, vec![kv("outer", "1", 5, 5, 1)])
                    ]
                ),
                nested(true, vec![resp_range(5, vec![kv("else", "1", 5, 5, 1)])]),
            ],
        }
    );
    assert_eq!(env.get("then").await.count, 0);
    // Nested compares see the store before the txn, not the outer txn's writes.
    let resp = env
        .txn(txn_req(
            vec![],
            vec![
                op_put("fresh", "1"),
                op_txn(
                    vec![cmp("fresh", Create, Equal, TargetUnion::CreateRevision(0))],
                    vec![op_put("saw-nothing", "1")],
                    vec![],
                ),
            ],
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(resp.header, env.hdr(6));
    assert_eq!(env.get("saw-nothing").await.count, 1);
}

#[tokio::test]
async fn request_checks() {
    let env = sample().await;
    let dup = txn_req(vec![], vec![op_put("a", "1"), op_put("a", "2")], vec![]);
    assert_status(env.txn(dup).await, Code::InvalidArgument, DUPLICATE_KEY);
    let overlap = txn_req(vec![], vec![op_del("a", "c"), op_put("b", "2")], vec![]);
    assert_status(env.txn(overlap).await, Code::InvalidArgument, DUPLICATE_KEY);
    let both_branches = txn_req(vec![], vec![op_put("a", "1")], vec![op_put("a", "2")]);
    env.txn(both_branches).await.unwrap();

    let many: Vec<RequestOp> = (0..129).map(|i| op_put(&format!("k{i}"), "")).collect();
    assert_status(
        env.txn(txn_req(vec![], many.clone(), vec![])).await,
        Code::InvalidArgument,
        TOO_MANY_OPS,
    );
    env.txn(txn_req(vec![], many[..128].to_vec(), vec![]))
        .await
        .unwrap();

    let empty_op = txn_req(vec![], vec![RequestOp { request: None }], vec![]);
    assert_status(
        env.txn(empty_op).await,
        Code::InvalidArgument,
        KEY_NOT_FOUND,
    );
    let empty_compare = txn_req(
        vec![cmp("", Version, Equal, TargetUnion::Version(0))],
        vec![],
        vec![],
    );
    assert_status(
        env.txn(empty_compare).await,
        Code::InvalidArgument,
        EMPTY_KEY,
    );
    let empty_put = txn_req(vec![], vec![op_put("", "v")], vec![]);
    assert_status(env.txn(empty_put).await, Code::InvalidArgument, EMPTY_KEY);
}

#[tokio::test]
async fn operation_checks_against_the_store() {
    let env = sample().await;
    let rev = env.store.current_revision();
    let ranged = |revision| RequestOp {
        request: Some(Op::RequestRange(RangeRequest {
            revision,
            ..get_req("a")
        })),
    };
    assert_status(
        env.txn(txn_req(
            vec![],
            vec![op_put("w", "1"), ranged(rev + 1)],
            vec![],
        ))
        .await,
        Code::OutOfRange,
        FUTURE_REV,
    );
    assert_status(
        env.txn(txn_req(vec![], vec![ranged(rev + 1)], vec![]))
            .await,
        Code::OutOfRange,
        FUTURE_REV,
    );
    let lease_put = RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: "l".into(),
            lease: 9,
            ..Default::default()
        })),
    };
    assert_status(
        env.txn(txn_req(vec![], vec![op_put("w", "1"), lease_put], vec![]))
            .await,
        Code::NotFound,
        LEASE_NOT_FOUND,
    );
    let ignore_missing = RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: "missing".into(),
            ignore_value: true,
            ..Default::default()
        })),
    };
    assert_status(
        env.txn(txn_req(vec![], vec![ignore_missing.clone()], vec![]))
            .await,
        Code::InvalidArgument,
        KEY_NOT_FOUND,
    );
    // Only the branch taken is checked.
    let resp = env
        .txn(txn_req(
            vec![],
            vec![op_put("w", "1")],
            vec![ignore_missing],
        ))
        .await
        .unwrap();
    assert_eq!(resp.header, env.hdr(rev + 1));

    env.compact(3).await.unwrap();
    assert_status(
        env.txn(txn_req(vec![], vec![ranged(2)], vec![])).await,
        Code::OutOfRange,
        COMPACTED,
    );
    // As in etcd, a negative revision inside a txn is below the compaction revision.
    assert_status(
        env.txn(txn_req(vec![], vec![ranged(-1)], vec![])).await,
        Code::OutOfRange,
        COMPACTED,
    );
    env.txn(txn_req(vec![], vec![ranged(3)], vec![]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_txn_failing_half_way_changes_nothing() {
    let env = sample().await;
    let events = env.store.subscribe();
    // The "\0" delete does not conflict with the put by etcd's interval rules, the put's key
    // exists before the txn, but the delete removes it before the put runs.
    let ignore_b = RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: "b".into(),
            ignore_value: true,
            ..Default::default()
        })),
    };
    assert_status(
        env.txn(txn_req(vec![], vec![op_del("a", "\0"), ignore_b], vec![]))
            .await,
        Code::InvalidArgument,
        KEY_NOT_FOUND,
    );
    assert_eq!(env.store.current_revision(), 4);
    assert_eq!(
        env.range(range_req("\0", "\0")).await.unwrap().kvs,
        vec![kv("a", "v2", 2, 3, 2), kv("b", "x", 4, 4, 1)]
    );
    assert!(events.is_empty());
    assert_eq!(env.put("a", "v3").await.header, env.hdr(5));
    assert_eq!(env.get("a").await.kvs, vec![kv("a", "v3", 2, 5, 3)]);
    let env = env.reopen();
    assert_eq!(env.get("b").await.kvs, vec![kv("b", "x", 4, 4, 1)]);
    assert_eq!(env.store.current_revision(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_txn_between_other_writes() {
    let env = sample().await;
    let ignore_b = RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: "b".into(),
            ignore_value: true,
            ..Default::default()
        })),
    };
    // Submitted together, so the writer may well commit them in one batch.
    let failing = txn_req(
        vec![],
        vec![op_put("n1", "1"), op_del("a", "\0"), ignore_b],
        vec![],
    );
    let (first, failed, last) = tokio::join!(
        env.put_req(PutRequest {
            key: "before".into(),
            ..Default::default()
        }),
        env.txn(failing),
        env.put_req(PutRequest {
            key: "after".into(),
            ..Default::default()
        }),
    );
    assert_eq!(first.unwrap().header, env.hdr(5));
    assert_status(failed, Code::InvalidArgument, KEY_NOT_FOUND);
    assert_eq!(last.unwrap().header, env.hdr(6));
    let keys: Vec<Vec<u8>> = env
        .range(range_req("\0", "\0"))
        .await
        .unwrap()
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            b"a".to_vec(),
            b"after".to_vec(),
            b"b".to_vec(),
            b"before".to_vec()
        ]
    );
    assert_eq!(env.get("n1").await.count, 0);
    let history = env.store.history(5, 10, false).unwrap();
    let revisions: Vec<i64> = history.events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, vec![5, 6]);
    assert_eq!(history.events[1].events.len(), 1);
}
