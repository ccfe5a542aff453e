//! Runtime for HTTP/JSON gateways in front of gRPC services.
//!
//! Generated route handlers call into this crate; every HTTP concern lives here:
//!
//! * [`codec`]: JSON request decoding and response encoding,
//! * [`error`]: the JSON error shape and the gRPC code → HTTP status table,
//! * [`metadata`]: request headers → gRPC metadata and deadlines, response metadata → headers,
//! * [`body`]: size-limited request body reading,
//! * [`binding`]: `google.api.http` bindings as static data, their router paths and request
//!   messages (path variables, query parameters, body field),
//! * [`unary`]: one complete unary call (headers + body → gRPC → JSON response),
//! * [`stream`]: server-streaming and bidirectional calls, framed as JSON lines or SSE,
//! * [`websocket`]: every route over a WebSocket,
//! * [`GatewayRouter`]: the route table builder producing an [`axum::Router`],
//! * [`GrpcTransport`] / [`transport`]: the type-erased gRPC service every call goes through.
//!
//! The crate knows nothing about any particular gRPC API.

#![deny(missing_docs)]

pub mod binding;
pub mod body;
mod client;
pub mod codec;
mod cors;
pub mod error;
pub mod metadata;
mod router;
pub mod stream;
mod transport;
pub mod unary;
pub mod websocket;

pub use client::{MessageLimits, ServiceClient};
pub use router::GatewayRouter;
pub use transport::{GrpcTransport, transport};
