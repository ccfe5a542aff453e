//! Tests of the embedded store and its KV service, with exact expected responses.

mod compact;
mod concurrency;
mod durability;
mod events;
mod lease;
mod range;
mod txn;
mod watch;
mod write;

use std::path::PathBuf;
use std::sync::Arc;

use tempfile::TempDir;
use tonic::{Code, Request, Status};

use super::{KvService, Store};
use crate::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::etcdserverpb::kv_server::Kv;
use crate::etcdserverpb::request_op::Request as Op;
use crate::etcdserverpb::response_op::Response as OpResponse;
use crate::etcdserverpb::{
    CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp,
    TxnRequest, TxnResponse,
};
use crate::mvccpb::KeyValue;

/// A store in a temporary directory and the KV service on it.
struct Env {
    dir: TempDir,
    store: Arc<Store>,
    kv: KvService,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open store"));
        let kv = KvService::new(Arc::clone(&store));
        Self { dir, store, kv }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Closes the store and opens the same directory again.
    fn reopen(self) -> Self {
        let Self { dir, store, kv } = self;
        drop(kv);
        drop(Arc::into_inner(store).expect("no other store handle"));
        let store = Arc::new(Store::open(dir.path()).expect("reopen store"));
        let kv = KvService::new(Arc::clone(&store));
        Self { dir, store, kv }
    }

    /// A full header at `revision`.
    fn hdr(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.store.header(revision))
    }

    async fn put(&self, key: &str, value: &str) -> PutResponse {
        self.put_req(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
        .await
        .expect("put")
    }

    async fn put_req(&self, r: PutRequest) -> Result<PutResponse, Status> {
        self.kv.put(Request::new(r)).await.map(|r| r.into_inner())
    }

    async fn range(&self, r: RangeRequest) -> Result<RangeResponse, Status> {
        self.kv.range(Request::new(r)).await.map(|r| r.into_inner())
    }

    async fn get(&self, key: &str) -> RangeResponse {
        self.range(get_req(key)).await.expect("range")
    }

    async fn delete(&self, r: DeleteRangeRequest) -> Result<DeleteRangeResponse, Status> {
        self.kv
            .delete_range(Request::new(r))
            .await
            .map(|r| r.into_inner())
    }

    async fn txn(&self, r: TxnRequest) -> Result<TxnResponse, Status> {
        self.kv.txn(Request::new(r)).await.map(|r| r.into_inner())
    }

    async fn compact(&self, revision: i64) -> Result<CompactionResponse, Status> {
        self.kv
            .compact(Request::new(CompactionRequest {
                revision,
                physical: false,
            }))
            .await
            .map(|r| r.into_inner())
    }
}

fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease: 0,
    }
}

fn get_req(key: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        ..Default::default()
    }
}

fn range_req(key: &str, end: &str) -> RangeRequest {
    RangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

fn del_req(key: &str, end: &str) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.into(),
        range_end: end.into(),
        ..Default::default()
    }
}

fn op_put(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })),
    }
}

fn op_get(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(get_req(key))),
    }
}

fn op_del(key: &str, end: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestDeleteRange(del_req(key, end))),
    }
}

fn op_txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestTxn(TxnRequest {
            compare,
            success,
            failure,
        })),
    }
}

fn txn_req(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest {
        compare,
        success,
        failure,
    }
}

fn cmp(key: &str, target: CompareTarget, result: CompareResult, union: TargetUnion) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.into(),
        range_end: Vec::new(),
        target_union: Some(union),
    }
}

/// A sub-response header: only the revision, as etcd writes it.
fn sub_hdr(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

fn resp_put(revision: i64, prev_kv: Option<KeyValue>) -> ResponseOp {
    ResponseOp {
        response: Some(OpResponse::ResponsePut(PutResponse {
            header: sub_hdr(revision),
            prev_kv,
        })),
    }
}

fn resp_range(revision: i64, kvs: Vec<KeyValue>) -> ResponseOp {
    let count = kvs.len() as i64;
    ResponseOp {
        response: Some(OpResponse::ResponseRange(RangeResponse {
            header: sub_hdr(revision),
            kvs,
            more: false,
            count,
        })),
    }
}

fn resp_del(revision: i64, deleted: i64) -> ResponseOp {
    ResponseOp {
        response: Some(OpResponse::ResponseDeleteRange(DeleteRangeResponse {
            header: sub_hdr(revision),
            deleted,
            prev_kvs: vec![],
        })),
    }
}

#[track_caller]
fn assert_status(result: Result<impl std::fmt::Debug, Status>, code: Code, message: &str) {
    let err = result.expect_err("an error");
    assert_eq!((err.code(), err.message()), (code, message), "{err:?}");
}

const EMPTY_KEY: &str = "etcdserver: key is not provided";
const KEY_NOT_FOUND: &str = "etcdserver: key not found";
const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";
const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
const DUPLICATE_KEY: &str = "etcdserver: duplicate key given in txn request";
const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";
