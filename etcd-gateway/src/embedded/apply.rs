//! Request semantics on top of [`super::kv_txn`], as etcd's `apply.go` defines them: range
//! (limit, sort, filters, count), put, delete-range and txn (compares, branch choice, nested
//! txns, per-operation checks).

use std::cmp::Ordering;

use super::errors::EtcdError;
use super::key_index::KeyRange;
use super::kv_txn::{RangeOptions, ReadView, WriteCtx, rev_header};
use crate::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::response_op::Response;
use crate::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::mvccpb::KeyValue;

/// Tells whether a lease exists; the lease module implements it. Puts with a lease that does
/// not exist fail with `etcdserver: requested lease not found`.
pub trait LeaseLookup: Send + Sync {
    /// Whether lease `id` is granted and not expired.
    fn exists(&self, id: i64) -> bool;
}

/// The lease lookup used until the lease module is there: no lease exists.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLeases;

impl LeaseLookup for NoLeases {
    fn exists(&self, _id: i64) -> bool {
        false
    }
}

/// etcd's `Range` applier: fetch, filter, sort, cut at `limit`.
pub(crate) fn range(
    view: &ReadView<'_>,
    request: &RangeRequest,
) -> Result<RangeResponse, EtcdError> {
    let mut limit = request.limit;
    if request.sort_order != SortOrder::None as i32
        || request.min_mod_revision != 0
        || request.max_mod_revision != 0
        || request.min_create_revision != 0
        || request.max_create_revision != 0
    {
        // Fetch everything; sort and cut afterwards.
        limit = 0;
    }
    if limit > 0 {
        // One more, to know whether there are more.
        limit += 1;
    }
    let options = RangeOptions {
        limit,
        rev: request.revision,
        count: request.count_only,
    };
    let found = view.range_keys(KeyRange::new(&request.key, &request.range_end), options)?;
    let mut kvs = found.kvs;

    if request.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= request.max_mod_revision);
    }
    if request.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= request.min_mod_revision);
    }
    if request.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= request.max_create_revision);
    }
    if request.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= request.min_create_revision);
    }

    let target = SortTarget::try_from(request.sort_target).ok();
    let mut order = request.sort_order;
    if target != Some(SortTarget::Key) && order == SortOrder::None as i32 {
        // Results come in key order: other targets sort ascending by default.
        order = SortOrder::Ascend as i32;
    } else if target == Some(SortTarget::Key) && order == SortOrder::Ascend as i32 {
        // Already in that order.
        order = SortOrder::None as i32;
    }
    if let Some(target) = target
        && order != SortOrder::None as i32
    {
        let cmp = |left: &KeyValue, right: &KeyValue| -> Ordering {
            match target {
                SortTarget::Key => left.key.cmp(&right.key),
                SortTarget::Version => left.version.cmp(&right.version),
                SortTarget::Create => left.create_revision.cmp(&right.create_revision),
                SortTarget::Mod => left.mod_revision.cmp(&right.mod_revision),
                SortTarget::Value => left.value.cmp(&right.value),
            }
        };
        if order == SortOrder::Ascend as i32 {
            kvs.sort_by(cmp);
        } else if order == SortOrder::Descend as i32 {
            kvs.sort_by(|a, b| cmp(b, a));
        }
    }

    let mut more = false;
    if request.limit > 0 && kvs.len() as i64 > request.limit {
        kvs.truncate(request.limit as usize);
        more = true;
    }
    if request.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: rev_header(found.rev),
        kvs,
        more,
        count: found.count,
    })
}

/// What a txn needs from its context: reads, and for write txns, writes.
pub(crate) trait TxnOps {
    /// The current view, including this request's own writes so far.
    fn view(&self) -> ReadView<'_>;
    /// etcd's `Put` applier inside a txn.
    fn put(&mut self, put: &PutRequest) -> Result<PutResponse, EtcdError>;
    /// etcd's `DeleteRange` applier inside a txn.
    fn delete_range(
        &mut self,
        delete: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError>;
}

/// The context of a read-only txn.
pub(crate) struct ReadOnly<'a>(pub ReadView<'a>);

impl TxnOps for ReadOnly<'_> {
    fn view(&self) -> ReadView<'_> {
        self.0
    }

    fn put(&mut self, _: &PutRequest) -> Result<PutResponse, EtcdError> {
        Err(EtcdError::storage("put in a read-only txn"))
    }

    fn delete_range(&mut self, _: &DeleteRangeRequest) -> Result<DeleteRangeResponse, EtcdError> {
        Err(EtcdError::storage("delete in a read-only txn"))
    }
}

/// A standalone put (etcd's `Put` applier outside a txn): the lease must exist, then as
/// inside a txn.
pub(crate) fn put_request(
    ctx: &mut WriteCtx<'_, '_>,
    put: &PutRequest,
    leases: &dyn LeaseLookup,
) -> Result<PutResponse, EtcdError> {
    if put.lease != 0 && !leases.exists(put.lease) {
        return Err(EtcdError::LeaseNotFound);
    }
    ctx.put(put)
}

impl TxnOps for WriteCtx<'_, '_> {
    fn view(&self) -> ReadView<'_> {
        WriteCtx::view(self)
    }

    fn put(&mut self, put: &PutRequest) -> Result<PutResponse, EtcdError> {
        let mut value = put.value.clone();
        let mut lease = put.lease;
        let mut prev = None;
        if put.ignore_value || put.ignore_lease || put.prev_kv {
            prev = self.view().get(&put.key, 0)?;
        }
        if put.ignore_value || put.ignore_lease {
            let Some(prev) = &prev else {
                return Err(EtcdError::KeyNotFound);
            };
            if put.ignore_value {
                value = prev.value.clone();
            }
            if put.ignore_lease {
                lease = prev.lease;
            }
        }
        let prev_kv = if put.prev_kv { prev } else { None };
        let rev = self.put_kv(&put.key, value, lease)?;
        Ok(PutResponse {
            header: rev_header(rev),
            prev_kv,
        })
    }

    fn delete_range(
        &mut self,
        delete: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError> {
        let range = KeyRange::new(&delete.key, &delete.range_end);
        let mut prev_kvs = Vec::new();
        if delete.prev_kv {
            prev_kvs = self.view().range_keys(range, RangeOptions::default())?.kvs;
        }
        let (deleted, rev) = self.delete_keys(range)?;
        Ok(DeleteRangeResponse {
            header: rev_header(rev),
            deleted,
            prev_kvs,
        })
    }
}

fn compare_i64(actual: i64, target: i64) -> Ordering {
    actual.cmp(&target)
}

/// etcd's `compareKV`.
fn compare_kv(compare: &Compare, kv: &KeyValue) -> bool {
    let result = match CompareTarget::try_from(compare.target) {
        Ok(CompareTarget::Value) => {
            let value: &[u8] = match &compare.target_union {
                Some(TargetUnion::Value(value)) => value,
                _ => &[],
            };
            kv.value.as_slice().cmp(value)
        }
        Ok(CompareTarget::Create) => {
            let rev = match compare.target_union {
                Some(TargetUnion::CreateRevision(rev)) => rev,
                _ => 0,
            };
            compare_i64(kv.create_revision, rev)
        }
        Ok(CompareTarget::Mod) => {
            let rev = match compare.target_union {
                Some(TargetUnion::ModRevision(rev)) => rev,
                _ => 0,
            };
            compare_i64(kv.mod_revision, rev)
        }
        Ok(CompareTarget::Version) => {
            let version = match compare.target_union {
                Some(TargetUnion::Version(version)) => version,
                _ => 0,
            };
            compare_i64(kv.version, version)
        }
        Ok(CompareTarget::Lease) => {
            let lease = match compare.target_union {
                Some(TargetUnion::Lease(lease)) => lease,
                _ => 0,
            };
            compare_i64(kv.lease, lease)
        }
        Err(_) => Ordering::Equal,
    };
    match CompareResult::try_from(compare.result) {
        Ok(CompareResult::Equal) => result == Ordering::Equal,
        Ok(CompareResult::NotEqual) => result != Ordering::Equal,
        Ok(CompareResult::Greater) => result == Ordering::Greater,
        Ok(CompareResult::Less) => result == Ordering::Less,
        Err(_) => true,
    }
}

/// etcd's `applyCompare`: every key of the compare's range must pass; a missing key compares
/// as a zero key-value, except that a VALUE compare on a missing key always fails.
fn apply_compare(view: &ReadView<'_>, compare: &Compare) -> Result<bool, EtcdError> {
    let found = match view.range_keys(
        KeyRange::new(&compare.key, &compare.range_end),
        RangeOptions::default(),
    ) {
        Ok(found) => found,
        Err(err @ EtcdError::Storage(_)) => return Err(err),
        Err(_) => return Ok(false),
    };
    if found.kvs.is_empty() {
        if compare.target == CompareTarget::Value as i32 {
            return Ok(false);
        }
        return Ok(compare_kv(compare, &KeyValue::default()));
    }
    Ok(found.kvs.iter().all(|kv| compare_kv(compare, kv)))
}

/// The branch taken by the txn and by every nested txn of the taken branches, depth first,
/// all decided on the view before the txn runs.
fn compare_to_path(view: &ReadView<'_>, request: &TxnRequest) -> Result<Vec<bool>, EtcdError> {
    let mut succeeded = true;
    for compare in &request.compare {
        if !apply_compare(view, compare)? {
            succeeded = false;
            break;
        }
    }
    let mut path = vec![succeeded];
    let ops = if succeeded {
        &request.success
    } else {
        &request.failure
    };
    for op in ops {
        if let Some(Request::RequestTxn(nested)) = &op.request {
            path.extend(compare_to_path(view, nested)?);
        }
    }
    Ok(path)
}

type CheckFn<'f> = dyn FnMut(&ReadView<'_>, &RequestOp) -> Result<(), EtcdError> + 'f;

/// Runs `check` on every operation of the branches `path` takes; returns the number of
/// nested txns visited.
fn check_requests(
    view: &ReadView<'_>,
    request: &TxnRequest,
    path: &[bool],
    check: &mut CheckFn<'_>,
) -> Result<usize, EtcdError> {
    let ops = if path[0] {
        &request.success
    } else {
        &request.failure
    };
    let mut rest = path;
    let mut txns = 0;
    for op in ops {
        if let Some(Request::RequestTxn(nested)) = &op.request {
            let inner = check_requests(view, nested, &rest[1..], check)?;
            txns += inner + 1;
            rest = &rest[inner + 1..];
            continue;
        }
        check(view, op)?;
    }
    Ok(txns)
}

/// etcd's `checkRange` for a range inside a txn.
fn check_range(view: &ReadView<'_>, op: &RequestOp) -> Result<(), EtcdError> {
    let Some(Request::RequestRange(range)) = &op.request else {
        return Ok(());
    };
    if range.revision == 0 {
        Ok(())
    } else if range.revision > view.rev {
        Err(EtcdError::FutureRev)
    } else if range.revision < view.compact_rev {
        Err(EtcdError::Compacted)
    } else {
        Ok(())
    }
}

/// etcd's `checkPut` for a put inside a txn.
fn check_put(
    view: &ReadView<'_>,
    op: &RequestOp,
    leases: &dyn LeaseLookup,
) -> Result<(), EtcdError> {
    let Some(Request::RequestPut(put)) = &op.request else {
        return Ok(());
    };
    if (put.ignore_value || put.ignore_lease) && view.get(&put.key, 0)?.is_none() {
        return Err(EtcdError::KeyNotFound);
    }
    if put.lease != 0 && !leases.exists(put.lease) {
        return Err(EtcdError::LeaseNotFound);
    }
    Ok(())
}

/// Runs the taken branch of `request`; returns the responses and the number of nested txns.
fn apply_txn<T: TxnOps>(
    ops: &mut T,
    request: &TxnRequest,
    path: &[bool],
) -> Result<(Vec<ResponseOp>, usize), EtcdError> {
    let requests = if path[0] {
        &request.success
    } else {
        &request.failure
    };
    let mut rest = path;
    let mut txns = 0;
    let mut responses = Vec::with_capacity(requests.len());
    for request_op in requests {
        let response = match &request_op.request {
            Some(Request::RequestRange(range_request)) => {
                Some(Response::ResponseRange(range(&ops.view(), range_request)?))
            }
            Some(Request::RequestPut(put)) => Some(Response::ResponsePut(ops.put(put)?)),
            Some(Request::RequestDeleteRange(delete)) => {
                Some(Response::ResponseDeleteRange(ops.delete_range(delete)?))
            }
            Some(Request::RequestTxn(nested)) => {
                let sub_path = &rest[1..];
                let (nested_responses, inner) = apply_txn(ops, nested, sub_path)?;
                txns += inner + 1;
                rest = &rest[inner + 1..];
                // A nested txn's header stays empty, as in etcd.
                Some(Response::ResponseTxn(TxnResponse {
                    header: Some(ResponseHeader::default()),
                    succeeded: sub_path[0],
                    responses: nested_responses,
                }))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok((responses, txns))
}

/// etcd's `Txn` applier: decide the branches, check their operations, run them.
pub(crate) fn txn<T: TxnOps>(
    ops: &mut T,
    request: &TxnRequest,
    is_write: bool,
    leases: &dyn LeaseLookup,
) -> Result<TxnResponse, EtcdError> {
    let path = {
        let view = ops.view();
        let path = compare_to_path(&view, request)?;
        if is_write {
            check_requests(&view, request, &path, &mut |view, op| {
                check_put(view, op, leases)
            })?;
        }
        check_requests(&view, request, &path, &mut check_range)?;
        path
    };
    let (responses, _) = apply_txn(ops, request, &path)?;
    Ok(TxnResponse {
        header: rev_header(ops.view().rev),
        succeeded: path[0],
        responses,
    })
}
