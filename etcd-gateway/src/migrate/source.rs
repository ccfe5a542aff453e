//! The embedded store being migrated: opened from its data directory, read at one revision.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::PAGE_SIZE;
use crate::embedded::Store;
use crate::embedded::storage::db_path;
use crate::etcdserverpb::RangeRequest;
use crate::mvccpb::KeyValue;

/// What redb reports when another process holds the database.
const LOCKED_MESSAGE: &str = "Database already open";

/// The embedded store of a data directory, read at the revision it had when opened.
pub struct Source {
    store: Store,
    revision: i64,
}

impl Source {
    /// Opens the store of `data_dir`. Fails with a clear message when there is no store
    /// there, or when a gateway is running on it (its database is locked).
    pub fn open(data_dir: &Path) -> Result<Self> {
        let db = db_path(data_dir);
        if !db.is_file() {
            bail!(
                "no embedded store in {}: {} does not exist",
                data_dir.display(),
                db.display()
            );
        }
        let store = match Store::open(data_dir) {
            Ok(store) => store,
            Err(err) if err.to_string().contains(LOCKED_MESSAGE) => bail!(
                "the store in {} is in use by another process (is a gateway running on it?): \
                 stop it first, then migrate",
                data_dir.display()
            ),
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot open the embedded store in {}", data_dir.display())
                });
            }
        };
        let revision = store.current_revision();
        Ok(Self { store, revision })
    }

    /// The revision everything is read at.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The number of keys at that revision.
    pub fn key_count(&self) -> Result<u64> {
        let response = self.store.range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: self.revision,
            count_only: true,
            ..Default::default()
        })?;
        Ok(response.count.max(0) as u64)
    }

    /// Up to [`PAGE_SIZE`] keys from `start` on (all keys from the first if `start` is
    /// empty), in key order.
    pub fn page(&self, start: &[u8]) -> Result<Vec<KeyValue>> {
        let key = if start.is_empty() {
            vec![0]
        } else {
            start.to_vec()
        };
        let response = self.store.range(&RangeRequest {
            key,
            range_end: vec![0],
            revision: self.revision,
            limit: PAGE_SIZE,
            ..Default::default()
        })?;
        Ok(response.kvs)
    }

    /// The leases recorded in the store: (id, granted TTL in seconds), in id order.
    pub fn leases(&self) -> Result<Vec<(i64, i64)>> {
        Ok(self.store.persisted_leases()?)
    }
}

/// The first key after `key` in key order: where the page after one ending at `key` starts.
pub fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}
