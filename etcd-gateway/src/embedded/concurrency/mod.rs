//! etcd's `concurrency` package as etcd's v3election and v3lock servers run it, on the
//! embedded store: sessions on leases, election and mutex keys `<name>/<lease id in hex>`
//! created with a txn on `create_revision == 0`, and waits for the keys of the same prefix
//! with a lower create revision to be deleted, driven by the store's events.
//!
//! - [`client`]: [`KvClient`], the one place every KV step of these services goes through;
//! - [`feed`]: [`EventFeed`], the store's committed revisions in order, without gaps;
//! - [`cancel`]: [`Cancel`], how a waiter learns that its caller went away;
//! - [`wait`]: etcd's `waitDeletes`;
//! - [`election`] and [`mutex`]: etcd's `Election` and `Mutex` operations, built from the
//!   txn parts of [`ops`];
//! - [`error`]: [`ConcurrencyError`], the answers these services fail with.
//!
//! One difference from etcd 3.5.1, on purpose: a waiter whose own key is deleted (its lease
//! expired or was revoked, or the key was deleted) stops waiting at once. etcd keeps waiting
//! for the lower keys first; its `Lock` then fails with `mutex: session is expired`, which is
//! what the embedded store answers at once, and its `Campaign` answers a leader key that no
//! longer exists, where the embedded store answers `election: not leader` (or
//! `etcdserver: requested lease not found` when the lease is gone).

pub mod cancel;
pub mod client;
pub mod election;
pub mod error;
pub mod feed;
pub mod mutex;
pub mod ops;
pub mod wait;

#[cfg(test)]
mod tests;

pub use cancel::{Cancel, CancelGuard};
pub use client::KvClient;
pub use error::ConcurrencyError;
pub use feed::EventFeed;

/// The TTL of the lease a session grants when a request names none (etcd's
/// `defaultSessionTTL`, seconds).
pub const SESSION_TTL: i64 = 60;

/// The key of the session with lease `lease` under `prefix` (which ends with `/`): the lease
/// id in lowercase hex, as Go's `%x` prints an `int64`.
pub fn session_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let hex = if lease < 0 {
        format!("-{:x}", lease.unsigned_abs())
    } else {
        format!("{lease:x}")
    };
    let mut key = prefix.to_vec();
    key.extend_from_slice(hex.as_bytes());
    key
}

/// `name` followed by `/`: the prefix of an election's or a lock's keys.
pub fn name_prefix(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

/// The end of the range of every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte is 0xff: the range goes to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn session_keys_are_lease_ids_in_hex() {
        // etcd 3.5.1 client/v3/concurrency/election.go: fmt.Sprintf("%s%x", prefix, lease).
        assert_eq!(
            session_key(b"el/", 0x3cee_a22c_fc8b_cb05),
            b"el/3ceea22cfc8bcb05"
        );
        assert_eq!(session_key(b"/", 255), b"/ff");
        assert_eq!(session_key(b"x/", -1), b"x/-1");
    }

    #[test]
    fn prefix_ends_as_etcd() {
        assert_eq!(prefix_end(b"el/"), b"el0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
