//! Where the gateway's gRPC calls go: an upstream etcd cluster (`--endpoints`), or the
//! embedded single-member store (`--data-dir`) served in process.
//!
//! Both are a [`GrpcTransport`], so the generated handlers are the same code for both: for
//! the upstream it is a [`crate::upstream::Pool`] over one channel per member; for the embedded store it is the tonic
//! server routes themselves ([`tonic::service::Routes`] of etcd's services), called without
//! a network hop. The same routes also serve etcd's native gRPC API on the listener (see
//! [`crate::serve`]).

use std::net::SocketAddr;

use anyhow::Result;
use gateway_runtime::GrpcTransport;
use tonic::service::Routes;

use crate::config::{Config, MemberClientUrls};
use crate::embedded::Embedded;

/// The backend chosen by the configuration.
#[derive(Debug)]
pub enum Backend {
    /// An etcd cluster, reached over one channel per member.
    Upstream {
        /// What the JSON handlers send through: the pool, boxed.
        transport: GrpcTransport,
        /// The members' URLs.
        endpoints: Vec<String>,
        /// The members and their health.
        pool: crate::upstream::Pool,
    },
    /// The embedded store.
    Embedded(Embedded),
}

impl Backend {
    /// The upstream backend if `--endpoints` lists any, the embedded one otherwise. Both answer
    /// the gateway's advertised URLs ([`Config::advertised_client_urls`]) as the members'
    /// client URLs (the upstream unless `--member-client-urls=passthrough`).
    pub fn from_config(config: &Config, listen_addr: SocketAddr) -> Result<Self> {
        let endpoints = config.upstream_endpoints();
        if endpoints.is_empty() {
            let client_urls = config.advertised_client_urls(listen_addr);
            let options = crate::embedded::server::EmbeddedOptions {
                store: crate::embedded::StoreOptions {
                    quota_backend_bytes: config.quota_backend_bytes,
                    ..Default::default()
                },
                auth: config
                    .auth
                    .options()
                    .map_err(|err| anyhow::anyhow!("--auth-token: {err}"))?,
            };
            Embedded::open_with(config.data_dir(), &config.name, client_urls, &options)
                .map(Self::Embedded)
        } else {
            let pool = crate::upstream::connect(
                &endpoints,
                config.dial_timeout,
                &config.upstream,
                &config.tls.upstream()?,
            )?;
            let transport = gateway_runtime::transport(pool.clone());
            let transport = crate::resume::wrap(transport, &config.resume);
            let transport = match config.member_client_urls {
                MemberClientUrls::Advertised => crate::upstream::advertise::wrap(
                    transport,
                    config.advertised_client_urls(listen_addr),
                ),
                MemberClientUrls::Passthrough => transport,
            };
            Ok(Self::Upstream {
                transport,
                endpoints,
                pool,
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
            Self::Embedded(embedded) => Some(embedded.routes()),
        }
    }
}
