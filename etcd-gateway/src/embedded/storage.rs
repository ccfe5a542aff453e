//! The storage layer, and the only module that knows redb: one database file,
//! `<data-dir>/db`, read through a [`ReadTx`] and written through a [`WriteBatch`] (as etcd's
//! `backend` package is the only one touching bbolt, with its read and batch transactions).
//! It knows rows, leases and meta values; what they mean is up to the layers above.
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
//! - `alarm`: key = an alarm as the layers above encode it (etcd's alarm bucket keeps the
//!   marshalled `AlarmMember`), no value.
//! - `auth`: the auth store's flags, [`AUTH_ENABLED`] (0 or 1) and [`AUTH_REVISION`];
//!   `auth_users` and `auth_roles`: name to the protobuf encoding of `authpb::User` /
//!   `authpb::Role` (etcd's `authUsers` and `authRoles` buckets). Written with
//!   [`WriteBatch::apply_auth`], read with [`ReadTx::auth`].
//!
//! [`WriteBatch::commit`] commits with redb's default durability (fsync). redb refuses every
//! operation after an I/O error (a full disk, say) until the database is opened again:
//! [`Storage::reopen`] does that. I/O errors of a full disk become [`EtcdError::StorageFull`].

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use prost::Message;
use redb::backends::InMemoryBackend;
use redb::{
    CompactionError, Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    Table, TableDefinition, WriteTransaction,
};

use super::errors::EtcdError;
use super::key_index::Revision;
use crate::mvccpb::KeyValue;

/// Revision-ordered history of every key.
const KV_TABLE: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("kv");
/// The granted leases: id to granted TTL in seconds.
const LEASE_TABLE: TableDefinition<i64, i64> = TableDefinition::new("lease");
/// The auth store's flags: enabled, revision.
const AUTH_TABLE: TableDefinition<&str, u64> = TableDefinition::new("auth");
/// The auth users: name to encoded `authpb::User`.
const AUTH_USERS_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("auth_users");
/// The auth roles: name to encoded `authpb::Role`.
const AUTH_ROLES_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("auth_roles");
/// Named numbers of the store.
const META_TABLE: TableDefinition<&str, i64> = TableDefinition::new("meta");
/// The active alarms, one encoded alarm per key.
const ALARM_TABLE: TableDefinition<&[u8], ()> = TableDefinition::new("alarm");

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

/// Whether auth is enabled (1) or not (0), in the `auth` table.
pub const AUTH_ENABLED: &str = "authEnabled";
/// The auth store's revision, in the `auth` table.
pub const AUTH_REVISION: &str = "authRevision";

/// What the `auth` tables hold, as [`ReadTx::auth`] reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthRecords {
    /// Whether auth is enabled.
    pub enabled: bool,
    /// The recorded auth revision (0: never recorded).
    pub revision: u64,
    /// (name, encoded `authpb::User`) in name order.
    pub users: Vec<(Vec<u8>, Vec<u8>)>,
    /// (name, encoded `authpb::Role`) in name order.
    pub roles: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One change of the `auth` tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthChange {
    /// Writes the user `name` (its encoded `authpb::User`).
    PutUser(Vec<u8>, Vec<u8>),
    /// Removes the user `name`.
    DeleteUser(Vec<u8>),
    /// Writes the role `name` (its encoded `authpb::Role`).
    PutRole(Vec<u8>, Vec<u8>),
    /// Removes the role `name`.
    DeleteRole(Vec<u8>),
    /// Records whether auth is enabled.
    Enabled(bool),
    /// Records the auth revision.
    Revision(u64),
}

impl AuthChange {
    /// The bytes this change writes (for the request size limits).
    pub fn written_bytes(&self) -> usize {
        match self {
            Self::PutUser(name, value) | Self::PutRole(name, value) => name.len() + value.len(),
            Self::DeleteUser(name) | Self::DeleteRole(name) => name.len(),
            Self::Enabled(_) | Self::Revision(_) => 8,
        }
    }
}

/// Tag of a row holding a put.
pub const ROW_PUT: u8 = 0;
/// Tag of a row holding a deletion.
pub const ROW_TOMBSTONE: u8 = 1;

/// One row of the `kv` table: its revision, whether it is a deletion, and the key-value.
pub type Row = (Revision, bool, KeyValue);

/// The database file inside a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
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

/// Reads rows by revision, from a [`ReadTx`] or inside a [`WriteBatch`].
pub trait RowSource {
    /// The row at `rev`: (is tombstone, key-value).
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

fn read_row(
    table: &impl ReadableTable<&'static [u8; 16], &'static [u8]>,
    rev: Revision,
) -> Result<Option<(bool, KeyValue)>, EtcdError> {
    match table.get(&rev.to_bytes())? {
        Some(guard) => decode_row(guard.value()).map(Some),
        None => Ok(None),
    }
}

/// The database of a data directory, with the ids recorded in it.
///
/// Transactions begin under a shared lock on the database; [`Storage::reopen`] (to replace
/// it) and [`Storage::defragment`] (while the file is rewritten) take it exclusively.
#[derive(Debug)]
pub struct Storage {
    db: RwLock<Database>,
    path: PathBuf,
    member_id: u64,
    cluster_id: u64,
}

impl Storage {
    /// Opens (creating if needed) the database of `data_dir`; on first start creates the
    /// tables and chooses the member and cluster ids.
    pub fn open(data_dir: &Path) -> Result<Self, EtcdError> {
        std::fs::create_dir_all(data_dir).map_err(EtcdError::storage)?;
        let path = db_path(data_dir);
        let db = Database::create(&path)?;
        let txn = db.begin_write()?;
        let (member_id, cluster_id) = {
            let mut meta = txn.open_table(META_TABLE)?;
            txn.open_table(KV_TABLE)?;
            txn.open_table(LEASE_TABLE)?;
            txn.open_table(ALARM_TABLE)?;
            txn.open_table(AUTH_TABLE)?;
            txn.open_table(AUTH_USERS_TABLE)?;
            txn.open_table(AUTH_ROLES_TABLE)?;
            let schema = meta.get(META_SCHEMA)?.map(|guard| guard.value());
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
        Ok(Self {
            db: RwLock::new(db),
            path,
            member_id,
            cluster_id,
        })
    }

    fn database(&self) -> RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the database and opens its file again (redb repairs it if the last commit did
    /// not complete): what makes it usable after an I/O error. Must not be called while a
    /// [`WriteBatch`] is alive; reads begun before it fail.
    pub fn reopen(&self) -> Result<(), EtcdError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The file stays locked while its database is open: hold an empty in-memory one
        // in its place meanwhile (and if the file cannot be opened again).
        let placeholder = Database::builder().create_with_backend(InMemoryBackend::new())?;
        let old = std::mem::replace(&mut *db, placeholder);
        if let Err(err) = old.close() {
            tracing::debug!(error = %err, "closing the failed database");
        }
        *db = Database::create(&self.path)?;
        Ok(())
    }

    /// The size of the database file in bytes (etcd's backend `Size`, which the quota is
    /// checked against).
    pub fn file_size(&self) -> Result<u64, EtcdError> {
        Ok(std::fs::metadata(&self.path)
            .map_err(EtcdError::storage)?
            .len())
    }

    /// This member's id.
    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// The cluster's id.
    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// A consistent read of what is committed now.
    pub fn read(&self) -> Result<ReadTx, EtcdError> {
        let txn = self.database().begin_read()?;
        let rows = txn.open_table(KV_TABLE)?;
        Ok(ReadTx { txn, rows })
    }

    /// A write transaction; nothing of it is visible or durable before
    /// [`WriteBatch::commit`].
    pub fn batch(&self) -> Result<WriteBatch, EtcdError> {
        Ok(WriteBatch {
            txn: self.database().begin_write()?,
        })
    }

    /// The bytes of the database file its committed data occupies (allocated pages): what
    /// etcd reports as `dbSizeInUse`. Waits for a write transaction in progress.
    pub fn size_in_use(&self) -> Result<u64, EtcdError> {
        let txn = self.database().begin_write()?;
        let stats = txn.stats()?;
        txn.abort()?;
        Ok(stats.allocated_pages() * stats.page_size() as u64)
    }

    /// Rewrites the database file without its free pages and shrinks it (etcd's
    /// defragmentation). No transaction begins meanwhile; the ones in progress get up to
    /// `wait` to end, after which it fails and changes nothing.
    pub fn defragment(&self, wait: Duration) -> Result<(), EtcdError> {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let deadline = Instant::now() + wait;
        loop {
            match db.compact() {
                Ok(_) => return Ok(()),
                Err(CompactionError::TransactionInProgress) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(err) => return Err(EtcdError::storage(err)),
            }
        }
    }

    /// Writes a consistent copy of every table, as committed now, into a new database file
    /// at `path` (which must not exist); the copy opens as a data directory's `db`.
    pub fn copy_to(&self, path: &Path) -> Result<(), EtcdError> {
        let source = self.database().begin_read()?;
        if path.exists() {
            return Err(EtcdError::storage(format!(
                "{} already exists",
                path.display()
            )));
        }
        let copy = Database::create(path)?;
        let txn = copy.begin_write()?;
        {
            copy_table(&source, &txn, KV_TABLE)?;
            copy_table(&source, &txn, LEASE_TABLE)?;
            copy_table(&source, &txn, META_TABLE)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Gives the database new random member and cluster ids (a restored snapshot is a new
    /// cluster, as after `etcdutl snapshot restore`); returns (member id, cluster id).
    pub fn reset_ids(&mut self) -> Result<(u64, u64), EtcdError> {
        let txn = self.database().begin_write()?;
        let ids = {
            let mut meta = txn.open_table(META_TABLE)?;
            meta.remove(META_MEMBER_ID)?;
            meta.remove(META_CLUSTER_ID)?;
            (
                get_or_insert_id(&mut meta, META_MEMBER_ID)?,
                get_or_insert_id(&mut meta, META_CLUSTER_ID)?,
            )
        };
        txn.commit()?;
        (self.member_id, self.cluster_id) = ids;
        Ok(ids)
    }
}

/// Copies every entry of `table` from `source` into `target`.
fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    source: &ReadTransaction,
    target: &WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), EtcdError> {
    let from = source.open_table(table)?;
    let mut to = target.open_table(table)?;
    for entry in from.iter()? {
        let (key, value) = entry?;
        to.insert(key.value(), value.value())?;
    }
    Ok(())
}

fn get_or_insert_id(meta: &mut Table<&str, i64>, name: &str) -> Result<u64, EtcdError> {
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
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        let id = hasher.finish();
        if id != 0 {
            return id;
        }
    }
}

/// A read transaction: a snapshot of the committed rows, leases and meta values.
pub struct ReadTx {
    txn: ReadTransaction,
    rows: ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
}

impl ReadTx {
    /// The recorded (current revision, compaction revision), each `None` if never recorded.
    pub fn recorded_revisions(&self) -> Result<(Option<i64>, Option<i64>), EtcdError> {
        let meta = self.txn.open_table(META_TABLE)?;
        let current = meta.get(META_CURRENT_REV)?.map(|guard| guard.value());
        let compact = meta.get(META_COMPACT_REV)?.map(|guard| guard.value());
        Ok((current, compact))
    }

    /// The rows from revision `from` on, in revision order.
    pub fn rows_from(&self, from: Revision) -> Result<Rows, EtcdError> {
        let start = from.to_bytes();
        Ok(Rows {
            range: self.rows.range::<&[u8; 16]>(&start..)?,
        })
    }

    /// The recorded alarms, as encoded by [`WriteBatch::replace_alarms`], in key order.
    pub fn alarms(&self) -> Result<Vec<Vec<u8>>, EtcdError> {
        let table = match self.txn.open_table(ALARM_TABLE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        };
        let mut alarms = Vec::new();
        for entry in table.iter()? {
            alarms.push(entry?.0.value().to_vec());
        }
        Ok(alarms)
    }

    /// Every meta value: (name, value) in name order.
    pub fn meta(&self) -> Result<Vec<(String, i64)>, EtcdError> {
        let table = self.txn.open_table(META_TABLE)?;
        let mut values = Vec::new();
        for entry in table.iter()? {
            let (name, value) = entry?;
            values.push((name.value().to_owned(), value.value()));
        }
        Ok(values)
    }

    /// The recorded leases: (id, granted TTL) in id order.
    pub fn leases(&self) -> Result<Vec<(i64, i64)>, EtcdError> {
        let table = self.txn.open_table(LEASE_TABLE)?;
        let mut leases = Vec::new();
        for entry in table.iter()? {
            let (id, ttl) = entry?;
            leases.push((id.value(), ttl.value()));
        }
        Ok(leases)
    }
}

impl ReadTx {
    /// The auth flags, users and roles.
    pub fn auth(&self) -> Result<AuthRecords, EtcdError> {
        let flags = self.txn.open_table(AUTH_TABLE)?;
        let enabled = flags
            .get(AUTH_ENABLED)?
            .is_some_and(|guard| guard.value() == 1);
        let revision = flags.get(AUTH_REVISION)?.map_or(0, |guard| guard.value());
        let mut records = AuthRecords {
            enabled,
            revision,
            ..AuthRecords::default()
        };
        for (definition, out) in [
            (AUTH_USERS_TABLE, &mut records.users),
            (AUTH_ROLES_TABLE, &mut records.roles),
        ] {
            for entry in self.txn.open_table(definition)?.iter()? {
                let (name, value) = entry?;
                out.push((name.value().to_vec(), value.value().to_vec()));
            }
        }
        Ok(records)
    }
}

impl RowSource for ReadTx {
    fn row(&self, rev: Revision) -> Result<Option<(bool, KeyValue)>, EtcdError> {
        read_row(&self.rows, rev)
    }
}

/// Rows in revision order, from [`ReadTx::rows_from`].
pub struct Rows {
    range: redb::Range<'static, &'static [u8; 16], &'static [u8]>,
}

impl Iterator for Rows {
    type Item = Result<Row, EtcdError>;

    fn next(&mut self) -> Option<Self::Item> {
        let entry = self.range.next()?;
        Some(entry.map_err(EtcdError::from).and_then(|(key, value)| {
            let rev = Revision::from_bytes(key.value());
            let (tombstone, kv) = decode_row(value.value())?;
            Ok((rev, tombstone, kv))
        }))
    }
}

/// A write transaction (etcd's batch transaction): row, lease and meta changes that become
/// durable together on [`WriteBatch::commit`].
pub struct WriteBatch {
    txn: WriteTransaction,
}

impl WriteBatch {
    /// The `kv` table, for reading and writing rows; one at a time.
    pub fn rows(&self) -> Result<RowWriter<'_>, EtcdError> {
        Ok(RowWriter {
            table: self.txn.open_table(KV_TABLE)?,
        })
    }

    /// Records lease `id` with its granted TTL.
    pub fn put_lease(&self, id: i64, ttl: i64) -> Result<(), EtcdError> {
        self.txn.open_table(LEASE_TABLE)?.insert(id, ttl)?;
        Ok(())
    }

    /// Removes lease `id`.
    pub fn remove_lease(&self, id: i64) -> Result<(), EtcdError> {
        self.txn.open_table(LEASE_TABLE)?.remove(id)?;
        Ok(())
    }

    /// Replaces the recorded alarms with `alarms` (each an encoded alarm).
    pub fn replace_alarms(&self, alarms: &[Vec<u8>]) -> Result<(), EtcdError> {
        let mut table = self.txn.open_table(ALARM_TABLE)?;
        table.retain(|_, ()| false)?;
        for alarm in alarms {
            table.insert(alarm.as_slice(), ())?;
        }
        Ok(())
    }

    /// Applies changes of the `auth` tables, in order.
    pub fn apply_auth(&self, changes: &[AuthChange]) -> Result<(), EtcdError> {
        let mut flags = self.txn.open_table(AUTH_TABLE)?;
        let mut users = self.txn.open_table(AUTH_USERS_TABLE)?;
        let mut roles = self.txn.open_table(AUTH_ROLES_TABLE)?;
        for change in changes {
            match change {
                AuthChange::PutUser(name, value) => {
                    users.insert(name.as_slice(), value.as_slice())?;
                }
                AuthChange::DeleteUser(name) => {
                    users.remove(name.as_slice())?;
                }
                AuthChange::PutRole(name, value) => {
                    roles.insert(name.as_slice(), value.as_slice())?;
                }
                AuthChange::DeleteRole(name) => {
                    roles.remove(name.as_slice())?;
                }
                AuthChange::Enabled(enabled) => {
                    flags.insert(AUTH_ENABLED, u64::from(*enabled))?;
                }
                AuthChange::Revision(revision) => {
                    flags.insert(AUTH_REVISION, *revision)?;
                }
            }
        }
        Ok(())
    }

    /// Records the current revision and, if given, a new compaction revision.
    pub fn record_revisions(&self, current: i64, compacted: Option<i64>) -> Result<(), EtcdError> {
        let mut meta = self.txn.open_table(META_TABLE)?;
        meta.insert(META_CURRENT_REV, current)?;
        if let Some(compact) = compacted {
            meta.insert(META_COMPACT_REV, compact)?;
        }
        Ok(())
    }

    /// Commits durably (fsync).
    pub fn commit(self) -> Result<(), EtcdError> {
        Ok(self.txn.commit()?)
    }

    /// Drops every change.
    pub fn abort(self) -> Result<(), EtcdError> {
        Ok(self.txn.abort()?)
    }
}

/// The `kv` table inside a [`WriteBatch`].
pub struct RowWriter<'batch> {
    table: Table<'batch, &'static [u8; 16], &'static [u8]>,
}

impl RowWriter<'_> {
    /// Writes the row at `rev`.
    pub fn insert(
        &mut self,
        rev: Revision,
        tombstone: bool,
        kv: &KeyValue,
    ) -> Result<(), EtcdError> {
        self.table
            .insert(&rev.to_bytes(), encode_row(tombstone, kv).as_slice())?;
        Ok(())
    }

    /// Removes the row at `rev`.
    pub fn remove(&mut self, rev: Revision) -> Result<(), EtcdError> {
        self.table.remove(&rev.to_bytes())?;
        Ok(())
    }

    /// Removes the rows of main revisions up to `through` that `keep` rejects.
    pub fn retain_through(
        &mut self,
        through: i64,
        mut keep: impl FnMut(Revision) -> bool,
    ) -> Result<(), EtcdError> {
        let end = Revision::new(through + 1, 0).to_bytes();
        self.table
            .retain_in::<&[u8; 16], _>(..&end, |key, _| keep(Revision::from_bytes(key)))?;
        Ok(())
    }
}

impl RowSource for RowWriter<'_> {
    fn row(&self, rev: Revision) -> Result<Option<(bool, KeyValue)>, EtcdError> {
        read_row(&self.table, rev)
    }
}

macro_rules! storage_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for EtcdError {
            fn from(err: $error) -> Self {
                Self::storage(err)
            }
        }
    )*};
}

storage_errors!(
    redb::TableError,
    redb::TransactionError,
    redb::CompactionError
);

/// Whether `err` says the disk (or the user's disk quota) is full.
fn is_disk_full(err: &std::io::Error) -> bool {
    /// Linux's ENOSPC and EDQUOT.
    const FULL_ERRNOS: [i32; 2] = [28, 122];
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || err
        .raw_os_error()
        .is_some_and(|code| FULL_ERRNOS.contains(&code))
}

/// The error for a redb failure that may be an I/O error (`io`).
fn io_failure(io: Option<&std::io::Error>, err: impl fmt::Display) -> EtcdError {
    if io.is_some_and(is_disk_full) {
        EtcdError::StorageFull(err.to_string())
    } else {
        EtcdError::storage(err)
    }
}

fn storage_io(err: &redb::StorageError) -> Option<&std::io::Error> {
    match err {
        redb::StorageError::Io(io) => Some(io),
        _ => None,
    }
}

impl From<redb::StorageError> for EtcdError {
    fn from(err: redb::StorageError) -> Self {
        io_failure(storage_io(&err), &err)
    }
}

impl From<redb::CommitError> for EtcdError {
    fn from(err: redb::CommitError) -> Self {
        let io = match &err {
            redb::CommitError::Storage(storage) => storage_io(storage),
            _ => None,
        };
        io_failure(io, &err)
    }
}

impl From<redb::DatabaseError> for EtcdError {
    fn from(err: redb::DatabaseError) -> Self {
        let io = match &err {
            redb::DatabaseError::Storage(storage) => storage_io(storage),
            _ => None,
        };
        io_failure(io, &err)
    }
}

impl From<redb::Error> for EtcdError {
    fn from(err: redb::Error) -> Self {
        let io = match &err {
            redb::Error::Io(io) => Some(io),
            _ => None,
        };
        io_failure(io, &err)
    }
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
}
