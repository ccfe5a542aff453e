//! What a watch stream's client asked and was delivered, enough to re-create its watches on
//! another member: each watch's create request (key, range end, filters, prev_kv, fragment,
//! progress_notify), its id and the next revision the client has not seen yet.

use std::collections::{BTreeMap, VecDeque};

use super::session::Tracker;
use crate::etcdserverpb::watch_request::RequestUnion;
use crate::etcdserverpb::{
    WatchCancelRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};

/// The `watch_id` of etcd's answer to a progress request (it concerns every watch).
const ALL_WATCHES: i64 = -1;

/// A watch the upstream created and the client has not cancelled.
#[derive(Clone, Debug, PartialEq)]
struct ActiveWatch {
    /// The client's create request.
    create: WatchCreateRequest,
    /// The first revision the client has not received (all events before it were delivered).
    next_revision: i64,
}

/// A `created` answer still to come, in the order the creates were sent upstream.
#[derive(Clone, Debug, PartialEq)]
enum PendingCreate {
    /// The re-creation of a watch on a new upstream stream: the client saw it created already.
    Resumed(i64),
    /// A create request of the client.
    Client(WatchCreateRequest),
}

/// The state of one watch stream (see the module documentation).
#[derive(Debug, Default)]
pub struct WatchState {
    watches: BTreeMap<i64, ActiveWatch>,
    creates: VecDeque<PendingCreate>,
    cancels: Vec<i64>,
    progress_requests: usize,
}

impl WatchState {
    /// The ids of the watches that would be re-created.
    pub fn active_ids(&self) -> Vec<i64> {
        self.watches.keys().copied().collect()
    }
}

impl Tracker for WatchState {
    type Request = WatchRequest;
    type Response = WatchResponse;

    fn on_request(&mut self, request: &WatchRequest) {
        match &request.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                self.creates
                    .push_back(PendingCreate::Client(create.clone()));
            }
            Some(RequestUnion::CancelRequest(cancel)) => self.cancels.push(cancel.watch_id),
            Some(RequestUnion::ProgressRequest(_)) => self.progress_requests += 1,
            None => {}
        }
    }

    /// Re-creates every active watch from its next revision with its own id and filters,
    /// then sends again the creates, cancels and progress requests not answered yet.
    fn replay(&mut self) -> Vec<WatchRequest> {
        let client_creates: Vec<PendingCreate> = self
            .creates
            .drain(..)
            .filter(|pending| matches!(pending, PendingCreate::Client(_)))
            .collect();
        let mut replay = Vec::new();
        for (id, watch) in &self.watches {
            let create = WatchCreateRequest {
                watch_id: *id,
                start_revision: watch.next_revision,
                ..watch.create.clone()
            };
            replay.push(request(RequestUnion::CreateRequest(create)));
            self.creates.push_back(PendingCreate::Resumed(*id));
        }
        for pending in client_creates {
            if let PendingCreate::Client(create) = &pending {
                replay.push(request(RequestUnion::CreateRequest(create.clone())));
            }
            self.creates.push_back(pending);
        }
        for watch_id in &self.cancels {
            let cancel = WatchCancelRequest {
                watch_id: *watch_id,
            };
            replay.push(request(RequestUnion::CancelRequest(cancel)));
        }
        for _ in 0..self.progress_requests {
            let progress = WatchProgressRequest {};
            replay.push(request(RequestUnion::ProgressRequest(progress)));
        }
        replay
    }

    fn on_response(&mut self, mut response: WatchResponse) -> Option<WatchResponse> {
        let id = response.watch_id;
        if response.created {
            match self.creates.pop_front() {
                Some(PendingCreate::Resumed(_)) if response.canceled => {
                    // The client knows this watch as created: it only learns it ended.
                    self.forget(id);
                    response.created = false;
                }
                Some(PendingCreate::Resumed(_)) => return None,
                Some(PendingCreate::Client(create)) if !response.canceled => {
                    let current = response.header.as_ref().map_or(0, |header| header.revision);
                    let next_revision = if create.start_revision > 0 {
                        create.start_revision
                    } else {
                        current + 1
                    };
                    self.watches.insert(
                        id,
                        ActiveWatch {
                            create,
                            next_revision,
                        },
                    );
                }
                Some(PendingCreate::Client(_)) | None => {}
            }
        } else if response.canceled {
            self.forget(id);
        } else if id == ALL_WATCHES && response.events.is_empty() {
            self.progress_requests = self.progress_requests.saturating_sub(1);
        } else if let Some(watch) = self.watches.get_mut(&id) {
            let delivered = match response.events.last() {
                // A part of a fragmented response other than the last: its revision may have
                // more events still to come.
                Some(_) if response.fragment => None,
                Some(event) => event.kv.as_ref().map(|kv| kv.mod_revision),
                // A progress notification of this watch: nothing before it is left.
                None => response.header.as_ref().map(|header| header.revision),
            };
            if let Some(revision) = delivered {
                watch.next_revision = watch.next_revision.max(revision + 1);
            }
        }
        Some(response)
    }
}

impl WatchState {
    /// Drops a watch that ended (cancelled by the client, or by the upstream).
    fn forget(&mut self, id: i64) {
        self.watches.remove(&id);
        self.cancels.retain(|cancelled| *cancelled != id);
    }
}

fn request(union: RequestUnion) -> WatchRequest {
    WatchRequest {
        request_union: Some(union),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcdserverpb::ResponseHeader;
    use crate::mvccpb::{Event, KeyValue};

    fn create(key: &str, start_revision: i64) -> WatchRequest {
        request(RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.as_bytes().to_vec(),
            range_end: b"\0".to_vec(),
            start_revision,
            prev_kv: true,
            filters: vec![1],
            ..WatchCreateRequest::default()
        }))
    }

    fn response(id: i64, revision: i64) -> WatchResponse {
        WatchResponse {
            header: Some(ResponseHeader {
                revision,
                ..ResponseHeader::default()
            }),
            watch_id: id,
            ..WatchResponse::default()
        }
    }

    fn created(id: i64, revision: i64) -> WatchResponse {
        WatchResponse {
            created: true,
            ..response(id, revision)
        }
    }

    fn events(id: i64, revisions: &[i64]) -> WatchResponse {
        WatchResponse {
            events: revisions
                .iter()
                .map(|revision| Event {
                    kv: Some(KeyValue {
                        mod_revision: *revision,
                        ..KeyValue::default()
                    }),
                    ..Event::default()
                })
                .collect(),
            ..response(id, *revisions.last().unwrap())
        }
    }

    fn creates(replay: &[WatchRequest]) -> Vec<(i64, i64)> {
        replay
            .iter()
            .filter_map(|request| match &request.request_union {
                Some(RequestUnion::CreateRequest(create)) => {
                    Some((create.watch_id, create.start_revision))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn watches_resume_after_their_last_delivered_revision_with_their_filters() {
        let mut state = WatchState::default();
        state.on_request(&create("a", 0));
        state.on_request(&create("b", 3));
        assert!(state.on_response(created(0, 10)).is_some());
        assert!(state.on_response(created(1, 10)).is_some());
        state.on_response(events(0, &[11, 12]));
        let replay = state.replay();
        assert_eq!(creates(&replay), [(0, 13), (1, 3)]);
        let Some(RequestUnion::CreateRequest(first)) = &replay[0].request_union else {
            panic!("expected a create, got {:?}", replay[0]);
        };
        assert!(first.prev_kv);
        assert_eq!(first.filters, [1]);
        assert_eq!(first.range_end, b"\0");

        // The re-created answers are not shown to the client; later events are.
        assert_eq!(state.on_response(created(0, 20)), None);
        assert_eq!(state.on_response(created(1, 20)), None);
        assert!(state.on_response(events(1, &[21])).is_some());
        assert_eq!(creates(&state.replay()), [(0, 13), (1, 22)]);
    }

    #[test]
    fn a_progress_notification_moves_the_revision_and_fragments_wait_for_their_end() {
        let mut state = WatchState::default();
        state.on_request(&create("a", 0));
        state.on_response(created(0, 5));
        state.on_response(response(0, 9));
        assert_eq!(creates(&state.replay()), [(0, 10)]);
        state.on_response(created(0, 9));
        let mut part = events(0, &[12]);
        part.fragment = true;
        state.on_response(part);
        assert_eq!(creates(&state.replay()), [(0, 10)]);
    }

    #[test]
    fn cancelled_watches_are_not_recreated_and_unanswered_requests_are_sent_again() {
        let mut state = WatchState::default();
        state.on_request(&create("a", 0));
        state.on_request(&create("b", 0));
        state.on_response(created(0, 5));
        state.on_response(created(1, 5));
        state.on_request(&request(RequestUnion::CancelRequest(WatchCancelRequest {
            watch_id: 1,
        })));
        state.on_request(&create("c", 0));
        let replay = state.replay();
        assert_eq!(creates(&replay), [(0, 6), (1, 6), (0, 0)]);
        assert!(matches!(
            replay.last().unwrap().request_union,
            Some(RequestUnion::CancelRequest(WatchCancelRequest {
                watch_id: 1
            }))
        ));
        state.on_response(created(0, 7));
        state.on_response(created(1, 7));
        // The client's own create is answered as it is.
        assert!(state.on_response(created(2, 7)).is_some());
        let cancelled = WatchResponse {
            canceled: true,
            ..response(1, 7)
        };
        assert!(state.on_response(cancelled).is_some());
        assert_eq!(state.active_ids(), [0, 2]);
    }

    #[test]
    fn a_compacted_resumption_reaches_the_client_as_a_cancellation() {
        let mut state = WatchState::default();
        state.on_request(&create("a", 0));
        state.on_response(created(0, 5));
        state.replay();
        let compacted = WatchResponse {
            created: true,
            canceled: true,
            compact_revision: 8,
            ..response(0, 9)
        };
        let shown = state.on_response(compacted).expect("shown");
        assert!(!shown.created && shown.canceled);
        assert!(state.active_ids().is_empty());
    }
}
