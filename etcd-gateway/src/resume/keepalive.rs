//! The lease keepalive stream in front of the upstream: keepalives not answered when the
//! upstream stream is lost are sent again on the next one (a lease whose TTL ran out in
//! between is answered as etcd answers an unknown lease: `TTL` 0).

use std::collections::VecDeque;

use std::time::Duration;

use gateway_runtime::GrpcTransport;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};

use super::session::{self, Opener, Responses, Tracker};
use crate::etcdserverpb::lease_client::LeaseClient;
use crate::etcdserverpb::lease_server::Lease;
use crate::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};

/// The keepalives sent upstream and not answered yet, by lease ID, in order.
#[derive(Debug, Default)]
pub struct KeepAliveState {
    unanswered: VecDeque<i64>,
}

impl Tracker for KeepAliveState {
    type Request = LeaseKeepAliveRequest;
    type Response = LeaseKeepAliveResponse;

    fn on_request(&mut self, request: &LeaseKeepAliveRequest) {
        self.unanswered.push_back(request.id);
    }

    fn replay(&mut self) -> Vec<LeaseKeepAliveRequest> {
        self.unanswered
            .iter()
            .map(|id| LeaseKeepAliveRequest { id: *id })
            .collect()
    }

    fn on_response(&mut self, response: LeaseKeepAliveResponse) -> Option<LeaseKeepAliveResponse> {
        if let Some(index) = self.unanswered.iter().position(|id| *id == response.id) {
            self.unanswered.remove(index);
        }
        Some(response)
    }
}

/// etcd's Lease service for its keepalive stream only: [`super::wrap`] routes nothing else
/// here, the unary methods answer `Unimplemented`.
#[derive(Clone, Debug)]
pub struct ResumingLease {
    upstream: GrpcTransport,
    resume_timeout: Duration,
}

impl ResumingLease {
    /// The service calling `upstream`, seeking a lost upstream for at most `resume_timeout`.
    pub fn new(upstream: GrpcTransport, resume_timeout: Duration) -> Self {
        Self {
            upstream,
            resume_timeout,
        }
    }
}

/// Opens upstream keepalive streams with the client's metadata.
fn opener(
    upstream: GrpcTransport,
    metadata: MetadataMap,
) -> Opener<LeaseKeepAliveRequest, LeaseKeepAliveResponse> {
    Box::new(move |requests| {
        let mut client = LeaseClient::new(upstream.clone()).max_decoding_message_size(usize::MAX);
        let request = Request::from_parts(metadata.clone(), Default::default(), requests);
        Box::pin(async move {
            client
                .lease_keep_alive(request)
                .await
                .map(Response::into_inner)
        })
    })
}

/// The answer of the unary methods, which are never routed to this service.
fn not_routed(method: &str) -> Status {
    Status::unimplemented(format!(
        "{method} is not served by the keepalive stream service (it goes to the upstream)"
    ))
}

#[tonic::async_trait]
impl Lease for ResumingLease {
    type LeaseKeepAliveStream = Responses<LeaseKeepAliveResponse>;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        let (metadata, _, requests) = request.into_parts();
        let open = opener(self.upstream.clone(), metadata);
        Ok(Response::new(session::spawn(
            KeepAliveState::default(),
            open,
            requests,
            self.resume_timeout,
        )))
    }

    async fn lease_grant(
        &self,
        _request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        Err(not_routed("LeaseGrant"))
    }

    async fn lease_revoke(
        &self,
        _request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        Err(not_routed("LeaseRevoke"))
    }

    async fn lease_time_to_live(
        &self,
        _request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        Err(not_routed("LeaseTimeToLive"))
    }

    async fn lease_leases(
        &self,
        _request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        Err(not_routed("LeaseLeases"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_keepalives_are_sent_again() {
        let mut state = KeepAliveState::default();
        for id in [7, 8, 7] {
            state.on_request(&LeaseKeepAliveRequest { id });
        }
        state.on_response(LeaseKeepAliveResponse {
            id: 7,
            ttl: 5,
            ..LeaseKeepAliveResponse::default()
        });
        let ids: Vec<i64> = state.replay().iter().map(|request| request.id).collect();
        assert_eq!(ids, [8, 7]);
    }
}
