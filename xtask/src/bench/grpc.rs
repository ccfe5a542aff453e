//! Direct gRPC load: tonic clients sharing a few HTTP/2 channels.
//!
//! By default every worker shares one channel, as both gateways do upstream, so the comparison
//! isolates the JSON/HTTP-1.1 layer.

use anyhow::{Context, Result};
use etcd_gateway::etcdserverpb::PutRequest;
use etcd_gateway::etcdserverpb::kv_client::KvClient;
use tonic::transport::{Channel, Endpoint};

use super::load::{self, Caller, Load, Tally};
use super::scenario::{GrpcRequest, SEED_KEY, Unary, VALUE};

/// Opens `count` channels to the etcd client URL `url`.
pub async fn connect(url: &str, count: usize) -> Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(url.to_owned())?.tcp_nodelay(true);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Writes the key the range scenario reads.
pub async fn seed(channel: &Channel) -> Result<()> {
    let request = PutRequest {
        key: SEED_KEY.to_vec(),
        value: VALUE.to_vec(),
        ..Default::default()
    };
    KvClient::new(channel.clone())
        .put(request)
        .await
        .context("cannot seed etcd")?;
    Ok(())
}

/// Measures `scenario` over `channels`, worker `i` using channel `i % channels.len()`.
pub async fn measure(channels: &[Channel], scenario: Unary, load: &Load) -> Result<Tally> {
    let callers = (0..load.concurrency)
        .map(|worker| GrpcCaller {
            client: KvClient::new(channels[worker % channels.len()].clone()),
            request: scenario.grpc_request(worker),
        })
        .collect();
    load::drive(callers, load).await
}

/// One worker's client and its prebuilt request.
struct GrpcCaller {
    /// A client on a shared channel.
    client: KvClient<Channel>,
    /// The request, cloned for each call (tonic takes it by value).
    request: GrpcRequest,
}

impl Caller for GrpcCaller {
    async fn call(&mut self) -> Result<()> {
        match &self.request {
            GrpcRequest::Range(request) => drop(self.client.range(request.clone()).await?),
            GrpcRequest::Put(request) => drop(self.client.put(request.clone()).await?),
        }
        Ok(())
    }
}
