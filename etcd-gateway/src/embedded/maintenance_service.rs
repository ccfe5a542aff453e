//! etcd's Maintenance gRPC service on the embedded store: `Status` only for now.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::mvcc::{RAFT_TERM, Store};
use super::storage::db_path;
use super::unsupported::unsupported_service;
use crate::etcdserverpb::maintenance_server::{Maintenance, MaintenanceServer};
use crate::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};

/// The etcd server version the embedded backend reports (`/version` shows it, with cluster
/// version `3.5.0`): the etcd release whose API and semantics it follows.
pub const EMULATED_ETCD_VERSION: &str = "3.5.0";

/// The Maintenance service. `Status` describes the single member; every other method answers
/// `Unimplemented` (`embedded backend does not support <Method> yet`).
#[derive(Clone, Debug)]
pub struct MaintenanceService {
    store: Arc<Store>,
    data_dir: PathBuf,
}

impl MaintenanceService {
    /// The service on `store`, which was opened from `data_dir` (for the database size).
    pub fn new(store: Arc<Store>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            data_dir: data_dir.into(),
        }
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> MaintenanceServer<Self> {
        MaintenanceServer::new(self)
    }

    /// The answer of `Status`, as a single started etcd member gives it.
    ///
    /// - `leader` is this member (a single member is always its own leader);
    /// - `raftIndex` and `raftAppliedIndex` are the store revision (each write that changes
    ///   the store is one entry, and a single member applies what it commits at once), so they
    ///   only grow, also across restarts; `raftTerm` is the constant term of the headers;
    /// - `dbSize` is the size of the database file; `dbSizeInUse` reports the same number, as
    ///   the file is not shrunk by compaction (etcd's defragmentation is not offered);
    /// - the fields etcd 3.5 does not fill (`storageVersion`, `dbSizeQuota`, `downgradeInfo`)
    ///   stay empty.
    pub fn status_response(&self) -> Result<StatusResponse, Status> {
        let revision = self.store.current_revision();
        let db_size = std::fs::metadata(db_path(&self.data_dir))
            .map_err(|err| Status::internal(format!("cannot read the database size: {err}")))?
            .len();
        let db_size = i64::try_from(db_size).unwrap_or(i64::MAX);
        let index = u64::try_from(revision).unwrap_or_default();
        Ok(StatusResponse {
            header: Some(self.store.header(revision)),
            version: EMULATED_ETCD_VERSION.to_owned(),
            db_size,
            leader: self.store.member_id(),
            raft_index: index,
            raft_term: RAFT_TERM,
            raft_applied_index: index,
            errors: self.store.alarms().status_errors(),
            db_size_in_use: db_size,
            is_learner: false,
            storage_version: String::new(),
            db_size_quota: 0,
            downgrade_info: None,
        })
    }
}

unsupported_service! {
    impl Maintenance for MaintenanceService {
        unary {
            defragment(DefragmentRequest) -> DefragmentResponse = "Defragment";
            hash(HashRequest) -> HashResponse = "Hash";
            hash_kv(HashKvRequest) -> HashKvResponse = "HashKV";
            move_leader(MoveLeaderRequest) -> MoveLeaderResponse = "MoveLeader";
            downgrade(DowngradeRequest) -> DowngradeResponse = "Downgrade";
        }
        streaming {
            snapshot(SnapshotRequest) -> SnapshotStream<SnapshotResponse> = "Snapshot";
        }
        supported {
            async fn alarm(
                &self,
                request: Request<AlarmRequest>,
            ) -> Result<Response<AlarmResponse>, Status> {
                Ok(Response::new(self.store.alarm(request.into_inner()).await?))
            }

            async fn status(
                &self,
                _request: Request<StatusRequest>,
            ) -> Result<Response<StatusResponse>, Status> {
                self.status_response().map(Response::new)
            }
        }
    }
}
