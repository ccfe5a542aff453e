use super::*;
use crate::embedded::RevisionEvents;
use crate::mvccpb::{Event, event::EventType};

fn put_event(kv: KeyValue, prev_kv: Option<KeyValue>) -> Event {
    Event {
        r#type: EventType::Put as i32,
        kv: Some(kv),
        prev_kv,
    }
}

fn delete_event(key: &str, revision: i64, prev_kv: KeyValue) -> Event {
    Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue {
            key: key.into(),
            mod_revision: revision,
            ..Default::default()
        }),
        prev_kv: Some(prev_kv),
    }
}

#[tokio::test]
async fn every_committed_revision_is_published_in_order() {
    let env = Env::new();
    let mut events = env.store.subscribe();
    env.put("a", "1").await;
    env.put("a", "2").await;
    // Failed or empty writes publish nothing.
    env.put_req(PutRequest {
        key: "x".into(),
        ignore_value: true,
        ..Default::default()
    })
    .await
    .unwrap_err();
    env.delete(del_req("missing", "")).await.unwrap();
    env.txn(txn_req(
        vec![],
        vec![op_put("t1", "1"), op_put("t2", "2")],
        vec![],
    ))
    .await
    .unwrap();
    env.delete(del_req("\0", "\0")).await.unwrap();

    let expected = vec![
        RevisionEvents {
            revision: 2,
            events: vec![put_event(kv("a", "1", 2, 2, 1), None)],
        },
        RevisionEvents {
            revision: 3,
            events: vec![put_event(
                kv("a", "2", 2, 3, 2),
                Some(kv("a", "1", 2, 2, 1)),
            )],
        },
        RevisionEvents {
            revision: 4,
            events: vec![
                put_event(kv("t1", "1", 4, 4, 1), None),
                put_event(kv("t2", "2", 4, 4, 1), None),
            ],
        },
        RevisionEvents {
            revision: 5,
            events: vec![
                delete_event("a", 5, kv("a", "2", 2, 3, 2)),
                delete_event("t1", 5, kv("t1", "1", 4, 4, 1)),
                delete_event("t2", 5, kv("t2", "2", 4, 4, 1)),
            ],
        },
    ];
    for want in &expected {
        let got = events.recv().await.unwrap();
        assert_eq!(&*got, want);
    }
    assert!(events.is_empty());

    // History reads give the same events.
    let history = env.store.history(2, 100, true).unwrap();
    assert_eq!(history.events, expected);
    assert_eq!(history.through_revision, 5);
}

#[tokio::test]
async fn events_are_sent_after_the_revision_is_readable() {
    let env = Env::new();
    let mut events = env.store.subscribe();
    let store = Arc::clone(&env.store);
    let reader = tokio::spawn(async move {
        for _ in 0..20 {
            let got = events.recv().await.unwrap();
            // By the time an event arrives its revision is committed and visible.
            assert!(store.current_revision() >= got.revision);
            let resp = store.range(&get_req("k")).unwrap();
            assert!(resp.header.unwrap().revision >= got.revision);
        }
    });
    for i in 0..20 {
        env.put("k", &i.to_string()).await;
    }
    reader.await.unwrap();
}
