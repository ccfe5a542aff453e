//! etcd's Watch gRPC service on the embedded store.

use std::sync::Arc;

use tonic::codegen::tokio_stream::Stream;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::auth::AuthStore;
use super::mvcc::Store;
use super::watcher::{self, WatchCheck, WatchOptions};
use crate::etcdserverpb::watch_server::{Watch, WatchServer};
use crate::etcdserverpb::{WatchRequest, WatchResponse};

/// The response stream of a watch.
pub type WatchResponses = ReceiverStream<Result<WatchResponse, Status>>;

/// The Watch service: each stream runs as its own task (see [`super::watcher`]) until the
/// client goes away.
#[derive(Clone, Debug)]
pub struct WatchService {
    store: Arc<Store>,
    options: WatchOptions,
    auth: Option<Arc<AuthStore>>,
}

impl WatchService {
    /// The service on `store` with etcd's defaults (progress notifications every 10 minutes,
    /// fragments of at most etcd's default request size).
    pub fn new(store: Arc<Store>) -> Self {
        Self::with_options(store, WatchOptions::default())
    }

    /// The service on `store` with `options`.
    pub fn with_options(store: Arc<Store>, options: WatchOptions) -> Self {
        Self {
            store,
            options,
            auth: None,
        }
    }

    /// Checks every watch create against `auth`: the caller needs read access to the keys
    /// watched, else the watch is created and canceled at once (etcd 3.5's answer).
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> WatchServer<Self> {
        WatchServer::new(self)
    }

    /// Serves one watch stream on any stream of requests: the responses come out of the
    /// returned stream. Must be called inside a Tokio runtime.
    pub fn serve<S>(&self, requests: S) -> WatchResponses
    where
        S: Stream<Item = Result<WatchRequest, Status>> + Send + 'static,
    {
        self.serve_checked(requests, None)
    }

    /// [`WatchService::serve`], each create checked by `check` if given.
    fn serve_checked<S>(&self, requests: S, check: Option<WatchCheck>) -> WatchResponses
    where
        S: Stream<Item = Result<WatchRequest, Status>> + Send + 'static,
    {
        let (out, responses) = tokio::sync::mpsc::channel(self.options.response_buffer.max(1));
        // Subscribed before anything is read, so no later revision can be missed.
        let events = self.store.subscribe();
        tokio::spawn(watcher::run(
            Arc::clone(&self.store),
            self.options.clone(),
            events,
            requests,
            out,
            check,
        ));
        ReceiverStream::new(responses)
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = WatchResponses;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let check = self.auth.as_ref().map(|auth| {
            let auth = Arc::clone(auth);
            let metadata = request.metadata().clone();
            // etcd's isWatchPermitted: the token is read again at every create.
            let check: WatchCheck = Box::new(move |key: &[u8], range_end: &[u8]| {
                auth.caller(&metadata)
                    .and_then(|caller| auth.is_range_permitted(&caller, key, range_end))
                    .is_ok()
            });
            check
        });
        Ok(Response::new(
            self.serve_checked(request.into_inner(), check),
        ))
    }
}
