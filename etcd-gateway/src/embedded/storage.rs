//! The durable part of the store: one redb database file, `<data-dir>/db`.
//!
//! Tables:
//! - `kv`: key = [`Revision::to_bytes`] (main then sub revision, big-endian, so the table is
//!   in revision order), value = one tag byte ([`ROW_PUT`] or [`ROW_TOMBSTONE`]) followed by
//!   the protobuf encoding of the `mvccpb::KeyValue` written at that revision. A tombstone's
//!   KeyValue carries only the key and its `mod_revision`.
//! - `meta`: named `i64` values: [`META_CURRENT_REV`], [`META_COMPACT_REV`], the member and
//!   cluster ids ([`META_MEMBER_ID`], [`META_CLUSTER_ID`]) and [`META_SCHEMA`].
//! - `lease`: key = lease id, value = the TTL it was granted with (seconds). The remaining
//!   time is not stored: after a restart every lease starts a full TTL again.
//!
//! Every write transaction is committed with redb's default durability (fsync) before any
//! caller learns of its result.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::errors::EtcdError;
use super::key_index::{Revision, TreeIndex};
use crate::mvccpb::KeyValue;

/// Revision-ordered history of every key.
pub const KV_TABLE: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("kv");
/// The granted leases: id to granted TTL in seconds.
pub const LEASE_TABLE: TableDefinition<i64, i64> = TableDefinition::new("lease");
/// Named numbers of the store.
pub const META_TABLE: TableDefinition<&str, i64> = TableDefinition::new("meta");

/// The store revision after the last committed write.
pub const META_CURRENT_REV: &str = "current_revision";
/// The revision of the last compaction (absent: never compacted).
pub const META_COMPACT_REV: &str = "compact_revision";
/// This member's id, chosen at random when the data directory is created.
pub const META_MEMBER_ID: &str = "member_id";
/// The cluster's id, chosen at random when the data directory is created.
pub const META_CLUSTER_ID: &str = "cluster_id";
/// The layout version of the tables.
pub const META_SCHEMA: &str = "schema_version";
/// The layout described above.
pub const SCHEMA_VERSION: i64 = 1;

/// Tag of a row holding a put.
pub const ROW_PUT: u8 = 0;
/// Tag of a row holding a deletion.
pub const ROW_TOMBSTONE: u8 = 1;

/// The database file inside a data directory.
pub fn db_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("db")
}

/// Encodes a `kv` row.
pub fn encode_row(tombstone: bool, kv: &KeyValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + kv.encoded_len());
    out.push(if tombstone { ROW_TOMBSTONE } else { ROW_PUT });
    kv.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// Decodes a `kv` row into (is tombstone, key-value).
pub fn decode_row(row: &[u8]) -> Result<(bool, KeyValue), EtcdError> {
    let (&tag, body) = row
        .split_first()
        .ok_or_else(|| EtcdError::storage("empty kv row"))?;
    let tombstone = match tag {
        ROW_PUT => false,
        ROW_TOMBSTONE => true,
        other => return Err(EtcdError::storage(format!("unknown kv row tag {other}"))),
    };
    let kv = KeyValue::decode(body).map_err(EtcdError::storage)?;
    Ok((tombstone, kv))
}

/// Reads rows by revision from a redb table, read-only or inside a write transaction.
pub trait RowSource {
    /// The row at `rev`.
    fn row(&self, rev: Revision) -> Result<Option<(bool, KeyValue)>, EtcdError>;

    /// The key-value written at `rev`, which the index says exists.
    fn kv(&self, rev: Revision) -> Result<KeyValue, EtcdError> {
        match self.row(rev)? {
            Some((_, kv)) => Ok(kv),
            None => Err(EtcdError::storage(format!(
                "revision {}.{} is in the index but not in storage",
                rev.main, rev.sub
            ))),
        }
    }
}

impl<T> RowSource for T
where
    T: ReadableTable<&'static [u8; 16], &'static [u8]>,
{
    fn row(&self, rev: Revision) -> Result<Option<(bool, KeyValue)>, EtcdError> {
        let bytes = rev.to_bytes();
        match self.get(&bytes)? {
            Some(guard) => decode_row(guard.value()).map(Some),
            None => Ok(None),
        }
    }
}

/// What a data directory holds, read at start.
pub struct Loaded {
    /// The open database.
    pub db: Database,
    /// The rebuilt key index.
    pub index: TreeIndex,
    /// The store revision.
    pub current_rev: i64,
    /// The last compaction revision, -1 if none.
    pub compact_rev: i64,
    /// This member's id.
    pub member_id: u64,
    /// The cluster's id.
    pub cluster_id: u64,
}

/// Opens (creating if needed) the database of `data_dir`, creates the tables and ids on first
/// start, and rebuilds the index.
pub fn open(data_dir: &Path) -> Result<Loaded, EtcdError> {
    std::fs::create_dir_all(data_dir).map_err(EtcdError::storage)?;
    let db = Database::create(db_path(data_dir))?;
    let txn = db.begin_write()?;
    let (member_id, cluster_id) = {
        let mut meta = txn.open_table(META_TABLE)?;
        txn.open_table(KV_TABLE)?;
        txn.open_table(LEASE_TABLE)?;
        let schema = meta.get(META_SCHEMA)?.map(|v| v.value());
        match schema {
            None => {
                meta.insert(META_SCHEMA, SCHEMA_VERSION)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(other) => {
                return Err(EtcdError::storage(format!(
                    "unsupported data layout version {other}"
                )));
            }
        }
        let member_id = get_or_insert_id(&mut meta, META_MEMBER_ID)?;
        let cluster_id = get_or_insert_id(&mut meta, META_CLUSTER_ID)?;
        (member_id, cluster_id)
    };
    txn.commit()?;
    let (index, current_rev, compact_rev) = load_index(&db)?;
    Ok(Loaded {
        db,
        index,
        current_rev,
        compact_rev,
        member_id,
        cluster_id,
    })
}

fn get_or_insert_id(meta: &mut redb::Table<&str, i64>, name: &str) -> Result<u64, EtcdError> {
    if let Some(id) = meta.get(name)? {
        return Ok(id.value() as u64);
    }
    let id = random_id();
    meta.insert(name, id as i64)?;
    Ok(id)
}

/// A random non-zero id.
pub(crate) fn random_id() -> u64 {
    loop {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        let id = hasher.finish();
        if id != 0 {
            return id;
        }
    }
}

/// Rebuilds the index from the committed rows; returns it with the current and compaction
/// revisions.
pub fn load_index(db: &Database) -> Result<(TreeIndex, i64, i64), EtcdError> {
    let txn = db.begin_read()?;
    let meta = txn.open_table(META_TABLE)?;
    let compact_rev = meta.get(META_COMPACT_REV)?.map_or(-1, |v| v.value());
    let mut current_rev = meta.get(META_CURRENT_REV)?.map_or(1, |v| v.value());
    let table = txn.open_table(KV_TABLE)?;
    let mut index = TreeIndex::default();
    for row in table.range::<&[u8; 16]>(..)? {
        let (key, value) = row?;
        let rev = Revision::from_bytes(key.value());
        let (tombstone, kv) = decode_row(value.value())?;
        index.restore_row(&kv.key, rev, tombstone, kv.create_revision, kv.version);
        current_rev = current_rev.max(rev.main);
    }
    Ok((index, current_rev.max(compact_rev), compact_rev))
}

/// The live keys attached to each lease at `rev`, read from the latest row of every key.
pub fn load_lease_keys(
    db: &Database,
    index: &TreeIndex,
    rev: i64,
) -> Result<crate::embedded::mvcc::LeaseKeys, EtcdError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(KV_TABLE)?;
    let mut out = crate::embedded::mvcc::LeaseKeys::new();
    for (key, at) in index.keys(super::key_index::KeyRange::From(&[]), rev) {
        let kv = table.kv(at.modified)?;
        if kv.lease != 0 {
            out.entry(kv.lease).or_default().insert(key);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 7,
        };
        assert_eq!(
            decode_row(&encode_row(false, &kv)).unwrap(),
            (false, kv.clone())
        );
        assert_eq!(decode_row(&encode_row(true, &kv)).unwrap(), (true, kv));
        assert!(decode_row(&[]).is_err());
        assert!(decode_row(&[9]).is_err());
    }

    #[test]
    fn ids_are_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path()).unwrap();
        assert_ne!(first.member_id, 0);
        assert_ne!(first.cluster_id, 0);
        assert_eq!((first.current_rev, first.compact_rev), (1, -1));
        let (member, cluster) = (first.member_id, first.cluster_id);
        drop(first);
        let again = open(dir.path()).unwrap();
        assert_eq!((again.member_id, again.cluster_id), (member, cluster));
        assert!(db_path(dir.path()).is_file());
    }
}
