//! The Watch service in front of the upstream: each stream is a [`session`] tracked by a
//! [`WatchState`].

use std::time::Duration;

use gateway_runtime::GrpcTransport;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::session::{self, Opener, Responses};
use super::watch_state::WatchState;
use crate::etcdserverpb::watch_client::WatchClient;
use crate::etcdserverpb::watch_server::Watch;
use crate::etcdserverpb::{WatchRequest, WatchResponse};

/// etcd's Watch service, served by upstream streams that are replaced when lost.
#[derive(Clone, Debug)]
pub struct ResumingWatch {
    upstream: GrpcTransport,
    resume_timeout: Duration,
}

impl ResumingWatch {
    /// The service calling `upstream`, seeking a lost upstream for at most `resume_timeout`.
    pub fn new(upstream: GrpcTransport, resume_timeout: Duration) -> Self {
        Self {
            upstream,
            resume_timeout,
        }
    }
}

/// Opens upstream watch streams with the client's metadata (its token, among others).
fn opener(upstream: GrpcTransport, metadata: MetadataMap) -> Opener<WatchRequest, WatchResponse> {
    Box::new(move |requests| {
        let mut client = WatchClient::new(upstream.clone()).max_decoding_message_size(usize::MAX);
        let request = Request::from_parts(metadata.clone(), Default::default(), requests);
        Box::pin(async move { client.watch(request).await.map(Response::into_inner) })
    })
}

#[tonic::async_trait]
impl Watch for ResumingWatch {
    type WatchStream = Responses<WatchResponse>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (metadata, _, requests) = request.into_parts();
        let open = opener(self.upstream.clone(), metadata);
        Ok(Response::new(session::spawn(
            WatchState::default(),
            open,
            requests,
            self.resume_timeout,
        )))
    }
}
