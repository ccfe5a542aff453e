//! Leases: the table of granted leases, their expiry, and etcd's lease operations on the
//! [`Store`].
//!
//! A [`Lessor`] keeps every lease's granted TTL and expiry time in memory and records the
//! (id, granted TTL) pairs durably in the store's `lease` table. It is the store's
//! [`LeaseLookup`]: a put with a lease is accepted only while the lease exists, and the store
//! keeps the list of keys attached to each lease. Revoking a lease (by request or on expiry)
//! deletes its keys in one write: one revision, one DELETE event per key.
//!
//! Restart: only the granted TTL is persisted, so after a restart every lease gets its full
//! granted TTL again, counted from the moment the store is opened. etcd does the same when a
//! new leader takes over (without checkpoints).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use super::apply::LeaseLookup;
use super::errors::EtcdError;
use super::mvcc::Store;
use super::storage::random_id;

/// etcd's largest lease TTL in seconds (`MaxLeaseTTL`).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// etcd's smallest lease TTL with its default election timeout and heartbeat:
/// `ceil(1.5 * 1000ms)` = 2 seconds.
pub const DEFAULT_MIN_TTL: i64 = 2;

/// How often expired leases are looked for, as etcd's lessor does.
pub const DEFAULT_EXPIRY_CHECK: Duration = Duration::from_millis(500);

/// Tuning of a [`Lessor`].
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    /// Leases asked for with a shorter TTL get this one (seconds).
    pub min_ttl: i64,
    /// How often the expiry task looks for expired leases.
    pub expiry_check: Duration,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        Self {
            min_ttl: DEFAULT_MIN_TTL,
            expiry_check: DEFAULT_EXPIRY_CHECK,
        }
    }
}

/// One granted lease.
#[derive(Clone, Copy, Debug)]
struct Lease {
    /// The TTL it was granted with, in seconds.
    ttl: i64,
    /// When it expires unless kept alive.
    expiry: Instant,
}

impl Lease {
    fn new(ttl: i64, now: Instant) -> Self {
        Self {
            ttl,
            expiry: now + Duration::from_secs(ttl.max(0) as u64),
        }
    }
}

/// The leases in memory; the store asks it whether a lease exists.
#[derive(Debug, Default)]
struct LeaseTable {
    leases: Mutex<HashMap<i64, Lease>>,
}

impl LeaseTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Lease>> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LeaseLookup for LeaseTable {
    fn exists(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }
}

/// What [`Lessor::time_to_live`] reports about a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The remaining TTL in whole seconds (rounded down, as etcd does).
    pub remaining_ttl: i64,
    /// The TTL the lease was granted with.
    pub granted_ttl: i64,
    /// The keys attached to the lease, in key order (empty unless asked for).
    pub keys: Vec<Vec<u8>>,
}

/// The lease manager of a [`Store`] (see the module documentation).
pub struct Lessor {
    store: Arc<Store>,
    table: Arc<LeaseTable>,
    /// Serializes grants and revocations, so that a lease's existence check and its durable
    /// change go together.
    ops: tokio::sync::Mutex<()>,
    options: LeaseOptions,
}

impl std::fmt::Debug for Lessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lessor")
            .field("leases", &self.table.lock().len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Lessor {
    /// The lessor of `store`: loads the persisted leases (each with its full granted TTL from
    /// now on), becomes the store's lease lookup, and starts the task that revokes expired
    /// leases. Must be called inside a Tokio runtime; the task stops once the lessor is
    /// dropped.
    pub fn open(store: Arc<Store>, options: LeaseOptions) -> Result<Arc<Self>, EtcdError> {
        let now = Instant::now();
        let table = Arc::new(LeaseTable::default());
        {
            let mut leases = table.lock();
            for (id, ttl) in store.persisted_leases()? {
                leases.insert(id, Lease::new(ttl, now));
            }
        }
        store.set_lease_lookup(Arc::clone(&table) as Arc<dyn LeaseLookup>);
        let lessor = Arc::new(Self {
            store,
            table,
            ops: tokio::sync::Mutex::new(()),
            options,
        });
        tokio::spawn(expiry_loop(
            Arc::downgrade(&lessor),
            lessor.options.expiry_check,
        ));
        Ok(lessor)
    }

    /// The store the leases belong to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// etcd's LeaseGrant: grants lease `id` (a random positive id if 0) with `ttl` seconds
    /// (at least the minimum TTL); returns the id, the TTL granted and the store revision.
    pub async fn grant(&self, id: i64, ttl: i64) -> Result<(i64, i64, i64), EtcdError> {
        let _guard = self.ops.lock().await;
        let id = if id == 0 { self.new_id() } else { id };
        if ttl > MAX_LEASE_TTL {
            return Err(EtcdError::LeaseTtlTooLarge);
        }
        if self.table.exists(id) {
            return Err(EtcdError::LeaseExists);
        }
        let ttl = ttl.max(self.options.min_ttl);
        let rev = self.store.lease_grant(id, ttl).await?;
        self.table
            .lock()
            .insert(id, Lease::new(ttl, Instant::now()));
        Ok((id, ttl, rev))
    }

    /// etcd's LeaseRevoke: deletes the lease and its keys; returns the store revision after.
    pub async fn revoke(&self, id: i64) -> Result<i64, EtcdError> {
        let _guard = self.ops.lock().await;
        self.revoke_locked(id, |_| true).await
    }

    /// Revokes `id` if it exists and `still` holds for it; the caller holds `ops`.
    async fn revoke_locked(
        &self,
        id: i64,
        still: impl FnOnce(&Lease) -> bool,
    ) -> Result<i64, EtcdError> {
        // Forget the lease first: from now on puts with it fail, and the writer deletes the
        // keys attached before.
        let removed = {
            let mut leases = self.table.lock();
            match leases.get(&id) {
                Some(lease) if still(lease) => leases.remove(&id),
                _ => None,
            }
        };
        let Some(lease) = removed else {
            return Err(EtcdError::LeaseNotFound);
        };
        match self.store.lease_revoke(id).await {
            Ok(rev) => Ok(rev),
            Err(err) => {
                self.table.lock().insert(id, lease);
                Err(err)
            }
        }
    }

    /// etcd's keep-alive: restarts the lease's full TTL and returns it.
    pub fn renew(&self, id: i64) -> Result<i64, EtcdError> {
        let now = Instant::now();
        let mut leases = self.table.lock();
        match leases.get_mut(&id) {
            Some(lease) if lease.expiry > now => {
                *lease = Lease::new(lease.ttl, now);
                Ok(lease.ttl)
            }
            _ => Err(EtcdError::LeaseNotFound),
        }
    }

    /// etcd's LeaseTimeToLive, `None` if the lease does not exist.
    pub fn time_to_live(&self, id: i64, with_keys: bool) -> Option<LeaseInfo> {
        let lease = *self.table.lock().get(&id)?;
        let remaining = lease.expiry.saturating_duration_since(Instant::now());
        let keys = if with_keys {
            self.store.lease_keys(id)
        } else {
            Vec::new()
        };
        Some(LeaseInfo {
            remaining_ttl: remaining.as_secs() as i64,
            granted_ttl: lease.ttl,
            keys,
        })
    }

    /// The ids of every lease, soonest expiry first (as etcd lists them).
    pub fn leases(&self) -> Vec<i64> {
        let mut leases: Vec<(Instant, i64)> = self
            .table
            .lock()
            .iter()
            .map(|(id, lease)| (lease.expiry, *id))
            .collect();
        leases.sort_unstable();
        leases.into_iter().map(|(_, id)| id).collect()
    }

    /// Revokes every lease whose time is up.
    pub async fn revoke_expired(&self) -> Result<(), EtcdError> {
        let now = Instant::now();
        let mut expired: Vec<(Instant, i64)> = self
            .table
            .lock()
            .iter()
            .filter(|(_, lease)| lease.expiry <= now)
            .map(|(id, lease)| (lease.expiry, *id))
            .collect();
        expired.sort_unstable();
        for (_, id) in expired {
            let _guard = self.ops.lock().await;
            // A keep-alive may have come in the meantime.
            match self
                .revoke_locked(id, |lease| lease.expiry <= Instant::now())
                .await
            {
                Ok(_) | Err(EtcdError::LeaseNotFound) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// A random positive id not in use.
    fn new_id(&self) -> i64 {
        loop {
            let id = (random_id() & (i64::MAX as u64)) as i64;
            if id != 0 && !self.table.exists(id) {
                return id;
            }
        }
    }
}

async fn expiry_loop(lessor: Weak<Lessor>, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(lessor) = lessor.upgrade() else {
            return;
        };
        if let Err(err) = lessor.revoke_expired().await {
            tracing::warn!(error = %err, "revoking expired leases failed");
        }
    }
}
