//! The embedded store's metrics under the names etcd gives them, so that dashboards made for
//! etcd find them: `etcd_server_has_leader` (always 1: the single member leads),
//! `etcd_mvcc_db_total_size_in_bytes`, `etcd_debugging_mvcc_keys_total` (read when scraped) and
//! `etcd_disk_backend_commit_duration_seconds` (observed by the writer, see [`commit_timer`]).

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use prometheus::{HistogramTimer, PullingGauge};

use super::registry::metrics;
use crate::embedded::{Embedded, Store, storage};

/// Starts timing one commit of the store's writer; the time is recorded when the timer is
/// dropped.
pub fn commit_timer() -> HistogramTimer {
    metrics().backend_commit.start_timer()
}

/// Registers the gauges of `embedded`'s store. Call it once per process.
///
/// # Errors
///
/// If the gauges are registered already.
pub fn register(embedded: &Embedded) -> prometheus::Result<()> {
    let store: Weak<Store> = Arc::downgrade(embedded.store());
    let db_path: PathBuf = storage::db_path(embedded.data_dir());
    let gauges = [
        PullingGauge::new(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            Box::new(|| 1.0),
        )?,
        PullingGauge::new(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
            Box::new(move || std::fs::metadata(&db_path).map_or(0.0, |meta| meta.len() as f64)),
        )?,
        PullingGauge::new(
            "etcd_debugging_mvcc_keys_total",
            "Total number of keys.",
            Box::new(move || {
                store
                    .upgrade()
                    .map_or(0.0, |store| store.key_count() as f64)
            }),
        )?,
    ];
    for gauge in gauges {
        metrics().registry.register(Box::new(gauge))?;
    }
    Ok(())
}
