//! etcd's v3election gRPC service on the embedded store (see [`super::concurrency`]).

use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::auth::AuthStore;
use super::concurrency::cancel::detached;
use super::concurrency::{ConcurrencyError, KvClient, election};
use super::lease::Lessor;
use crate::v3electionpb::election_server::{Election, ElectionServer};
use crate::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};

/// Responses of one `Observe` buffered for a slow client before the observer waits.
const OBSERVE_BUFFER: usize = 16;

/// The Election service: `Campaign`, `Proclaim`, `Leader`, `Observe` and `Resign`, answered
/// as etcd 3.5.1's v3election server does.
#[derive(Clone, Debug)]
pub struct ElectionService {
    lessor: Arc<Lessor>,
    auth: Option<Arc<AuthStore>>,
}

impl ElectionService {
    /// The service on `lessor` and its store.
    pub fn new(lessor: Arc<Lessor>) -> Self {
        Self { lessor, auth: None }
    }

    /// Checks every KV step against `auth`, with the caller's token, as etcd's KV server
    /// checks the steps of its in-process client.
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> ElectionServer<Self> {
        ElectionServer::new(self)
    }

    fn client<T>(&self, request: &Request<T>) -> KvClient {
        KvClient::new(Arc::clone(&self.lessor), request.metadata().clone())
            .with_auth(self.auth.clone())
    }
}

/// The response stream of `Observe`.
pub type ObserveStream = ReceiverStream<Result<LeaderResponse, Status>>;

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let client = self.client(&request);
        let request = request.into_inner();
        let answer = detached(|mut cancel| async move {
            election::campaign(
                &client,
                &request.name,
                request.lease,
                &request.value,
                &mut cancel,
            )
            .await
        })
        .await?;
        let (header, leader) = answer?;
        Ok(Response::new(CampaignResponse {
            header: Some(header),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let client = self.client(&request);
        let request = request.into_inner();
        let leader = request.leader.ok_or(ConcurrencyError::MissingLeaderKey)?;
        let header = election::proclaim(&client, &leader, &request.value).await?;
        Ok(Response::new(ProclaimResponse {
            header: Some(header),
        }))
    }

    async fn leader(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let client = self.client(&request);
        let response = election::leader(&client, &request.into_inner().name)?;
        Ok(Response::new(response))
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        request: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let client = self.client(&request);
        let name = request.into_inner().name;
        let (out, responses) = mpsc::channel(OBSERVE_BUFFER);
        tokio::spawn(async move { election::observe(&client, &name, &out).await });
        Ok(Response::new(ReceiverStream::new(responses)))
    }

    async fn resign(
        &self,
        request: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let client = self.client(&request);
        let leader = request
            .into_inner()
            .leader
            .ok_or(ConcurrencyError::MissingLeaderKey)?;
        let header = election::resign(&client, &leader).await?;
        Ok(Response::new(ResignResponse {
            header: Some(header),
        }))
    }
}
