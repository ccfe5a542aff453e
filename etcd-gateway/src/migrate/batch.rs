//! Groups puts into txns the target accepts: at most `max_ops` operations and `max_bytes`
//! encoded bytes each (etcd's `--max-txn-ops` and `--max-request-bytes`).

use prost::Message;

use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::{PutRequest, RequestOp, TxnRequest};

/// Room left in every txn for what etcd wraps around a request before checking its size
/// (request header, framing).
pub const REQUEST_OVERHEAD_BYTES: usize = 1024;

/// The size limits of one txn.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most operations in one txn.
    pub max_ops: usize,
    /// The largest encoded txn, in bytes.
    pub max_bytes: usize,
}

/// Collects puts and hands out full txns.
#[derive(Debug)]
pub struct Batcher {
    limits: Limits,
    ops: Vec<RequestOp>,
    bytes: usize,
}

impl Batcher {
    /// An empty batcher.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ops: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds `put`; returns the txn of the puts before it when `put` does not fit with them.
    /// A put too large for any txn still gets one of its own.
    pub fn push(&mut self, put: PutRequest) -> Option<TxnRequest> {
        let op = RequestOp {
            request: Some(Request::RequestPut(put)),
        };
        let size = op_size(&op);
        let budget = self.limits.max_bytes.saturating_sub(REQUEST_OVERHEAD_BYTES);
        let full = !self.ops.is_empty()
            && (self.ops.len() >= self.limits.max_ops || self.bytes + size > budget);
        let flushed = if full { self.take() } else { None };
        self.ops.push(op);
        self.bytes += size;
        flushed
    }

    /// The txn of the puts collected so far, if any.
    pub fn take(&mut self) -> Option<TxnRequest> {
        if self.ops.is_empty() {
            return None;
        }
        self.bytes = 0;
        Some(TxnRequest {
            success: std::mem::take(&mut self.ops),
            ..Default::default()
        })
    }
}

/// The bytes `op` adds to a txn's encoding (its field tag, length and body).
fn op_size(op: &RequestOp) -> usize {
    let len = op.encoded_len();
    1 + prost::length_delimiter_len(len) + len
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::{Batcher, Limits, REQUEST_OVERHEAD_BYTES};
    use crate::etcdserverpb::PutRequest;

    fn put(key: &str, value_len: usize) -> PutRequest {
        PutRequest {
            key: key.as_bytes().to_vec(),
            value: vec![b'v'; value_len],
            ..Default::default()
        }
    }

    #[test]
    fn txns_hold_at_most_max_ops() {
        let mut batcher = Batcher::new(Limits {
            max_ops: 3,
            max_bytes: 1 << 20,
        });
        let mut sizes = Vec::new();
        for index in 0..7 {
            if let Some(txn) = batcher.push(put(&format!("k{index}"), 10)) {
                sizes.push(txn.success.len());
            }
        }
        sizes.extend(batcher.take().map(|txn| txn.success.len()));
        assert_eq!(sizes, [3, 3, 1]);
        assert!(batcher.take().is_none());
    }

    #[test]
    fn txns_stay_under_max_bytes_and_a_huge_put_goes_alone() {
        let limits = Limits {
            max_ops: 128,
            max_bytes: REQUEST_OVERHEAD_BYTES + 1000,
        };
        let mut batcher = Batcher::new(limits);
        let mut txns = Vec::new();
        for (index, len) in [300, 300, 300, 5000, 10].into_iter().enumerate() {
            txns.extend(batcher.push(put(&format!("k{index}"), len)));
        }
        txns.extend(batcher.take());
        let counts: Vec<usize> = txns.iter().map(|txn| txn.success.len()).collect();
        assert_eq!(counts, [3, 1, 1]);
        assert!(txns[0].encoded_len() <= 1000);
    }
}
