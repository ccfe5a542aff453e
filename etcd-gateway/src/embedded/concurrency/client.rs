//! [`KvClient`]: the KV and lease steps of the election and lock services, as etcd's
//! in-process client sends them to its own KV and Lease servers.
//!
//! Every step goes through one method here, with the caller's request metadata at hand, so
//! that the permission checks of an enabled auth store have one place each, as etcd's KV,
//! Lease and Watch servers make them for the in-process client its v3election and v3lock
//! servers use (with the caller's token):
//!
//! | method | etcd's check |
//! |---|---|
//! | [`KvClient::range`] (and `get`, `by_create`) | `IsRangePermitted` on the key or range |
//! | [`KvClient::txn`] | `IsTxnPermitted`: read on every compare and range, write on every put and delete |
//! | [`KvClient::delete`] | `IsDeleteRangePermitted` |
//! | [`KvClient::session_lease`] | none (a lease grant needs only a valid token) |
//! | waits on [`KvClient::feed`] | none of their own: etcd's watch checks `IsRangePermitted` on keys the wait has just read with a checked range of the same prefix |
//!
//! The checks run when the client has an auth store ([`KvClient::with_auth`]); a token that is
//! not valid fails each step with `etcdserver: invalid auth token`, as etcd's in-process client
//! would.

use std::sync::Arc;

use tonic::metadata::MetadataMap;

use super::feed::EventFeed;
use super::{SESSION_TTL, prefix_end};
use crate::embedded::auth::{AuthStore, Caller};
use crate::embedded::errors::EtcdError;
use crate::embedded::lease::Lessor;
use crate::embedded::mvcc::Store;
use crate::embedded::validate::{DEFAULT_MAX_TXN_OPS, check_delete_request, check_txn};
use crate::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};

/// The store and its lessor, seen by one request (see the module documentation).
#[derive(Clone, Debug)]
pub struct KvClient {
    store: Arc<Store>,
    lessor: Arc<Lessor>,
    metadata: MetadataMap,
    auth: Option<Arc<AuthStore>>,
}

impl KvClient {
    /// A client on `lessor`'s store for a request that came with `metadata`.
    pub fn new(lessor: Arc<Lessor>, metadata: MetadataMap) -> Self {
        Self {
            store: Arc::clone(lessor.store()),
            lessor,
            metadata,
            auth: None,
        }
    }

    /// Checks every step against `auth` with the request's token (no checks when `None`).
    pub fn with_auth(mut self, auth: Option<Arc<AuthStore>>) -> Self {
        self.auth = auth;
        self
    }

    /// The auth store and the caller of this client's request, when steps are checked.
    fn caller(&self) -> Result<Option<(&AuthStore, Caller)>, EtcdError> {
        match &self.auth {
            Some(auth) => Ok(Some((auth, auth.caller(&self.metadata)?))),
            None => Ok(None),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The metadata of the request this client serves (where its auth token is).
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// etcd's Range, with a full header.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse, EtcdError> {
        if let Some((auth, caller)) = self.caller()? {
            auth.check_range(&caller, request)?;
        }
        let mut response = self.store.range(request)?;
        self.store.fill_header(&mut response.header);
        Ok(response)
    }

    /// etcd's Txn (checked as etcd's KV server checks it), with a full header.
    pub async fn txn(&self, request: TxnRequest) -> Result<TxnResponse, EtcdError> {
        check_txn(&request, DEFAULT_MAX_TXN_OPS)?;
        if let Some((auth, caller)) = self.caller()? {
            auth.check_txn(&caller, &request)?;
        }
        let mut response = self.store.txn(request).await?;
        self.store.fill_header(&mut response.header);
        Ok(response)
    }

    /// etcd's DeleteRange of the single `key`, with a full header.
    pub async fn delete(&self, key: &[u8]) -> Result<DeleteRangeResponse, EtcdError> {
        let request = DeleteRangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        check_delete_request(&request)?;
        if let Some((auth, caller)) = self.caller()? {
            auth.check_delete(&caller, &request)?;
        }
        let mut response = self.store.delete_range(request).await?;
        self.store.fill_header(&mut response.header);
        Ok(response)
    }

    /// The lease of a session: `lease` itself unless it is 0 (etcd's `NoLease`), in which case
    /// a new lease is granted with etcd's session TTL, as `concurrency.NewSession` does.
    pub async fn session_lease(&self, lease: i64) -> Result<i64, EtcdError> {
        if lease != 0 {
            return Ok(lease);
        }
        self.caller()?;
        let (id, _ttl, _rev) = self.lessor.grant(0, SESSION_TTL).await?;
        Ok(id)
    }

    /// Whether lease `id` exists.
    pub fn lease_exists(&self, id: i64) -> bool {
        self.lessor.time_to_live(id, false).is_some()
    }

    /// The store's revisions committed from now on (see [`EventFeed`]); subscribe before
    /// reading, so that nothing committed after the read is missed.
    pub fn feed(&self) -> EventFeed {
        EventFeed::new(Arc::clone(&self.store))
    }

    /// The first (`Ascend`) or last (`Descend`) key by create revision under `prefix`, with
    /// create revisions at most `max_create_revision` (0: any), as etcd's
    /// `WithFirstCreate`/`WithLastCreate` ranges.
    pub fn by_create(
        &self,
        prefix: &[u8],
        order: SortOrder,
        max_create_revision: i64,
    ) -> Result<RangeResponse, EtcdError> {
        self.range(&RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            limit: 1,
            sort_order: order as i32,
            sort_target: SortTarget::Create as i32,
            max_create_revision,
            ..Default::default()
        })
    }

    /// The single `key`, with a full header.
    pub fn get(&self, key: &[u8]) -> Result<RangeResponse, EtcdError> {
        self.range(&RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })
    }
}
