//! The state every route of the gateway is served with.

use axum::extract::FromRef;

use crate::{GrpcTransport, MessageLimits, shutdown::ShutdownListener};

/// What handlers need at request time: the transport, the clients' message limits, the
/// request body limit and the shutdown signal.
///
/// Custom routes ([`crate::GatewayRouter::route`]) are `MethodRouter<GatewayState>`s; they may
/// extract `State<GatewayState>` or `State<GrpcTransport>`.
#[derive(Clone)]
pub struct GatewayState {
    pub(crate) transport: GrpcTransport,
    pub(crate) limits: MessageLimits,
    pub(crate) max_body_bytes: usize,
    pub(crate) shutdown: ShutdownListener,
}

impl GatewayState {
    /// The transport every call goes through.
    pub fn transport(&self) -> &GrpcTransport {
        &self.transport
    }

    /// A generated client on the transport, with the message limits.
    pub(crate) fn client<C: crate::ServiceClient>(&self) -> C {
        C::from_transport(self.transport.clone(), self.limits)
    }
}

impl FromRef<GatewayState> for GrpcTransport {
    fn from_ref(state: &GatewayState) -> Self {
        state.transport.clone()
    }
}
