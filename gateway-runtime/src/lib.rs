//! Runtime for HTTP/JSON gateways in front of gRPC services.
//!
//! Generated route modules describe each HTTP binding as static data ([`binding`]) and
//! register it on a [`GatewayRouter`] with a call on a generated client ([`ServiceClient`]);
//! every HTTP concern lives here:
//!
//! * [`binding`]: `google.api.http` bindings as data; their path templates compiled into router
//!   paths, and request messages merged from path variables, query parameters and body,
//! * `router` / `endpoint`: the route table ([`GatewayRouter`], an [`axum::Router`] with
//!   [`GatewayState`]) and one endpoint per binding (unary, server stream, bidirectional
//!   stream), each served over HTTP and WebSocket,
//! * `context`: the request context read once from the headers (gRPC metadata, the
//!   `Grpc-Timeout` deadline, a WebSocket handshake's token), with `metadata` mapping headers
//!   to metadata and response metadata back to headers,
//! * `unary`, [`stream`] (JSON lines or Server-Sent Events), `websocket`: the three ways a call
//!   is carried,
//! * `deadline`: the one status of a call whose deadline passed, whoever noticed it,
//! * `codec`, `body`: JSON decoding and encoding, size-limited request bodies,
//! * [`error`]: the JSON error shape and the gRPC code → HTTP status table,
//! * `cors`: CORS headers and the blanket `OPTIONS` answer,
//! * [`shutdown`]: ending every open stream and WebSocket session on shutdown,
//! * [`session`]: a hook for layers that count open streams and WebSocket sessions,
//! * [`GrpcTransport`] / [`transport`]: the type-erased gRPC service every call goes through,
//!   with [`MessageLimits`] applied to every client.
//!
//! The crate knows nothing about any particular gRPC API.

#![deny(missing_docs)]

pub mod binding;
mod body;
mod client;
mod codec;
mod context;
mod cors;
mod deadline;
mod endpoint;
pub mod error;
pub mod json;
mod metadata;
mod router;
pub mod session;
pub mod shutdown;
mod state;
pub mod stream;
mod transport;
mod unary;
mod websocket;

pub use client::{MessageLimits, ServiceClient};
pub use deadline::{DEADLINE_EXCEEDED_MESSAGE, deadline_exceeded, is_timeout_expired};
pub use router::GatewayRouter;
pub use state::GatewayState;
pub use transport::{GrpcTransport, transport};
