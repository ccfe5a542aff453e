//! etcd's Maintenance gRPC service on the embedded store, as a single etcd 3.5.1 member
//! answers it (`server/etcdserver/api/v3rpc/maintenance.go`): `Status`, `Hash`, `HashKV`,
//! `Defragment`, `Snapshot`, `Alarm`, `MoveLeader` and `Downgrade`.
//!
//! With auth enabled, `Defragment`, `Snapshot`, `Hash` and `HashKV` need the `root` role
//! (etcd's `authMaintenanceServer`) and `Alarm` a valid token, if any (it goes through etcd's
//! raft request path); `Status`, `MoveLeader` and `Downgrade` are not checked, as in etcd 3.5.1.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::auth::AuthStore;
use super::downgrade::Downgrade;
use super::mvcc::{RAFT_TERM, Store};
use super::snapshot::SnapshotFile;
use super::storage::db_path;
use crate::etcdserverpb::maintenance_server::{Maintenance, MaintenanceServer};
use crate::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};

/// How long `Defragment` waits for the reads in progress to end before it gives up.
const DEFRAGMENT_WAIT: Duration = Duration::from_secs(30);

/// The etcd server version the embedded backend reports (`/version` shows it, with cluster
/// version `3.5.0`): the etcd release whose API and semantics it follows.
pub const EMULATED_ETCD_VERSION: &str = "3.5.0";

/// The Maintenance service of the single member.
#[derive(Clone, Debug)]
pub struct MaintenanceService {
    store: Arc<Store>,
    data_dir: PathBuf,
    downgrade: Arc<Downgrade>,
    auth: Option<Arc<AuthStore>>,
}

impl MaintenanceService {
    /// The service on `store`, which was opened from `data_dir` (for the database size).
    pub fn new(store: Arc<Store>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            data_dir: data_dir.into(),
            downgrade: Arc::default(),
            auth: None,
        }
    }

    /// Checks the calls etcd checks against `auth` (see the module documentation).
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// etcd's maintenance admin check of a request with `metadata`.
    fn check_admin(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        match &self.auth {
            Some(auth) => auth.check_maintenance_admin(metadata),
            None => Ok(()),
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
    /// - `dbSize` is the size of the database file; `dbSizeInUse` the bytes of it the
    ///   committed data occupies (allocated pages), which [`Self::defragment_store`] brings
    ///   the file size down to;
    /// - the fields etcd 3.5 does not fill (`storageVersion`, `dbSizeQuota`, `downgradeInfo`)
    ///   stay empty.
    pub fn status_response(&self) -> Result<StatusResponse, Status> {
        let revision = self.store.current_revision();
        let db_size = std::fs::metadata(db_path(&self.data_dir))
            .map_err(|err| Status::internal(format!("cannot read the database size: {err}")))?
            .len();
        let db_size = i64::try_from(db_size).unwrap_or(i64::MAX);
        let in_use = self.store.db_size_in_use().map_err(Status::from)?;
        let db_size_in_use = i64::try_from(in_use).unwrap_or(i64::MAX).min(db_size);
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
            db_size_in_use,
            is_learner: false,
            storage_version: String::new(),
            db_size_quota: 0,
            downgrade_info: None,
        })
    }

    /// `HashKV`: etcd's hash of the revisions up to `revision` (0: the current one), with
    /// the current revision in the header and the compaction revision (-1 if none).
    /// `hash_revision`, which etcd 3.5.1 does not send, stays 0.
    pub fn hash_kv_response(&self, revision: i64) -> Result<HashKvResponse, Status> {
        let hashed = self.store.hash_kv(revision)?;
        Ok(HashKvResponse {
            header: Some(self.store.header(hashed.current_revision)),
            hash: hashed.hash,
            compact_revision: hashed.compact_revision,
            hash_revision: 0,
        })
    }

    /// `Hash`: the hash of the whole store (see [`super::hash::hash_all`]) at the current
    /// revision.
    pub fn hash_response(&self) -> Result<HashResponse, Status> {
        let (hash, revision) = self.store.hash_all()?;
        Ok(HashResponse {
            header: Some(self.store.header(revision)),
            hash,
        })
    }

    /// `Defragment`: rewrites the database file without its free space, on the writer
    /// thread. Reads and writes wait meanwhile, as they do during etcd's defragmentation.
    pub async fn defragment_store(&self) -> Result<DefragmentResponse, Status> {
        self.store.defragment(DEFRAGMENT_WAIT).await?;
        Ok(DefragmentResponse { header: None })
    }

    /// `MoveLeader` on the only member, which is the leader: moving leadership to itself
    /// succeeds at once (an empty answer, as etcd's); any other target is not a member
    /// (`etcdserver: bad leader transferee`).
    pub fn move_leader_response(&self, target: u64) -> Result<MoveLeaderResponse, Status> {
        if target != self.store.member_id() {
            return Err(Status::failed_precondition(
                "etcdserver: bad leader transferee",
            ));
        }
        Ok(MoveLeaderResponse { header: None })
    }

    /// `Downgrade`, as [`Downgrade::run`] decides it, with a full header.
    pub fn downgrade_response(
        &self,
        request: &DowngradeRequest,
    ) -> Result<DowngradeResponse, Status> {
        let version = self.downgrade.run(request.action, &request.version)?;
        Ok(DowngradeResponse {
            header: Some(self.store.header(self.store.current_revision())),
            version,
        })
    }
}

/// The stream of `Snapshot` messages.
pub type SnapshotMessages = ReceiverStream<Result<SnapshotResponse, Status>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    type SnapshotStream = SnapshotMessages;

    async fn alarm(
        &self,
        request: Request<AlarmRequest>,
    ) -> Result<Response<AlarmResponse>, Status> {
        if let Some(auth) = &self.auth {
            auth.caller(request.metadata())?;
        }
        Ok(Response::new(self.store.alarm(request.into_inner()).await?))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        self.status_response().map(Response::new)
    }

    async fn defragment(
        &self,
        request: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.check_admin(request.metadata())?;
        self.defragment_store().await.map(Response::new)
    }

    async fn hash(&self, request: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.check_admin(request.metadata())?;
        self.hash_response().map(Response::new)
    }

    async fn hash_kv(
        &self,
        request: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        self.check_admin(request.metadata())?;
        self.hash_kv_response(request.get_ref().revision)
            .map(Response::new)
    }

    async fn snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.check_admin(request.metadata())?;
        let store = Arc::clone(&self.store);
        let data_dir = self.data_dir.clone();
        let file = tokio::task::spawn_blocking(move || SnapshotFile::take(&store, &data_dir))
            .await
            .map_err(|err| Status::internal(format!("snapshot stopped: {err}")))??;
        Ok(Response::new(ReceiverStream::new(file.stream())))
    }

    async fn move_leader(
        &self,
        request: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        self.move_leader_response(request.get_ref().target_id)
            .map(Response::new)
    }

    async fn downgrade(
        &self,
        request: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        self.downgrade_response(request.get_ref())
            .map(Response::new)
    }
}
