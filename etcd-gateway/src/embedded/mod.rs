//! An embedded single-member etcd backend: a durable MVCC key-value store with etcd 3.5's
//! semantics, and etcd's gRPC services on it. Layered as etcd's server is, each layer using
//! only the ones below it:
//!
//! ```text
//! server            Embedded: the store and the services, as tonic routes
//!   services        kv_service  watch_service  lease_service  maintenance_service
//!                   cluster_service  election_service  lock_service  auth::service
//!                   unsupported  (+ validate: etcd's request checks)
//!   auth            auth::store: users, roles, tokens, the permission checks services make
//!   concurrency     etcd's election and mutex recipes on leases, revisions and events
//!   watch, lease    watcher: watch streams      lease: the Lessor (lease table, expiry)
//! mvcc              Store (mvcc/store.rs): reads on the published revision, write entry
//!                   points, history  ──►  writer (mvcc/writer.rs): one thread, batches,
//!                   one commit per batch, then events, then answers; both on the shared
//!                   state (mvcc/state.rs)
//! apply             apply: etcd's range / put / delete-range / txn semantics
//!   kv_txn          ReadView and WriteCtx: reads at a revision, one request's changes
//!   key_index       the in-memory index of every key's revisions (generations)
//! storage           the only module that knows redb: ReadTx, WriteBatch, rows, leases, meta
//! ```
//!
//! - [`storage`]: the database file `<data-dir>/db` (rows by revision, leases, meta values);
//! - [`key_index`]: the in-memory index of every key's revisions, as in etcd;
//! - [`mvcc`]: the [`Store`]: concurrent reads, one writer thread with group commit, events
//!   of every committed revision and history reads for watches;
//! - [`validate`]: the request checks etcd's gRPC layer does;
//! - [`kv_service`]: [`KvService`], the tonic `KV` service;
//! - [`errors`]: [`EtcdError`], etcd's messages and codes;
//! - [`watcher`] and [`watch_service`]: [`WatchService`], the tonic `Watch` service
//!   (`WatchService::new(store)`; [`WatchOptions`] sets the progress interval);
//! - [`lease`] and [`lease_service`]: the [`Lessor`] (lease table, persistence, expiry) and
//!   [`LeaseService`], the tonic `Lease` service (`LeaseService::open(store)` inside a Tokio
//!   runtime, or `LeaseService::new(Lessor::open(store, options)?)`);
//! - [`alarm`] and [`quota`]: the active alarms (persisted; NOSPACE and CORRUPT refuse
//!   writes as etcd's appliers do) and `--quota-backend-bytes`;
//! - [`auth`]: etcd's auth: [`auth::AuthStore`] (users, roles, permissions persisted in the
//!   store; tokens; `caller` and the permission checks) and the tonic `Auth` service;
//! - [`concurrency`], [`election_service`] and [`lock_service`]: etcd's `concurrency`
//!   package as its v3election and v3lock servers run it, and [`ElectionService`] and
//!   [`LockService`], the tonic `Election` and `Lock` services (both on the [`Lessor`]);
//! - [`hash`]: `Hash` and `HashKV` as etcd computes them; [`snapshot`]: snapshots in etcd's
//!   framing and their restore; [`downgrade`]: `Downgrade` on a single member; all used by
//!   [`maintenance_service`];
//! - [`unsupported`]: the answer of every method not provided yet;
//! - [`server`]: [`Embedded`], everything above opened from a data directory.
//!
//! Until a [`Lessor`] is opened on a store, a put with a lease other than 0 fails with
//! `etcdserver: requested lease not found`.

pub mod alarm;
mod apply;
pub mod auth;
pub mod cluster_service;
pub mod concurrency;
pub mod downgrade;
pub mod election_service;
pub mod errors;
pub mod hash;
mod interval;
pub mod key_index;
pub mod kv_service;
mod kv_txn;
pub mod lease;
pub mod lease_service;
pub mod lock_service;
pub mod maintenance_service;
pub mod message_size;
pub mod mvcc;
pub mod quota;
pub mod server;
pub mod snapshot;
pub mod storage;
pub mod unsupported;
pub mod validate;
pub mod watch_service;
pub mod watcher;

#[cfg(test)]
mod tests;

pub use apply::{LeaseLookup, NoLeases};
pub use election_service::ElectionService;
pub use errors::EtcdError;
pub use kv_service::KvService;
pub use lease::{LeaseOptions, Lessor};
pub use lease_service::LeaseService;
pub use lock_service::LockService;
pub use mvcc::{History, RevisionEvents, Store, StoreOptions};
pub use server::Embedded;
pub use watch_service::WatchService;
pub use watcher::WatchOptions;
