//! The store's hashes, computed as etcd 3.5.1 computes them (`server/mvcc/kvstore.go`):
//! CRC-32 (Castagnoli) over etcd's on-disk form of the rows, so that `HashKV` of a store
//! equals etcd's after the same sequence of writes.
//!
//! etcd keeps every revision in its `key` bucket under a 17-byte key (8-byte big-endian main
//! revision, `_`, 8-byte big-endian sub revision, then `t` for a tombstone) with the
//! marshalled `mvccpb.KeyValue` as value; a tombstone's value carries only the key. The rows
//! here are rewritten into that form before they are hashed.

use std::collections::HashSet;

use prost::Message;

use super::errors::EtcdError;
use super::key_index::Revision;
use super::storage::Row;
use crate::mvccpb::KeyValue;

/// The name of etcd's bucket of revisions, hashed first.
const KEY_BUCKET: &[u8] = b"key";
/// The name of etcd's bucket of leases.
const LEASE_BUCKET: &[u8] = b"lease";
/// The name of etcd's bucket of meta values.
const META_BUCKET: &[u8] = b"meta";

/// etcd's bucket key of a revision: main, `_`, sub (big-endian), and `t` if a tombstone.
pub fn etcd_revision_key(rev: Revision, tombstone: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(18);
    key.extend_from_slice(&(rev.main as u64).to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&(rev.sub as u64).to_be_bytes());
    if tombstone {
        key.push(b't');
    }
    key
}

/// etcd's bucket value of a row: the marshalled key-value (only the key for a tombstone).
pub fn etcd_row_value(tombstone: bool, kv: &KeyValue) -> Vec<u8> {
    if tombstone {
        KeyValue {
            key: kv.key.clone(),
            ..KeyValue::default()
        }
        .encode_to_vec()
    } else {
        kv.encode_to_vec()
    }
}

/// Which rows `HashKV` covers (etcd's `HashByRev`): revisions up to `revision`; at or below
/// the compaction revision only those in `keep` (what a compaction at `revision` would
/// keep), unless `keep` is empty.
#[derive(Clone, Debug)]
pub struct HashScope {
    /// The highest main revision hashed.
    pub revision: i64,
    /// The compaction revision (-1 if never compacted).
    pub compact_revision: i64,
    /// The revisions a compaction at `revision` would keep.
    pub keep: HashSet<Revision>,
}

impl HashScope {
    fn covers(&self, rev: Revision) -> bool {
        if rev.main > self.revision {
            return false;
        }
        rev.main > self.compact_revision || self.keep.is_empty() || self.keep.contains(&rev)
    }
}

/// `HashKV`'s hash of `rows` (in revision order): CRC-32C over the bucket name `key`, then
/// each covered row's etcd key and value.
pub fn hash_kv(
    rows: impl Iterator<Item = Result<Row, EtcdError>>,
    scope: &HashScope,
) -> Result<u32, EtcdError> {
    let mut crc = crc32c::crc32c(KEY_BUCKET);
    for row in rows {
        let (rev, tombstone, kv) = row?;
        if rev.main > scope.revision {
            break;
        }
        if scope.covers(rev) {
            crc = crc32c::crc32c_append(crc, &etcd_revision_key(rev, tombstone));
            crc = crc32c::crc32c_append(crc, &etcd_row_value(tombstone, &kv));
        }
    }
    Ok(crc)
}

/// `Hash`'s hash of the whole store. etcd hashes every bucket of its bbolt file; this store's
/// file differs, so this hashes what it holds in etcd's forms where they exist: the bucket
/// name `key` and every row as [`hash_kv`] writes them, then `lease` and every lease (id and
/// granted TTL, 8-byte big-endian each), then `meta` and every meta value (name, then the
/// 8-byte big-endian number). It changes with every change to the store and only then.
pub fn hash_all(
    rows: impl Iterator<Item = Result<Row, EtcdError>>,
    leases: &[(i64, i64)],
    meta: &[(String, i64)],
) -> Result<u32, EtcdError> {
    let mut crc = crc32c::crc32c(KEY_BUCKET);
    for row in rows {
        let (rev, tombstone, kv) = row?;
        crc = crc32c::crc32c_append(crc, &etcd_revision_key(rev, tombstone));
        crc = crc32c::crc32c_append(crc, &etcd_row_value(tombstone, &kv));
    }
    crc = crc32c::crc32c_append(crc, LEASE_BUCKET);
    for (id, ttl) in leases {
        crc = crc32c::crc32c_append(crc, &id.to_be_bytes());
        crc = crc32c::crc32c_append(crc, &ttl.to_be_bytes());
    }
    crc = crc32c::crc32c_append(crc, META_BUCKET);
    for (name, value) in meta {
        crc = crc32c::crc32c_append(crc, name.as_bytes());
        crc = crc32c::crc32c_append(crc, &value.to_be_bytes());
    }
    Ok(crc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(main: i64, sub: i64, key: &str, version: i64) -> Result<Row, EtcdError> {
        Ok((
            Revision::new(main, sub),
            false,
            KeyValue {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                create_revision: main,
                mod_revision: main,
                version,
                lease: 0,
            },
        ))
    }

    #[test]
    fn revision_keys_are_etcds() {
        assert_eq!(
            etcd_revision_key(Revision::new(2, 1), false),
            b"\0\0\0\0\0\0\0\x02_\0\0\0\0\0\0\0\x01".to_vec()
        );
        assert_eq!(
            etcd_revision_key(Revision::new(2, 1), true).last(),
            Some(&b't')
        );
    }

    #[test]
    fn tombstone_values_carry_only_the_key() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            mod_revision: 5,
            ..KeyValue::default()
        };
        // mvccpb.KeyValue{Key: "k"} marshalled by gogo: field 1, length 1, "k".
        assert_eq!(etcd_row_value(true, &kv), vec![0x0a, 0x01, b'k']);
    }

    #[test]
    fn an_empty_store_hashes_the_bucket_name() {
        let scope = HashScope {
            revision: 1,
            compact_revision: -1,
            keep: HashSet::new(),
        };
        let hash = hash_kv(std::iter::empty(), &scope).unwrap();
        assert_eq!(hash, crc32c::crc32c(b"key"));
    }

    #[test]
    fn rows_above_the_revision_and_compacted_rows_outside_keep_are_skipped() {
        let rows = || vec![put(2, 0, "a", 1), put(3, 0, "b", 1), put(4, 0, "a", 2)];
        let all = HashScope {
            revision: 4,
            compact_revision: -1,
            keep: HashSet::new(),
        };
        let upto3 = HashScope {
            revision: 3,
            ..all.clone()
        };
        let only_first_two = hash_kv(rows().into_iter().take(2), &all).unwrap();
        assert_eq!(hash_kv(rows().into_iter(), &upto3).unwrap(), only_first_two);
        let compacted = HashScope {
            revision: 4,
            compact_revision: 3,
            keep: HashSet::from([Revision::new(3, 0)]),
        };
        let without_first = hash_kv(rows().into_iter().skip(1), &all).unwrap();
        assert_eq!(
            hash_kv(rows().into_iter(), &compacted).unwrap(),
            without_first
        );
    }
}
