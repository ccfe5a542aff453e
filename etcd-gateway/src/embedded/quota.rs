//! etcd's backend quota (`quota.go` of etcd 3.5): a put, txn or lease grant is refused when
//! the database file plus the request's estimated cost would reach the quota.

use crate::etcdserverpb::{PutRequest, RequestOp, TxnRequest, request_op::Request};

/// etcd's default quota (`DefaultQuotaBytes`, 2 GiB), used when the quota is 0.
pub const DEFAULT_QUOTA_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// etcd's estimate of what storing a lease costs (`leaseOverhead`).
pub const LEASE_COST: u64 = 64;

/// etcd's estimate of what a key's metadata costs (`kvOverhead`).
const KV_COST: u64 = 256;

/// The quota on the database size (`--quota-backend-bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// The largest database size allowed; `None`: no quota.
    max_bytes: Option<u64>,
}

impl Quota {
    /// The quota `--quota-backend-bytes` asks for: 0 is etcd's default (2 GiB), a negative
    /// value disables it.
    pub fn new(quota_backend_bytes: i64) -> Self {
        let bytes = if quota_backend_bytes == 0 {
            DEFAULT_QUOTA_BYTES
        } else {
            quota_backend_bytes
        };
        Self {
            max_bytes: u64::try_from(bytes).ok(),
        }
    }

    /// The largest database size allowed, if any.
    pub fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// Whether a request costing `cost` fits on a database of `size` bytes (etcd's
    /// `Available`: the sum must stay strictly below the quota).
    pub fn available(&self, size: u64, cost: u64) -> bool {
        self.max_bytes
            .is_none_or(|max| size.saturating_add(cost) < max)
    }
}

impl Default for Quota {
    fn default() -> Self {
        Self::new(0)
    }
}

/// etcd's cost of a put: its key and value plus the metadata estimate.
pub fn put_cost(put: &PutRequest) -> u64 {
    KV_COST + put.key.len() as u64 + put.value.len() as u64
}

/// etcd's cost of a txn: the costlier branch, counting only its direct puts.
pub fn txn_cost(txn: &TxnRequest) -> u64 {
    branch_cost(&txn.success).max(branch_cost(&txn.failure))
}

fn branch_cost(ops: &[RequestOp]) -> u64 {
    ops.iter()
        .map(|op| match &op.request {
            Some(Request::RequestPut(put)) => put_cost(put),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn costs_are_etcds() {
        let txn = TxnRequest {
            success: vec![put("a", "bc"), put("d", "")],
            failure: vec![put("long-key", "long-value")],
            ..Default::default()
        };
        // Success: two puts (256 + 1 + 2, 256 + 1 + 0) cost more than failure's one.
        assert_eq!(txn_cost(&txn), 256 + 3 + 256 + 1);
        assert_eq!(txn_cost(&TxnRequest::default()), 0);
    }

    #[test]
    fn quota_is_strict_and_defaults_like_etcd() {
        let quota = Quota::new(1000);
        assert!(quota.available(900, 99));
        assert!(!quota.available(900, 100));
        assert_eq!(Quota::new(0).max_bytes(), Some(DEFAULT_QUOTA_BYTES as u64));
        assert!(Quota::new(-1).available(u64::MAX, 1));
    }
}
