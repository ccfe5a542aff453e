//! One watch stream: its watchers, fed from the store's history and its live events.
//!
//! The stream subscribes to the store's events before it reads anything, so every revision
//! committed afterwards reaches it, in order. Each watcher remembers the last revision it
//! has accounted for (`through`): a watcher that is *synced* takes the live revisions above
//! it; one that is not (a start revision in the past, or a stream that fell behind the
//! store's event buffer) reads history from `through + 1` in batches until it has caught up
//! with the revision the store had when it read. Revisions at or below `through` are never
//! delivered again, so no event is lost or doubled whatever the timing of writers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc};
use tonic::Status;
use tonic::codegen::tokio_stream::{Stream, StreamExt};

use super::errors::EtcdError;
use super::mvcc::{DEFAULT_MAX_REQUEST_BYTES, RevisionEvents, Store};
use crate::etcdserverpb::watch_create_request::FilterType;
use crate::etcdserverpb::watch_request::RequestUnion;
use crate::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use crate::mvccpb::Event;
use crate::mvccpb::event::EventType;

/// etcd's default interval of progress notifications (10 minutes).
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(600);

/// The most revisions one history read covers (etcd's `watchBatchMaxRevs`).
pub const DEFAULT_HISTORY_BATCH: usize = 1000;

/// The watch id of responses that belong to no watcher.
pub const INVALID_WATCH_ID: i64 = -1;

/// The cancel reason of a create request with a watch id already in use on the stream.
pub const DUPLICATE_WATCH_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

/// The cancel reason of a create request whose `range_end` is not above its key.
pub const EMPTY_WATCHER_RANGE: &str = "mvcc: watcher range is empty";

/// Tuning of watch streams.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// How often watchers created with `progress_notify` get a progress notification
    /// (etcd's `--experimental-watch-progress-notify-interval`).
    pub progress_interval: Duration,
    /// Responses of watchers created with `fragment` are split above this size (etcd uses
    /// its `--max-request-bytes`).
    pub max_response_bytes: usize,
    /// The most revisions read from history at once for one watcher.
    pub history_batch: usize,
    /// Responses buffered for a client before the stream waits for it.
    pub response_buffer: usize,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            progress_interval: DEFAULT_PROGRESS_INTERVAL,
            max_response_bytes: DEFAULT_MAX_REQUEST_BYTES,
            history_batch: DEFAULT_HISTORY_BATCH,
            response_buffer: 64,
        }
    }
}

/// The keys a watcher watches.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Keys {
    Single(Vec<u8>),
    From(Vec<u8>),
    Between(Vec<u8>, Vec<u8>),
}

impl Keys {
    fn contains(&self, key: &[u8]) -> bool {
        match self {
            Self::Single(k) => key == k.as_slice(),
            Self::From(start) => key >= start.as_slice(),
            Self::Between(start, end) => key >= start.as_slice() && key < end.as_slice(),
        }
    }
}

#[derive(Debug)]
struct Watcher {
    keys: Keys,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    progress_notify: bool,
    fragment: bool,
    /// The first revision the watcher wants.
    start_rev: i64,
    /// Every revision up to this one has been delivered or skipped.
    through: i64,
    /// Takes live revisions (otherwise catches up from history).
    synced: bool,
    /// Canceled because its history was compacted: kept for its id only, as etcd does.
    compacted: bool,
    /// Whether the next progress tick notifies (events since the last tick elide it).
    progress_due: bool,
}

impl Watcher {
    /// The watcher's view of `events`: its keys, minus filtered types, with or without the
    /// previous key-values.
    fn select<'a>(&self, events: impl IntoIterator<Item = &'a Event>) -> Vec<Event> {
        events
            .into_iter()
            .filter(|ev| {
                let key = ev.kv.as_ref().map_or(&[][..], |kv| kv.key.as_slice());
                let is_put = ev.r#type == EventType::Put as i32;
                let wanted = if is_put {
                    !self.no_put
                } else {
                    !self.no_delete
                };
                self.keys.contains(key) && wanted
            })
            .map(|ev| {
                let mut ev = ev.clone();
                if !self.prev_kv {
                    ev.prev_kv = None;
                }
                ev
            })
            .collect()
    }
}

/// Whether the stream's caller may watch `[key, range_end)` (an empty `range_end`: one key).
pub(crate) type WatchCheck = Box<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;

/// The cancel reason of a watch create the caller may not make: etcd 3.5 puts the text of
/// its gRPC error there (`rpctypes.ErrGRPCPermissionDenied.Error()`).
pub const PERMISSION_DENIED_REASON: &str =
    "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/// The client went away.
struct Gone;

/// The state of one watch stream.
struct WatchStream {
    store: Arc<Store>,
    options: WatchOptions,
    events: broadcast::Receiver<Arc<RevisionEvents>>,
    out: mpsc::Sender<Result<WatchResponse, Status>>,
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
    check: Option<WatchCheck>,
}

/// Serves one watch stream: reads `requests`, sends the responses to `out`, until the client
/// goes away (`out` closed or `requests` failing). The end of `requests` ends nothing: the
/// watchers keep running, as with etcd.
pub(crate) async fn run<S>(
    store: Arc<Store>,
    options: WatchOptions,
    events: broadcast::Receiver<Arc<RevisionEvents>>,
    requests: S,
    out: mpsc::Sender<Result<WatchResponse, Status>>,
    check: Option<WatchCheck>,
) where
    S: Stream<Item = Result<WatchRequest, Status>> + Send,
{
    let mut stream = WatchStream {
        store,
        options,
        events,
        out,
        watchers: BTreeMap::new(),
        next_id: 0,
        check,
    };
    let _ = stream.serve(requests).await;
}

impl WatchStream {
    async fn serve<S>(&mut self, requests: S) -> Result<(), Gone>
    where
        S: Stream<Item = Result<WatchRequest, Status>> + Send,
    {
        let mut requests = std::pin::pin!(requests);
        let mut requests_open = true;
        let period = self.options.progress_interval.max(Duration::from_millis(1));
        let mut progress = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let out = self.out.clone();
        loop {
            self.catch_up().await?;
            let behind = self.watchers.values().any(|w| !w.synced && !w.compacted);
            tokio::select! {
                biased;
                () = out.closed() => return Err(Gone),
                request = requests.next(), if requests_open => match request {
                    Some(Ok(request)) => self.handle(request).await?,
                    Some(Err(_)) => return Err(Gone),
                    None => requests_open = false,
                },
                received = self.events.recv() => self.received(received).await?,
                _ = progress.tick() => self.progress_tick().await?,
                () = std::future::ready(()), if behind => {}
            }
        }
    }

    async fn send(&self, response: WatchResponse) -> Result<(), Gone> {
        self.out.send(Ok(response)).await.map_err(|_| Gone)
    }

    /// Sends a response of watcher `fragment`-aware: split as etcd's `sendFragments` does.
    async fn send_events(&self, response: WatchResponse, fragment: bool) -> Result<(), Gone> {
        if !fragment {
            return self.send(response).await;
        }
        for part in fragments(response, self.options.max_response_bytes) {
            self.send(part).await?;
        }
        Ok(())
    }

    async fn received(
        &mut self,
        received: Result<Arc<RevisionEvents>, RecvError>,
    ) -> Result<(), Gone> {
        match received {
            Ok(revision) => self.live(&revision).await,
            Err(RecvError::Lagged(_)) => {
                self.fell_behind();
                Ok(())
            }
            // The store is gone.
            Err(RecvError::Closed) => Err(Gone),
        }
    }

    /// The stream missed live revisions: every watcher reads them from history.
    fn fell_behind(&mut self) {
        for watcher in self.watchers.values_mut() {
            watcher.synced = false;
        }
    }

    /// Delivers one live revision to the synced watchers that have not seen it.
    async fn live(&mut self, revision: &RevisionEvents) -> Result<(), Gone> {
        let mut responses = Vec::new();
        for (&id, watcher) in &mut self.watchers {
            if !watcher.synced || watcher.compacted || revision.revision <= watcher.through {
                continue;
            }
            watcher.through = revision.revision;
            if revision.revision < watcher.start_rev {
                continue;
            }
            let events = watcher.select(&revision.events);
            if events.is_empty() {
                continue;
            }
            watcher.progress_due = false;
            responses.push((
                WatchResponse {
                    header: Some(self.store.header(revision.revision)),
                    watch_id: id,
                    events,
                    ..Default::default()
                },
                watcher.fragment,
            ));
        }
        for (response, fragment) in responses {
            self.send_events(response, fragment).await?;
        }
        Ok(())
    }

    /// One history batch for every watcher that is behind.
    async fn catch_up(&mut self) -> Result<(), Gone> {
        let behind: Vec<i64> = self
            .watchers
            .iter()
            .filter(|(_, w)| !w.synced && !w.compacted)
            .map(|(&id, _)| id)
            .collect();
        for id in behind {
            let Some(watcher) = self.watchers.get_mut(&id) else {
                continue;
            };
            let current = self.store.current_revision();
            let batch = self.options.history_batch.max(1);
            let response = match self
                .store
                .history(watcher.through + 1, batch, watcher.prev_kv)
            {
                Ok(history) => {
                    let events =
                        watcher.select(history.events.iter().flat_map(|rev| rev.events.iter()));
                    watcher.through = watcher.through.max(history.through_revision);
                    watcher.synced = history.events.len() < batch;
                    if events.is_empty() {
                        None
                    } else {
                        watcher.progress_due = false;
                        let header = self.store.header(current.max(history.through_revision));
                        Some((
                            WatchResponse {
                                header: Some(header),
                                watch_id: id,
                                events,
                                ..Default::default()
                            },
                            watcher.fragment,
                        ))
                    }
                }
                Err(EtcdError::Compacted) => {
                    watcher.compacted = true;
                    Some((
                        WatchResponse {
                            header: Some(self.store.header(0)),
                            watch_id: id,
                            canceled: true,
                            compact_revision: self.store.compact_revision(),
                            ..Default::default()
                        },
                        false,
                    ))
                }
                Err(err) => {
                    // The store failed: end the stream with its error.
                    let _ = self.out.send(Err(Status::from(err))).await;
                    return Err(Gone);
                }
            };
            if let Some((response, fragment)) = response {
                self.send_events(response, fragment).await?;
            }
        }
        Ok(())
    }

    /// Takes the live revisions already waiting, so that progress reports are current.
    async fn drain(&mut self) -> Result<(), Gone> {
        loop {
            match self.events.try_recv() {
                Ok(revision) => self.live(&revision).await?,
                Err(TryRecvError::Lagged(_)) => self.fell_behind(),
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Closed) => return Err(Gone),
            }
        }
    }

    /// etcd's periodic progress notification: a header-only response for each synced watcher
    /// asking for them that got no events since the last tick.
    async fn progress_tick(&mut self) -> Result<(), Gone> {
        if !self.watchers.values().any(|w| w.progress_notify) {
            return Ok(());
        }
        self.drain().await?;
        let mut responses = Vec::new();
        for (&id, watcher) in &mut self.watchers {
            if !watcher.progress_notify {
                continue;
            }
            if watcher.progress_due && watcher.synced && !watcher.compacted {
                responses.push(WatchResponse {
                    header: Some(self.store.header(watcher.through)),
                    watch_id: id,
                    ..Default::default()
                });
            }
            watcher.progress_due = true;
        }
        for response in responses {
            self.send(response).await?;
        }
        Ok(())
    }

    async fn handle(&mut self, request: WatchRequest) -> Result<(), Gone> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => {
                let response = self.create(create);
                self.send(response).await
            }
            Some(RequestUnion::CancelRequest(cancel)) => {
                if self.watchers.remove(&cancel.watch_id).is_some() {
                    let header = self.store.header(self.store.current_revision());
                    self.send(WatchResponse {
                        header: Some(header),
                        watch_id: cancel.watch_id,
                        canceled: true,
                        ..Default::default()
                    })
                    .await?;
                }
                Ok(())
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                let header = self.store.header(self.store.current_revision());
                self.send(WatchResponse {
                    header: Some(header),
                    watch_id: INVALID_WATCH_ID,
                    ..Default::default()
                })
                .await
            }
            None => Ok(()),
        }
    }

    /// etcd's create: the key range as etcd reads it, the id (auto ids from 0 for a request
    /// id of 0), then a watcher synced from the current revision or catching up from its
    /// start revision.
    fn create(&mut self, create: WatchCreateRequest) -> WatchResponse {
        let key = if create.key.is_empty() {
            vec![0]
        } else {
            create.key
        };
        let keys = match create.range_end.as_slice() {
            [] => Keys::Single(key),
            [0] => Keys::From(key),
            _ => Keys::Between(key, create.range_end),
        };
        let current = self.store.current_revision();
        let header = Some(self.store.header(current));
        if let Some(check) = &self.check {
            // etcd checks with range_end "\0" turned into an empty one.
            let range_end: &[u8] = match &keys {
                Keys::Between(_, end) => end,
                Keys::Single(_) | Keys::From(_) => &[],
            };
            let key = match &keys {
                Keys::Single(key) | Keys::From(key) | Keys::Between(key, _) => key,
            };
            if !check(key, range_end) {
                return WatchResponse {
                    header,
                    watch_id: create.watch_id,
                    created: true,
                    canceled: true,
                    cancel_reason: PERMISSION_DENIED_REASON.into(),
                    ..Default::default()
                };
            }
        }
        let failed = |reason: &str| WatchResponse {
            header,
            watch_id: INVALID_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason: reason.into(),
            ..Default::default()
        };
        if let Keys::Between(start, end) = &keys
            && start >= end
        {
            return failed(EMPTY_WATCHER_RANGE);
        }
        let id = if create.watch_id == 0 {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id += 1;
            self.next_id - 1
        } else if self.watchers.contains_key(&create.watch_id) {
            return failed(DUPLICATE_WATCH_ID);
        } else {
            create.watch_id
        };
        let start_rev = if create.start_revision == 0 {
            current + 1
        } else {
            create.start_revision
        };
        let synced = start_rev > current;
        let filters = &create.filters;
        self.watchers.insert(
            id,
            Watcher {
                keys,
                no_put: filters.contains(&(FilterType::Noput as i32)),
                no_delete: filters.contains(&(FilterType::Nodelete as i32)),
                prev_kv: create.prev_kv,
                progress_notify: create.progress_notify,
                fragment: create.fragment,
                start_rev,
                through: if synced { current } else { start_rev - 1 },
                synced,
                compacted: false,
                progress_due: true,
            },
        );
        WatchResponse {
            header,
            watch_id: id,
            created: true,
            ..Default::default()
        }
    }
}

/// etcd's `sendFragments`: a response above `max_bytes` with several events is split into
/// parts of at least one event, all but the last marked `fragment`.
pub(crate) fn fragments(response: WatchResponse, max_bytes: usize) -> Vec<WatchResponse> {
    if response.encoded_len() < max_bytes || response.events.len() < 2 {
        return vec![response];
    }
    let mut out = Vec::new();
    let mut events = response.events.into_iter().peekable();
    let base = WatchResponse {
        events: Vec::new(),
        fragment: true,
        ..response
    };
    while events.peek().is_some() {
        let mut part = base.clone();
        while let Some(event) = events.peek() {
            part.events.push(event.clone());
            if part.events.len() > 1 && part.encoded_len() >= max_bytes {
                part.events.pop();
                break;
            }
            events.next();
        }
        if events.peek().is_none() {
            part.fragment = false;
        }
        out.push(part);
    }
    out
}
