//! Where the gateway's gRPC calls go: an upstream etcd cluster (`--endpoints`), or the
//! embedded single-member store (`--data-dir`) served in process.
//!
//! Both are a [`GrpcTransport`], so the generated handlers are the same code for both: for
//! the upstream it is a [`tonic::transport::Channel`]; for the embedded store it is the tonic
//! server routes themselves ([`tonic::service::Routes`] of etcd's services), called without
//! a network hop. The same routes also serve etcd's native gRPC API on the listener (see
//! [`crate::serve`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use gateway_runtime::GrpcTransport;
use tonic::service::Routes;

use crate::config::Config;
use crate::embedded::EtcdError;
use crate::embedded::cluster_service::ClusterService;
use crate::embedded::maintenance_service::MaintenanceService;
use crate::embedded::mvcc::DEFAULT_MAX_REQUEST_BYTES;
use crate::embedded::unimplemented::Unimplemented;
use crate::embedded::{KvService, LeaseService, Store, WatchService};
use crate::etcdserverpb::auth_server::AuthServer;
use crate::v3electionpb::election_server::ElectionServer;
use crate::v3lockpb::lock_server::LockServer;

/// What etcd allows on top of `--max-request-bytes` for a received gRPC message (its
/// `grpcOverheadBytes`); larger messages fail with `ResourceExhausted` before being decoded.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The backend chosen by the configuration.
#[derive(Debug)]
pub enum Backend {
    /// An etcd cluster, reached over one shared channel.
    Upstream {
        /// The channel to the cluster.
        transport: GrpcTransport,
        /// The members' URLs.
        endpoints: Vec<String>,
    },
    /// The embedded store.
    Embedded(Embedded),
}

impl Backend {
    /// The upstream backend if `--endpoints` lists any, the embedded one otherwise. The
    /// embedded member advertises `http://<listen_addr>` (the address actually bound) as its
    /// client URL.
    pub fn from_config(config: &Config, listen_addr: SocketAddr) -> Result<Self> {
        let endpoints = config.upstream_endpoints();
        if endpoints.is_empty() {
            let client_urls = vec![format!("http://{listen_addr}")];
            Embedded::open(config.data_dir(), &config.name, client_urls).map(Self::Embedded)
        } else {
            let transport = crate::upstream::connect(&endpoints, config.dial_timeout)?;
            Ok(Self::Upstream {
                transport,
                endpoints,
            })
        }
    }

    /// The transport the JSON handlers send through.
    pub fn transport(&self) -> GrpcTransport {
        match self {
            Self::Upstream { transport, .. } => transport.clone(),
            Self::Embedded(embedded) => embedded.transport(),
        }
    }

    /// The gRPC services to serve on the listener next to the JSON gateway: the embedded
    /// backend's; none for an upstream (its clients talk to the cluster directly).
    pub fn grpc_routes(&self) -> Option<Routes> {
        match self {
            Self::Upstream { .. } => None,
            Self::Embedded(embedded) => Some(embedded.routes.clone()),
        }
    }
}

/// The embedded backend: the store and etcd's gRPC services on it.
#[derive(Debug)]
pub struct Embedded {
    store: Arc<Store>,
    data_dir: PathBuf,
    routes: Routes,
}

impl Embedded {
    /// Opens (creating it if needed) the store in `data_dir` and builds the services of the
    /// member `name`, which clients reach at `client_urls`.
    pub fn open(
        data_dir: impl Into<PathBuf>,
        name: &str,
        client_urls: Vec<String>,
    ) -> Result<Self> {
        let data_dir = data_dir.into();
        let store = Store::open(&data_dir)
            .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
        let store = Arc::new(store);
        let routes = routes(&store, &data_dir, name, client_urls)
            .context("cannot load the leases of the embedded store")?;
        Ok(Self {
            store,
            data_dir,
            routes,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The in-process transport: the tonic routes themselves.
    pub fn transport(&self) -> GrpcTransport {
        gateway_runtime::transport(self.routes.clone())
    }
}

/// etcd's gRPC services on `store`: KV, Watch, Lease, Maintenance (`Status`) and Cluster
/// (`MemberList`); Auth, Election and Lock answer `Unimplemented`. Loads the persisted leases
/// and starts their expiry, so it must be called inside a Tokio runtime.
///
/// Like etcd, a received message may be up to `--max-request-bytes` (etcd's default) plus
/// [`GRPC_OVERHEAD_BYTES`]; sent messages are not limited.
pub fn routes(
    store: &Arc<Store>,
    data_dir: &Path,
    name: &str,
    client_urls: Vec<String>,
) -> Result<Routes, EtcdError> {
    let max_recv = DEFAULT_MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;
    let kv = KvService::new(Arc::clone(store))
        .into_server()
        .max_decoding_message_size(max_recv);
    let maintenance = MaintenanceService::new(Arc::clone(store), data_dir)
        .into_server()
        .max_decoding_message_size(max_recv);
    let cluster = ClusterService::new(Arc::clone(store), name, client_urls)
        .into_server()
        .max_decoding_message_size(max_recv);
    let watch = WatchService::new(Arc::clone(store))
        .into_server()
        .max_decoding_message_size(max_recv);
    let lease = LeaseService::open(Arc::clone(store))?
        .into_server()
        .max_decoding_message_size(max_recv);
    let auth = AuthServer::new(Unimplemented).max_decoding_message_size(max_recv);
    let election = ElectionServer::new(Unimplemented).max_decoding_message_size(max_recv);
    let lock = LockServer::new(Unimplemented).max_decoding_message_size(max_recv);
    Ok(Routes::new(kv)
        .add_service(maintenance)
        .add_service(cluster)
        .add_service(watch)
        .add_service(lease)
        .add_service(auth)
        .add_service(election)
        .add_service(lock)
        .prepare())
}
