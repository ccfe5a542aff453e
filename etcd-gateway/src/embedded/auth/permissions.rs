//! A user's key permissions merged over its roles, and the checks on them, as etcd's
//! `range_perm_cache.go` does with its interval trees.
//!
//! Intervals are half-open `[begin, end)` over keys, where an empty bound stands for "after
//! every key" (etcd's `BytesAffineComparable`). A permission on one key is the point
//! `[key, key + "\0")`; a `range_end` of `"\0"` means every key from `key` on.

use std::cmp::Ordering;

use crate::authpb::{Permission, Role, permission::Type};
use crate::embedded::interval::{Interval, compare_bounds};

/// The read and write intervals of one user, each sorted by begin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergedPermissions {
    read: Vec<Interval>,
    write: Vec<Interval>,
}

/// Read or write access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Range (and watch, compare, `prev_kv`).
    Read,
    /// Put and delete.
    Write,
}

impl MergedPermissions {
    /// Merges the permissions of `roles` (etcd's `getMergedPerms`).
    pub fn merge<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Self {
        let mut merged = Self::default();
        for permission in roles.into_iter().flat_map(|role| &role.key_permission) {
            merged.add(permission);
        }
        merged
            .read
            .sort_by(|a, b| compare_bounds(&a.begin, &b.begin));
        merged
            .write
            .sort_by(|a, b| compare_bounds(&a.begin, &b.begin));
        merged
    }

    fn add(&mut self, permission: &Permission) {
        let interval = if permission.range_end.is_empty() {
            Interval::point(&permission.key)
        } else {
            let end = if permission.range_end == [0] {
                Vec::new()
            } else {
                permission.range_end.clone()
            };
            Interval {
                begin: permission.key.clone(),
                end,
            }
        };
        match Type::try_from(permission.perm_type) {
            Ok(Type::Read) => self.read.push(interval),
            Ok(Type::Write) => self.write.push(interval),
            Ok(Type::Readwrite) => {
                self.read.push(interval.clone());
                self.write.push(interval);
            }
            Err(_) => {}
        }
    }

    /// Whether `access` to `key` (or to `[key, range_end)` if `range_end` is not empty; a
    /// `range_end` of `"\0"` means every key from `key` on) is granted, as etcd's
    /// `isRangeOpPermitted`: a single key needs an interval holding it, a range needs
    /// intervals covering all of it without a gap.
    pub fn permits(&self, access: Access, key: &[u8], range_end: &[u8]) -> bool {
        let intervals = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        };
        if range_end.is_empty() {
            let point = Interval::point(key);
            return intervals.iter().any(|interval| interval.overlaps(&point));
        }
        let end = if range_end == [0] { &[][..] } else { range_end };
        let wanted = Interval {
            begin: key.to_vec(),
            end: end.to_vec(),
        };
        covers(intervals, &wanted)
    }
}

/// etcd's `IntervalTree.Contains`: the intervals overlapping `wanted`, in begin order, are
/// contiguous, start at or before it and end at or after it.
fn covers(intervals: &[Interval], wanted: &Interval) -> bool {
    let mut span: Option<(&[u8], &[u8])> = None;
    for interval in intervals
        .iter()
        .filter(|interval| interval.overlaps(wanted))
    {
        match &mut span {
            None => span = Some((&interval.begin, &interval.end)),
            Some((_, max_end)) => {
                if compare_bounds(max_end, &interval.begin) == Ordering::Less {
                    return false;
                }
                if compare_bounds(&interval.end, max_end) == Ordering::Greater {
                    *max_end = &interval.end;
                }
            }
        }
    }
    span.is_some_and(|(min_begin, max_end)| {
        compare_bounds(max_end, &wanted.end) != Ordering::Less
            && compare_bounds(min_begin, &wanted.begin) != Ordering::Greater
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(perms: &[(Type, &[u8], &[u8])]) -> Role {
        Role {
            name: b"r".to_vec(),
            key_permission: perms
                .iter()
                .map(|(kind, key, end)| Permission {
                    perm_type: *kind as i32,
                    key: key.to_vec(),
                    range_end: end.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn single_key_permission() {
        let merged = MergedPermissions::merge([&role(&[(Type::Read, b"foo", b"")])]);
        assert!(merged.permits(Access::Read, b"foo", b""));
        assert!(!merged.permits(Access::Read, b"foo1", b""));
        assert!(!merged.permits(Access::Write, b"foo", b""));
        // The range [foo, foo\0) is the key itself.
        assert!(merged.permits(Access::Read, b"foo", b"foo\0"));
        assert!(!merged.permits(Access::Read, b"foo", b"fop"));
    }

    #[test]
    fn prefix_and_from_key_permissions() {
        let merged = MergedPermissions::merge([&role(&[
            (Type::Readwrite, b"a", b"c"),
            (Type::Write, b"x", b"\0"),
        ])]);
        assert!(merged.permits(Access::Read, b"b", b""));
        assert!(merged.permits(Access::Read, b"a", b"c"));
        assert!(!merged.permits(Access::Read, b"a", b"d"));
        assert!(merged.permits(Access::Write, b"zzz", b""));
        assert!(merged.permits(Access::Write, b"x", b"\0"));
        assert!(!merged.permits(Access::Read, b"x", b""));
    }

    #[test]
    fn adjacent_ranges_cover_without_gap() {
        let merged = MergedPermissions::merge([
            &role(&[(Type::Read, b"a", b"b")]),
            &role(&[(Type::Read, b"b", b"c")]),
        ]);
        assert!(merged.permits(Access::Read, b"a", b"c"));
        let gap = MergedPermissions::merge([&role(&[
            (Type::Read, b"a", b"b"),
            (Type::Read, b"ba", b"c"),
        ])]);
        assert!(!gap.permits(Access::Read, b"a", b"c"));
    }
}
