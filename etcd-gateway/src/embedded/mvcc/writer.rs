//! The writer: one thread that applies every write of a [`super::Store`].
//!
//! It takes every write waiting in its queue (up to the batch limits), applies them in order
//! in one [`WriteBatch`] (each write that changes something gets its own revision), commits
//! it durably (one fsync for the batch: group commit), publishes the new revision, sends the
//! events to the subscribers and only then answers the writes.
//!
//! Each queued write carries a reply channel of its own response type ([`Write::Response`]),
//! so a write is always answered with the response of its kind.
//!
//! Before a write is applied, the active alarms may refuse it (etcd's capped and corrupt
//! appliers, [`Write::admit`]). A batch that fails on storage reopens the database and reloads
//! the state from it; a full disk also raises the NOSPACE alarm, so the store keeps serving
//! reads, and writes once space is back and the alarm is disarmed.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use prost::Message;
use tokio::sync::oneshot;

use super::state::{LeaseKeys, RevisionEvents, StoreState};
use crate::embedded::alarm::Restriction;
use crate::embedded::apply::{self, LeaseLookup, TxnOps};
use crate::embedded::errors::EtcdError;
use crate::embedded::kv_txn::{WriteCtx, rev_header};
use crate::embedded::quota::txn_cost;
use crate::embedded::storage::{AuthChange, RowWriter, WriteBatch};
use crate::etcdserverpb::alarm_request::AlarmAction;
use crate::etcdserverpb::{
    AlarmMember, AlarmType, CompactionRequest, CompactionResponse, DeleteRangeRequest,
    DeleteRangeResponse, PutRequest, PutResponse, TxnRequest, TxnResponse,
};
use crate::mvccpb::{Event, event::EventType};

/// A write the writer applies; the request type fixes the response type.
pub(crate) trait Write: Send + 'static {
    /// What the write answers.
    type Response: Send + 'static;

    /// The size of the request as etcd would propose it (for the request and batch limits).
    fn encoded_len(&self) -> usize;

    /// Whether the active alarms (`restriction`) let the write be applied.
    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError>;

    /// Applies the write inside `batch`. A storage failure
    /// ([`EtcdError::is_storage_failure`]) fails the whole batch.
    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<Self::Response, EtcdError>;
}

impl Write for PutRequest {
    type Response = PutResponse;

    fn encoded_len(&self) -> usize {
        Message::encoded_len(self)
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(true)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<PutResponse, EtcdError> {
        batch.request(|ctx, leases| apply::put_request(ctx, self, leases))
    }
}

impl Write for DeleteRangeRequest {
    type Response = DeleteRangeResponse;

    fn encoded_len(&self) -> usize {
        Message::encoded_len(self)
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(false)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<DeleteRangeResponse, EtcdError> {
        batch.request(|ctx, _| ctx.delete_range(self))
    }
}

impl Write for TxnRequest {
    type Response = TxnResponse;

    fn encoded_len(&self) -> usize {
        Message::encoded_len(self)
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(txn_cost(self) > 0)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<TxnResponse, EtcdError> {
        batch.request(|ctx, leases| apply::txn(ctx, self, true, leases))
    }
}

impl Write for CompactionRequest {
    type Response = CompactionResponse;

    fn encoded_len(&self) -> usize {
        Message::encoded_len(self)
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(false)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<CompactionResponse, EtcdError> {
        batch.compact(self.revision)
    }
}

/// The size counted for a lease write.
const LEASE_WRITE_LEN: usize = 16;

/// Records a lease (id, granted TTL) in the lease table; answers the store revision.
pub(crate) struct LeaseGrant {
    /// The lease id.
    pub id: i64,
    /// The granted TTL in seconds.
    pub ttl: i64,
}

impl Write for LeaseGrant {
    type Response = i64;

    fn encoded_len(&self) -> usize {
        LEASE_WRITE_LEN
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(true)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<i64, EtcdError> {
        batch.grant_lease(self.id, self.ttl)
    }
}

/// Deletes the keys of a lease and its row in the lease table; answers the store revision
/// after it.
pub(crate) struct LeaseRevoke {
    /// The lease id.
    pub id: i64,
}

impl Write for LeaseRevoke {
    type Response = i64;

    fn encoded_len(&self) -> usize {
        LEASE_WRITE_LEN
    }

    fn admit(&self, restriction: Restriction) -> Result<(), EtcdError> {
        restriction.check(false)
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<i64, EtcdError> {
        batch.revoke_lease(self.id)
    }
}

/// Raises (`activate`) or disarms an alarm; answers the alarm changed, if any, as etcd's
/// `applyAlarm` does. Recorded in the `alarm` table with the batch.
pub(crate) struct AlarmChange {
    /// ACTIVATE or DEACTIVATE.
    pub action: AlarmAction,
    /// The member the alarm is for.
    pub member_id: u64,
    /// The alarm type.
    pub alarm: i32,
}

impl Write for AlarmChange {
    type Response = Vec<AlarmMember>;

    fn encoded_len(&self) -> usize {
        LEASE_WRITE_LEN
    }

    fn admit(&self, _restriction: Restriction) -> Result<(), EtcdError> {
        Ok(())
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<Vec<AlarmMember>, EtcdError> {
        let alarms = &batch.state.alarms;
        let changed = match self.action {
            AlarmAction::Activate => alarms.activate(self.member_id, self.alarm),
            AlarmAction::Deactivate => alarms.deactivate(self.member_id, self.alarm),
            AlarmAction::Get => None,
        };
        Ok(changed.into_iter().collect())
    }
}

/// Changes of the auth tables, committed together; answers the store revision.
pub(crate) struct AuthUpdate {
    /// The changes, in order.
    pub changes: Vec<AuthChange>,
}

impl Write for AuthUpdate {
    type Response = i64;

    fn encoded_len(&self) -> usize {
        self.changes.iter().map(AuthChange::written_bytes).sum()
    }

    fn admit(&self, _restriction: Restriction) -> Result<(), EtcdError> {
        Ok(())
    }

    fn apply(&self, batch: &mut Batch<'_, '_>) -> Result<i64, EtcdError> {
        batch.storage.apply_auth(&self.changes)?;
        batch.auth_changed = true;
        Ok(batch.rev)
    }
}

/// Where a write's outcome goes.
type Reply<T> = oneshot::Sender<Result<T, EtcdError>>;

/// A write waiting in the queue, whatever its type.
trait Job: Send {
    /// [`Write::encoded_len`].
    fn encoded_len(&self) -> usize;
    /// Applies the write; its answer is sent once the batch is committed.
    fn apply(self: Box<Self>, batch: &mut Batch<'_, '_>) -> Box<dyn Answer>;
    /// Answers `err` without applying the write.
    fn fail(self: Box<Self>, err: &EtcdError);
    /// Whether the job runs alone between batches, with no write transaction open.
    fn runs_alone(&self) -> bool {
        false
    }
    /// Runs a job that [`Job::runs_alone`] and answers it.
    fn run_alone(self: Box<Self>, _state: &StoreState) {
        self.fail(&EtcdError::storage("this write runs in a batch"));
    }
}

/// Work on the storage that needs no write transaction open (defragmentation): run by the
/// writer between two batches, so no write runs meanwhile.
type AloneWork = Box<dyn FnOnce(&StoreState) -> Result<(), EtcdError> + Send>;

struct Alone {
    work: AloneWork,
    reply: Reply<()>,
}

impl Job for Alone {
    fn encoded_len(&self) -> usize {
        0
    }

    fn apply(self: Box<Self>, _batch: &mut Batch<'_, '_>) -> Box<dyn Answer> {
        Box::new(Answered {
            outcome: Err(EtcdError::storage("this work runs between batches")),
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, err: &EtcdError) {
        let _ = self.reply.send(Err(err.clone()));
    }

    fn runs_alone(&self) -> bool {
        true
    }

    fn run_alone(self: Box<Self>, state: &StoreState) {
        let Self { work, reply } = *self;
        let outcome = state.check_failed().and_then(|()| work(state));
        let _ = reply.send(outcome);
    }
}

/// The outcome of an applied write, waiting for the commit.
trait Answer: Send {
    /// The storage failure the write ran into, which fails the batch.
    fn storage_failure(&self) -> Option<&EtcdError>;
    /// Sends the outcome: the batch is committed.
    fn send(self: Box<Self>);
    /// Sends `err` instead: the batch was not committed.
    fn fail(self: Box<Self>, err: &EtcdError);
}

struct Queued<W: Write> {
    write: W,
    reply: Reply<W::Response>,
}

impl<W: Write> Job for Queued<W> {
    fn encoded_len(&self) -> usize {
        self.write.encoded_len()
    }

    fn apply(self: Box<Self>, batch: &mut Batch<'_, '_>) -> Box<dyn Answer> {
        let outcome = self
            .write
            .admit(batch.state.alarms.restriction())
            .and_then(|()| self.write.apply(batch));
        Box::new(Answered {
            outcome,
            reply: self.reply,
        })
    }

    fn fail(self: Box<Self>, err: &EtcdError) {
        let _ = self.reply.send(Err(err.clone()));
    }
}

struct Answered<T> {
    outcome: Result<T, EtcdError>,
    reply: Reply<T>,
}

impl<T: Send> Answer for Answered<T> {
    fn storage_failure(&self) -> Option<&EtcdError> {
        match &self.outcome {
            Err(err) if err.is_storage_failure() => Some(err),
            _ => None,
        }
    }

    fn send(self: Box<Self>) {
        let _ = self.reply.send(self.outcome);
    }

    fn fail(self: Box<Self>, err: &EtcdError) {
        let _ = self.reply.send(Err(err.clone()));
    }
}

/// The writes of one batch being applied in one [`WriteBatch`].
pub(crate) struct Batch<'state, 'batch> {
    state: &'state StoreState,
    storage: &'batch WriteBatch,
    rows: RowWriter<'batch>,
    leases: Arc<dyn LeaseLookup>,
    start_rev: i64,
    rev: i64,
    compacted: Option<i64>,
    leases_changed: bool,
    auth_changed: bool,
    events: Vec<RevisionEvents>,
}

/// What an applied batch produced.
struct Applied {
    rev: i64,
    committed: bool,
    events: Vec<RevisionEvents>,
}

impl<'state, 'batch> Batch<'state, 'batch> {
    fn new(state: &'state StoreState, storage: &'batch WriteBatch) -> Result<Self, EtcdError> {
        let start_rev = state.read().current_rev;
        Ok(Self {
            state,
            storage,
            rows: storage.rows()?,
            leases: state.lease_lookup(),
            start_rev,
            rev: start_rev,
            compacted: None,
            leases_changed: false,
            auth_changed: false,
            events: Vec::new(),
        })
    }

    /// Runs one KV write request; on an error other than a storage failure, undoes what it
    /// changed. A request that changed something takes the next revision.
    fn request<T>(
        &mut self,
        run: impl FnOnce(&mut WriteCtx<'_, '_>, &dyn LeaseLookup) -> Result<T, EtcdError>,
    ) -> Result<T, EtcdError> {
        let state = self.state;
        let mut published = state.write();
        let published = &mut *published;
        let mut ctx = WriteCtx::new(
            &mut published.index,
            &mut self.rows,
            self.rev,
            published.compact_rev,
        );
        match run(&mut ctx, &*self.leases) {
            Err(err) if err.is_storage_failure() => Err(err),
            Err(err) => {
                ctx.rollback()?;
                Err(err)
            }
            Ok(response) => {
                let changes = ctx.finish();
                track_lease_keys(&mut published.lease_keys, &changes);
                self.record(changes);
                Ok(response)
            }
        }
    }

    /// Gives `changes`, if any, the next revision.
    fn record(&mut self, changes: Vec<Event>) {
        if !changes.is_empty() {
            self.rev += 1;
            self.events.push(RevisionEvents {
                revision: self.rev,
                events: changes,
            });
        }
    }

    /// etcd's compaction, done at once: set the compaction revision, compact the index,
    /// delete the rows no read can reach any more.
    fn compact(&mut self, revision: i64) -> Result<CompactionResponse, EtcdError> {
        let state = self.state;
        let mut published = state.write();
        if revision <= published.compact_rev {
            return Err(EtcdError::Compacted);
        }
        if revision > self.rev {
            return Err(EtcdError::FutureRev);
        }
        published.compact_rev = revision;
        let keep = published.index.compact(revision);
        self.rows
            .retain_through(revision, |rev| keep.contains(&rev))?;
        self.compacted = Some(revision);
        Ok(CompactionResponse {
            header: rev_header(self.rev),
        })
    }

    fn grant_lease(&mut self, id: i64, ttl: i64) -> Result<i64, EtcdError> {
        self.storage.put_lease(id, ttl)?;
        self.leases_changed = true;
        Ok(self.rev)
    }

    /// Deletes the keys of lease `id` (one revision, in key order) and its row.
    fn revoke_lease(&mut self, id: i64) -> Result<i64, EtcdError> {
        let state = self.state;
        let mut published = state.write();
        let published = &mut *published;
        let keys = published.lease_keys.get(&id).cloned().unwrap_or_default();
        let mut ctx = WriteCtx::new(
            &mut published.index,
            &mut self.rows,
            self.rev,
            published.compact_rev,
        );
        for key in keys {
            let delete = DeleteRangeRequest {
                key,
                ..Default::default()
            };
            ctx.delete_range(&delete)?;
        }
        let changes = ctx.finish();
        track_lease_keys(&mut published.lease_keys, &changes);
        published.lease_keys.remove(&id);
        self.record(changes);
        self.storage.remove_lease(id)?;
        self.leases_changed = true;
        Ok(self.rev)
    }

    /// Records the revisions of the batch, and the alarms if they changed, if it changed
    /// anything.
    fn finish(self) -> Result<Applied, EtcdError> {
        let alarms = self.state.alarms.take_unrecorded();
        let committed = self.rev != self.start_rev
            || self.compacted.is_some()
            || self.leases_changed
            || alarms.is_some()
            || self.auth_changed;
        drop(self.rows);
        if let Some(alarms) = alarms {
            self.storage.replace_alarms(&alarms)?;
        }
        if committed {
            self.storage.record_revisions(self.rev, self.compacted)?;
        }
        Ok(Applied {
            rev: self.rev,
            committed,
            events: self.events,
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

/// How many writes one batch takes at most.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchLimits {
    /// The most writes in a batch.
    pub max_writes: usize,
    /// No more writes join a batch once their encoded sizes add up to this.
    pub max_bytes: usize,
}

/// The writer thread and its queue; dropping it stops the thread once it has answered every
/// queued write.
pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer of `state`.
    pub fn spawn(state: Arc<StoreState>, limits: BatchLimits) -> Result<Self, EtcdError> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kv-store-writer".into())
            .spawn(move || writer_loop(&state, &queue, limits))
            .map_err(EtcdError::storage)?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `write` and waits for its answer, which comes once it is durable.
    pub async fn submit<W: Write>(&self, write: W) -> Result<W::Response, EtcdError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Queued { write, reply });
        self.jobs
            .as_ref()
            .ok_or(EtcdError::Stopped)?
            .send(job)
            .map_err(|_| EtcdError::Stopped)?;
        answer.await.map_err(|_| EtcdError::Stopped)?
    }

    /// Queues `work`, which the writer runs between two batches (no write transaction open,
    /// no write applied meanwhile), and waits for its outcome.
    pub async fn run_alone(
        &self,
        work: impl FnOnce(&StoreState) -> Result<(), EtcdError> + Send + 'static,
    ) -> Result<(), EtcdError> {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Alone {
            work: Box::new(work),
            reply,
        });
        self.jobs
            .as_ref()
            .ok_or(EtcdError::Stopped)?
            .send(job)
            .map_err(|_| EtcdError::Stopped)?;
        answer.await.map_err(|_| EtcdError::Stopped)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has answered what is queued.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn writer_loop(state: &StoreState, queue: &mpsc::Receiver<Box<dyn Job>>, limits: BatchLimits) {
    let mut next: Option<Box<dyn Job>> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if first.runs_alone() {
            first.run_alone(state);
            continue;
        }
        let mut bytes = first.encoded_len();
        let mut jobs = vec![first];
        while jobs.len() < limits.max_writes && bytes < limits.max_bytes {
            match queue.try_recv() {
                Ok(job) if job.runs_alone() => {
                    next = Some(job);
                    break;
                }
                Ok(job) => {
                    bytes += job.encoded_len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        run_batch(state, jobs);
    }
}

/// Applies `jobs` in one write transaction, commits it, publishes the revision and the
/// events, then answers every job. On a storage failure nothing of the batch is committed,
/// every job gets the failure, the database is opened again and the in-memory state rebuilt
/// from it; a full disk raises the NOSPACE alarm.
fn run_batch(state: &StoreState, jobs: Vec<Box<dyn Job>>) {
    if let Err(err) = state.check_failed() {
        state.recover(&err);
    }
    let mut pending = jobs.into_iter();
    let mut answers: Vec<Box<dyn Answer>> = Vec::with_capacity(pending.len());
    let outcome = state
        .check_failed()
        .and_then(|()| state.storage.batch())
        .and_then(|batch| {
            let applied = apply_jobs(state, &batch, &mut pending, &mut answers);
            commit(batch, applied)
        });
    match outcome {
        Ok(applied) => {
            if applied.committed {
                state.write().current_rev = applied.rev;
                state.count_commit();
            }
            for events in applied.events {
                // No subscriber is fine.
                let _ = state.events.send(Arc::new(events));
            }
            for answer in answers {
                answer.send();
            }
        }
        Err(err) => {
            if err.is_storage_failure() {
                recover_from(state, &err);
            }
            for answer in answers {
                answer.fail(&err);
            }
            for job in pending {
                job.fail(&err);
            }
        }
    }
}

/// After the storage failure `err` of a batch (already dropped): reopens and reloads; a full
/// disk raises NOSPACE for this member, as etcd does when a write does not fit.
fn recover_from(state: &StoreState, err: &EtcdError) {
    tracing::error!(error = ?err, "a write batch failed on storage");
    // Whatever the batch was to record is recorded by the next one.
    state.alarms.mark_unrecorded();
    state.recover(err);
    if matches!(err, EtcdError::StorageFull(_)) {
        state
            .alarms
            .activate(state.storage.member_id(), AlarmType::Nospace as i32);
    }
}

/// Applies `jobs` in order in `batch`, keeping their answers, until one runs into a storage
/// failure.
fn apply_jobs(
    state: &StoreState,
    batch: &WriteBatch,
    jobs: &mut impl Iterator<Item = Box<dyn Job>>,
    answers: &mut Vec<Box<dyn Answer>>,
) -> Result<Applied, EtcdError> {
    let mut writes = Batch::new(state, batch)?;
    for job in jobs {
        let answer = job.apply(&mut writes);
        let failure = answer.storage_failure().cloned();
        answers.push(answer);
        if let Some(err) = failure {
            return Err(err);
        }
    }
    writes.finish()
}

/// Commits `batch` if `applied` changed anything, aborts it otherwise.
fn commit(batch: WriteBatch, applied: Result<Applied, EtcdError>) -> Result<Applied, EtcdError> {
    let applied = match applied {
        Ok(applied) => applied,
        Err(err) => {
            let _ = batch.abort();
            return Err(err);
        }
    };
    if !applied.committed {
        batch.abort()?;
        return Ok(applied);
    }
    let _timer = crate::metrics::embedded::commit_timer();
    // On failure, whether the commit reached the disk is unknown: the caller reloads the state
    // from the database.
    batch.commit()?;
    Ok(applied)
}
