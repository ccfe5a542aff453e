//! etcd's `waitDeletes`: waiting until no key of a prefix has a create revision at or below
//! a bound, driven by the store's events.

use super::cancel::Cancel;
use super::client::KvClient;
use super::error::ConcurrencyError;
use crate::embedded::errors::EtcdError;
use crate::etcdserverpb::ResponseHeader;
use crate::etcdserverpb::range_request::SortOrder;
use crate::mvccpb::event::EventType;

/// How a wait for deletions ended without the deletions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// The caller went away.
    Cancelled,
    /// The waiter's own key was deleted (its lease expired or was revoked, or it was
    /// deleted).
    OwnKeyDeleted,
    /// A read failed.
    Failed(EtcdError),
}

impl From<EtcdError> for WaitEnd {
    fn from(err: EtcdError) -> Self {
        Self::Failed(err)
    }
}

impl From<WaitEnd> for ConcurrencyError {
    fn from(end: WaitEnd) -> Self {
        match end {
            WaitEnd::Cancelled => Self::Cancelled,
            WaitEnd::OwnKeyDeleted => Self::SessionExpired,
            WaitEnd::Failed(err) => Self::Kv(err),
        }
    }
}

/// Waits until every key under `prefix` with a create revision at most `max_create_rev` is
/// deleted, as etcd's `waitDeletes`: read the newest such key, wait for its deletion, read
/// again. Stops early when `cancel` fires or `own_key` is deleted. Returns the header of the
/// last read.
pub async fn wait_deletes(
    client: &KvClient,
    prefix: &[u8],
    max_create_rev: i64,
    own_key: &[u8],
    cancel: &mut Cancel,
) -> Result<ResponseHeader, WaitEnd> {
    // Subscribed before the first read: every change after a read reaches the feed.
    let mut feed = client.feed();
    loop {
        let newest = client.by_create(prefix, SortOrder::Descend, max_create_rev)?;
        let header = newest.header.unwrap_or_default();
        feed.skip_through(header.revision);
        if client.get(own_key)?.kvs.is_empty() {
            return Err(WaitEnd::OwnKeyDeleted);
        }
        let Some(blocking) = newest.kvs.into_iter().next() else {
            return Ok(header);
        };
        loop {
            let revision = tokio::select! {
                () = cancel.cancelled() => return Err(WaitEnd::Cancelled),
                revision = feed.next() => revision?,
            };
            let deleted = |key: &[u8]| {
                revision.events.iter().any(|event| {
                    event.r#type == EventType::Delete as i32
                        && event.kv.as_ref().is_some_and(|kv| kv.key == key)
                })
            };
            if deleted(own_key) {
                return Err(WaitEnd::OwnKeyDeleted);
            }
            if deleted(&blocking.key) {
                break;
            }
        }
    }
}
