//! Request semantics on top of the index and the rows, as etcd's `apply.go` and
//! `kvstore_txn.go` define them: range (limit, sort, filters, count), put, delete-range, txn
//! (compares, branch choice, nested txns, per-operation checks) and the undo of a request
//! that fails half way.

use std::cmp::Ordering;

use super::errors::EtcdError;
use super::key_index::{KeyAt, KeyRange, Revision, TreeIndex};
use super::storage::{RowSource, encode_row};
use crate::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::response_op::Response;
use crate::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::mvccpb::{Event, KeyValue, event::EventType};

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

/// A header with only the revision, as etcd's applier writes it (the server fills the rest
/// of the outer header).
pub(crate) fn rev_header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

/// Options of a raw index range.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RangeOptions {
    limit: i64,
    rev: i64,
    count: bool,
}

/// A raw index range: the key-values, the number of keys, and the view's revision.
pub(crate) struct RangeResult {
    kvs: Vec<KeyValue>,
    count: i64,
    rev: i64,
}

/// A consistent read: the index, the rows, the revision reads see by default and the
/// compaction revision.
#[derive(Clone, Copy)]
pub(crate) struct ReadView<'a> {
    pub index: &'a TreeIndex,
    pub rows: &'a dyn RowSource,
    pub rev: i64,
    pub compact_rev: i64,
}

impl ReadView<'_> {
    /// etcd's `rangeKeys`.
    fn range_keys(&self, range: KeyRange<'_>, ro: RangeOptions) -> Result<RangeResult, EtcdError> {
        let cur_rev = self.rev;
        if ro.rev > cur_rev {
            return Err(EtcdError::FutureRev);
        }
        let rev = if ro.rev <= 0 { cur_rev } else { ro.rev };
        if rev < self.compact_rev {
            return Err(EtcdError::Compacted);
        }
        if ro.count {
            return Ok(RangeResult {
                kvs: Vec::new(),
                count: self.index.count(range, rev),
                rev: cur_rev,
            });
        }
        let (revs, count) = self.index.revisions(range, rev, ro.limit);
        let kvs = revs
            .into_iter()
            .map(|rev| self.rows.kv(rev))
            .collect::<Result<_, _>>()?;
        Ok(RangeResult {
            kvs,
            count,
            rev: cur_rev,
        })
    }

    /// The key-value of `key` at `rev` (latest if `rev <= 0`), if it exists and is readable.
    pub(crate) fn get(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>, EtcdError> {
        let ro = RangeOptions {
            rev,
            ..Default::default()
        };
        match self.range_keys(KeyRange::Single(key), ro) {
            Ok(rr) => Ok(rr.kvs.into_iter().next()),
            Err(err @ EtcdError::Storage(_)) => Err(err),
            Err(_) => Ok(None),
        }
    }
}

/// etcd's `Range` applier: fetch, filter, sort, cut at `limit`.
pub(crate) fn range(view: &ReadView<'_>, r: &RangeRequest) -> Result<RangeResponse, EtcdError> {
    let mut limit = r.limit;
    if r.sort_order != SortOrder::None as i32
        || r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0
    {
        // Fetch everything; sort and cut afterwards.
        limit = 0;
    }
    if limit > 0 {
        // One more, to know whether there are more.
        limit += 1;
    }
    let ro = RangeOptions {
        limit,
        rev: r.revision,
        count: r.count_only,
    };
    let rr = view.range_keys(KeyRange::new(&r.key, &r.range_end), ro)?;
    let mut kvs = rr.kvs;

    if r.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= r.max_mod_revision);
    }
    if r.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= r.min_mod_revision);
    }
    if r.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= r.max_create_revision);
    }
    if r.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= r.min_create_revision);
    }

    let target = SortTarget::try_from(r.sort_target).ok();
    let mut order = r.sort_order;
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
        let cmp = |a: &KeyValue, b: &KeyValue| -> Ordering {
            match target {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            }
        };
        if order == SortOrder::Ascend as i32 {
            kvs.sort_by(cmp);
        } else if order == SortOrder::Descend as i32 {
            kvs.sort_by(|a, b| cmp(b, a));
        }
    }

    let mut more = false;
    if r.limit > 0 && kvs.len() as i64 > r.limit {
        kvs.truncate(r.limit as usize);
        more = true;
    }
    if r.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: rev_header(rr.rev),
        kvs,
        more,
        count: rr.count,
    })
}

/// What a txn needs from its context: reads, and for write txns, writes.
pub(crate) trait TxnOps {
    /// The current view, including this request's own writes so far.
    fn view(&self) -> ReadView<'_>;
    /// etcd's `Put` applier inside a txn.
    fn put(&mut self, p: &PutRequest) -> Result<PutResponse, EtcdError>;
    /// etcd's `DeleteRange` applier inside a txn.
    fn delete_range(&mut self, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse, EtcdError>;
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

/// One change made by a write request, to undo it if the request fails later on.
struct Undo {
    key: Vec<u8>,
    row: Revision,
    tombstone: bool,
    prev_modified: Option<Revision>,
}

/// The kv table inside a write transaction.
pub(crate) type KvTable<'t> = redb::Table<'t, &'static [u8; 16], &'static [u8]>;

/// One write request being applied: etcd's `storeTxnWrite`. Every change gets revision
/// `begin_rev + 1` and the next sub-revision.
pub(crate) struct WriteCtx<'a, 't> {
    index: &'a mut TreeIndex,
    table: &'a mut KvTable<'t>,
    begin_rev: i64,
    compact_rev: i64,
    leases: &'a dyn LeaseLookup,
    changes: Vec<Event>,
    undo: Vec<Undo>,
}

impl<'a, 't> WriteCtx<'a, 't> {
    pub(crate) fn new(
        index: &'a mut TreeIndex,
        table: &'a mut KvTable<'t>,
        begin_rev: i64,
        compact_rev: i64,
        leases: &'a dyn LeaseLookup,
    ) -> Self {
        Self {
            index,
            table,
            begin_rev,
            compact_rev,
            leases,
            changes: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// The revision reads see: the request's own revision once it changed something.
    fn rev(&self) -> i64 {
        self.begin_rev + i64::from(!self.changes.is_empty())
    }

    /// The events of the request, in change order.
    pub(crate) fn finish(self) -> Vec<Event> {
        self.changes
    }

    /// Undoes every change of the request, newest first.
    pub(crate) fn rollback(self) -> Result<(), EtcdError> {
        for undo in self.undo.into_iter().rev() {
            self.table.remove(&undo.row.to_bytes())?;
            self.index
                .revert(&undo.key, undo.tombstone, undo.prev_modified);
        }
        Ok(())
    }

    fn insert_row(
        &mut self,
        rev: Revision,
        tombstone: bool,
        kv: &KeyValue,
    ) -> Result<(), EtcdError> {
        self.table
            .insert(&rev.to_bytes(), encode_row(tombstone, kv).as_slice())?;
        Ok(())
    }

    /// Writes `key` (etcd's `storeTxnWrite.put`); returns the revision.
    fn put_kv(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<i64, EtcdError> {
        let rev = self.begin_rev + 1;
        let existing = self.index.get(key, rev);
        let prev_kv = match existing {
            Some(at) => Some(self.table.kv(at.modified)?),
            None => None,
        };
        let idx = Revision::new(rev, self.changes.len() as i64);
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: existing.map_or(rev, |at| at.created.main),
            mod_revision: rev,
            version: existing.map_or(0, |at| at.version) + 1,
            value,
            lease,
        };
        self.insert_row(idx, false, &kv)?;
        self.undo.push(Undo {
            key: key.to_vec(),
            row: idx,
            tombstone: false,
            prev_modified: self.index.modified(key),
        });
        self.index.put(key, idx);
        self.changes.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv,
        });
        Ok(rev)
    }

    /// Deletes one existing key (etcd's `storeTxnWrite.delete`).
    fn delete_key(&mut self, key: &[u8], at: KeyAt) -> Result<(), EtcdError> {
        let rev = self.begin_rev + 1;
        let idx = Revision::new(rev, self.changes.len() as i64);
        let prev_kv = self.table.kv(at.modified)?;
        let kv = KeyValue {
            key: key.to_vec(),
            mod_revision: rev,
            ..Default::default()
        };
        self.insert_row(idx, true, &kv)?;
        let prev_modified = self.index.modified(key);
        self.index
            .tombstone(key, idx)
            .map_err(|_| EtcdError::storage("tombstone of a key without a live generation"))?;
        self.undo.push(Undo {
            key: key.to_vec(),
            row: idx,
            tombstone: true,
            prev_modified,
        });
        self.changes.push(Event {
            r#type: EventType::Delete as i32,
            kv: Some(kv),
            prev_kv: Some(prev_kv),
        });
        Ok(())
    }

    /// Deletes the keys of a range (etcd's `storeTxnWrite.DeleteRange`); returns the number
    /// deleted and the revision for the response.
    fn delete_keys(&mut self, range: KeyRange<'_>) -> Result<(i64, i64), EtcdError> {
        let keys = self.index.keys(range, self.rev());
        for (key, at) in &keys {
            self.delete_key(key, *at)?;
        }
        if !keys.is_empty() || !self.changes.is_empty() {
            Ok((keys.len() as i64, self.begin_rev + 1))
        } else {
            Ok((0, self.begin_rev))
        }
    }

    /// A standalone put: the lease must exist, then as inside a txn.
    pub(crate) fn put_request(&mut self, p: &PutRequest) -> Result<PutResponse, EtcdError> {
        if p.lease != 0 && !self.leases.exists(p.lease) {
            return Err(EtcdError::LeaseNotFound);
        }
        self.put(p)
    }
}

impl TxnOps for WriteCtx<'_, '_> {
    fn view(&self) -> ReadView<'_> {
        ReadView {
            index: self.index,
            rows: &*self.table,
            rev: self.rev(),
            compact_rev: self.compact_rev,
        }
    }

    fn put(&mut self, p: &PutRequest) -> Result<PutResponse, EtcdError> {
        let mut value = p.value.clone();
        let mut lease = p.lease;
        let mut prev = None;
        if p.ignore_value || p.ignore_lease || p.prev_kv {
            prev = self.view().get(&p.key, 0)?;
        }
        if p.ignore_value || p.ignore_lease {
            let Some(prev) = &prev else {
                return Err(EtcdError::KeyNotFound);
            };
            if p.ignore_value {
                value = prev.value.clone();
            }
            if p.ignore_lease {
                lease = prev.lease;
            }
        }
        let prev_kv = if p.prev_kv { prev } else { None };
        let rev = self.put_kv(&p.key, value, lease)?;
        Ok(PutResponse {
            header: rev_header(rev),
            prev_kv,
        })
    }

    fn delete_range(&mut self, d: &DeleteRangeRequest) -> Result<DeleteRangeResponse, EtcdError> {
        let range = KeyRange::new(&d.key, &d.range_end);
        let mut prev_kvs = Vec::new();
        if d.prev_kv {
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

fn compare_i64(a: i64, b: i64) -> Ordering {
    a.cmp(&b)
}

/// etcd's `compareKV`.
fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let result = match CompareTarget::try_from(c.target) {
        Ok(CompareTarget::Value) => {
            let v: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(v)
        }
        Ok(CompareTarget::Create) => {
            let rev = match c.target_union {
                Some(TargetUnion::CreateRevision(rev)) => rev,
                _ => 0,
            };
            compare_i64(kv.create_revision, rev)
        }
        Ok(CompareTarget::Mod) => {
            let rev = match c.target_union {
                Some(TargetUnion::ModRevision(rev)) => rev,
                _ => 0,
            };
            compare_i64(kv.mod_revision, rev)
        }
        Ok(CompareTarget::Version) => {
            let version = match c.target_union {
                Some(TargetUnion::Version(version)) => version,
                _ => 0,
            };
            compare_i64(kv.version, version)
        }
        Ok(CompareTarget::Lease) => {
            let lease = match c.target_union {
                Some(TargetUnion::Lease(lease)) => lease,
                _ => 0,
            };
            compare_i64(kv.lease, lease)
        }
        Err(_) => Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => result == Ordering::Equal,
        Ok(CompareResult::NotEqual) => result != Ordering::Equal,
        Ok(CompareResult::Greater) => result == Ordering::Greater,
        Ok(CompareResult::Less) => result == Ordering::Less,
        Err(_) => true,
    }
}

/// etcd's `applyCompare`: every key of the compare's range must pass; a missing key compares
/// as a zero key-value, except that a VALUE compare on a missing key always fails.
fn apply_compare(view: &ReadView<'_>, c: &Compare) -> Result<bool, EtcdError> {
    let rr = match view.range_keys(KeyRange::new(&c.key, &c.range_end), RangeOptions::default()) {
        Ok(rr) => rr,
        Err(err @ EtcdError::Storage(_)) => return Err(err),
        Err(_) => return Ok(false),
    };
    if rr.kvs.is_empty() {
        if c.target == CompareTarget::Value as i32 {
            return Ok(false);
        }
        return Ok(compare_kv(c, &KeyValue::default()));
    }
    Ok(rr.kvs.iter().all(|kv| compare_kv(c, kv)))
}

/// The branch taken by the txn and by every nested txn of the taken branches, depth first,
/// all decided on the view before the txn runs.
fn compare_to_path(view: &ReadView<'_>, rt: &TxnRequest) -> Result<Vec<bool>, EtcdError> {
    let mut succeeded = true;
    for c in &rt.compare {
        if !apply_compare(view, c)? {
            succeeded = false;
            break;
        }
    }
    let mut path = vec![succeeded];
    let ops = if succeeded { &rt.success } else { &rt.failure };
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
    rt: &TxnRequest,
    path: &[bool],
    check: &mut CheckFn<'_>,
) -> Result<usize, EtcdError> {
    let ops = if path[0] { &rt.success } else { &rt.failure };
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
    let Some(Request::RequestRange(r)) = &op.request else {
        return Ok(());
    };
    if r.revision == 0 {
        Ok(())
    } else if r.revision > view.rev {
        Err(EtcdError::FutureRev)
    } else if r.revision < view.compact_rev {
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
    let Some(Request::RequestPut(p)) = &op.request else {
        return Ok(());
    };
    if (p.ignore_value || p.ignore_lease) && view.get(&p.key, 0)?.is_none() {
        return Err(EtcdError::KeyNotFound);
    }
    if p.lease != 0 && !leases.exists(p.lease) {
        return Err(EtcdError::LeaseNotFound);
    }
    Ok(())
}

/// Runs the taken branch of `rt`; returns the responses and the number of nested txns.
fn apply_txn<T: TxnOps>(
    ops: &mut T,
    rt: &TxnRequest,
    path: &[bool],
) -> Result<(Vec<ResponseOp>, usize), EtcdError> {
    let reqs = if path[0] { &rt.success } else { &rt.failure };
    let mut rest = path;
    let mut txns = 0;
    let mut responses = Vec::with_capacity(reqs.len());
    for req in reqs {
        let response = match &req.request {
            Some(Request::RequestRange(r)) => Some(Response::ResponseRange(range(&ops.view(), r)?)),
            Some(Request::RequestPut(p)) => Some(Response::ResponsePut(ops.put(p)?)),
            Some(Request::RequestDeleteRange(d)) => {
                Some(Response::ResponseDeleteRange(ops.delete_range(d)?))
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
    rt: &TxnRequest,
    is_write: bool,
    leases: &dyn LeaseLookup,
) -> Result<TxnResponse, EtcdError> {
    let path = {
        let view = ops.view();
        let path = compare_to_path(&view, rt)?;
        if is_write {
            check_requests(&view, rt, &path, &mut |v, op| check_put(v, op, leases))?;
        }
        check_requests(&view, rt, &path, &mut check_range)?;
        path
    };
    let (responses, _) = apply_txn(ops, rt, &path)?;
    Ok(TxnResponse {
        header: rev_header(ops.view().rev),
        succeeded: path[0],
        responses,
    })
}
