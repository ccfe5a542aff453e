//! Generated gRPC clients, constructed per call on the shared transport.

use crate::GrpcTransport;

/// Transport policy the runtime applies to every generated client.
#[derive(Debug, Clone, Copy)]
pub struct MessageLimits {
    /// Largest response message a client decodes, in bytes.
    pub decoding: usize,
    /// Largest request message a client encodes, in bytes.
    pub encoding: usize,
}

impl Default for MessageLimits {
    /// No limits, as etcd's own gateway sets them.
    fn default() -> Self {
        Self {
            decoding: usize::MAX,
            encoding: usize::MAX,
        }
    }
}

/// A generated gRPC client the runtime can construct per call.
pub trait ServiceClient: Send + 'static {
    /// The client on `transport` with the runtime's message size limits.
    fn from_transport(transport: GrpcTransport, limits: MessageLimits) -> Self;
}
