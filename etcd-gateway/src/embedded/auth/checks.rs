//! The permission checks of KV and Lease requests, as etcd's `apply_auth.go`: every key a
//! request reads or writes, every key a txn compares or touches, `prev_kv` as a read, and
//! the keys of a lease a put attaches to or a revoke deletes.

use super::store::{AuthStore, Caller};
use crate::embedded::errors::EtcdError;
use crate::etcdserverpb::request_op::Request as Op;
use crate::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

impl AuthStore {
    /// A range: read access to its keys.
    pub fn check_range(&self, caller: &Caller, request: &RangeRequest) -> Result<(), EtcdError> {
        self.is_range_permitted(caller, &request.key, &request.range_end)
    }

    /// A put: write access to the key, write access to every key of its lease (the caller
    /// could not revoke the lease otherwise), read access with `prev_kv`.
    pub fn check_put(&self, caller: &Caller, request: &PutRequest) -> Result<(), EtcdError> {
        self.is_put_permitted(caller, &request.key)?;
        self.check_lease_keys(caller, request.lease)?;
        if request.prev_kv {
            self.is_range_permitted(caller, &request.key, &[])?;
        }
        Ok(())
    }

    /// A delete-range: write access to its keys, read access with `prev_kv`.
    pub fn check_delete(
        &self,
        caller: &Caller,
        request: &DeleteRangeRequest,
    ) -> Result<(), EtcdError> {
        self.is_delete_range_permitted(caller, &request.key, &request.range_end)?;
        if request.prev_kv {
            self.is_range_permitted(caller, &request.key, &request.range_end)?;
        }
        Ok(())
    }

    /// A txn (etcd's `checkTxnAuth`): read access to every compared key, then the operations
    /// of both branches, nested txns excepted (as etcd 3.5).
    pub fn check_txn(&self, caller: &Caller, request: &TxnRequest) -> Result<(), EtcdError> {
        for compare in &request.compare {
            self.is_range_permitted(caller, &compare.key, &compare.range_end)?;
        }
        self.check_ops(caller, &request.success)?;
        self.check_ops(caller, &request.failure)
    }

    /// etcd's `checkTxnReqsPermission`.
    fn check_ops(&self, caller: &Caller, ops: &[RequestOp]) -> Result<(), EtcdError> {
        for op in ops {
            match &op.request {
                Some(Op::RequestRange(range)) => {
                    self.is_range_permitted(caller, &range.key, &range.range_end)?;
                }
                Some(Op::RequestPut(put)) => self.is_put_permitted(caller, &put.key)?,
                Some(Op::RequestDeleteRange(delete)) => {
                    if delete.prev_kv {
                        self.is_range_permitted(caller, &delete.key, &delete.range_end)?;
                    }
                    self.is_delete_range_permitted(caller, &delete.key, &delete.range_end)?;
                }
                Some(Op::RequestTxn(_)) | None => {}
            }
        }
        Ok(())
    }

    /// etcd's `checkLeasePuts`: write access to every key attached to `lease` (none for a
    /// lease without keys or that does not exist).
    pub fn check_lease_keys(&self, caller: &Caller, lease: i64) -> Result<(), EtcdError> {
        if lease == 0 || !self.is_enabled() {
            return Ok(());
        }
        for key in self.store().lease_keys(lease) {
            self.is_put_permitted(caller, &key)?;
        }
        Ok(())
    }
}
