//! Reads and writes of one request on the index and the rows, as etcd's `storeTxnRead` and
//! `storeTxnWrite` do them: a [`ReadView`] reads at a revision; a [`WriteCtx`] makes the
//! changes of one write request (all at the next revision), collects their events and can
//! undo them if the request fails half way.

use super::errors::EtcdError;
use super::key_index::{KeyAt, KeyRange, Revision, TreeIndex};
use super::storage::{RowSource, RowWriter};
use crate::etcdserverpb::ResponseHeader;
use crate::mvccpb::{Event, KeyValue, event::EventType};

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
    /// The most key-values returned (0: no limit).
    pub limit: i64,
    /// The revision read at (0 or less: the view's revision).
    pub rev: i64,
    /// Count the keys only.
    pub count: bool,
}

/// A raw index range: the key-values, the number of keys, and the view's revision.
pub(crate) struct RangeResult {
    /// The key-values found, in key order.
    pub kvs: Vec<KeyValue>,
    /// The number of keys in the range.
    pub count: i64,
    /// The revision of the view.
    pub rev: i64,
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
    pub(crate) fn range_keys(
        &self,
        range: KeyRange<'_>,
        options: RangeOptions,
    ) -> Result<RangeResult, EtcdError> {
        let current_rev = self.rev;
        if options.rev > current_rev {
            return Err(EtcdError::FutureRev);
        }
        let rev = if options.rev <= 0 {
            current_rev
        } else {
            options.rev
        };
        if rev < self.compact_rev {
            return Err(EtcdError::Compacted);
        }
        if options.count {
            return Ok(RangeResult {
                kvs: Vec::new(),
                count: self.index.count(range, rev),
                rev: current_rev,
            });
        }
        let (revs, count) = self.index.revisions(range, rev, options.limit);
        let kvs = revs
            .into_iter()
            .map(|rev| self.rows.kv(rev))
            .collect::<Result<_, _>>()?;
        Ok(RangeResult {
            kvs,
            count,
            rev: current_rev,
        })
    }

    /// The key-value of `key` at `rev` (latest if `rev <= 0`), if it exists and is readable.
    pub(crate) fn get(&self, key: &[u8], rev: i64) -> Result<Option<KeyValue>, EtcdError> {
        let options = RangeOptions {
            rev,
            ..Default::default()
        };
        match self.range_keys(KeyRange::Single(key), options) {
            Ok(found) => Ok(found.kvs.into_iter().next()),
            Err(err @ EtcdError::Storage(_)) => Err(err),
            Err(_) => Ok(None),
        }
    }
}

/// One change made by a write request, to undo it if the request fails later on.
struct Undo {
    key: Vec<u8>,
    row: Revision,
    tombstone: bool,
    prev_modified: Option<Revision>,
}

/// One write request being applied: etcd's `storeTxnWrite`. Every change gets revision
/// `begin_rev + 1` and the next sub-revision.
pub(crate) struct WriteCtx<'a, 'batch> {
    index: &'a mut TreeIndex,
    rows: &'a mut RowWriter<'batch>,
    begin_rev: i64,
    compact_rev: i64,
    changes: Vec<Event>,
    undo: Vec<Undo>,
}

impl<'a, 'batch> WriteCtx<'a, 'batch> {
    /// A request on `index` and `rows` after revision `begin_rev`.
    pub(crate) fn new(
        index: &'a mut TreeIndex,
        rows: &'a mut RowWriter<'batch>,
        begin_rev: i64,
        compact_rev: i64,
    ) -> Self {
        Self {
            index,
            rows,
            begin_rev,
            compact_rev,
            changes: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// The revision reads see: the request's own revision once it changed something.
    pub(crate) fn rev(&self) -> i64 {
        self.begin_rev + i64::from(!self.changes.is_empty())
    }

    /// The view of the request, including its own changes so far.
    pub(crate) fn view(&self) -> ReadView<'_> {
        ReadView {
            index: self.index,
            rows: &*self.rows,
            rev: self.rev(),
            compact_rev: self.compact_rev,
        }
    }

    /// The events of the request, in change order.
    pub(crate) fn finish(self) -> Vec<Event> {
        self.changes
    }

    /// Undoes every change of the request, newest first.
    pub(crate) fn rollback(self) -> Result<(), EtcdError> {
        for undo in self.undo.into_iter().rev() {
            self.rows.remove(undo.row)?;
            self.index
                .revert(&undo.key, undo.tombstone, undo.prev_modified);
        }
        Ok(())
    }

    /// Writes `key` (etcd's `storeTxnWrite.put`); returns the revision.
    pub(crate) fn put_kv(
        &mut self,
        key: &[u8],
        value: Vec<u8>,
        lease: i64,
    ) -> Result<i64, EtcdError> {
        let rev = self.begin_rev + 1;
        let existing = self.index.get(key, rev);
        let prev_kv = match existing {
            Some(at) => Some(self.rows.kv(at.modified)?),
            None => None,
        };
        let row = Revision::new(rev, self.changes.len() as i64);
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: existing.map_or(rev, |at| at.created.main),
            mod_revision: rev,
            version: existing.map_or(0, |at| at.version) + 1,
            value,
            lease,
        };
        self.rows.insert(row, false, &kv)?;
        self.undo.push(Undo {
            key: key.to_vec(),
            row,
            tombstone: false,
            prev_modified: self.index.modified(key),
        });
        self.index.put(key, row);
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
        let row = Revision::new(rev, self.changes.len() as i64);
        let prev_kv = self.rows.kv(at.modified)?;
        let kv = KeyValue {
            key: key.to_vec(),
            mod_revision: rev,
            ..Default::default()
        };
        self.rows.insert(row, true, &kv)?;
        let prev_modified = self.index.modified(key);
        self.index
            .tombstone(key, row)
            .map_err(|_| EtcdError::storage("tombstone of a key without a live generation"))?;
        self.undo.push(Undo {
            key: key.to_vec(),
            row,
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
    pub(crate) fn delete_keys(&mut self, range: KeyRange<'_>) -> Result<(i64, i64), EtcdError> {
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
}
