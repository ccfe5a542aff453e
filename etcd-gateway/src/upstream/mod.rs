//! The upstream etcd cluster (`--endpoints`): one channel per member, calls spread over the
//! members in rotation, failed members taken out and probed back, unary calls retried where
//! that cannot apply a write twice, and a default deadline.
//!
//! * [`endpoint`]: how a member's connection is set up (flow-control windows sized so that
//!   streams nobody reads cannot stall the other calls on the connection; keepalive).
//! * [`member`]: one member's channel and health.
//! * [`probe`]: the periodic health probes.
//! * [`policy`]: which calls may be retried after which failures.
//! * [`pool`]: the members as one gRPC service.
//! * [`deadline`], [`body`]: the `grpc-timeout` header and the response bodies.
//! * [`advertise`]: the members' client URLs answered as the gateway's own.

pub mod advertise;
pub mod args;
pub mod body;
pub mod deadline;
pub mod endpoint;
pub mod member;
pub mod policy;
pub mod pool;
pub mod probe;

use std::sync::Arc;
use std::time::Duration;

use crate::tls::UpstreamTls;
use anyhow::{Context, Result};

pub use args::UpstreamArgs;
pub use endpoint::EndpointOptions;
pub use member::MemberHealth;
pub use pool::Pool;

/// The pool over the members at `endpoints`, with their health probes started on the current
/// tokio runtime. Nothing is connected yet, so the gateway starts while members are down.
pub fn connect(
    endpoints: &[String],
    dial_timeout: Duration,
    args: &UpstreamArgs,
    tls: &UpstreamTls,
) -> Result<Pool> {
    anyhow::ensure!(
        !endpoints.is_empty(),
        "expected at least one upstream endpoint, found none"
    );
    let runtime = tokio::runtime::Handle::try_current()
        .context("the upstream connection needs a tokio runtime to probe its members")?;
    let options = EndpointOptions {
        dial_timeout,
        keepalive_time: args.keepalive_time,
        keepalive_timeout: args.keepalive_timeout,
        tls: tls.clone(),
    };
    let members = endpoints
        .iter()
        .map(|url| member::Member::new(url, &options))
        .collect::<Result<Arc<[_]>>>()?;
    probe::spawn(&members, args.health_check_interval, &runtime);
    Ok(Pool::new(members, args.request_timeout))
}
