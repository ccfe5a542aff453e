//! etcd's KV gRPC service on the embedded store.

use std::sync::Arc;

use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::auth::{AuthStore, Caller};
use super::errors::EtcdError;
use super::mvcc::Store;
use super::unsupported::unsupported_service;
use super::validate::{
    DEFAULT_MAX_TXN_OPS, check_delete_request, check_put_request, check_range_request, check_txn,
    is_txn_readonly,
};
use crate::etcdserverpb::kv_server::{Kv, KvServer};
use crate::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RangeStreamResponse, TxnRequest, TxnResponse,
};

/// The KV service: checks requests as etcd's gRPC layer does, checks the caller's
/// permissions if it has an [`AuthStore`], runs them on the [`Store`] and fills the response
/// headers.
#[derive(Clone, Debug)]
pub struct KvService {
    store: Arc<Store>,
    max_txn_ops: usize,
    auth: Option<Arc<AuthStore>>,
}

impl KvService {
    /// The service on `store`, with etcd's default limit of 128 operations per txn.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            auth: None,
        }
    }

    /// Checks every request against `auth` (etcd's auth applier).
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The auth store and the caller of a request with `metadata`, if auth is checked.
    fn caller(&self, metadata: &MetadataMap) -> Result<Option<(&AuthStore, Caller)>, EtcdError> {
        match &self.auth {
            Some(auth) => Ok(Some((auth, auth.caller(metadata)?))),
            None => Ok(None),
        }
    }

    /// Sets the most operations a txn may have (etcd's `--max-txn-ops`).
    pub fn with_max_txn_ops(mut self, max_txn_ops: usize) -> Self {
        self.max_txn_ops = max_txn_ops;
        self
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> KvServer<Self> {
        KvServer::new(self)
    }
}

unsupported_service! {
    impl Kv for KvService {
        unary {}
        streaming {
            range_stream(RangeRequest) -> RangeStreamStream<RangeStreamResponse> = "RangeStream";
        }
        supported {
            async fn range(
                &self,
                request: Request<RangeRequest>,
            ) -> Result<Response<RangeResponse>, Status> {
                let (metadata, _, request) = request.into_parts();
                check_range_request(&request)?;
                let caller = self.caller(&metadata)?;
                if let Some((auth, caller)) = &caller {
                    auth.check_range(caller, &request)?;
                }
                let mut response = self.store.range(&request)?;
                if let Some((auth, caller)) = &caller {
                    auth.check_unchanged(caller)?;
                }
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn put(
                &self,
                request: Request<PutRequest>,
            ) -> Result<Response<PutResponse>, Status> {
                let (metadata, _, request) = request.into_parts();
                check_put_request(&request)?;
                if let Some((auth, caller)) = self.caller(&metadata)? {
                    auth.check_put(&caller, &request)?;
                }
                let mut response = self.store.put(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn delete_range(
                &self,
                request: Request<DeleteRangeRequest>,
            ) -> Result<Response<DeleteRangeResponse>, Status> {
                let (metadata, _, request) = request.into_parts();
                check_delete_request(&request)?;
                if let Some((auth, caller)) = self.caller(&metadata)? {
                    auth.check_delete(&caller, &request)?;
                }
                let mut response = self.store.delete_range(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn txn(
                &self,
                request: Request<TxnRequest>,
            ) -> Result<Response<TxnResponse>, Status> {
                let (metadata, _, request) = request.into_parts();
                check_txn(&request, self.max_txn_ops)?;
                let caller = self.caller(&metadata)?;
                if let Some((auth, caller)) = &caller {
                    auth.check_txn(caller, &request)?;
                }
                let read_only = is_txn_readonly(&request);
                let mut response = self.store.txn(request).await?;
                if read_only && let Some((auth, caller)) = &caller {
                    auth.check_unchanged(caller)?;
                }
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn compact(
                &self,
                request: Request<CompactionRequest>,
            ) -> Result<Response<CompactionResponse>, Status> {
                let (metadata, _, request) = request.into_parts();
                // etcd checks no permission for a compaction, only that a token is valid.
                self.caller(&metadata)?;
                let mut response = self.store.compact(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }
        }
    }
}
