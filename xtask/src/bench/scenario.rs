//! What is measured (scenarios) and against what (targets), with their prebuilt requests.

use bytes::Bytes;
use etcd_gateway::etcdserverpb::{PutRequest, RangeRequest};

/// The key read by the range scenario, seeded before measuring.
pub const SEED_KEY: &[u8] = b"foo";

/// The value of the seeded key and of every put.
pub const VALUE: &[u8] = &[b'v'; 100];

/// One kind of request, sent over and over.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A serializable range of the one seeded key.
    Range,
    /// A put of a 100-byte value, each worker to its own key.
    Put,
}

/// A prebuilt gRPC request.
pub enum GrpcRequest {
    /// `KV/Range`.
    Range(RangeRequest),
    /// `KV/Put`.
    Put(PutRequest),
}

impl Scenario {
    /// The name used in the table and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Range => "range",
            Scenario::Put => "put",
        }
    }

    /// The JSON gateway path.
    pub fn http_path(self) -> &'static str {
        match self {
            Scenario::Range => "/v3/kv/range",
            Scenario::Put => "/v3/kv/put",
        }
    }

    /// The JSON body worker `worker` sends.
    pub fn http_body(self, worker: usize) -> Bytes {
        let body = match self {
            Scenario::Range => format!(r#"{{"key":"{}","serializable":true}}"#, base64(SEED_KEY)),
            Scenario::Put => format!(
                r#"{{"key":"{}","value":"{}"}}"#,
                base64(&put_key(worker)),
                base64(VALUE)
            ),
        };
        Bytes::from(body)
    }

    /// The gRPC request worker `worker` sends (the same as its JSON body).
    pub fn grpc_request(self, worker: usize) -> GrpcRequest {
        match self {
            Scenario::Range => GrpcRequest::Range(RangeRequest {
                key: SEED_KEY.to_vec(),
                serializable: true,
                ..Default::default()
            }),
            Scenario::Put => GrpcRequest::Put(PutRequest {
                key: put_key(worker),
                value: VALUE.to_vec(),
                ..Default::default()
            }),
        }
    }
}

/// One way of reaching etcd.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// etcd's built-in JSON gateway on its client port.
    EtcdGateway,
    /// Our gateway in front of etcd's client port.
    Ours,
    /// etcd's gRPC API directly, no gateway.
    Grpc,
}

impl Target {
    /// The name used in the table and in the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Target::EtcdGateway => "etcd-gateway",
            Target::Ours => "ours",
            Target::Grpc => "direct-grpc",
        }
    }
}

/// The key worker `worker` puts to.
fn put_key(worker: usize) -> Vec<u8> {
    format!("bench/put/{worker:04}").into_bytes()
}

/// Standard padded base64, as the JSON mapping encodes `bytes` fields.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            out.push(match i <= chunk.len() {
                true => char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]),
                false => '=',
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"\xff\xfe"), "//4=");
    }
}
