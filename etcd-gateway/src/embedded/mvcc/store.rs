//! The [`Store`]: etcd's KV operations on the published state.
//!
//! Reads (ranges, read-only txns, history) run on the caller's thread against the published
//! revision: they take the index read lock, open a storage read and never see a revision
//! that is not committed. Writes (put, delete-range, write txns, compaction, lease grants
//! and revocations) go to the writer thread (`writer.rs`) and return once they are durable.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::state::{RevisionEvents, StoreState};
use super::writer::{AlarmChange, AuthUpdate, BatchLimits, LeaseGrant, LeaseRevoke, Write, Writer};
use crate::embedded::alarm::Alarms;
use crate::embedded::apply::{self, LeaseLookup, NoLeases, ReadOnly};
use crate::embedded::errors::EtcdError;
use crate::embedded::key_index::{KeyRange, Revision};
use crate::embedded::quota::{LEASE_COST, Quota, put_cost, txn_cost};
use crate::embedded::storage::{AuthChange, AuthRecords, Storage};
use crate::embedded::validate::is_txn_readonly;
use crate::etcdserverpb::alarm_request::AlarmAction;
use crate::etcdserverpb::{
    AlarmRequest, AlarmResponse, AlarmType, CompactionRequest, CompactionResponse,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    ResponseHeader, TxnRequest, TxnResponse,
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
    /// etcd's `--quota-backend-bytes`: 0 means etcd's default (2 GiB), a negative value no
    /// quota.
    pub quota_backend_bytes: i64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_batch: 1024,
            max_batch_bytes: 16 << 20,
            event_capacity: 4096,
            quota_backend_bytes: 0,
        }
    }
}

/// Revisions read back from storage by [`Store::history`].
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The revisions found, in order (revisions without changes left are absent).
    pub events: Vec<RevisionEvents>,
    /// The last revision this answer covers: continue from the one after it.
    pub through_revision: i64,
}

/// A durable single-member etcd key-value store (see the module documentation).
pub struct Store {
    pub(super) state: Arc<StoreState>,
    pub(super) writer: Writer,
    quota: Quota,
    options: StoreOptions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("member_id", &self.member_id())
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
        let storage = Storage::open(data_dir.as_ref())?;
        let state = Arc::new(StoreState::load(storage, options.event_capacity)?);
        let limits = BatchLimits {
            max_writes: options.max_batch.max(1),
            max_bytes: options.max_batch_bytes,
        };
        let writer = Writer::spawn(Arc::clone(&state), limits)?;
        Ok(Self {
            state,
            writer,
            quota: Quota::new(options.quota_backend_bytes),
            options,
        })
    }

    /// This member's id (random on first start, then persisted).
    pub fn member_id(&self) -> u64 {
        self.state.storage.member_id()
    }

    /// The cluster's id (random on first start, then persisted).
    pub fn cluster_id(&self) -> u64 {
        self.state.storage.cluster_id()
    }

    /// The revision of the last committed write (1 for a new store).
    pub fn current_revision(&self) -> i64 {
        self.state.read().current_rev
    }

    /// The revision of the last compaction, -1 if there was none.
    pub fn compact_revision(&self) -> i64 {
        self.state.read().compact_rev
    }

    /// The number of keys that exist at the current revision.
    pub fn key_count(&self) -> usize {
        let published = self.state.read();
        let mut count = 0;
        published
            .index
            .visit(KeyRange::From(&[]), published.current_rev, |_, _| {
                count += 1;
                true
            });
        count
    }

    /// The number of durable commits so far (a commit may hold many writes).
    pub fn commit_count(&self) -> u64 {
        self.state.commit_count()
    }

    /// Replaces the lease lookup used to accept puts with a lease.
    pub fn set_lease_lookup(&self, leases: Arc<dyn LeaseLookup>) {
        self.state.set_lease_lookup(leases);
    }

    /// A full header: ids, raft term, and `revision`.
    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id(),
            member_id: self.member_id(),
            revision,
            raft_term: RAFT_TERM,
        }
    }

    /// Completes a response header as etcd's server does: ids and term always, the current
    /// revision if none is set.
    pub fn fill_header(&self, header: &mut Option<ResponseHeader>) {
        let revision = header.as_ref().map_or(0, |set| set.revision);
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
        self.state.events.subscribe()
    }

    /// etcd's Range. The header carries only the revision.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, EtcdError> {
        self.state.check_failed()?;
        let published = self.state.read();
        let rows = self.state.storage.read()?;
        apply::range(&published.view(&rows), request)
    }

    /// etcd's Put. The header carries only the revision.
    pub async fn put(&self, request: PutRequest) -> Result<PutResponse, EtcdError> {
        self.check_quota(put_cost(&request)).await?;
        self.submit(request).await
    }

    /// etcd's DeleteRange. The header carries only the revision.
    pub async fn delete_range(
        &self,
        request: DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, EtcdError> {
        self.submit(request).await
    }

    /// etcd's Txn (already checked by [`crate::embedded::validate::check_txn`]). A txn that
    /// only reads runs on the caller's thread; others go through the writer. The header
    /// carries only the revision.
    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, EtcdError> {
        self.check_quota(txn_cost(&request)).await?;
        if is_txn_readonly(&request) {
            return self.read_txn(&request);
        }
        self.submit(request).await
    }

    fn read_txn(&self, request: &TxnRequest) -> Result<TxnResponse, EtcdError> {
        self.state.check_failed()?;
        let published = self.state.read();
        let rows = self.state.storage.read()?;
        apply::txn(
            &mut ReadOnly(published.view(&rows)),
            request,
            false,
            &NoLeases,
        )
    }

    /// etcd's Compact: drops the history before `revision`, keeping the latest version of
    /// every key alive at it. Done and durable when this returns, so `physical` changes
    /// nothing.
    pub async fn compact(
        &self,
        request: CompactionRequest,
    ) -> Result<CompactionResponse, EtcdError> {
        self.submit(request).await
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
        self.state.check_failed()?;
        let published = self.state.read();
        if from < published.compact_rev {
            return Err(EtcdError::Compacted);
        }
        let rows = self.state.storage.read()?;
        let view = published.view(&rows);
        let current = published.current_rev;
        let mut found: Vec<RevisionEvents> = Vec::new();
        let mut through = current;
        for row in rows.rows_from(Revision::new(from.max(1), 0))? {
            let (rev, tombstone, kv) = row?;
            if rev.main > current {
                break;
            }
            if found.last().is_none_or(|last| last.revision != rev.main) {
                if found.len() == max_revisions {
                    through = found.last().map_or(from - 1, |last| last.revision);
                    break;
                }
                found.push(RevisionEvents {
                    revision: rev.main,
                    events: Vec::new(),
                });
            }
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
            found.last_mut().expect("pushed above").events.push(Event {
                r#type: r#type as i32,
                kv: Some(kv),
                prev_kv,
            });
        }
        Ok(History {
            events: found,
            through_revision: through,
        })
    }

    /// Durably records lease `id` with its granted TTL (a lease grant changes no revision);
    /// returns the current revision. Whether the lease may be granted is the caller's call.
    pub async fn lease_grant(&self, id: i64, ttl: i64) -> Result<i64, EtcdError> {
        self.check_quota(LEASE_COST).await?;
        self.submit(LeaseGrant { id, ttl }).await
    }

    /// Revokes lease `id` in one write transaction: deletes every key attached to it (one
    /// revision, one DELETE event per key, in key order) and its row in the lease table;
    /// returns the revision after it. A lease without keys changes no revision.
    pub async fn lease_revoke(&self, id: i64) -> Result<i64, EtcdError> {
        self.submit(LeaseRevoke { id }).await
    }

    /// The live keys attached to lease `id`, in key order.
    pub fn lease_keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.state
            .read()
            .lease_keys
            .get(&id)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The leases recorded in storage: (id, granted TTL) in id order.
    pub fn persisted_leases(&self) -> Result<Vec<(i64, i64)>, EtcdError> {
        self.state.check_failed()?;
        self.state.storage.read()?.leases()
    }

    /// The active alarms.
    pub fn alarms(&self) -> &Alarms {
        &self.state.alarms
    }

    /// etcd's Alarm: GET lists the active alarms of a type (all for NONE); ACTIVATE and
    /// DEACTIVATE raise or disarm one (recorded durably) and list it if it changed or, for
    /// ACTIVATE, was already active.
    pub async fn alarm(&self, request: AlarmRequest) -> Result<AlarmResponse, EtcdError> {
        let alarms = match AlarmAction::try_from(request.action) {
            Ok(AlarmAction::Get) => self.state.alarms.get(request.alarm),
            Ok(action) => {
                let change = AlarmChange {
                    action,
                    member_id: request.member_id,
                    alarm: request.alarm,
                };
                self.writer.submit(change).await?
            }
            Err(_) => Vec::new(),
        };
        Ok(AlarmResponse {
            header: Some(self.header(self.current_revision())),
            alarms,
        })
    }

    /// etcd's quota check before a put, txn or lease grant costing `cost`: if the database
    /// would reach the quota, raises NOSPACE and fails.
    async fn check_quota(&self, cost: u64) -> Result<(), EtcdError> {
        let size = self.state.storage.file_size()?;
        if self.quota.available(size, cost) {
            return Ok(());
        }
        let raise = AlarmChange {
            action: AlarmAction::Activate,
            member_id: self.member_id(),
            alarm: AlarmType::Nospace as i32,
        };
        if let Err(err) = self.writer.submit(raise).await {
            tracing::warn!(error = %err, "cannot record the NOSPACE alarm");
        }
        Err(EtcdError::NoSpace)
    }

    /// The committed auth flags, users and roles.
    pub fn auth_records(&self) -> Result<AuthRecords, EtcdError> {
        self.state.check_failed()?;
        self.state.storage.read()?.auth()
    }

    /// Durably applies `changes` to the auth tables (no revision change); returns the
    /// current revision.
    pub async fn auth_update(&self, changes: Vec<AuthChange>) -> Result<i64, EtcdError> {
        self.submit(AuthUpdate { changes }).await
    }

    /// Sends `write` to the writer unless it is larger than etcd would accept.
    async fn submit<W: Write>(&self, write: W) -> Result<W::Response, EtcdError> {
        let size = write.encoded_len();
        if size + prost::length_delimiter_len(size) + PROPOSAL_OVERHEAD
            > self.options.max_request_bytes
        {
            return Err(EtcdError::RequestTooLarge);
        }
        self.writer.submit(write).await
    }
}
