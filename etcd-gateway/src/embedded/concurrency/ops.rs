//! The txn parts etcd's `concurrency` package builds its steps from.

use crate::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::response_op::Response;
use crate::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, ResponseOp};
use crate::mvccpb::KeyValue;

/// The comparison `create_revision(key) == revision`.
pub fn created_at(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: CompareResult::Equal as i32,
        target: CompareTarget::Create as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(TargetUnion::CreateRevision(revision)),
    }
}

/// A put of `key` with `value` on `lease`, as a txn operation.
pub fn put_op(key: &[u8], value: &[u8], lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestPut(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    }
}

/// A range of `request`, as a txn operation.
pub fn range_op(request: RangeRequest) -> RequestOp {
    RequestOp {
        request: Some(Request::RequestRange(request)),
    }
}

/// The first key-value of the range answered at `index` of a txn's responses.
pub fn first_kv(responses: &[ResponseOp], index: usize) -> Option<KeyValue> {
    match responses.get(index)?.response.as_ref()? {
        Response::ResponseRange(range) => range.kvs.first().cloned(),
        _ => None,
    }
}
