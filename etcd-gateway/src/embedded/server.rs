//! The embedded backend assembled: the store opened from a data directory and etcd's gRPC
//! services on it, as [`tonic::service::Routes`] that serve both the in-process transport of
//! the JSON gateway and etcd's native gRPC API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use gateway_runtime::GrpcTransport;
use tonic::service::Routes;

use super::auth::{AuthOptions, AuthService, AuthStore};
use super::cluster_service::ClusterService;
use super::election_service::ElectionService;
use super::errors::EtcdError;
use super::kv_service::KvService;
use super::lease_service::LeaseService;
use super::lock_service::LockService;
use super::maintenance_service::MaintenanceService;
use super::mvcc::{DEFAULT_MAX_REQUEST_BYTES, Store, StoreOptions};
use super::watch_service::WatchService;

/// What etcd allows on top of `--max-request-bytes` for a received gRPC message (its
/// `grpcOverheadBytes`); larger messages fail with `ResourceExhausted` before being decoded.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The embedded backend: the store and etcd's gRPC services on it.
#[derive(Debug)]
pub struct Embedded {
    store: Arc<Store>,
    auth: Arc<AuthStore>,
    data_dir: PathBuf,
    routes: Routes,
}

/// How an embedded backend is opened.
#[derive(Clone, Debug, Default)]
pub struct EmbeddedOptions {
    /// The store's tuning (`--quota-backend-bytes`, batch limits).
    pub store: StoreOptions,
    /// Token provider and bcrypt cost (`--auth-token`, `--auth-token-ttl`, `--bcrypt-cost`).
    pub auth: AuthOptions,
}

impl Embedded {
    /// Opens (creating it if needed) the store in `data_dir` and builds the services of the
    /// member `name`, which clients reach at `client_urls`.
    pub fn open(
        data_dir: impl Into<PathBuf>,
        name: &str,
        client_urls: Vec<String>,
    ) -> Result<Self> {
        Self::open_with(data_dir, name, client_urls, &EmbeddedOptions::default())
    }

    /// [`Embedded::open`] with `options`: the store's tuning and the auth options.
    pub fn open_with(
        data_dir: impl Into<PathBuf>,
        name: &str,
        client_urls: Vec<String>,
        options: &EmbeddedOptions,
    ) -> Result<Self> {
        let data_dir = data_dir.into();
        let store = Store::open_with(&data_dir, options.store.clone())
            .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
        let store = Arc::new(store);
        let auth = AuthStore::open(Arc::clone(&store), &options.auth)
            .map_err(|err| anyhow::anyhow!("cannot open the auth store: {err}"))?;
        let auth = Arc::new(auth);
        let routes = routes(&store, &auth, &data_dir, name, client_urls)
            .context("cannot load the leases and member attributes of the embedded store")?;
        Ok(Self {
            store,
            auth,
            data_dir,
            routes,
        })
    }

    /// The auth store: [`AuthStore::caller`] and the permission checks of every service.
    pub fn auth(&self) -> &Arc<AuthStore> {
        &self.auth
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The in-process transport: the tonic routes themselves, a message over the size limit
    /// refused as etcd refuses it (see [`super::message_size`]).
    pub fn transport(&self) -> GrpcTransport {
        let routes = tower::ServiceExt::<http::Request<tonic::body::Body>>::map_response(
            self.routes(),
            super::message_size::as_resource_exhausted,
        );
        gateway_runtime::transport(routes)
    }

    /// etcd's gRPC services on the store (see [`routes`]).
    pub fn routes(&self) -> Routes {
        self.routes.clone()
    }
}

/// etcd's gRPC services on `store`: KV, Watch, Lease, Election, Lock and Auth (checked against
/// `auth`), Maintenance and Cluster. Loads the persisted leases
/// and starts their expiry, so it must be called inside a Tokio runtime.
///
/// Like etcd, a received message may be up to `--max-request-bytes` (etcd's default) plus
/// [`GRPC_OVERHEAD_BYTES`]; sent messages are not limited.
pub fn routes(
    store: &Arc<Store>,
    auth: &Arc<AuthStore>,
    data_dir: &Path,
    name: &str,
    client_urls: Vec<String>,
) -> Result<Routes, EtcdError> {
    let max_received = DEFAULT_MAX_REQUEST_BYTES + GRPC_OVERHEAD_BYTES;
    let kv = KvService::new(Arc::clone(store))
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let maintenance = MaintenanceService::new(Arc::clone(store), data_dir)
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let cluster = ClusterService::new(Arc::clone(store), name, client_urls)
        .with_data_dir(data_dir)
        .map_err(EtcdError::storage)?
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let watch = WatchService::new(Arc::clone(store))
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let lease = LeaseService::open(Arc::clone(store))?.with_auth(Arc::clone(auth));
    let election = ElectionService::new(Arc::clone(lease.lessor()))
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let lock = LockService::new(Arc::clone(lease.lessor()))
        .with_auth(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let lease = lease.into_server().max_decoding_message_size(max_received);
    let auth = AuthService::new(Arc::clone(auth))
        .into_server()
        .max_decoding_message_size(max_received);
    let routes = Routes::new(kv)
        .add_service(maintenance)
        .add_service(cluster)
        .add_service(watch)
        .add_service(lease)
        .add_service(auth)
        .add_service(election)
        .add_service(lock)
        .prepare();
    Ok(crate::metrics::grpc::instrument_routes(routes))
}
