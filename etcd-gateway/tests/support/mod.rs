//! Shared harness for the integration suites.
//!
//! * [`etcd`] starts throw-away single-member etcd servers (3.4.23 and 3.5.1); [`cluster`]
//!   starts multi-member clusters whose members can be killed, frozen and restarted.
//! * [`gateway`] starts the `etcd-gateway` binary in front of one of them, or on its embedded
//!   store.
//! * [`http`] is a small HTTP/1.1 client with a per-request timeout.
//! * [`json`] masks run-specific values (IDs, tokens, ports, sizes, hashes) and compares.
//! * [`scenario`] runs scripted request sequences against etcd's own gateway and ours.
//! * [`kv_lease`] and [`watch_keepalive`] are the KV/lease step lists and the watch/keepalive
//!   stream scenarios, run against both targets (ours on a second etcd, ours on its embedded
//!   store).
//! * [`http_stream`] reads streamed HTTP responses message by message.
//! * [`websocket_client`] drives WebSockets.
//! * [`pair_calls`] runs what a step cannot express on both sides of a scenario pair (stream
//!   first lines, calls the client gives up on, inherent fields, gRPC, snapshot framing).
//! * [`stream_pair`] pairs fresh etcd servers for differential stream tests.
//! * [`watch_gauges`] reads etcd's watch gauges from `/metrics`.
//! * [`watch_reader`] reads watch streams (JSON lines, SSE, WebSocket) in the background and
//!   records every event revision with its arrival time.
//! * [`certs`] generates CAs and certificates per test; [`etcd_tls`] starts an etcd 3.5.1 that
//!   requires client certificates; [`tls_http`] is an HTTPS client (HTTP/1.1 or HTTP/2 by ALPN).
//!
//! Environment:
//! * `ETCD_34_BIN` / `ETCD_35_BIN` override the etcd binaries.
//! * `ETCD_GATEWAY_BIN` overrides the gateway binary under test.
//! * `GATEWAY_UNDER_TEST=etcd` replaces our gateway by etcd's own one in the differential and
//!   curl suites (etcd against etcd), which validates the harness and the scenarios themselves.
//!   It does not apply to the embedded target ([`Target::Embedded`]), which is always our binary.
//! * `SCENARIO_TRACE=1` prints every differential step with etcd's masked answer.

#![allow(dead_code)]

pub mod certs;
pub mod cluster;
pub mod etcd;
pub mod etcd_tls;
pub mod gateway;
pub mod http;
pub mod http_stream;
pub mod json;
pub mod kv_lease;
pub mod pair_calls;
pub mod process;
pub mod scenario;
pub mod stream_pair;
pub mod tls_http;
pub mod watch_gauges;
pub mod watch_keepalive;
pub mod watch_reader;
pub mod websocket_client;

// Each test binary uses a different part of the harness.
#[allow(unused_imports)]
pub use etcd::{Etcd, EtcdVersion};
#[allow(unused_imports)]
pub use gateway::{Gateway, Mode, Server, Store, Target};
