//! The members' client URLs as the gateway's clients must see them.
//!
//! Clients that discover the cluster from `MemberList` (Patroni by default, other HA tools,
//! etcd's own clients with auto-sync) talk to the `clientURLs` it lists from then on. Passed
//! through, those are the upstream members' own URLs: the clients would bypass the gateway and
//! fail wherever the members' client ports are not reachable from them. [`wrap`] answers the
//! Cluster service's calls with every listed member's `clientURLs` replaced by the gateway's
//! advertised URLs (`--advertise-client-urls`); everything else about the members is kept.

use std::sync::Arc;

use gateway_runtime::GrpcTransport;
use tonic::{Request, Response, Status};
use tower::ServiceExt;

use crate::etcdserverpb::cluster_client::ClusterClient;
use crate::etcdserverpb::cluster_server::{Cluster, ClusterServer};
use crate::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};

/// The gRPC path prefix of etcd's Cluster service, whose every response lists the members.
pub const CLUSTER_PREFIX: &str = "/etcdserverpb.Cluster/";

/// `upstream` with the Cluster service's responses rewritten to list `client_urls` as every
/// started member's client URLs; every other call goes to `upstream` unchanged.
pub fn wrap(upstream: GrpcTransport, client_urls: Vec<String>) -> GrpcTransport {
    let cluster = ClusterServer::new(AdvertisedCluster {
        upstream: upstream.clone(),
        client_urls: client_urls.into(),
    })
    .max_decoding_message_size(usize::MAX)
    .max_encoding_message_size(usize::MAX);
    let cluster = gateway_runtime::transport(cluster);
    gateway_runtime::transport(tower::service_fn(
        move |request: http::Request<tonic::body::Body>| {
            let target = if request.uri().path().starts_with(CLUSTER_PREFIX) {
                cluster.clone()
            } else {
                upstream.clone()
            };
            target.oneshot(request)
        },
    ))
}

/// The Cluster service of the upstream, its member lists rewritten.
#[derive(Clone)]
struct AdvertisedCluster {
    upstream: GrpcTransport,
    client_urls: Arc<[String]>,
}

impl AdvertisedCluster {
    fn client(&self) -> ClusterClient<GrpcTransport> {
        ClusterClient::new(self.upstream.clone())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// `members` with each started member's client URLs replaced by the advertised ones. A
    /// member that has not started yet (a learner just added) lists none and keeps none.
    fn rewrite(&self, members: &mut [Member]) {
        for member in members {
            if !member.client_ur_ls.is_empty() {
                member.client_ur_ls = self.client_urls.to_vec();
            }
        }
    }
}

#[tonic::async_trait]
impl Cluster for AdvertisedCluster {
    async fn member_add(
        &self,
        request: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        let mut response = self.client().member_add(request).await?;
        self.rewrite(&mut response.get_mut().members);
        Ok(response)
    }

    async fn member_remove(
        &self,
        request: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        let mut response = self.client().member_remove(request).await?;
        self.rewrite(&mut response.get_mut().members);
        Ok(response)
    }

    async fn member_update(
        &self,
        request: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        let mut response = self.client().member_update(request).await?;
        self.rewrite(&mut response.get_mut().members);
        Ok(response)
    }

    async fn member_list(
        &self,
        request: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let mut response = self.client().member_list(request).await?;
        self.rewrite(&mut response.get_mut().members);
        Ok(response)
    }

    async fn member_promote(
        &self,
        request: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        let mut response = self.client().member_promote(request).await?;
        self.rewrite(&mut response.get_mut().members);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, client_urls: &[&str]) -> Member {
        Member {
            id,
            name: format!("m{id}"),
            peer_ur_ls: vec![format!("http://10.0.0.{id}:2380")],
            client_ur_ls: client_urls.iter().map(|url| (*url).to_owned()).collect(),
            is_learner: false,
        }
    }

    #[test]
    fn started_members_list_the_advertised_urls_and_nothing_else_changes() {
        let upstream = gateway_runtime::transport(tower::service_fn(
            |_request: http::Request<tonic::body::Body>| async {
                Err::<http::Response<tonic::body::Body>, _>(Status::unavailable("unused"))
            },
        ));
        let cluster = AdvertisedCluster {
            upstream,
            client_urls: vec!["https://gw:2379".to_owned(), "https://gw2:2379".to_owned()].into(),
        };
        let mut members = vec![member(1, &["http://10.0.0.1:2379"]), member(2, &[])];
        cluster.rewrite(&mut members);
        let mut expected_first = member(1, &["https://gw:2379", "https://gw2:2379"]);
        expected_first.peer_ur_ls = vec!["http://10.0.0.1:2380".to_owned()];
        assert_eq!(members, vec![expected_first, member(2, &[])]);
    }
}
