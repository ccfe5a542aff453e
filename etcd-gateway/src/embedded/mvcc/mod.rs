//! The MVCC store on top of the storage layer, as etcd's `mvcc` package: the [`Store`] (reads
//! and the write entry points, `store.rs`), its single writer thread with group commit
//! (`writer.rs`), and the state both share (`state.rs`).

mod maintenance;
mod state;
mod store;
mod writer;

pub use maintenance::KvHash;
pub use state::RevisionEvents;
pub use store::{DEFAULT_MAX_REQUEST_BYTES, History, RAFT_TERM, Store, StoreOptions};
