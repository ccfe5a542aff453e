//! What is measured (scenarios) and against what (targets), with their prebuilt requests.

use bytes::Bytes;
use etcd_gateway::etcdserverpb::{PutRequest, RangeRequest};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

/// The key read by the range scenario, seeded before measuring.
pub const SEED_KEY: &[u8] = b"foo";

/// The value of the seeded key and of every put.
pub const VALUE: &[u8] = &[b'v'; 100];

/// One kind of load, selected with `--scenarios`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A serializable range of the one seeded key.
    Range,
    /// A put of a 100-byte value, each worker to its own key.
    Put,
    /// The put, from one client waiting for each put (and so for its fsync) before the next.
    PutSerial,
    /// Many HTTP watch streams on one key prefix, fed by one paced writer.
    Watch,
    /// The range with authentication on: user `bench`'s token in every request.
    RangeAuth,
    /// The put with authentication on: user `bench`'s token in every request.
    PutAuth,
}

impl Scenario {
    /// The unary request this scenario sends over and over, if it is a unary one.
    pub fn unary(self) -> Option<Unary> {
        match self {
            Scenario::Range => Some(Unary::Range),
            Scenario::Put => Some(Unary::Put),
            Scenario::PutSerial => Some(Unary::PutSerial),
            Scenario::Watch => None,
            Scenario::RangeAuth => Some(Unary::RangeAuth),
            Scenario::PutAuth => Some(Unary::PutAuth),
        }
    }
}

/// One kind of unary request, sent over and over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// A serializable range of the one seeded key.
    Range,
    /// A put of a 100-byte value, each worker to its own key.
    Put,
    /// The put with a single worker: one durable write at a time, none sharing a commit.
    PutSerial,
    /// The range on a server with authentication on, as user `bench` (its token in every
    /// request).
    RangeAuth,
    /// The put on a server with authentication on, as user `bench`.
    PutAuth,
}

/// A prebuilt gRPC request.
pub enum GrpcRequest {
    /// `KV/Range`.
    Range(RangeRequest),
    /// `KV/Put`.
    Put(PutRequest),
}

impl Unary {
    /// The name used in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Unary::Range => "range",
            Unary::Put => "put",
            Unary::PutSerial => "put-serial",
            Unary::RangeAuth => "range-auth",
            Unary::PutAuth => "put-auth",
        }
    }

    /// Whether it runs with authentication on (on servers of its own, see [`super::auth`]).
    pub fn with_auth(self) -> bool {
        matches!(self, Unary::RangeAuth | Unary::PutAuth)
    }

    /// The same request without authentication, to compare with.
    pub fn without_auth(self) -> Unary {
        match self {
            Unary::RangeAuth => Unary::Range,
            Unary::PutAuth => Unary::Put,
            other => other,
        }
    }

    /// The workers to run, given `--concurrency`.
    pub fn concurrency(self, configured: usize) -> usize {
        match self {
            Unary::Range | Unary::Put | Unary::RangeAuth | Unary::PutAuth => configured,
            Unary::PutSerial => 1,
        }
    }

    /// Whether `target` is measured in this scenario: the serial put compares only the two
    /// stores' commit paths (etcd behind its own gateway, and the embedded store), and so do
    /// the scenarios with authentication (the permission checks of the two stores).
    pub fn runs_on(self, target: Target) -> bool {
        match self {
            Unary::Range | Unary::Put => true,
            Unary::PutSerial | Unary::RangeAuth | Unary::PutAuth => {
                matches!(target, Target::EtcdGateway | Target::Embedded)
            }
        }
    }

    /// The JSON gateway path.
    pub fn http_path(self) -> &'static str {
        match self {
            Unary::Range | Unary::RangeAuth => "/v3/kv/range",
            Unary::Put | Unary::PutSerial | Unary::PutAuth => "/v3/kv/put",
        }
    }

    /// The JSON body worker `worker` sends.
    pub fn http_body(self, worker: usize) -> Bytes {
        let body = match self.without_auth() {
            Unary::Range => format!(
                r#"{{"key":"{}","serializable":true}}"#,
                BASE64.encode(SEED_KEY)
            ),
            _ => format!(
                r#"{{"key":"{}","value":"{}"}}"#,
                BASE64.encode(put_key(worker)),
                BASE64.encode(VALUE)
            ),
        };
        Bytes::from(body)
    }

    /// The gRPC request worker `worker` sends (the same as its JSON body).
    pub fn grpc_request(self, worker: usize) -> GrpcRequest {
        match self.without_auth() {
            Unary::Range => GrpcRequest::Range(RangeRequest {
                key: SEED_KEY.to_vec(),
                serializable: true,
                ..Default::default()
            }),
            _ => GrpcRequest::Put(PutRequest {
                key: put_key(worker),
                value: VALUE.to_vec(),
                ..Default::default()
            }),
        }
    }
}

/// One server setup under load: a way of reaching etcd, or our gateway on its own store.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// etcd's built-in JSON gateway on its client port.
    EtcdGateway,
    /// Our gateway in front of etcd's client port.
    Ours,
    /// Our gateway on its embedded store (no etcd): JSON gateway on a durable local store.
    Embedded,
    /// etcd's gRPC API directly, no gateway.
    Grpc,
}

impl Target {
    /// The name used in the table and in the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Target::EtcdGateway => "etcd-gateway",
            Target::Ours => "ours",
            Target::Embedded => "embedded",
            Target::Grpc => "direct-grpc",
        }
    }
}

/// The prefix of every key the put scenarios write.
pub const PUT_PREFIX: &[u8] = b"bench/put/";

/// The key worker `worker` puts to.
fn put_key(worker: usize) -> Vec<u8> {
    let mut key = PUT_PREFIX.to_vec();
    key.extend_from_slice(format!("{worker:04}").as_bytes());
    key
}
