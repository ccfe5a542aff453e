//! The MVCC store: the key index in memory, the rows in redb, one writer thread.
//!
//! Reads (ranges, read-only txns, history) run on the caller's thread against the published
//! revision: they take the index read lock, open a redb read transaction and never see a
//! revision that is not committed.
//!
//! Writes (put, delete-range, write txns, compaction) are queued to the writer thread. It
//! takes every request waiting, applies them in order in one redb write transaction (each
//! request that changes something gets its own revision), commits it durably, publishes the
//! new revision, sends the events and only then answers the requests: concurrent clients
//! share one fsync (group commit).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::{broadcast, oneshot};

use super::apply::{self, LeaseLookup, NoLeases, ReadOnly, ReadView, WriteCtx, rev_header};
use super::errors::EtcdError;
use super::key_index::{Revision, TreeIndex};
use super::storage::{
    self, KV_TABLE, LEASE_TABLE, META_COMPACT_REV, META_CURRENT_REV, META_TABLE, decode_row,
};
use super::validate::is_txn_readonly;
use crate::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use crate::mvccpb::{Event, event::EventType};

/// The raft term reported in headers: what a freshly started single-member etcd reports.
pub const RAFT_TERM: u64 = 2;

/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 3 * 512 * 1024;

/// Bytes etcd adds around a request when it proposes it (request header and framing).
const PROPOSAL_OVERHEAD: usize = 16;

/// Tuning of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Write requests whose proposal would be larger fail with `request is too large`.
    pub max_request_bytes: usize,
    /// The most write requests committed together.
    pub max_batch: usize,
    /// No more requests join a batch once their encoded sizes add up to this.
    pub max_batch_bytes: usize,
    /// How many committed revisions a slow event subscriber may fall behind.
    pub event_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_batch: 1024,
            max_batch_bytes: 16 << 20,
            event_capacity: 4096,
        }
    }
}

/// The events of one committed revision, in the order of the changes.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionEvents {
    /// The revision.
    pub revision: i64,
    /// One event per changed key; each carries the previous key-value if there was one.
    pub events: Vec<Event>,
}

/// Revisions read back from storage by [`Store::history`].
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The revisions found, in order (revisions without changes left are absent).
    pub events: Vec<RevisionEvents>,
    /// The last revision this answer covers: continue from the one after it.
    pub through_revision: i64,
}

/// The live keys attached to each lease, in key order (the order etcd deletes them in).
pub(crate) type LeaseKeys = HashMap<i64, BTreeSet<Vec<u8>>>;

/// The state readers see.
struct Shared {
    index: TreeIndex,
    /// The last committed (published) revision.
    current_rev: i64,
    /// The last compaction revision, -1 if none.
    compact_rev: i64,
    /// The live keys of every lease that has some, kept up to date by the writer.
    lease_keys: LeaseKeys,
}

/// A queued write.
enum WriteOp {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
    /// Records a lease (id, granted TTL) in the lease table.
    LeaseGrant(i64, i64),
    /// Deletes the keys of a lease and its row in the lease table.
    LeaseRevoke(i64),
}

impl WriteOp {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Put(r) => r.encoded_len(),
            Self::Delete(r) => r.encoded_len(),
            Self::Txn(r) => r.encoded_len(),
            Self::Compact(r) => r.encoded_len(),
            Self::LeaseGrant(..) | Self::LeaseRevoke(_) => 16,
        }
    }
}

enum WriteResult {
    Put(PutResponse),
    Delete(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact(CompactionResponse),
    /// A lease operation, with the store revision after it.
    Lease(i64),
}

type Reply = oneshot::Sender<Result<WriteResult, EtcdError>>;

struct Job {
    op: WriteOp,
    reply: Reply,
}

struct Inner {
    db: Database,
    shared: RwLock<Shared>,
    events: broadcast::Sender<Arc<RevisionEvents>>,
    leases: RwLock<Arc<dyn LeaseLookup>>,
    failed: AtomicBool,
    failure: Mutex<String>,
    commits: AtomicU64,
    member_id: u64,
    cluster_id: u64,
}

/// A durable single-member etcd key-value store (see the module documentation).
pub struct Store {
    inner: Arc<Inner>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    options: StoreOptions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("member_id", &self.inner.member_id)
            .field("revision", &self.current_revision())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store of `data_dir` (creating it if needed) with default options.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, EtcdError> {
        Self::open_with(data_dir, StoreOptions::default())
    }

    /// Opens the store of `data_dir` (the database is `<data_dir>/db`).
    pub fn open_with(data_dir: impl AsRef<Path>, options: StoreOptions) -> Result<Self, EtcdError> {
        let loaded = storage::open(data_dir.as_ref())?;
        let lease_keys = storage::load_lease_keys(&loaded.db, &loaded.index, loaded.current_rev)?;
        let (events, _) = broadcast::channel(options.event_capacity.max(1));
        let inner = Arc::new(Inner {
            db: loaded.db,
            shared: RwLock::new(Shared {
                index: loaded.index,
                current_rev: loaded.current_rev,
                compact_rev: loaded.compact_rev,
                lease_keys,
            }),
            events,
            leases: RwLock::new(Arc::new(NoLeases)),
            failed: AtomicBool::new(false),
            failure: Mutex::new(String::new()),
            commits: AtomicU64::new(0),
            member_id: loaded.member_id,
            cluster_id: loaded.cluster_id,
        });
        let (jobs, queue) = mpsc::channel();
        let writer_inner = Arc::clone(&inner);
        let limits = (options.max_batch.max(1), options.max_batch_bytes);
        let writer = std::thread::Builder::new()
            .name("kv-store-writer".into())
            .spawn(move || writer_loop(&writer_inner, &queue, limits))
            .map_err(EtcdError::storage)?;
        Ok(Self {
            inner,
            jobs: Some(jobs),
            writer: Some(writer),
            options,
        })
    }

    /// This member's id (random on first start, then persisted).
    pub fn member_id(&self) -> u64 {
        self.inner.member_id
    }

    /// The cluster's id (random on first start, then persisted).
    pub fn cluster_id(&self) -> u64 {
        self.inner.cluster_id
    }

    /// The revision of the last committed write (1 for a new store).
    pub fn current_revision(&self) -> i64 {
        self.inner.read().current_rev
    }

    /// The revision of the last compaction, -1 if there was none.
    pub fn compact_revision(&self) -> i64 {
        self.inner.read().compact_rev
    }

    /// The number of durable commits so far (a commit may hold many writes).
    pub fn commit_count(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Replaces the lease lookup used to accept puts with a lease.
    pub fn set_lease_lookup(&self, leases: Arc<dyn LeaseLookup>) {
        *self
            .inner
            .leases
            .write()
            .unwrap_or_else(PoisonError::into_inner) = leases;
    }

    /// A full header: ids, raft term, and `revision`.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.inner.cluster_id,
            member_id: self.inner.member_id,
            revision,
            raft_term: RAFT_TERM,
        }
    }

    /// Completes a response header as etcd's server does: ids and term always, the current
    /// revision if none is set.
    pub fn fill_header(&self, header: &mut Option<ResponseHeader>) {
        let revision = header.as_ref().map_or(0, |h| h.revision);
        let revision = if revision == 0 {
            self.current_revision()
        } else {
            revision
        };
        *header = Some(self.header(revision));
    }

    /// Receives the events of every revision committed from now on, in order. A receiver that
    /// falls more than [`StoreOptions::event_capacity`] revisions behind gets
    /// [`broadcast::error::RecvError::Lagged`] and can catch up with [`Store::history`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<RevisionEvents>> {
        self.inner.events.subscribe()
    }

    /// etcd's Range. The header carries only the revision.
    pub fn range(&self, r: &RangeRequest) -> Result<RangeResponse, EtcdError> {
        self.inner.check_failed()?;
        let shared = self.inner.read();
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(KV_TABLE)?;
        apply::range(&shared.view(&table), r)
    }

    /// etcd's Put. The header carries only the revision.
    pub async fn put(&self, r: PutRequest) -> Result<PutResponse, EtcdError> {
        match self.submit(WriteOp::Put(r)).await? {
            WriteResult::Put(resp) => Ok(resp),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    /// etcd's DeleteRange. The header carries only the revision.
    pub async fn delete_range(
        &self,
        r: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError> {
        match self.submit(WriteOp::Delete(r)).await? {
            WriteResult::Delete(resp) => Ok(resp),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    /// etcd's Txn (already checked by [`super::validate::check_txn`]). A txn that only reads
    /// runs on the caller's thread; others go through the writer. The header carries only the
    /// revision.
    pub async fn txn(&self, r: TxnRequest) -> Result<TxnResponse, EtcdError> {
        if is_txn_readonly(&r) {
            return self.read_txn(&r);
        }
        match self.submit(WriteOp::Txn(r)).await? {
            WriteResult::Txn(resp) => Ok(resp),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    fn read_txn(&self, r: &TxnRequest) -> Result<TxnResponse, EtcdError> {
        self.inner.check_failed()?;
        let shared = self.inner.read();
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(KV_TABLE)?;
        apply::txn(&mut ReadOnly(shared.view(&table)), r, false, &NoLeases)
    }

    /// etcd's Compact: drops the history before `revision`, keeping the latest version of
    /// every key alive at it. Done and durable when this returns, so `physical` changes
    /// nothing.
    pub async fn compact(&self, r: CompactionRequest) -> Result<CompactionResponse, EtcdError> {
        match self.submit(WriteOp::Compact(r)).await? {
            WriteResult::Compact(resp) => Ok(resp),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    /// Reads committed changes back from storage, from revision `from` on, at most
    /// `max_revisions` revisions; fails with [`EtcdError::Compacted`] if `from` is below the
    /// compaction revision. With `with_prev_kv`, events carry the key-value as it was just
    /// before their revision, when that is still readable.
    pub fn history(
        &self,
        from: i64,
        max_revisions: usize,
        with_prev_kv: bool,
    ) -> Result<History, EtcdError> {
        self.inner.check_failed()?;
        let shared = self.inner.read();
        if from < shared.compact_rev {
            return Err(EtcdError::Compacted);
        }
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(KV_TABLE)?;
        let view = shared.view(&table);
        let current = shared.current_rev;
        let start = Revision::new(from.max(1), 0).to_bytes();
        let mut out: Vec<RevisionEvents> = Vec::new();
        let mut through = current;
        for row in table.range::<&[u8; 16]>(&start..)? {
            let (key, value) = row?;
            let rev = Revision::from_bytes(key.value());
            if rev.main > current {
                break;
            }
            if out.last().is_none_or(|last| last.revision != rev.main) {
                if out.len() == max_revisions {
                    through = out.last().map_or(from - 1, |last| last.revision);
                    break;
                }
                out.push(RevisionEvents {
                    revision: rev.main,
                    events: Vec::new(),
                });
            }
            let (tombstone, kv) = decode_row(value.value())?;
            let prev_kv = if with_prev_kv {
                view.get(&kv.key, rev.main - 1)?
            } else {
                None
            };
            let r#type = if tombstone {
                EventType::Delete
            } else {
                EventType::Put
            };
            out.last_mut().expect("pushed above").events.push(Event {
                r#type: r#type as i32,
                kv: Some(kv),
                prev_kv,
            });
        }
        Ok(History {
            events: out,
            through_revision: through,
        })
    }

    /// Durably records lease `id` with its granted TTL (a lease grant changes no revision);
    /// returns the current revision. Whether the lease may be granted is the caller's call.
    pub async fn lease_grant(&self, id: i64, ttl: i64) -> Result<i64, EtcdError> {
        match self.submit(WriteOp::LeaseGrant(id, ttl)).await? {
            WriteResult::Lease(rev) => Ok(rev),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    /// Revokes lease `id` in one write transaction: deletes every key attached to it (one
    /// revision, one DELETE event per key, in key order) and its row in the lease table;
    /// returns the revision after it. A lease without keys changes no revision.
    pub async fn lease_revoke(&self, id: i64) -> Result<i64, EtcdError> {
        match self.submit(WriteOp::LeaseRevoke(id)).await? {
            WriteResult::Lease(rev) => Ok(rev),
            _ => Err(EtcdError::storage("mismatched write result")),
        }
    }

    /// The live keys attached to lease `id`, in key order.
    pub fn lease_keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.inner
            .read()
            .lease_keys
            .get(&id)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The leases recorded in storage: (id, granted TTL) in id order.
    pub fn persisted_leases(&self) -> Result<Vec<(i64, i64)>, EtcdError> {
        self.inner.check_failed()?;
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(LEASE_TABLE)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (id, ttl) = row?;
            out.push((id.value(), ttl.value()));
        }
        Ok(out)
    }

    async fn submit(&self, op: WriteOp) -> Result<WriteResult, EtcdError> {
        let size = op.encoded_len();
        if size + prost::length_delimiter_len(size) + PROPOSAL_OVERHEAD
            > self.options.max_request_bytes
        {
            return Err(EtcdError::RequestTooLarge);
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or(EtcdError::Stopped)?
            .send(Job { op, reply })
            .map_err(|_| EtcdError::Stopped)?;
        answer.await.map_err(|_| EtcdError::Stopped)?
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has answered what is queued.
        self.jobs.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Shared {
    fn view<'a>(&'a self, rows: &'a dyn storage::RowSource) -> ReadView<'a> {
        ReadView {
            index: &self.index,
            rows,
            rev: self.current_rev,
            compact_rev: self.compact_rev,
        }
    }
}

/// What one committed batch produced.
struct Applied {
    rev: i64,
    committed: bool,
    outcomes: Vec<Result<WriteResult, EtcdError>>,
    events: Vec<RevisionEvents>,
}

impl Inner {
    fn read(&self) -> RwLockReadGuard<'_, Shared> {
        self.shared.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Shared> {
        self.shared.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_failed(&self) -> Result<(), EtcdError> {
        if self.failed.load(Ordering::Acquire) {
            let failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            return Err(EtcdError::Storage(failure.clone()));
        }
        Ok(())
    }

    /// Stops serving: the in-memory state can no longer be trusted to match storage.
    fn fail(&self, err: &EtcdError) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = match err {
            EtcdError::Storage(detail) => detail.clone(),
            other => other.message(),
        };
        self.failed.store(true, Ordering::Release);
    }

    fn run_batch(&self, batch: Vec<Job>) {
        let (ops, replies): (Vec<WriteOp>, Vec<Reply>) =
            batch.into_iter().map(|job| (job.op, job.reply)).unzip();
        let result = self.check_failed().and_then(|()| self.apply_batch(&ops));
        match result {
            Ok(applied) => {
                if applied.committed {
                    self.write().current_rev = applied.rev;
                    self.commits.fetch_add(1, Ordering::Relaxed);
                }
                for events in applied.events {
                    // No subscriber is fine.
                    let _ = self.events.send(Arc::new(events));
                }
                for (reply, outcome) in replies.into_iter().zip(applied.outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    /// Applies a batch in one redb transaction and commits it. On a storage error nothing of
    /// the batch is committed and the in-memory state is rebuilt from storage.
    fn apply_batch(&self, ops: &[WriteOp]) -> Result<Applied, EtcdError> {
        let start_rev = self.read().current_rev;
        let txn = self.db.begin_write()?;
        let applied = match self.apply_ops(&txn, ops, start_rev) {
            Ok(applied) => applied,
            Err(err) => {
                let _ = txn.abort();
                self.reload();
                return Err(err);
            }
        };
        if !applied.committed {
            txn.abort()?;
            return Ok(applied);
        }
        if let Err(err) = txn.commit() {
            // Whether the commit reached the disk is unknown: stop, as etcd would.
            let err = EtcdError::from(err);
            self.fail(&err);
            return Err(err);
        }
        Ok(applied)
    }

    fn reload(&self) {
        let loaded = storage::load_index(&self.db).and_then(|(index, current_rev, compact_rev)| {
            let lease_keys = storage::load_lease_keys(&self.db, &index, current_rev)?;
            Ok(Shared {
                index,
                current_rev,
                compact_rev,
                lease_keys,
            })
        });
        match loaded {
            Ok(shared) => *self.write() = shared,
            Err(err) => self.fail(&err),
        }
    }

    fn apply_ops(
        &self,
        txn: &redb::WriteTransaction,
        ops: &[WriteOp],
        start_rev: i64,
    ) -> Result<Applied, EtcdError> {
        let leases = Arc::clone(&self.leases.read().unwrap_or_else(PoisonError::into_inner));
        let mut rev = start_rev;
        let mut compacted = None;
        let mut leases_changed = false;
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut events = Vec::new();
        {
            let mut table = txn.open_table(KV_TABLE)?;
            for op in ops {
                let mut shared = self.write();
                let shared = &mut *shared;
                if let WriteOp::Compact(c) = op {
                    let outcome = compact(shared, &mut table, c.revision, rev);
                    match outcome {
                        Err(err @ EtcdError::Storage(_)) => return Err(err),
                        Ok(_) => compacted = Some(c.revision),
                        Err(_) => {}
                    }
                    outcomes.push(outcome.map(WriteResult::Compact));
                    continue;
                }
                if let WriteOp::LeaseGrant(id, ttl) = op {
                    txn.open_table(LEASE_TABLE)?.insert(*id, *ttl)?;
                    leases_changed = true;
                    outcomes.push(Ok(WriteResult::Lease(rev)));
                    continue;
                }
                if let WriteOp::LeaseRevoke(id) = op {
                    let keys = shared.lease_keys.get(id).cloned().unwrap_or_default();
                    let mut ctx = WriteCtx::new(
                        &mut shared.index,
                        &mut table,
                        rev,
                        shared.compact_rev,
                        &*leases,
                    );
                    for key in keys {
                        let delete = DeleteRangeRequest {
                            key,
                            ..Default::default()
                        };
                        apply::TxnOps::delete_range(&mut ctx, &delete)?;
                    }
                    let changes = ctx.finish();
                    track_lease_keys(&mut shared.lease_keys, &changes);
                    shared.lease_keys.remove(id);
                    if !changes.is_empty() {
                        rev += 1;
                        events.push(RevisionEvents {
                            revision: rev,
                            events: changes,
                        });
                    }
                    txn.open_table(LEASE_TABLE)?.remove(*id)?;
                    leases_changed = true;
                    outcomes.push(Ok(WriteResult::Lease(rev)));
                    continue;
                }
                let mut ctx = WriteCtx::new(
                    &mut shared.index,
                    &mut table,
                    rev,
                    shared.compact_rev,
                    &*leases,
                );
                let outcome = match op {
                    WriteOp::Put(p) => ctx.put_request(p).map(WriteResult::Put),
                    WriteOp::Delete(d) => {
                        apply::TxnOps::delete_range(&mut ctx, d).map(WriteResult::Delete)
                    }
                    WriteOp::Txn(t) => {
                        apply::txn(&mut ctx, t, true, &*leases).map(WriteResult::Txn)
                    }
                    WriteOp::Compact(_) | WriteOp::LeaseGrant(..) | WriteOp::LeaseRevoke(_) => {
                        unreachable!("handled above")
                    }
                };
                match outcome {
                    Err(err @ EtcdError::Storage(_)) => return Err(err),
                    Err(err) => {
                        // Undo what the request changed before failing.
                        ctx.rollback()?;
                        outcomes.push(Err(err));
                    }
                    Ok(result) => {
                        let changes = ctx.finish();
                        track_lease_keys(&mut shared.lease_keys, &changes);
                        if !changes.is_empty() {
                            rev += 1;
                            events.push(RevisionEvents {
                                revision: rev,
                                events: changes,
                            });
                        }
                        outcomes.push(Ok(result));
                    }
                }
            }
        }
        let committed = rev != start_rev || compacted.is_some() || leases_changed;
        if committed {
            let mut meta = txn.open_table(META_TABLE)?;
            meta.insert(META_CURRENT_REV, rev)?;
            if let Some(compact_rev) = compacted {
                meta.insert(META_COMPACT_REV, compact_rev)?;
            }
        }
        Ok(Applied {
            rev,
            committed,
            outcomes,
            events,
        })
    }
}

/// Follows the lease attachments through the events of a write: a put attaches the key to
/// its lease (if any) and detaches it from the previous one; a delete detaches it.
fn track_lease_keys(lease_keys: &mut LeaseKeys, changes: &[Event]) {
    for event in changes {
        let Some(kv) = &event.kv else { continue };
        let new_lease = if event.r#type == EventType::Put as i32 {
            kv.lease
        } else {
            0
        };
        let old_lease = event.prev_kv.as_ref().map_or(0, |prev| prev.lease);
        if old_lease != 0
            && old_lease != new_lease
            && let Some(keys) = lease_keys.get_mut(&old_lease)
        {
            keys.remove(&kv.key);
            if keys.is_empty() {
                lease_keys.remove(&old_lease);
            }
        }
        if new_lease != 0 {
            lease_keys
                .entry(new_lease)
                .or_default()
                .insert(kv.key.clone());
        }
    }
}

/// etcd's compaction, done at once: set the compaction revision, compact the index, delete the
/// rows no read can reach any more.
fn compact(
    shared: &mut Shared,
    table: &mut apply::KvTable<'_>,
    revision: i64,
    current_rev: i64,
) -> Result<CompactionResponse, EtcdError> {
    if revision <= shared.compact_rev {
        return Err(EtcdError::Compacted);
    }
    if revision > current_rev {
        return Err(EtcdError::FutureRev);
    }
    shared.compact_rev = revision;
    let keep = shared.index.compact(revision);
    let end = Revision::new(revision + 1, 0).to_bytes();
    table.retain_in::<&[u8; 16], _>(..&end, |key, _| keep.contains(&Revision::from_bytes(key)))?;
    Ok(CompactionResponse {
        header: rev_header(current_rev),
    })
}

fn writer_loop(inner: &Inner, queue: &mpsc::Receiver<Job>, (max_batch, max_bytes): (usize, usize)) {
    while let Ok(first) = queue.recv() {
        let mut bytes = first.op.encoded_len();
        let mut batch = vec![first];
        while batch.len() < max_batch && bytes < max_bytes {
            match queue.try_recv() {
                Ok(job) => {
                    bytes += job.op.encoded_len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        inner.run_batch(batch);
    }
}
