//! etcd's Watch gRPC service on the embedded store.

use std::sync::Arc;

use tonic::codegen::tokio_stream::Stream;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::mvcc::Store;
use super::watcher::{self, WatchOptions};
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
}

impl WatchService {
    /// The service on `store` with etcd's defaults (progress notifications every 10 minutes,
    /// fragments of at most etcd's default request size).
    pub fn new(store: Arc<Store>) -> Self {
        Self::with_options(store, WatchOptions::default())
    }

    /// The service on `store` with `options`.
    pub fn with_options(store: Arc<Store>, options: WatchOptions) -> Self {
        Self { store, options }
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
        let (out, responses) = tokio::sync::mpsc::channel(self.options.response_buffer.max(1));
        // Subscribed before anything is read, so no later revision can be missed.
        let events = self.store.subscribe();
        tokio::spawn(watcher::run(
            Arc::clone(&self.store),
            self.options.clone(),
            events,
            requests,
            out,
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
        Ok(Response::new(self.serve(request.into_inner())))
    }
}
