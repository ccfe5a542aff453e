//! Request checks done before a request reaches the store, as etcd's gRPC layer does them
//! (`api/v3rpc/key.go`): missing keys, conflicting flags, txn size and keys written twice.

use std::collections::HashSet;

use super::errors::EtcdError;
use super::interval::Interval;
use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// Checks a range request.
pub fn check_range_request(request: &RangeRequest) -> Result<(), EtcdError> {
    if request.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

/// Checks a put request.
pub fn check_put_request(request: &PutRequest) -> Result<(), EtcdError> {
    if request.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if request.ignore_value && !request.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if request.ignore_lease && request.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

/// Checks a delete request.
pub fn check_delete_request(request: &DeleteRangeRequest) -> Result<(), EtcdError> {
    if request.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    Ok(())
}

/// Checks a txn: the number of operations of each level (at most `max_ops` for the outer txn,
/// what is left of it for nested ones), compare keys and every operation; then that no branch
/// writes a key twice.
pub fn check_txn(request: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    check_txn_request(request, max_ops)?;
    check_intervals(&request.success)?;
    check_intervals(&request.failure)?;
    Ok(())
}

fn check_txn_request(request: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    let opc = request
        .compare
        .len()
        .max(request.success.len())
        .max(request.failure.len());
    if opc > max_ops {
        return Err(EtcdError::TooManyOps);
    }
    if request.compare.iter().any(|compare| compare.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in request.success.iter().chain(&request.failure) {
        check_request_op(op, max_ops - opc)?;
    }
    Ok(())
}

fn check_request_op(op: &RequestOp, max_ops: usize) -> Result<(), EtcdError> {
    match &op.request {
        Some(Request::RequestRange(request)) => check_range_request(request),
        Some(Request::RequestPut(request)) => check_put_request(request),
        Some(Request::RequestDeleteRange(request)) => check_delete_request(request),
        Some(Request::RequestTxn(request)) => check_txn_request(request, max_ops),
        // An empty operation.
        None => Err(EtcdError::KeyNotFound),
    }
}

/// Whether a txn only reads, in both branches (a nested txn counts as a write).
pub fn is_txn_readonly(request: &TxnRequest) -> bool {
    request
        .success
        .iter()
        .chain(&request.failure)
        .all(|op| matches!(op.request, Some(Request::RequestRange(_))))
}

/// The interval a delete removes, by etcd's interval comparison (so a delete whose
/// `range_end` is `"\0"` is an inverted interval that overlaps no key).
fn delete_interval(request: &DeleteRangeRequest) -> Interval {
    if request.range_end.is_empty() {
        Interval::point(&request.key)
    } else {
        Interval {
            begin: request.key.clone(),
            end: request.range_end.clone(),
        }
    }
}

fn deleted(dels: &[Interval], key: &[u8]) -> bool {
    let point = Interval::point(key);
    dels.iter().any(|del| point.overlaps(del))
}

/// etcd's `checkIntervals`: the keys put and the intervals deleted by a branch, failing with
/// [`EtcdError::DuplicateKey`] when a key is put twice or put and deleted. The two branches of
/// a nested txn may put the same key, as only one of them runs.
fn check_intervals(reqs: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>), EtcdError> {
    let mut dels: Vec<Interval> = reqs
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(request)) => Some(delete_interval(request)),
            _ => None,
        })
        .collect();

    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in reqs {
        let Some(Request::RequestTxn(txn)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&txn.success)?;
        let (puts_else, dels_else) = check_intervals(&txn.failure)?;
        for key in &puts_then {
            if puts.contains(key) || deleted(&dels, key) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(key.clone());
        }
        for key in puts_else {
            if puts.contains(&key) && !puts_then.contains(&key) {
                return Err(EtcdError::DuplicateKey);
            }
            if deleted(&dels, &key) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(key);
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }

    for op in reqs {
        let Some(Request::RequestPut(put)) = &op.request else {
            continue;
        };
        if puts.contains(&put.key) || deleted(&dels, &put.key) {
            return Err(EtcdError::DuplicateKey);
        }
        puts.insert(put.key.clone());
    }
    Ok((puts, dels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcdserverpb::{Compare, compare};

    fn put(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.into(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        }
    }

    fn del(key: &str, end: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                key: key.into(),
                range_end: end.into(),
                ..Default::default()
            })),
        }
    }

    fn get(key: &str) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: key.into(),
                ..Default::default()
            })),
        }
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
        RequestOp {
            request: Some(Request::RequestTxn(TxnRequest {
                compare: vec![],
                success,
                failure,
            })),
        }
    }

    fn check(success: Vec<RequestOp>) -> Result<(), EtcdError> {
        check_txn(
            &TxnRequest {
                compare: vec![],
                success,
                failure: vec![],
            },
            DEFAULT_MAX_TXN_OPS,
        )
    }

    #[test]
    fn single_requests() {
        assert_eq!(
            check_range_request(&RangeRequest::default()),
            Err(EtcdError::EmptyKey)
        );
        assert_eq!(
            check_delete_request(&DeleteRangeRequest::default()),
            Err(EtcdError::EmptyKey)
        );
        assert_eq!(
            check_put_request(&PutRequest::default()),
            Err(EtcdError::EmptyKey)
        );
        let mut p = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..Default::default()
        };
        assert_eq!(check_put_request(&p), Err(EtcdError::ValueProvided));
        p.value.clear();
        assert_eq!(check_put_request(&p), Ok(()));
        p.ignore_lease = true;
        p.lease = 5;
        assert_eq!(check_put_request(&p), Err(EtcdError::LeaseProvided));
    }

    #[test]
    fn duplicate_keys() {
        assert_eq!(check(vec![put("a"), put("b")]), Ok(()));
        assert_eq!(
            check(vec![put("a"), put("a")]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![put("a"), del("a", "")]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![del("a", "c"), put("b")]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(check(vec![del("a", "c"), put("c")]), Ok(()));
        assert_eq!(
            check(vec![del("a", ""), del("a", "")]),
            Ok(()),
            "deletes may overlap"
        );
        assert_eq!(check(vec![get("a"), put("a")]), Ok(()));
        // As in etcd, "\0" (every key from `key` on) forms an interval that overlaps nothing.
        assert_eq!(check(vec![del("a", "\0"), put("b")]), Ok(()));
        // Nested txns: then/else may put the same key; the outer level may not.
        assert_eq!(check(vec![txn(vec![put("a")], vec![put("a")])]), Ok(()));
        assert_eq!(
            check(vec![txn(vec![put("a")], vec![]), put("a")]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![
                txn(vec![], vec![put("a")]),
                txn(vec![put("a")], vec![])
            ]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![del("a", "b"), txn(vec![put("a")], vec![])]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![txn(vec![del("a", "b")], vec![]), put("a")]),
            Err(EtcdError::DuplicateKey)
        );
        assert_eq!(
            check(vec![
                txn(vec![txn(vec![put("x")], vec![])], vec![]),
                put("x")
            ]),
            Err(EtcdError::DuplicateKey)
        );
    }

    #[test]
    fn operation_counts_and_empty_parts() {
        let many: Vec<RequestOp> = (0..128).map(|i| put(&format!("k{i}"))).collect();
        assert_eq!(check(many.clone()), Ok(()));
        let mut too_many = many.clone();
        too_many.push(put("k128"));
        assert_eq!(check(too_many), Err(EtcdError::TooManyOps));
        // A nested txn gets what the outer level leaves: 127 outer ops leave 1.
        let mut nested = many[..127].to_vec();
        nested[0] = txn(vec![put("n1")], vec![]);
        assert_eq!(check(nested.clone()), Ok(()));
        nested[0] = txn(vec![put("n1"), put("n2")], vec![]);
        assert_eq!(check(nested), Err(EtcdError::TooManyOps));

        assert_eq!(
            check(vec![RequestOp { request: None }]),
            Err(EtcdError::KeyNotFound)
        );
        assert_eq!(check(vec![get("")]), Err(EtcdError::EmptyKey));
        let empty_compare = TxnRequest {
            compare: vec![Compare {
                target: compare::CompareTarget::Version as i32,
                ..Default::default()
            }],
            success: vec![],
            failure: vec![],
        };
        assert_eq!(check_txn(&empty_compare, 128), Err(EtcdError::EmptyKey));
    }

    #[test]
    fn read_only_txns() {
        let ro = TxnRequest {
            compare: vec![],
            success: vec![get("a")],
            failure: vec![get("b")],
        };
        assert!(is_txn_readonly(&ro));
        let rw = TxnRequest {
            failure: vec![put("b")],
            ..ro.clone()
        };
        assert!(!is_txn_readonly(&rw));
        let nested = TxnRequest {
            success: vec![txn(vec![get("a")], vec![])],
            ..ro
        };
        assert!(!is_txn_readonly(&nested));
    }
}
