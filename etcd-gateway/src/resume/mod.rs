//! Watch and lease keepalive streams that outlive an upstream member.
//!
//! [`wrap`] puts an in-process router in front of the upstream transport: calls of
//! `/etcdserverpb.Watch/Watch` and `/etcdserverpb.Lease/LeaseKeepAlive` are served by tonic
//! services of this module ([`watch::ResumingWatch`], [`keepalive::ResumingLease`]), which
//! call the upstream themselves and, when its stream is lost (member killed, connection
//! reset, `Unavailable`), open a new one and bring it back to where the lost one was
//! ([`session`]). Every other call passes through unchanged.

pub mod args;
pub mod connection;
pub mod keepalive;
pub mod session;
pub mod watch;
pub mod watch_state;

pub use args::ResumeArgs;

use gateway_runtime::GrpcTransport;
use tonic::service::Routes;
use tower::ServiceExt;

use crate::etcdserverpb::lease_server::LeaseServer;
use crate::etcdserverpb::watch_server::WatchServer;

/// The gRPC path of etcd's watch stream.
pub const WATCH_PATH: &str = "/etcdserverpb.Watch/Watch";
/// The gRPC path of etcd's lease keepalive stream.
pub const KEEPALIVE_PATH: &str = "/etcdserverpb.Lease/LeaseKeepAlive";

/// `upstream` with its watch and keepalive streams resumed across member failures (for at most
/// `--stream-resume-timeout` each time); every other call goes to `upstream` as it is.
pub fn wrap(upstream: GrpcTransport, args: &ResumeArgs) -> GrpcTransport {
    let timeout = args.stream_resume_timeout;
    let watch = WatchServer::new(watch::ResumingWatch::new(upstream.clone(), timeout))
        .max_decoding_message_size(usize::MAX);
    let lease = LeaseServer::new(keepalive::ResumingLease::new(upstream.clone(), timeout))
        .max_decoding_message_size(usize::MAX);
    let streams = gateway_runtime::transport(Routes::new(watch).add_service(lease).prepare());
    gateway_runtime::transport(tower::service_fn(
        move |request: http::Request<tonic::body::Body>| {
            let path = request.uri().path();
            let target = if path == WATCH_PATH || path == KEEPALIVE_PATH {
                streams.clone()
            } else {
                upstream.clone()
            };
            target.oneshot(request)
        },
    ))
}
