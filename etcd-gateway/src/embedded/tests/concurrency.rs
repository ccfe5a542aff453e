use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_get_distinct_revisions_and_share_commits() {
    const WRITERS: i64 = 8;
    const PER_WRITER: i64 = 40;
    let env = Env::new();
    let done = Arc::new(AtomicBool::new(false));

    // A reader checks that every read is a consistent, committed state: each put creates one
    // key at its own revision, so at revision R there are exactly R - 1 keys.
    let reader = {
        let store = Arc::clone(&env.store);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = 1;
            let mut reads = 0;
            while !done.load(Ordering::Acquire) {
                let resp = store
                    .range(&RangeRequest {
                        count_only: true,
                        ..range_req("\0", "\0")
                    })
                    .unwrap();
                let revision = resp.header.unwrap().revision;
                assert!(revision >= last, "revisions never go back");
                assert_eq!(resp.count, revision - 1);
                last = revision;
                reads += 1;
            }
            reads
        })
    };

    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&env.store);
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..PER_WRITER {
                let resp = store
                    .put(PutRequest {
                        key: format!("w{w}-{i}").into_bytes(),
                        value: b"v".to_vec(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                revisions.push(resp.header.unwrap().revision);
            }
            revisions
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let revisions = task.await.unwrap();
        assert!(
            revisions.windows(2).all(|w| w[0] < w[1]),
            "one writer's puts are ordered"
        );
        all.extend(revisions);
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);

    all.sort_unstable();
    let total = WRITERS * PER_WRITER;
    assert_eq!(all, (2..=total + 1).collect::<Vec<_>>());
    assert_eq!(env.store.current_revision(), total + 1);
    let commits = env.store.commit_count();
    assert!(
        commits < total as u64,
        "{commits} commits for {total} writes"
    );
}
