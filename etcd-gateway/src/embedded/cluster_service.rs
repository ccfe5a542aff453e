//! etcd's Cluster gRPC service on the embedded store: `MemberList` only for now.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::mvcc::Store;
use super::unsupported::unsupported_service;
use crate::etcdserverpb::cluster_server::{Cluster, ClusterServer};
use crate::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};

/// The peer URL a single etcd member advertises by default (`--initial-advertise-peer-urls`).
pub const DEFAULT_PEER_URL: &str = "http://localhost:2380";

/// The Cluster service of a single member. `MemberList` lists it; adding, removing, updating
/// and promoting members answer `Unimplemented` (`embedded backend does not support <Method>
/// yet`).
#[derive(Clone, Debug)]
pub struct ClusterService {
    store: Arc<Store>,
    name: String,
    client_urls: Vec<String>,
    peer_urls: Vec<String>,
}

impl ClusterService {
    /// The service of the member `name` on `store`, reachable by clients at `client_urls`;
    /// its peer URL is etcd's default, [`DEFAULT_PEER_URL`].
    pub fn new(store: Arc<Store>, name: impl Into<String>, client_urls: Vec<String>) -> Self {
        Self {
            store,
            name: name.into(),
            client_urls,
            peer_urls: vec![DEFAULT_PEER_URL.to_owned()],
        }
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
            peer_ur_ls: self.peer_urls.clone(),
            client_ur_ls: self.client_urls.clone(),
            is_learner: false,
        }
    }
}

unsupported_service! {
    impl Cluster for ClusterService {
        unary {
            member_add(MemberAddRequest) -> MemberAddResponse = "MemberAdd";
            member_remove(MemberRemoveRequest) -> MemberRemoveResponse = "MemberRemove";
            member_update(MemberUpdateRequest) -> MemberUpdateResponse = "MemberUpdate";
            member_promote(MemberPromoteRequest) -> MemberPromoteResponse = "MemberPromote";
        }
        supported {
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
        }
    }
}
