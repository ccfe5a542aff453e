//! An embedded single-member etcd backend: a durable MVCC key-value store with etcd 3.5's
//! semantics, and etcd's KV gRPC service on it.
//!
//! - [`key_index`]: the in-memory index of every key's revisions (generations, as in etcd);
//! - [`storage`]: the redb database file `<data-dir>/db` (rows by revision, meta values);
//! - [`mvcc`]: the [`Store`]: concurrent reads, one writer thread with group commit, events
//!   of every committed revision and history reads for watches;
//! - [`validate`]: the request checks etcd's gRPC layer does;
//! - [`kv_service`]: [`KvService`], the tonic `KV` service;
//! - [`errors`]: [`EtcdError`], etcd's messages and codes.
//!
//! Leases are not there yet: a put with a lease other than 0 fails with
//! `etcdserver: requested lease not found` unless a [`LeaseLookup`] says the lease exists.

mod apply;
pub mod errors;
pub mod key_index;
pub mod kv_service;
pub mod mvcc;
pub mod storage;
pub mod validate;

#[cfg(test)]
mod tests;

pub use apply::{LeaseLookup, NoLeases};
pub use errors::EtcdError;
pub use kv_service::KvService;
pub use mvcc::{History, RevisionEvents, Store, StoreOptions};
