//! The in-memory key index: for every key, the revisions at which it was written, grouped in
//! generations (a generation runs from the key's creation to its deletion), as in etcd's
//! `key_index.go` and `index.go`.

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

/// A revision: the `main` revision of a write request and the `sub` revision of one change
/// inside it (a txn writing three keys uses subs 0, 1 and 2 of one main revision).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The store revision of the request.
    pub main: i64,
    /// The position of the change inside the request.
    pub sub: i64,
}

impl Revision {
    /// The revision `main`, sub-revision `sub`.
    pub const fn new(main: i64, sub: i64) -> Self {
        Self { main, sub }
    }

    /// The 16-byte big-endian storage key: main then sub, so byte order is revision order.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&(self.main as u64).to_be_bytes());
        out[8..].copy_from_slice(&(self.sub as u64).to_be_bytes());
        out
    }

    /// The inverse of [`Revision::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let mut main = [0; 8];
        let mut sub = [0; 8];
        main.copy_from_slice(&bytes[..8]);
        sub.copy_from_slice(&bytes[8..]);
        Self {
            main: u64::from_be_bytes(main) as i64,
            sub: u64::from_be_bytes(sub) as i64,
        }
    }
}

/// What the index knows of a key at a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAt {
    /// The revision of the visible version.
    pub modified: Revision,
    /// The revision that created the key (start of its generation).
    pub created: Revision,
    /// The key's version at that revision.
    pub version: i64,
}

/// One life of a key: created by a put, ended by a tombstone (the last revision).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Generation {
    ver: i64,
    created: Revision,
    revs: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// The position of the last revision with `main <= at_rev`, if any.
    fn last_at_or_before(&self, at_rev: i64) -> Option<usize> {
        self.revs.iter().rposition(|rev| rev.main <= at_rev)
    }
}

/// The revision history of one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyIndex {
    modified: Revision,
    generations: Vec<Generation>,
}

/// A tombstone for a key that has no live generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevisionNotFound;

impl KeyIndex {
    /// Records a put at `rev`. Revisions must grow.
    pub fn put(&mut self, rev: Revision) {
        debug_assert!(
            rev > self.modified,
            "put revision {rev:?} not after {:?}",
            self.modified
        );
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
        let generation = self.generations.last_mut().expect("a generation");
        if generation.revs.is_empty() {
            generation.created = rev;
        }
        generation.revs.push(rev);
        generation.ver += 1;
        self.modified = rev;
    }

    /// Rebuilds a key from a compacted store: its visible version written at `modified`, in a
    /// generation created at `created` where it has version `version`.
    pub fn restore(&mut self, created: Revision, modified: Revision, version: i64) {
        self.modified = modified;
        self.generations.push(Generation {
            ver: version,
            created,
            revs: vec![modified],
        });
    }

    /// Records a deletion at `rev`, which ends the current generation.
    pub fn tombstone(&mut self, rev: Revision) -> Result<(), RevisionNotFound> {
        match self.generations.last() {
            None => return Err(RevisionNotFound),
            Some(generation) if generation.is_empty() => return Err(RevisionNotFound),
            Some(_) => {}
        }
        self.put(rev);
        self.generations.push(Generation::default());
        Ok(())
    }

    /// The key as it was at `at_rev`, or `None` if it did not exist then.
    pub fn get(&self, at_rev: i64) -> Option<KeyAt> {
        let generation = self.find_generation(at_rev)?;
        let position = generation.last_at_or_before(at_rev)?;
        Some(KeyAt {
            modified: generation.revs[position],
            created: generation.created,
            version: generation.ver - (generation.revs.len() - position - 1) as i64,
        })
    }

    /// The generation alive at `at_rev`, if the key was alive then.
    fn find_generation(&self, at_rev: i64) -> Option<&Generation> {
        let last = self.generations.len().checked_sub(1)?;
        for (position, generation) in self.generations.iter().enumerate().rev() {
            let (Some(first), Some(tomb)) = (generation.revs.first(), generation.revs.last())
            else {
                continue;
            };
            if position != last && tomb.main <= at_rev {
                // The generation ended (its last revision is the tombstone) at or before at_rev.
                return None;
            }
            if first.main <= at_rev {
                return Some(generation);
            }
        }
        None
    }

    /// Whether the key has no revisions left.
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// Drops the revisions at or below `at_rev` that no read at `at_rev` or later can see,
    /// adding the revisions that must stay in storage to `available`. Tombstones at or below
    /// `at_rev` go, and so do the generations they end.
    pub fn compact(&mut self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.is_empty() {
            return;
        }
        // Find the first generation that is still alive after at_rev (or the last one).
        let mut gen_idx = 0;
        while gen_idx < self.generations.len() - 1 {
            let generation = &self.generations[gen_idx];
            if generation
                .revs
                .last()
                .is_some_and(|tomb| tomb.main > at_rev)
            {
                break;
            }
            gen_idx += 1;
        }
        let last = self.generations.len() - 1;
        let generation = &mut self.generations[gen_idx];
        let rev_idx = generation.last_at_or_before(at_rev);
        if let Some(position) = rev_idx {
            available.insert(generation.revs[position]);
        }
        if !generation.is_empty() {
            if let Some(position) = rev_idx {
                generation.revs.drain(..position);
            }
            if generation.revs.len() == 1 && gen_idx != last {
                // Only the tombstone is left: it goes with its generation.
                available.remove(&generation.revs[0]);
                gen_idx += 1;
            }
        }
        self.generations.drain(..gen_idx);
    }

    /// Adds to `available` the revision a compaction at `at_rev` would keep for this key
    /// (etcd's `keyIndex.keep`): the last revision at or below `at_rev` of the first
    /// generation still alive after it, unless that revision is a tombstone. Changes nothing.
    pub fn keep(&self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.is_empty() {
            return;
        }
        let last = self.generations.len() - 1;
        let gen_idx = self.generations[..last]
            .iter()
            .position(|generation| {
                generation
                    .revs
                    .last()
                    .is_some_and(|tomb| tomb.main > at_rev)
            })
            .unwrap_or(last);
        let generation = &self.generations[gen_idx];
        if let Some(position) = generation.last_at_or_before(at_rev) {
            // A tombstone ends a generation that is not the last: it would not be kept.
            let is_tombstone = position == generation.revs.len() - 1 && gen_idx != last;
            if !is_tombstone {
                available.insert(generation.revs[position]);
            }
        }
    }
}

/// How a range names its keys: a single key, `[key, end)`, or every key from `key` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRange<'a> {
    /// Just this key.
    Single(&'a [u8]),
    /// Keys `>= start` and `< end`.
    Between(&'a [u8], &'a [u8]),
    /// Keys `>= start`.
    From(&'a [u8]),
}

impl<'a> KeyRange<'a> {
    /// etcd's reading of a request's `key` and `range_end`: empty `range_end` means the key
    /// alone, `"\0"` every key from `key` on, anything else `[key, range_end)`.
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => Self::Single(key),
            [0] => Self::From(key),
            end => Self::Between(key, end),
        }
    }
}

/// The key index of the whole store, ordered by key.
#[derive(Clone, Debug, Default)]
pub struct TreeIndex {
    keys: BTreeMap<Vec<u8>, KeyIndex>,
}

impl TreeIndex {
    /// The key as it was at `at_rev`.
    pub fn get(&self, key: &[u8], at_rev: i64) -> Option<KeyAt> {
        self.keys.get(key)?.get(at_rev)
    }

    /// Calls `f` with every key of the range that exists at `at_rev`, in key order, until `f`
    /// returns false.
    pub fn visit(&self, range: KeyRange<'_>, at_rev: i64, mut f: impl FnMut(&[u8], KeyAt) -> bool) {
        let iter: Box<dyn Iterator<Item = (&Vec<u8>, &KeyIndex)>> = match range {
            KeyRange::Single(key) => Box::new(self.keys.get_key_value(key).into_iter()),
            KeyRange::From(start) => Box::new(
                self.keys
                    .range::<[u8], _>((Bound::Included(start), Bound::Unbounded)),
            ),
            KeyRange::Between(start, end) if start < end => Box::new(
                self.keys
                    .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))),
            ),
            KeyRange::Between(..) => Box::new(std::iter::empty()),
        };
        for (key, ki) in iter {
            if let Some(at) = ki.get(at_rev)
                && !f(key, at)
            {
                return;
            }
        }
    }

    /// The revisions of the first `limit` keys of the range at `at_rev` (all if `limit <= 0`),
    /// and the number of keys in the range.
    pub fn revisions(&self, range: KeyRange<'_>, at_rev: i64, limit: i64) -> (Vec<Revision>, i64) {
        let mut revs = Vec::new();
        let mut total = 0;
        self.visit(range, at_rev, |_, at| {
            if limit <= 0 || (revs.len() as i64) < limit {
                revs.push(at.modified);
            }
            total += 1;
            true
        });
        (revs, total)
    }

    /// The number of keys of the range at `at_rev`.
    pub fn count(&self, range: KeyRange<'_>, at_rev: i64) -> i64 {
        let mut total = 0;
        self.visit(range, at_rev, |_, _| {
            total += 1;
            true
        });
        total
    }

    /// The keys of the range at `at_rev` with their revisions.
    pub fn keys(&self, range: KeyRange<'_>, at_rev: i64) -> Vec<(Vec<u8>, KeyAt)> {
        let mut out = Vec::new();
        self.visit(range, at_rev, |key, at| {
            out.push((key.to_vec(), at));
            true
        });
        out
    }

    /// Records a put of `key` at `rev`.
    pub fn put(&mut self, key: &[u8], rev: Revision) {
        match self.keys.get_mut(key) {
            Some(ki) => ki.put(rev),
            None => {
                let mut ki = KeyIndex::default();
                ki.put(rev);
                self.keys.insert(key.to_vec(), ki);
            }
        }
    }

    /// Records the deletion of `key` at `rev`.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> Result<(), RevisionNotFound> {
        self.keys
            .get_mut(key)
            .ok_or(RevisionNotFound)?
            .tombstone(rev)
    }

    /// The revision of the last change of `key`, if the index has it.
    pub fn modified(&self, key: &[u8]) -> Option<Revision> {
        self.keys.get(key).map(|ki| ki.modified)
    }

    /// Undoes the last [`TreeIndex::put`] (or [`TreeIndex::tombstone`] if `tombstone`) of
    /// `key`; `prev_modified` is what [`TreeIndex::modified`] said before it.
    pub fn revert(&mut self, key: &[u8], tombstone: bool, prev_modified: Option<Revision>) {
        let Some(prev_modified) = prev_modified else {
            self.keys.remove(key);
            return;
        };
        let Some(ki) = self.keys.get_mut(key) else {
            return;
        };
        if tombstone {
            ki.generations.pop();
        }
        if let Some(generation) = ki.generations.last_mut() {
            generation.revs.pop();
            generation.ver -= 1;
        }
        ki.modified = prev_modified;
    }

    /// Replays one stored row while rebuilding the index in revision order. A key seen for the
    /// first time starts from the stored `created`/`version` (older rows may be compacted away);
    /// a tombstone of an unknown key is skipped.
    pub fn restore_row(
        &mut self,
        key: &[u8],
        rev: Revision,
        tombstone: bool,
        created: i64,
        version: i64,
    ) {
        match self.keys.get_mut(key) {
            Some(ki) if tombstone => {
                // A tombstone of a key without a live generation is ignored, as etcd does.
                let _ = ki.tombstone(rev);
            }
            Some(ki) => ki.put(rev),
            None if tombstone => {}
            None => {
                let mut ki = KeyIndex::default();
                ki.restore(Revision::new(created, 0), rev, version);
                self.keys.insert(key.to_vec(), ki);
            }
        }
    }

    /// Compacts every key at `at_rev`; returns the revisions at or below `at_rev` that must
    /// stay in storage. Keys with nothing left are removed.
    pub fn compact(&mut self, at_rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        self.keys.retain(|_, ki| {
            ki.compact(at_rev, &mut available);
            !ki.is_empty()
        });
        available
    }

    /// The revisions a compaction at `at_rev` would keep in storage, without compacting
    /// (etcd's `treeIndex.Keep`, used by `HashKV`).
    pub fn keep(&self, at_rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        for ki in self.keys.values() {
            ki.keep(at_rev, &mut available);
        }
        available
    }

    /// The number of keys in the index, live or deleted but not yet compacted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the index holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// The history used by etcd's own key index tests: puts at 2, 4, tombstone 6; puts 8, 10,
    /// tombstone 12; puts 14, 14.1, 16.
    fn sample() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(rev(2));
        ki.put(rev(4));
        ki.tombstone(rev(6)).unwrap();
        ki.put(rev(8));
        ki.put(rev(10));
        ki.tombstone(rev(12)).unwrap();
        ki.put(rev(14));
        ki.put(Revision::new(14, 1));
        ki.put(rev(16));
        ki
    }

    #[test]
    fn revision_bytes_sort_like_revisions() {
        let a = Revision::new(1, 300);
        let b = Revision::new(2, 0);
        assert!(a.to_bytes() < b.to_bytes());
        assert_eq!(Revision::from_bytes(&a.to_bytes()), a);
        assert_eq!(Revision::from_bytes(&b.to_bytes()), b);
    }

    #[test]
    fn get_walks_generations() {
        let ki = sample();
        let at = |r| ki.get(r).map(|k| (k.modified, k.created.main, k.version));
        assert_eq!(at(1), None);
        assert_eq!(at(2), Some((rev(2), 2, 1)));
        assert_eq!(at(5), Some((rev(4), 2, 2)));
        assert_eq!(at(6), None, "deleted at 6");
        assert_eq!(at(7), None);
        assert_eq!(at(9), Some((rev(8), 8, 1)));
        assert_eq!(at(11), Some((rev(10), 8, 2)));
        assert_eq!(at(12), None);
        assert_eq!(at(13), None);
        assert_eq!(at(14), Some((Revision::new(14, 1), 14, 2)));
        assert_eq!(at(15), Some((Revision::new(14, 1), 14, 2)));
        assert_eq!(at(100), Some((rev(16), 14, 3)));
    }

    #[test]
    fn tombstone_needs_a_live_generation() {
        let mut ki = KeyIndex::default();
        assert_eq!(ki.tombstone(rev(1)), Err(RevisionNotFound));
        ki.put(rev(2));
        ki.tombstone(rev(3)).unwrap();
        assert_eq!(ki.tombstone(rev(4)), Err(RevisionNotFound));
    }

    #[test]
    fn compact_keeps_what_later_reads_need() {
        // (compact at, revisions kept in storage, first visible read afterwards)
        let cases: &[(i64, &[i64], bool)] = &[
            (1, &[], false),
            (2, &[2], false),
            (3, &[2], false),
            (4, &[4], false),
            (5, &[4], false),
            (6, &[], false),
            (7, &[], false),
            (8, &[8], false),
            (10, &[10], false),
            (12, &[], false),
            (13, &[], false),
            (14, &[14], false),
            (16, &[16], false),
            (17, &[16], false),
        ];
        for &(at, kept, _) in cases {
            let mut ki = sample();
            let mut available = HashSet::new();
            ki.compact(at, &mut available);
            let mut kept_now: Vec<i64> = available.iter().map(|r| r.main).collect();
            kept_now.sort();
            assert_eq!(kept_now, kept, "compact at {at}");
            // Reads at or after the compaction revision are unchanged.
            let full = sample();
            for r in at..20 {
                assert_eq!(ki.get(r), full.get(r), "compact at {at}, read at {r}");
            }
        }
    }

    /// etcd's `TestKeyIndexCompactAndKeep`: keep at a revision names exactly what a
    /// compaction there keeps.
    #[test]
    fn keep_names_what_compact_keeps() {
        for at in 0..20 {
            let mut compacted = sample();
            let mut by_compact = HashSet::new();
            compacted.compact(at, &mut by_compact);
            let mut by_keep = HashSet::new();
            sample().keep(at, &mut by_keep);
            assert_eq!(by_keep, by_compact, "keep at {at}");
        }
    }

    #[test]
    fn compacting_a_deleted_key_empties_it() {
        let mut ki = KeyIndex::default();
        ki.put(rev(2));
        ki.tombstone(rev(3)).unwrap();
        let mut available = HashSet::new();
        ki.compact(3, &mut available);
        assert!(available.is_empty());
        assert!(ki.is_empty());

        let mut tree = TreeIndex::default();
        tree.put(b"a", rev(2));
        tree.tombstone(b"a", rev(3)).unwrap();
        tree.put(b"b", rev(4));
        let keep = tree.compact(4);
        assert_eq!(keep, HashSet::from([rev(4)]));
        assert_eq!(tree.len(), 1);
    }

    #[test]
    fn ranges_over_the_tree() {
        let mut tree = TreeIndex::default();
        for (i, key) in [&b"a"[..], b"b", b"c", b"d"].into_iter().enumerate() {
            tree.put(key, rev(i as i64 + 2));
        }
        tree.tombstone(b"c", rev(6)).unwrap();
        let keys = |range, at| -> Vec<Vec<u8>> {
            tree.keys(range, at).into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(keys(KeyRange::new(b"b", b""), 6), vec![b"b".to_vec()]);
        assert_eq!(
            keys(KeyRange::new(b"a", b"c"), 6),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert_eq!(
            keys(KeyRange::new(b"b", b"\0"), 6),
            vec![b"b".to_vec(), b"d".to_vec()]
        );
        assert_eq!(
            keys(KeyRange::new(b"b", b"\0"), 5),
            vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        assert!(keys(KeyRange::new(b"c", b"a"), 6).is_empty());
        assert_eq!(
            tree.revisions(KeyRange::new(b"a", b"\0"), 6, 2),
            (vec![rev(2), rev(3)], 3)
        );
        assert_eq!(tree.count(KeyRange::new(b"a", b"\0"), 4), 3);
    }
}
