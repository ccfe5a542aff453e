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

    /// Defragments the database file. The writer thread does it between two batches, so
    /// no write transaction is open; writes wait, and so do reads that begin meanwhile; a
    /// read still in progress after `wait` fails it.
    pub async fn defragment(&self, wait: Duration) -> Result<(), EtcdError> {
        self.writer
            .run_alone(move |state| state.storage.defragment(wait))
            .await
    }

    /// Writes a consistent copy of the store as committed now into a new database file at
    /// `path` (blocking).
    pub fn copy_to(&self, path: &Path) -> Result<(), EtcdError> {
        self.state.check_failed()?;
        self.state.storage.copy_to(path)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::etcdserverpb::{CompactionRequest, PutRequest, RangeRequest};

    fn put(key: String, value: Vec<u8>) -> PutRequest {
        PutRequest {
            key: key.into_bytes(),
            value,
            ..PutRequest::default()
        }
    }

    /// Reads and writes running during defragmentations wait and then succeed; what the
    /// store holds (and its HashKV) is unchanged by them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn defragment_while_reading_and_writing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        for number in 0..50 {
            store
                .put(put(format!("k{number:02}"), vec![7; 8192]))
                .await
                .unwrap();
        }
        let compact_at = store.current_revision();
        for number in 0..50 {
            store
                .put(put(format!("k{number:02}"), b"small".to_vec()))
                .await
                .unwrap();
        }
        store
            .compact(CompactionRequest {
                revision: compact_at + 25,
                physical: true,
            })
            .await
            .unwrap();
        let before = store.hash_kv(0).unwrap();
        let size_in_use = store.db_size_in_use().unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
            tokio::task::spawn_blocking(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let range = RangeRequest {
                        key: b"k".to_vec(),
                        range_end: b"l".to_vec(),
                        ..RangeRequest::default()
                    };
                    assert_eq!(store.range(&range).unwrap().count, 50);
                    reads += 1;
                }
                reads
            })
        };
        let writer = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for number in 0..30 {
                    store
                        .put(put(format!("w{number:02}"), b"during".to_vec()))
                        .await
                        .unwrap();
                }
            })
        };
        for _ in 0..3 {
            store.defragment(Duration::from_secs(10)).await.unwrap();
        }
        writer.await.unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(reader.await.unwrap() > 0);

        let after = store.hash_kv(before.current_revision).unwrap();
        assert_eq!(
            (after.hash, after.compact_revision),
            (before.hash, before.compact_revision)
        );
        assert!(store.db_size_in_use().unwrap() <= size_in_use + (1 << 20));
        let written = RangeRequest {
            key: b"w".to_vec(),
            range_end: b"x".to_vec(),
            count_only: true,
            ..RangeRequest::default()
        };
        assert_eq!(store.range(&written).unwrap().count, 30);
    }
}
