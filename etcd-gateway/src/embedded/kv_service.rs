//! etcd's KV gRPC service on the embedded store.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::mvcc::Store;
use super::unsupported::unsupported_service;
use super::validate::{
    DEFAULT_MAX_TXN_OPS, check_delete_request, check_put_request, check_range_request, check_txn,
};
use crate::etcdserverpb::kv_server::{Kv, KvServer};
use crate::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RangeStreamResponse, TxnRequest, TxnResponse,
};

/// The KV service: checks requests as etcd's gRPC layer does, runs them on the [`Store`] and
/// fills the response headers.
#[derive(Clone, Debug)]
pub struct KvService {
    store: Arc<Store>,
    max_txn_ops: usize,
}

impl KvService {
    /// The service on `store`, with etcd's default limit of 128 operations per txn.
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
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
                let request = request.into_inner();
                check_range_request(&request)?;
                let mut response = self.store.range(&request)?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn put(
                &self,
                request: Request<PutRequest>,
            ) -> Result<Response<PutResponse>, Status> {
                let request = request.into_inner();
                check_put_request(&request)?;
                let mut response = self.store.put(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn delete_range(
                &self,
                request: Request<DeleteRangeRequest>,
            ) -> Result<Response<DeleteRangeResponse>, Status> {
                let request = request.into_inner();
                check_delete_request(&request)?;
                let mut response = self.store.delete_range(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn txn(
                &self,
                request: Request<TxnRequest>,
            ) -> Result<Response<TxnResponse>, Status> {
                let request = request.into_inner();
                check_txn(&request, self.max_txn_ops)?;
                let mut response = self.store.txn(request).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }

            async fn compact(
                &self,
                request: Request<CompactionRequest>,
            ) -> Result<Response<CompactionResponse>, Status> {
                let mut response = self.store.compact(request.into_inner()).await?;
                self.store.fill_header(&mut response.header);
                Ok(Response::new(response))
            }
        }
    }
}
