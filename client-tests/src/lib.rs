//! Tests only: etcd's Rust gRPC client, the `etcd-client` crate, against the embedded store's
//! native gRPC services (`tests/etcd_client.rs`). A crate of its own because `etcd-client`
//! compiles etcd's protos with `protoc` (installed by `scripts/install-test-deps.sh`), which the
//! gateway itself never needs.
