//! The Watch service through an in-memory request channel, with exact responses.

use std::time::Duration;

use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::codegen::tokio_stream::wrappers::UnboundedReceiverStream;

use super::*;
use crate::embedded::watch_service::WatchResponses;
use crate::embedded::{StoreOptions, WatchOptions, WatchService};
use crate::etcdserverpb::watch_create_request::FilterType;
use crate::etcdserverpb::watch_request::RequestUnion;
use crate::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use crate::mvccpb::{Event, event::EventType};

/// A client of one watch stream.
pub(super) struct WatchClient {
    requests: Option<mpsc::UnboundedSender<Result<WatchRequest, Status>>>,
    responses: WatchResponses,
}

impl WatchClient {
    pub(super) fn open(service: &WatchService) -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        let responses = service.serve(UnboundedReceiverStream::new(rx));
        Self {
            requests: Some(requests),
            responses,
        }
    }

    fn send(&self, request: RequestUnion) {
        self.requests
            .as_ref()
            .expect("requests open")
            .send(Ok(WatchRequest {
                request_union: Some(request),
            }))
            .expect("stream running");
    }

    pub(super) fn create(&self, create: WatchCreateRequest) {
        self.send(RequestUnion::CreateRequest(create));
    }

    fn cancel(&self, watch_id: i64) {
        self.send(RequestUnion::CancelRequest(WatchCancelRequest { watch_id }));
    }

    fn progress(&self) {
        self.send(RequestUnion::ProgressRequest(WatchProgressRequest {}));
    }

    /// Half-closes the request side.
    fn close_requests(&mut self) {
        self.requests.take();
    }

    pub(super) async fn next(&mut self) -> WatchResponse {
        tokio::time::timeout(Duration::from_secs(5), self.responses.next())
            .await
            .expect("a response in time")
            .expect("stream open")
            .expect("not an error")
    }

    /// No response arrives for a while.
    pub(super) async fn assert_quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(150), self.responses.next()).await;
        assert!(got.is_err(), "unexpected response {got:?}");
    }
}

pub(super) fn watch_key(key: &str) -> WatchCreateRequest {
    WatchCreateRequest {
        key: key.into(),
        ..Default::default()
    }
}

pub(super) fn put_ev(kv: KeyValue) -> Event {
    Event {
        r#type: EventType::Put as i32,
        kv: Some(kv),
        prev_kv: None,
    }
}

pub(super) fn del_ev(key: &str, revision: i64) -> Event {
    Event {
        r#type: EventType::Delete as i32,
        kv: Some(KeyValue {
            key: key.into(),
            mod_revision: revision,
            ..Default::default()
        }),
        prev_kv: None,
    }
}

impl Env {
    pub(super) fn watch_service(&self) -> WatchService {
        WatchService::new(Arc::clone(&self.store))
    }

    pub(super) fn created(&self, revision: i64, watch_id: i64) -> WatchResponse {
        WatchResponse {
            header: self.hdr(revision),
            watch_id,
            created: true,
            ..Default::default()
        }
    }

    pub(super) fn events(&self, revision: i64, watch_id: i64, events: Vec<Event>) -> WatchResponse {
        WatchResponse {
            header: self.hdr(revision),
            watch_id,
            events,
            ..Default::default()
        }
    }

    fn canceled(&self, revision: i64, watch_id: i64) -> WatchResponse {
        WatchResponse {
            header: self.hdr(revision),
            watch_id,
            canceled: true,
            ..Default::default()
        }
    }

    fn create_failed(&self, revision: i64, reason: &str) -> WatchResponse {
        WatchResponse {
            header: self.hdr(revision),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.into(),
            ..Default::default()
        }
    }
}

#[tokio::test]
async fn create_then_live_events_of_one_key() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(watch_key("foo"));
    assert_eq!(w.next().await, env.created(1, 0));

    env.put("foo", "bar").await;
    env.put("other", "x").await;
    env.put("foo", "baz").await;
    env.delete(del_req("foo", "")).await.unwrap();
    assert_eq!(
        w.next().await,
        env.events(2, 0, vec![put_ev(kv("foo", "bar", 2, 2, 1))])
    );
    assert_eq!(
        w.next().await,
        env.events(4, 0, vec![put_ev(kv("foo", "baz", 2, 4, 2))])
    );
    assert_eq!(w.next().await, env.events(5, 0, vec![del_ev("foo", 5)]));
    w.assert_quiet().await;
}

#[tokio::test]
async fn watch_ids_auto_user_and_duplicate() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(watch_key("a"));
    assert_eq!(w.next().await, env.created(1, 0));
    w.create(watch_key("a"));
    assert_eq!(w.next().await, env.created(1, 1));
    w.create(WatchCreateRequest {
        watch_id: 7,
        ..watch_key("a")
    });
    assert_eq!(w.next().await, env.created(1, 7));
    // A user id already in use: created and canceled at once, with id -1.
    w.create(WatchCreateRequest {
        watch_id: 7,
        ..watch_key("b")
    });
    assert_eq!(
        w.next().await,
        env.create_failed(1, "mvcc: duplicate watch ID provided on the WatchStream")
    );
    w.create(WatchCreateRequest {
        watch_id: 1,
        ..watch_key("b")
    });
    assert_eq!(
        w.next().await,
        env.create_failed(1, "mvcc: duplicate watch ID provided on the WatchStream")
    );
    // Auto ids skip the ids in use; a request id of 0 asks for an auto id, as in etcd.
    w.create(WatchCreateRequest {
        watch_id: 2,
        ..watch_key("a")
    });
    assert_eq!(w.next().await, env.created(1, 2));
    w.create(WatchCreateRequest {
        watch_id: 0,
        ..watch_key("a")
    });
    assert_eq!(w.next().await, env.created(1, 3));

    // Every watcher of the key gets the event, in id order.
    env.put("a", "1").await;
    let ev = vec![put_ev(kv("a", "1", 2, 2, 1))];
    for id in [0, 1, 2, 3, 7] {
        assert_eq!(w.next().await, env.events(2, id, ev.clone()));
    }
    w.assert_quiet().await;
}

#[tokio::test]
async fn key_ranges_prefix_from_key_empty_key_and_empty_range() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    // Prefix "p/".
    w.create(WatchCreateRequest {
        range_end: "p0".into(),
        ..watch_key("p/")
    });
    assert_eq!(w.next().await, env.created(1, 0));
    // Every key from "m" on.
    w.create(WatchCreateRequest {
        range_end: "\0".into(),
        ..watch_key("m")
    });
    assert_eq!(w.next().await, env.created(1, 1));
    // No key: the key "\0" alone.
    w.create(WatchCreateRequest::default());
    assert_eq!(w.next().await, env.created(1, 2));
    // All keys: key "\0" and range_end "\0".
    w.create(WatchCreateRequest {
        range_end: "\0".into(),
        ..watch_key("\0")
    });
    assert_eq!(w.next().await, env.created(1, 3));
    // range_end not above the key.
    w.create(WatchCreateRequest {
        range_end: "a".into(),
        ..watch_key("b")
    });
    assert_eq!(
        w.next().await,
        env.create_failed(1, "mvcc: watcher range is empty")
    );
    w.create(WatchCreateRequest {
        range_end: "b".into(),
        ..watch_key("b")
    });
    assert_eq!(
        w.next().await,
        env.create_failed(1, "mvcc: watcher range is empty")
    );

    env.put("a", "1").await; // all keys
    env.put("p/x", "2").await; // prefix, from "m", all keys
    env.put("p0", "3").await; // from "m", all keys
    env.put("\0", "4").await; // the empty-key watcher and all keys
    assert_eq!(
        w.next().await,
        env.events(2, 3, vec![put_ev(kv("a", "1", 2, 2, 1))])
    );
    let px = vec![put_ev(kv("p/x", "2", 3, 3, 1))];
    assert_eq!(w.next().await, env.events(3, 0, px.clone()));
    assert_eq!(w.next().await, env.events(3, 1, px.clone()));
    assert_eq!(w.next().await, env.events(3, 3, px));
    let p0 = vec![put_ev(kv("p0", "3", 4, 4, 1))];
    assert_eq!(w.next().await, env.events(4, 1, p0.clone()));
    assert_eq!(w.next().await, env.events(4, 3, p0));
    let nul = vec![put_ev(kv("\0", "4", 5, 5, 1))];
    assert_eq!(w.next().await, env.events(5, 2, nul.clone()));
    assert_eq!(w.next().await, env.events(5, 3, nul));
    w.assert_quiet().await;
}

#[tokio::test]
async fn start_revision_replays_history_in_one_message_then_live() {
    let env = Env::new();
    env.put("foo", "bar").await; // 2
    env.put("x", "1").await; // 3
    env.put("foo", "baz").await; // 4
    env.delete(del_req("foo", "")).await.unwrap(); // 5
    env.put("foo", "qux").await; // 6

    let mut w = WatchClient::open(&env.watch_service());
    w.create(WatchCreateRequest {
        start_revision: 1,
        ..watch_key("foo")
    });
    assert_eq!(w.next().await, env.created(6, 0));
    assert_eq!(
        w.next().await,
        env.events(
            6,
            0,
            vec![
                put_ev(kv("foo", "bar", 2, 2, 1)),
                put_ev(kv("foo", "baz", 2, 4, 2)),
                del_ev("foo", 5),
                put_ev(kv("foo", "qux", 6, 6, 1)),
            ]
        )
    );
    // From the current revision: only that revision.
    w.create(WatchCreateRequest {
        start_revision: 6,
        ..watch_key("foo")
    });
    assert_eq!(w.next().await, env.created(6, 1));
    assert_eq!(
        w.next().await,
        env.events(6, 1, vec![put_ev(kv("foo", "qux", 6, 6, 1))])
    );
    env.put("foo", "live").await;
    let live = vec![put_ev(kv("foo", "live", 6, 7, 2))];
    assert_eq!(w.next().await, env.events(7, 0, live.clone()));
    assert_eq!(w.next().await, env.events(7, 1, live));
    w.assert_quiet().await;
}

#[tokio::test]
async fn history_is_read_in_batches() {
    let env = Env::new();
    for i in 0..5 {
        env.put("k", &i.to_string()).await; // 2..=6
    }
    let service = WatchService::with_options(
        Arc::clone(&env.store),
        WatchOptions {
            history_batch: 2,
            ..Default::default()
        },
    );
    let mut w = WatchClient::open(&service);
    w.create(WatchCreateRequest {
        start_revision: 2,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(6, 0));
    let ev = |i: i64| put_ev(kv("k", &(i - 2).to_string(), 2, i, i - 1));
    assert_eq!(w.next().await, env.events(6, 0, vec![ev(2), ev(3)]));
    assert_eq!(w.next().await, env.events(6, 0, vec![ev(4), ev(5)]));
    assert_eq!(w.next().await, env.events(6, 0, vec![ev(6)]));
    w.assert_quiet().await;
}

#[tokio::test]
async fn filters_and_prev_kv() {
    let env = Env::new();
    env.put("k", "v1").await; // 2
    let mut w = WatchClient::open(&env.watch_service());
    w.create(WatchCreateRequest {
        filters: vec![FilterType::Noput as i32],
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(2, 0));
    w.create(WatchCreateRequest {
        filters: vec![FilterType::Nodelete as i32],
        prev_kv: true,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(2, 1));
    w.create(WatchCreateRequest {
        prev_kv: true,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(2, 2));

    env.put("k", "v2").await; // 3
    env.delete(del_req("k", "")).await.unwrap(); // 4
    env.put("k", "v3").await; // 5

    let put3 = Event {
        prev_kv: Some(kv("k", "v1", 2, 2, 1)),
        ..put_ev(kv("k", "v2", 2, 3, 2))
    };
    let del4 = Event {
        prev_kv: Some(kv("k", "v2", 2, 3, 2)),
        ..del_ev("k", 4)
    };
    // A put after a delete creates the key again: no previous key-value.
    let put5 = put_ev(kv("k", "v3", 5, 5, 1));
    assert_eq!(w.next().await, env.events(3, 1, vec![put3.clone()]));
    assert_eq!(w.next().await, env.events(3, 2, vec![put3.clone()]));
    assert_eq!(w.next().await, env.events(4, 0, vec![del_ev("k", 4)]));
    assert_eq!(w.next().await, env.events(4, 2, vec![del4.clone()]));
    assert_eq!(w.next().await, env.events(5, 1, vec![put5.clone()]));
    assert_eq!(w.next().await, env.events(5, 2, vec![put5.clone()]));
    w.assert_quiet().await;

    // The same from history, with prev_kv read back.
    w.create(WatchCreateRequest {
        start_revision: 2,
        prev_kv: true,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(5, 3));
    assert_eq!(
        w.next().await,
        env.events(5, 3, vec![put_ev(kv("k", "v1", 2, 2, 1)), put3, del4, put5])
    );
}

#[tokio::test]
async fn cancel_and_progress_requests() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(watch_key("k"));
    assert_eq!(w.next().await, env.created(1, 0));
    w.create(watch_key("k"));
    assert_eq!(w.next().await, env.created(1, 1));
    env.put("k", "1").await;
    assert_eq!(
        w.next().await,
        env.events(2, 0, vec![put_ev(kv("k", "1", 2, 2, 1))])
    );
    assert_eq!(
        w.next().await,
        env.events(2, 1, vec![put_ev(kv("k", "1", 2, 2, 1))])
    );

    w.cancel(0);
    assert_eq!(w.next().await, env.canceled(2, 0));
    // Unknown ids: no response at all.
    w.cancel(0);
    w.cancel(42);
    w.assert_quiet().await;

    w.progress();
    assert_eq!(
        w.next().await,
        WatchResponse {
            header: env.hdr(2),
            watch_id: -1,
            ..Default::default()
        }
    );

    env.put("k", "2").await;
    assert_eq!(
        w.next().await,
        env.events(3, 1, vec![put_ev(kv("k", "2", 2, 3, 2))])
    );
    w.cancel(1);
    assert_eq!(w.next().await, env.canceled(3, 1));
    env.put("k", "3").await;
    w.assert_quiet().await;
    // Auto ids are not reused, as in etcd; a freed id can be asked for.
    w.create(watch_key("k"));
    assert_eq!(w.next().await, env.created(4, 2));
    w.create(WatchCreateRequest {
        watch_id: 1,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(4, 1));
}

#[tokio::test]
async fn progress_notify_sends_header_only_responses() {
    let env = Env::new();
    env.put("other", "1").await; // 2
    let service = WatchService::with_options(
        Arc::clone(&env.store),
        WatchOptions {
            progress_interval: Duration::from_millis(100),
            ..Default::default()
        },
    );
    let mut w = WatchClient::open(&service);
    w.create(WatchCreateRequest {
        progress_notify: true,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(2, 0));
    let progress = |revision| WatchResponse {
        header: env.hdr(revision),
        ..Default::default()
    };
    assert_eq!(w.next().await, progress(2));
    env.put("other", "2").await; // 3
    assert_eq!(w.next().await, progress(3));
    // A watcher without progress_notify gets none.
    w.create(WatchCreateRequest {
        watch_id: 5,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(3, 5));
    assert_eq!(w.next().await, progress(3));
    assert_eq!(w.next().await, progress(3));
}

#[tokio::test]
async fn compacted_start_revision_is_canceled_with_the_compact_revision() {
    let env = Env::new();
    for i in 0..4 {
        env.put("k", &i.to_string()).await; // 2..=5
    }
    env.compact(4).await.unwrap();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(WatchCreateRequest {
        start_revision: 2,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(5, 0));
    assert_eq!(
        w.next().await,
        WatchResponse {
            // The header has no revision.
            header: env.hdr(0),
            watch_id: 0,
            canceled: true,
            compact_revision: 4,
            ..Default::default()
        }
    );
    env.put("k", "x").await;
    w.assert_quiet().await;
    // The id stays taken until canceled, as in etcd.
    w.create(WatchCreateRequest {
        watch_id: 0,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(6, 1));
    w.create(WatchCreateRequest {
        watch_id: 1,
        ..watch_key("k")
    });
    assert_eq!(
        w.next().await,
        env.create_failed(6, "mvcc: duplicate watch ID provided on the WatchStream")
    );
    w.cancel(0);
    assert_eq!(w.next().await, env.canceled(6, 0));

    // The compaction revision itself is still readable.
    w.create(WatchCreateRequest {
        start_revision: 4,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(6, 2));
    assert_eq!(
        w.next().await,
        env.events(
            6,
            2,
            vec![
                put_ev(kv("k", "2", 2, 4, 3)),
                put_ev(kv("k", "3", 2, 5, 4)),
                put_ev(kv("k", "x", 2, 6, 5)),
            ]
        )
    );
}

#[tokio::test]
async fn future_start_revision_waits_for_it() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(WatchCreateRequest {
        start_revision: 4,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(1, 0));
    w.assert_quiet().await;
    env.put("k", "a").await; // 2
    env.put("k", "b").await; // 3
    env.put("k", "c").await; // 4
    env.put("k", "d").await; // 5
    assert_eq!(
        w.next().await,
        env.events(4, 0, vec![put_ev(kv("k", "c", 2, 4, 3))])
    );
    assert_eq!(
        w.next().await,
        env.events(5, 0, vec![put_ev(kv("k", "d", 2, 5, 4))])
    );
}

#[tokio::test]
async fn fragment_splits_large_responses() {
    let env = Env::new();
    let value = "v".repeat(100);
    for _ in 0..5 {
        env.put("k", &value).await; // 2..=6
    }
    let service = WatchService::with_options(
        Arc::clone(&env.store),
        WatchOptions {
            max_response_bytes: 300,
            ..Default::default()
        },
    );
    let mut w = WatchClient::open(&service);
    let ev = |rev: i64| put_ev(kv("k", &value, 2, rev, rev - 1));
    w.create(WatchCreateRequest {
        start_revision: 2,
        fragment: true,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(6, 0));
    // Each event encodes to about 120 bytes: two per part stay under 300.
    for (revs, more) in [(vec![2, 3], true), (vec![4, 5], true), (vec![6], false)] {
        let mut want = env.events(6, 0, revs.into_iter().map(ev).collect());
        want.fragment = more;
        assert_eq!(w.next().await, want);
    }
    // Without `fragment`, one response.
    w.create(WatchCreateRequest {
        start_revision: 2,
        ..watch_key("k")
    });
    assert_eq!(w.next().await, env.created(6, 1));
    assert_eq!(w.next().await, env.events(6, 1, (2..=6).map(ev).collect()));
}

#[tokio::test]
async fn the_stream_outlives_the_request_side() {
    let env = Env::new();
    let mut w = WatchClient::open(&env.watch_service());
    w.create(watch_key("k"));
    w.close_requests();
    assert_eq!(w.next().await, env.created(1, 0));
    env.put("k", "1").await;
    assert_eq!(
        w.next().await,
        env.events(2, 0, vec![put_ev(kv("k", "1", 2, 2, 1))])
    );
}

#[tokio::test]
async fn the_stream_ends_when_the_client_goes_away() {
    let env = Env::new();
    let service = env.watch_service();
    let handles = Arc::strong_count(&env.store);
    let mut w = WatchClient::open(&service);
    w.create(watch_key("k"));
    assert_eq!(w.next().await, env.created(1, 0));
    assert_eq!(Arc::strong_count(&env.store), handles + 1);
    drop(w);
    // The stream's task ends and lets go of the store.
    for _ in 0..100 {
        if Arc::strong_count(&env.store) == handles {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(Arc::strong_count(&env.store), handles);
}

/// A watcher that reads slower than the store writes: its stream falls behind the event
/// buffer and catches up from history, losing and doubling nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_watcher_catches_up_from_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open_with(
            dir.path(),
            StoreOptions {
                event_capacity: 2,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let service = WatchService::with_options(
        Arc::clone(&store),
        WatchOptions {
            response_buffer: 1,
            ..Default::default()
        },
    );
    let mut w = WatchClient::open(&service);
    w.create(watch_key("k"));
    w.next().await;
    const N: i64 = 200;
    for i in 0..N {
        store
            .put(PutRequest {
                key: "k".into(),
                value: i.to_string().into_bytes(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    let mut responses = 0;
    while got.len() < N as usize {
        let response = w.next().await;
        responses += 1;
        got.extend(response.events.into_iter().map(|ev| ev.kv.unwrap()));
    }
    // Live responses carry one revision each: fewer responses means history was read.
    assert!(responses < N, "{responses} responses");
    let want: Vec<KeyValue> = (0..N)
        .map(|i| kv("k", &i.to_string(), 2, i + 2, i + 1))
        .collect();
    assert_eq!(got, want);
    w.assert_quiet().await;
}

/// Writers run while watchers are created from past revisions: each watcher gets every
/// revision from its start on, exactly once and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watchers_from_past_revisions_under_concurrent_writers() {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let env = Env::new();
    let service = env.watch_service();
    for i in 0..10 {
        env.put(&format!("pre{i}"), "v").await; // 2..=11
    }

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = Arc::clone(&env.store);
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for i in 0..PER_WRITER {
                let key = format!("w{w}-{i:03}");
                let resp = store
                    .put(PutRequest {
                        key: key.clone().into_bytes(),
                        value: b"v".to_vec(),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                written.push((resp.header.unwrap().revision, key));
                if i % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            written
        }));
    }

    // Watchers created while the writers run, from a past revision each.
    let mut watchers = Vec::new();
    for start in [2, 6, 0] {
        tokio::time::sleep(Duration::from_millis(3)).await;
        let start = if start == 0 {
            env.store.current_revision() - 5
        } else {
            start
        };
        let mut w = WatchClient::open(&service);
        w.create(WatchCreateRequest {
            start_revision: start,
            range_end: "\0".into(),
            ..watch_key("\0")
        });
        let created = w.next().await;
        assert!(created.created && !created.canceled);
        watchers.push((start, w));
    }

    let mut all: Vec<(i64, String)> = (0..10).map(|i| (i + 2, format!("pre{i}"))).collect();
    for writer in writers {
        all.extend(writer.await.unwrap());
    }
    all.sort();
    let last = all.last().unwrap().0;
    assert_eq!(last, (WRITERS * PER_WRITER) as i64 + 11);

    for (start, mut w) in watchers {
        let want: Vec<(i64, String)> = all
            .iter()
            .filter(|(rev, _)| *rev >= start)
            .cloned()
            .collect();
        let mut got = Vec::new();
        while got.len() < want.len() {
            let response = w.next().await;
            let header_rev = response.header.unwrap().revision;
            for ev in response.events {
                let kv = ev.kv.unwrap();
                assert!(kv.mod_revision <= header_rev);
                got.push((kv.mod_revision, String::from_utf8(kv.key).unwrap()));
            }
        }
        assert_eq!(got, want, "watcher from revision {start}");
        w.assert_quiet().await;
    }
}
