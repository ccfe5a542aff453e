//! etcd's Lease gRPC service on a [`Lessor`].

use std::sync::Arc;

use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::AuthStore;
use super::errors::EtcdError;
use super::lease::{LeaseOptions, Lessor};
use super::mvcc::Store;
use crate::etcdserverpb::lease_server::{Lease, LeaseServer};
use crate::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};

/// The Lease service: grant, revoke, keep-alive, time-to-live and list, answered as etcd
/// does.
#[derive(Clone, Debug)]
pub struct LeaseService {
    lessor: Arc<Lessor>,
    auth: Option<Arc<AuthStore>>,
}

impl LeaseService {
    /// The service on `lessor`.
    pub fn new(lessor: Arc<Lessor>) -> Self {
        Self { lessor, auth: None }
    }

    /// Checks grants and revocations against `auth` as etcd 3.5.1 does: a valid token (if
    /// any) for both, and write access to every key of a revoked lease.
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The service on `store` with a new [`Lessor`] with default options (see
    /// [`Lessor::open`]: it loads the persisted leases and must be called inside a Tokio
    /// runtime).
    pub fn open(store: Arc<Store>) -> Result<Self, EtcdError> {
        Lessor::open(store, LeaseOptions::default()).map(Self::new)
    }

    /// The lessor served.
    pub fn lessor(&self) -> &Arc<Lessor> {
        &self.lessor
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> LeaseServer<Self> {
        LeaseServer::new(self)
    }

    /// Answers every keep-alive request of `requests` with the lease's TTL (0 for a lease that
    /// does not exist), in order; the answers end when the requests end.
    pub fn keep_alive<S>(&self, requests: S) -> KeepAliveStream
    where
        S: Stream<Item = Result<LeaseKeepAliveRequest, Status>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let lessor = Arc::clone(&self.lessor);
        tokio::spawn(async move {
            let mut requests = std::pin::pin!(requests);
            loop {
                let request = tokio::select! {
                    request = requests.next() => request,
                    () = tx.closed() => return,
                };
                let request = match request {
                    Some(Ok(request)) => request,
                    Some(Err(status)) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    None => return,
                };
                let response = match lessor.renew(request.id) {
                    Ok(ttl) => Ok(keep_alive_response(&lessor, request.id, ttl)),
                    Err(EtcdError::LeaseNotFound) => {
                        Ok(keep_alive_response(&lessor, request.id, 0))
                    }
                    Err(err) => Err(Status::from(err)),
                };
                let failed = response.is_err();
                if tx.send(response).await.is_err() || failed {
                    return;
                }
            }
        });
        ReceiverStream::new(rx)
    }
}

fn keep_alive_response(lessor: &Lessor, id: i64, ttl: i64) -> LeaseKeepAliveResponse {
    let store = lessor.store();
    LeaseKeepAliveResponse {
        header: Some(store.header(store.current_revision())),
        id,
        ttl,
    }
}

/// The response stream of `LeaseKeepAlive`.
pub type KeepAliveStream = ReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        if let Some(auth) = &self.auth {
            auth.caller(request.metadata())?;
        }
        let request = request.into_inner();
        let (id, ttl, rev) = self.lessor.grant(request.id, request.ttl).await?;
        Ok(Response::new(LeaseGrantResponse {
            header: Some(self.lessor.store().header(rev)),
            id,
            ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        if let Some(auth) = &self.auth {
            let caller = auth.caller(request.metadata())?;
            auth.check_lease_keys(&caller, request.get_ref().id)?;
        }
        let rev = self.lessor.revoke(request.into_inner().id).await?;
        Ok(Response::new(LeaseRevokeResponse {
            header: Some(self.lessor.store().header(rev)),
        }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        Ok(Response::new(self.keep_alive(request.into_inner())))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let store = self.lessor.store();
        let header = Some(store.header(store.current_revision()));
        let response = match self.lessor.time_to_live(request.id, request.keys) {
            Some(info) => LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: info.remaining_ttl,
                granted_ttl: info.granted_ttl,
                keys: info.keys,
            },
            None => LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: -1,
                ..Default::default()
            },
        };
        Ok(Response::new(response))
    }

    async fn lease_leases(
        &self,
        _request: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let store = self.lessor.store();
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(store.header(store.current_revision())),
            leases: self
                .lessor
                .leases()
                .into_iter()
                .map(|id| LeaseStatus { id })
                .collect(),
        }))
    }
}
