//! [`EventFeed`]: every revision the store commits after a point, in order and without gaps.
//!
//! Live revisions come from the store's event broadcast; a feed that falls behind it reads
//! the missed revisions back from the store's history, in bounded batches, before taking live
//! ones again. The revisions a caller has already read (with a range at some revision) are
//! skipped with [`EventFeed::skip_through`].

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::embedded::errors::EtcdError;
use crate::embedded::mvcc::{RevisionEvents, Store};

/// The most revisions read back from history at once.
pub const HISTORY_BATCH: usize = 256;

/// The store's committed revisions in order (see the module documentation).
pub struct EventFeed {
    store: Arc<Store>,
    live: broadcast::Receiver<Arc<RevisionEvents>>,
    /// Every revision up to this one has been handed out or skipped.
    through: i64,
    /// Revisions read from history, not handed out yet.
    backlog: VecDeque<Arc<RevisionEvents>>,
    /// The live broadcast went past revisions this feed has not handed out.
    behind: bool,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed")
            .field("through", &self.through)
            .field("behind", &self.behind)
            .finish_non_exhaustive()
    }
}

impl EventFeed {
    /// The revisions `store` commits from now on.
    pub fn new(store: Arc<Store>) -> Self {
        let live = store.subscribe();
        let through = store.current_revision();
        Self {
            store,
            live,
            through,
            backlog: VecDeque::new(),
            behind: false,
        }
    }

    /// Skips every revision up to `revision` (already read by the caller).
    pub fn skip_through(&mut self, revision: i64) {
        self.through = self.through.max(revision);
        while self
            .backlog
            .front()
            .is_some_and(|next| next.revision <= revision)
        {
            self.backlog.pop_front();
        }
    }

    /// The next committed revision. Fails if history it needs was compacted away or the
    /// store stopped.
    pub async fn next(&mut self) -> Result<Arc<RevisionEvents>, EtcdError> {
        loop {
            if let Some(revision) = self.backlog.pop_front() {
                return Ok(revision);
            }
            if self.behind {
                self.read_history()?;
                continue;
            }
            match self.live.recv().await {
                Ok(revision) if revision.revision <= self.through => {}
                Ok(revision) => {
                    self.through = revision.revision;
                    return Ok(revision);
                }
                Err(RecvError::Lagged(_)) => self.behind = true,
                Err(RecvError::Closed) => return Err(EtcdError::Stopped),
            }
        }
    }

    /// Reads one batch of missed revisions into the backlog.
    fn read_history(&mut self) -> Result<(), EtcdError> {
        let history = self.store.history(self.through + 1, HISTORY_BATCH, false)?;
        self.behind = history.events.len() == HISTORY_BATCH;
        self.backlog
            .extend(history.events.into_iter().map(Arc::new));
        self.through = self.through.max(history.through_revision);
        Ok(())
    }
}
