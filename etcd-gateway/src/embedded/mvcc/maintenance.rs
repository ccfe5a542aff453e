//! The maintenance reads and operations of a [`Store`]: its hashes, the size of its file in
//! use, defragmentation and consistent copies (for snapshots).

use std::path::Path;
use std::time::Duration;

use super::Store;
use crate::embedded::errors::EtcdError;
use crate::embedded::hash::{self, HashScope};
use crate::embedded::key_index::Revision;

/// What `HashKV` answers: the hash, and the revisions it was computed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    /// CRC-32C of the revisions covered, as etcd computes it.
    pub hash: u32,
    /// The store's current revision when it was computed.
    pub current_revision: i64,
    /// The compaction revision (-1 if never compacted).
    pub compact_revision: i64,
}

impl Store {
    /// etcd's `HashByRev`: the hash of every revision up to `revision` (0: the current one)
    /// that a read at it could still need. Fails with [`EtcdError::Compacted`] at or below
    /// the compaction revision and [`EtcdError::FutureRev`] above the current one.
    pub fn hash_kv(&self, revision: i64) -> Result<KvHash, EtcdError> {
        self.state.check_failed()?;
        let published = self.state.read();
        let (current_revision, compact_revision) = (published.current_rev, published.compact_rev);
        if revision > 0 && revision <= compact_revision {
            return Err(EtcdError::Compacted);
        }
        if revision > current_revision {
            return Err(EtcdError::FutureRev);
        }
        let revision = if revision == 0 {
            current_revision
        } else {
            revision
        };
        let scope = HashScope {
            revision,
            compact_revision,
            keep: published.index.keep(revision),
        };
        let rows = self.state.storage.read()?;
        drop(published);
        let hash = hash::hash_kv(rows.rows_from(Revision::new(0, 0))?, &scope)?;
        Ok(KvHash {
            hash,
            current_revision,
            compact_revision,
        })
    }

    /// etcd's `Hash`: the hash of everything the store holds (see [`hash::hash_all`]) and
    /// the current revision it was computed at.
    pub fn hash_all(&self) -> Result<(u32, i64), EtcdError> {
        self.state.check_failed()?;
        let published = self.state.read();
        let current_revision = published.current_rev;
        let rows = self.state.storage.read()?;
        drop(published);
        let hash = hash::hash_all(
            rows.rows_from(Revision::new(0, 0))?,
            &rows.leases()?,
            &rows.meta()?,
        )?;
        Ok((hash, current_revision))
    }

    /// The bytes of the database file in use (see [`crate::embedded::storage::Storage::size_in_use`]).
    pub fn db_size_in_use(&self) -> Result<u64, EtcdError> {
        self.state.check_failed()?;
        self.state.storage.size_in_use()
    }

    /// Defragments the database file (blocking: call it off the async runtime). Reads and
    /// writes wait meanwhile; a read still in progress after `wait` fails it.
    pub fn defragment(&self, wait: Duration) -> Result<(), EtcdError> {
        self.state.check_failed()?;
        self.state.storage.defragment(wait)
    }

    /// Writes a consistent copy of the store as committed now into a new database file at
    /// `path` (blocking).
    pub fn copy_to(&self, path: &Path) -> Result<(), EtcdError> {
        self.state.check_failed()?;
        self.state.storage.copy_to(path)
    }
}
