//! The connection to the upstream etcd cluster.

use std::time::Duration;

use anyhow::{Context, Result};
use gateway_runtime::GrpcTransport;
use tonic::transport::{Channel, Endpoint};

use crate::tls::UpstreamTls;

/// One shared HTTP/2 channel to the cluster's members (load-balanced over all of them),
/// built once; connections are opened lazily, so the gateway starts while members are down.
pub fn connect(
    endpoints: &[String],
    dial_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<GrpcTransport> {
    let endpoints = endpoints
        .iter()
        .map(|url| endpoint(url, dial_timeout, tls))
        .collect::<Result<Vec<_>>>()?;
    let channel = match endpoints.as_slice() {
        [] => anyhow::bail!("no upstream endpoints given"),
        [one] => one.connect_lazy(),
        _ => Channel::balance_list(endpoints.into_iter()),
    };
    Ok(gateway_runtime::transport(channel))
}

fn endpoint(url: &str, dial_timeout: Duration, tls: &UpstreamTls) -> Result<Endpoint> {
    let url = url.trim();
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("invalid endpoint {url:?}"))?
        .connect_timeout(dial_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    tls.apply(endpoint)
}
