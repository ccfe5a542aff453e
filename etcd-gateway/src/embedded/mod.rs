//! An embedded single-member etcd backend: a durable MVCC key-value store with etcd 3.5's
//! semantics, and etcd's KV gRPC service on it.
//!
//! - [`key_index`]: the in-memory index of every key's revisions (generations, as in etcd);
//! - [`storage`]: the redb database file `<data-dir>/db` (rows by revision, meta values);
//! - [`mvcc`]: the [`Store`]: concurrent reads, one writer thread with group commit, events
//!   of every committed revision and history reads for watches;
//! - [`validate`]: the request checks etcd's gRPC layer does;
//! - [`kv_service`]: [`KvService`], the tonic `KV` service;
//! - [`errors`]: [`EtcdError`], etcd's messages and codes;
//! - [`watcher`] and [`watch_service`]: [`WatchService`], the tonic `Watch` service
//!   (`WatchService::new(store)`; [`WatchOptions`] sets the progress interval);
//! - [`lease`] and [`lease_service`]: the [`Lessor`] (lease table, persistence, expiry) and
//!   [`LeaseService`], the tonic `Lease` service (`LeaseService::open(store)` inside a Tokio
//!   runtime, or `LeaseService::new(Lessor::open(store, options)?)`).
//!
//! Until a [`Lessor`] is opened on a store, a put with a lease other than 0 fails with
//! `etcdserver: requested lease not found`.

mod apply;
pub mod cluster_service;
pub mod errors;
pub mod key_index;
pub mod kv_service;
pub mod lease;
pub mod lease_service;
pub mod maintenance_service;
pub mod mvcc;
pub mod storage;
pub mod unimplemented;
pub mod validate;
pub mod watch_service;
pub mod watcher;

#[cfg(test)]
mod tests;

pub use apply::{LeaseLookup, NoLeases};
pub use errors::EtcdError;
pub use kv_service::KvService;
pub use lease::{LeaseError, LeaseOptions, Lessor};
pub use lease_service::LeaseService;
pub use mvcc::{History, RevisionEvents, Store, StoreOptions};
pub use watch_service::WatchService;
pub use watcher::WatchOptions;
