//! Half-open key intervals `[begin, end)`, compared as etcd's `adt` interval tree compares
//! them: an empty bound stands for "after every key" (etcd's `BytesAffineComparable`). Used by
//! the txn checks (keys put and ranges deleted) and by the auth store's range permissions.

use std::cmp::Ordering;

/// Compares two interval bounds; the empty bound is above every key.
pub(crate) fn compare_bounds(left: &[u8], right: &[u8]) -> Ordering {
    match (left.is_empty(), right.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => left.cmp(right),
    }
}

/// A half-open interval of keys; an empty `end` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    /// The first key in the interval.
    pub begin: Vec<u8>,
    /// The first key after the interval (empty: none).
    pub end: Vec<u8>,
}

impl Interval {
    /// The interval holding only `key`: `[key, key + "\0")`.
    pub fn point(key: &[u8]) -> Self {
        let mut end = key.to_vec();
        end.push(0);
        Self {
            begin: key.to_vec(),
            end,
        }
    }

    /// Whether the two intervals share a key (etcd's `Interval.Compare` giving 0). An inverted
    /// interval (end before begin, e.g. a `range_end` of `"\0"` taken literally) overlaps no key.
    pub fn overlaps(&self, other: &Interval) -> bool {
        let before = compare_bounds(&self.begin, &other.begin) == Ordering::Less
            && compare_bounds(&self.end, &other.begin) != Ordering::Greater;
        let after = compare_bounds(&self.begin, &other.end) != Ordering::Less;
        !before && !after
    }
}
