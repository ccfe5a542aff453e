//! etcd's v3lock gRPC service on the embedded store (see [`super::concurrency`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::AuthStore;
use super::concurrency::cancel::detached;
use super::concurrency::{KvClient, mutex};
use super::lease::Lessor;
use crate::v3lockpb::lock_server::{Lock, LockServer};
use crate::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

/// The Lock service: `Lock` and `Unlock`, answered as etcd 3.5.1's v3lock server does.
#[derive(Clone, Debug)]
pub struct LockService {
    lessor: Arc<Lessor>,
    auth: Option<Arc<AuthStore>>,
}

impl LockService {
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
    pub fn into_server(self) -> LockServer<Self> {
        LockServer::new(self)
    }

    fn client<T>(&self, request: &Request<T>) -> KvClient {
        KvClient::new(Arc::clone(&self.lessor), request.metadata().clone())
            .with_auth(self.auth.clone())
    }
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, request: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let client = self.client(&request);
        let request = request.into_inner();
        let answer = detached(|mut cancel| async move {
            mutex::lock(&client, &request.name, request.lease, &mut cancel).await
        })
        .await?;
        let (header, key) = answer?;
        Ok(Response::new(LockResponse {
            header: Some(header),
            key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let client = self.client(&request);
        let header = mutex::unlock(&client, &request.into_inner().key).await?;
        Ok(Response::new(UnlockResponse {
            header: Some(header),
        }))
    }
}
