//! What the readers of a [`super::Store`] and its writer share: the storage, the key index
//! with the published revisions, the live keys of each lease, the channel of committed
//! events, the active alarms and the failure flag.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::broadcast;

use crate::embedded::alarm::Alarms;
use crate::embedded::apply::{LeaseLookup, NoLeases};
use crate::embedded::errors::EtcdError;
use crate::embedded::key_index::{KeyRange, Revision, TreeIndex};
use crate::embedded::kv_txn::ReadView;
use crate::embedded::storage::{RowSource, Storage};
use crate::mvccpb::Event;

/// The live keys attached to each lease, in key order (the order etcd deletes them in).
pub(crate) type LeaseKeys = HashMap<i64, BTreeSet<Vec<u8>>>;

/// The events of one committed revision, in the order of the changes.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionEvents {
    /// The revision.
    pub revision: i64,
    /// One event per changed key; each carries the previous key-value if there was one.
    pub events: Vec<Event>,
}

/// The in-memory state readers see.
pub(crate) struct Published {
    /// Every key's revisions.
    pub index: TreeIndex,
    /// The last committed (published) revision.
    pub current_rev: i64,
    /// The last compaction revision, -1 if none.
    pub compact_rev: i64,
    /// The live keys of every lease that has some, kept up to date by the writer.
    pub lease_keys: LeaseKeys,
}

impl Published {
    /// Rebuilds the state from what `storage` has committed: the index from every row, the
    /// revisions from the meta values and the rows, the lease keys from the latest rows.
    pub fn load(storage: &Storage) -> Result<Self, EtcdError> {
        let rows = storage.read()?;
        let (recorded_current, recorded_compact) = rows.recorded_revisions()?;
        let compact_rev = recorded_compact.unwrap_or(-1);
        let mut current_rev = recorded_current.unwrap_or(1);
        let mut index = TreeIndex::default();
        for row in rows.rows_from(Revision::new(0, 0))? {
            let (rev, tombstone, kv) = row?;
            index.restore_row(&kv.key, rev, tombstone, kv.create_revision, kv.version);
            current_rev = current_rev.max(rev.main);
        }
        let current_rev = current_rev.max(compact_rev);
        let mut lease_keys = LeaseKeys::new();
        for (key, at) in index.keys(KeyRange::From(&[]), current_rev) {
            let kv = rows.kv(at.modified)?;
            if kv.lease != 0 {
                lease_keys.entry(kv.lease).or_default().insert(key);
            }
        }
        Ok(Self {
            index,
            current_rev,
            compact_rev,
            lease_keys,
        })
    }

    /// A read of the published revision on `rows`.
    pub fn view<'a>(&'a self, rows: &'a dyn RowSource) -> ReadView<'a> {
        ReadView {
            index: &self.index,
            rows,
            rev: self.current_rev,
            compact_rev: self.compact_rev,
        }
    }
}

/// The state of one store, shared by its readers and its writer thread.
pub(crate) struct StoreState {
    /// The database.
    pub storage: Storage,
    published: RwLock<Published>,
    /// The events of every committed revision, in order.
    pub events: broadcast::Sender<Arc<RevisionEvents>>,
    /// The active alarms.
    pub alarms: Alarms,
    leases: RwLock<Arc<dyn LeaseLookup>>,
    failed: AtomicBool,
    failure: Mutex<String>,
    commits: AtomicU64,
}

impl StoreState {
    /// The state of `storage`, loaded from it; slow subscribers may fall `event_capacity`
    /// revisions behind.
    pub fn load(storage: Storage, event_capacity: usize) -> Result<Self, EtcdError> {
        let published = Published::load(&storage)?;
        let alarms = Alarms::restore(&storage.read()?.alarms()?)?;
        let (events, _) = broadcast::channel(event_capacity.max(1));
        Ok(Self {
            storage,
            published: RwLock::new(published),
            events,
            alarms,
            leases: RwLock::new(Arc::new(NoLeases)),
            failed: AtomicBool::new(false),
            failure: Mutex::new(String::new()),
            commits: AtomicU64::new(0),
        })
    }

    /// The published state, for reading.
    pub fn read(&self) -> RwLockReadGuard<'_, Published> {
        self.published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The published state, for the writer.
    pub fn write(&self) -> RwLockWriteGuard<'_, Published> {
        self.published
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails once the store has stopped serving after a storage failure.
    pub fn check_failed(&self) -> Result<(), EtcdError> {
        if self.failed.load(Ordering::Acquire) {
            let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            return Err(EtcdError::Storage(failure.clone()));
        }
        Ok(())
    }

    /// Stops serving: the in-memory state can no longer be trusted to match storage.
    pub fn fail(&self, err: &EtcdError) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = match err {
            EtcdError::Storage(detail) => detail.clone(),
            other => other.message(),
        };
        self.failed.store(true, Ordering::Release);
    }

    /// After a storage failure (`cause`): opens the database again (redb refuses everything
    /// after an I/O error until then) and rebuilds the in-memory state from what it has
    /// committed, then serves again; stops serving if that fails (the next write retries).
    /// Must not be called while a write batch is alive.
    pub fn recover(&self, cause: &EtcdError) {
        let before = self.read().current_rev;
        let outcome = self
            .storage
            .reopen()
            .and_then(|()| Published::load(&self.storage));
        match outcome {
            Ok(published) => {
                if published.current_rev > before {
                    // The commit that reported the failure reached the disk after all.
                    tracing::warn!(
                        revision = published.current_rev,
                        error = %cause,
                        "a failed commit was durable: watchers miss its events"
                    );
                }
                *self.write() = published;
                self.failed.store(false, Ordering::Release);
            }
            Err(err) => {
                tracing::error!(error = %err, cause = %cause, "cannot reopen the database");
                self.fail(&err);
            }
        }
    }

    /// The lease lookup puts are checked against.
    pub fn lease_lookup(&self) -> Arc<dyn LeaseLookup> {
        Arc::clone(&self.leases.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the lease lookup.
    pub fn set_lease_lookup(&self, leases: Arc<dyn LeaseLookup>) {
        *self.leases.write().unwrap_or_else(PoisonError::into_inner) = leases;
    }

    /// The number of durable commits so far.
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Counts one durable commit.
    pub fn count_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::storage::db_path;

    #[test]
    fn ids_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = Storage::open(dir.path()).unwrap();
        let loaded = Published::load(&first).unwrap();
        assert_ne!(first.member_id(), 0);
        assert_ne!(first.cluster_id(), 0);
        assert_eq!((loaded.current_rev, loaded.compact_rev), (1, -1));
        let (member, cluster) = (first.member_id(), first.cluster_id());
        drop(first);
        let again = Storage::open(dir.path()).unwrap();
        assert_eq!((again.member_id(), again.cluster_id()), (member, cluster));
        assert!(db_path(dir.path()).is_file());
    }
}
