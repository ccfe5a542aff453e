//! etcd's Cluster gRPC service on the embedded store, a cluster of one member.
//!
//! `MemberList` lists the member; `MemberUpdate` of its own id replaces its peer URLs (kept in
//! [`PEER_URLS_FILE`] of the data directory when the service has one, so they survive a
//! restart as etcd's member attributes do; otherwise [`DEFAULT_PEER_URL`]). What a
//! single-member etcd 3.5.1 refuses is refused with its error: an id that is not a member
//! (`etcdserver: member not found`), promoting a member that is no learner, member URLs that
//! do not parse, removing its only member (`etcdserver: re-configuration failed due to not
//! enough started members`, code `Unknown` as etcd reports it). Adding a member, which etcd
//! would do but the embedded store cannot, answers `FailedPrecondition` saying why and what to
//! use instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};

use super::auth::AuthStore;
use super::errors::EtcdError;
use super::mvcc::Store;
use crate::etcdserverpb::cluster_server::{Cluster, ClusterServer};
use crate::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};

/// The peer URL a single etcd member advertises by default (`--initial-advertise-peer-urls`).
pub const DEFAULT_PEER_URL: &str = "http://localhost:2380";

/// The file of the data directory holding the member's peer URLs (one per line) once they
/// were updated.
pub const PEER_URLS_FILE: &str = "member-peer-urls";

/// etcd's `ErrGRPCMemberNotFound` message.
pub const MEMBER_NOT_FOUND: &str = "etcdserver: member not found";

/// etcd's `ErrGRPCMemberBadURLs` message.
pub const MEMBER_BAD_URLS: &str = "etcdserver: given member URLs are invalid";

/// etcd's `ErrGRPCMemberNotLearner` message.
pub const MEMBER_NOT_LEARNER: &str = "etcdserver: can only promote a learner member";

/// The answer of `MemberAdd` with valid URLs.
pub const CANNOT_ADD: &str = "the embedded store is a single-member cluster and cannot add \
     members; to run a cluster of several members, start etcd members and serve them with \
     --endpoints";

/// etcd's `ErrGRPCMemberNotEnoughStarted` message: a single-member etcd 3.5.1 answers it
/// (with code `Unknown`) to the removal of its only member.
pub const NOT_ENOUGH_STARTED: &str =
    "etcdserver: re-configuration failed due to not enough started members";

/// The Cluster service of a single member (see the module documentation).
#[derive(Clone, Debug)]
pub struct ClusterService {
    store: Arc<Store>,
    name: String,
    client_urls: Vec<String>,
    peer_urls: Arc<Mutex<Vec<String>>>,
    /// Where updated peer URLs are kept, if anywhere.
    peer_urls_file: Option<PathBuf>,
    /// The auth store membership changes are checked against, if any.
    auth: Option<Arc<AuthStore>>,
}

impl ClusterService {
    /// The service of the member `name` on `store`, reachable by clients at `client_urls`;
    /// its peer URL is etcd's default, [`DEFAULT_PEER_URL`].
    pub fn new(store: Arc<Store>, name: impl Into<String>, client_urls: Vec<String>) -> Self {
        Self {
            store,
            name: name.into(),
            client_urls,
            peer_urls: Arc::new(Mutex::new(vec![DEFAULT_PEER_URL.to_owned()])),
            peer_urls_file: None,
            auth: None,
        }
    }

    /// Requires the `root` role for membership changes while `auth` is enabled, as etcd's
    /// `checkMembershipOperationPermission` does.
    pub fn with_auth(mut self, auth: Arc<AuthStore>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// etcd's membership permission check: the caller of a request with `metadata` must have
    /// the `root` role (anyone while auth is disabled).
    fn check_admin(&self, metadata: &MetadataMap) -> Result<(), EtcdError> {
        match &self.auth {
            Some(auth) => auth.is_admin_permitted(&auth.caller(metadata)?),
            None => Ok(()),
        }
    }

    /// Keeps updated peer URLs in [`PEER_URLS_FILE`] of `data_dir`, and takes the ones kept
    /// there by an earlier run.
    pub fn with_data_dir(mut self, data_dir: &Path) -> std::io::Result<Self> {
        let path = data_dir.join(PEER_URLS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => *self.peer_urls() = text.lines().map(str::to_owned).collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        self.peer_urls_file = Some(path);
        Ok(self)
    }

    /// The tonic server of this service.
    pub fn into_server(self) -> ClusterServer<Self> {
        ClusterServer::new(self)
    }

    /// The only member.
    pub fn member(&self) -> Member {
        Member {
            id: self.store.member_id(),
            name: self.name.clone(),
            peer_ur_ls: self.peer_urls().clone(),
            client_ur_ls: self.client_urls.clone(),
            is_learner: false,
        }
    }

    fn peer_urls(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.peer_urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the peer URLs, durably first when they are kept in a file.
    async fn set_peer_urls(&self, urls: Vec<String>) -> Result<(), Status> {
        if let Some(path) = self.peer_urls_file.clone() {
            let text: String = urls.iter().map(|url| format!("{url}\n")).collect();
            tokio::task::spawn_blocking(move || write_durably(&path, text.as_bytes()))
                .await
                .map_err(|err| Status::internal(err.to_string()))?
                .map_err(|err| {
                    Status::internal(format!("cannot record the member's peer URLs: {err}"))
                })?;
        }
        *self.peer_urls() = urls;
        Ok(())
    }

    /// Fails with etcd's `member not found` unless `id` is this member's.
    fn check_member(&self, id: u64) -> Result<(), Status> {
        if id == self.store.member_id() {
            Ok(())
        } else {
            Err(Status::new(Code::NotFound, MEMBER_NOT_FOUND))
        }
    }
}

/// Replaces the file at `path` with `contents`: written beside it, synced, then renamed over
/// it, so that a crash leaves the old or the new contents.
fn write_durably(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&partial, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Whether `urls` are member URLs as etcd's `types.NewURLs` accepts them: at least one, each
/// `http`, `https`, `unix` or `unixs`, with a `host:port` and no path.
pub fn valid_member_urls(urls: &[String]) -> bool {
    !urls.is_empty() && urls.iter().all(|url| valid_member_url(url.trim()))
}

fn valid_member_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https" | "unix" | "unixs") || rest.contains(['/', '?', '#']) {
        return false;
    }
    let port = match rest.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once("]:").map(|(_, port)| port),
        None => rest
            .split_once(':')
            .filter(|(host, _)| !host.contains(':'))
            .map(|(_, port)| port),
    };
    port.is_some_and(|port| !port.contains(':'))
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        if !valid_member_urls(&request.get_ref().peer_ur_ls) {
            return Err(Status::new(Code::InvalidArgument, MEMBER_BAD_URLS));
        }
        self.check_admin(request.metadata())?;
        Err(Status::new(Code::FailedPrecondition, CANNOT_ADD))
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.check_admin(request.metadata())?;
        self.check_member(request.into_inner().id)?;
        Err(Status::new(Code::Unknown, NOT_ENOUGH_STARTED))
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.check_admin(request.metadata())?;
        let request = request.into_inner();
        self.check_member(request.id)?;
        // etcd 3.5.1 stores the URLs as given, without checking them.
        self.set_peer_urls(request.peer_ur_ls).await?;
        Ok(Response::new(MemberUpdateResponse {
            header: Some(self.store.header(0)),
            members: vec![self.member()],
        }))
    }

    async fn member_list(
        &self,
        _request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        // Cluster responses carry no revision in their header, as in etcd.
        Ok(Response::new(MemberListResponse {
            header: Some(self.store.header(0)),
            members: vec![self.member()],
        }))
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.check_admin(request.metadata())?;
        self.check_member(request.into_inner().id)?;
        Err(Status::new(Code::FailedPrecondition, MEMBER_NOT_LEARNER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|url| (*url).to_owned()).collect()
    }

    #[tokio::test]
    async fn updated_peer_urls_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        let open = || {
            ClusterService::new(Arc::clone(&store), "m", Vec::new())
                .with_data_dir(dir.path())
                .expect("cluster service")
        };
        let service = open();
        assert_eq!(service.member().peer_ur_ls, urls(&[DEFAULT_PEER_URL]));
        let request = MemberUpdateRequest {
            id: store.member_id(),
            peer_ur_ls: urls(&["http://10.0.0.1:2380", "http://10.0.0.2:2380"]),
        };
        let response = service
            .member_update(Request::new(request.clone()))
            .await
            .expect("update")
            .into_inner();
        assert_eq!(response.members, vec![service.member()]);
        assert_eq!(open().member().peer_ur_ls, request.peer_ur_ls);
        let status = service
            .member_update(Request::new(MemberUpdateRequest { id: 1, ..request }))
            .await
            .expect_err("another id");
        assert_eq!(
            (status.code(), status.message()),
            (Code::NotFound, MEMBER_NOT_FOUND)
        );
    }

    #[test]
    fn member_urls_are_checked_as_etcd_does() {
        // etcd 3.5.1 client/pkg/types/urls.go NewURLs.
        assert!(valid_member_urls(&urls(&["http://127.0.0.1:2380"])));
        assert!(valid_member_urls(&urls(&[
            " https://[::1]:2380 ",
            "unix://sock:1"
        ])));
        assert!(!valid_member_urls(&[]));
        assert!(!valid_member_urls(&urls(&["bad"])));
        assert!(!valid_member_urls(&urls(&["ftp://h:1"])));
        assert!(!valid_member_urls(&urls(&["http://h"])));
        assert!(!valid_member_urls(&urls(&["http://h:1/path"])));
    }
}
