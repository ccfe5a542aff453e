//! etcd's `Mutex` (client/v3/concurrency/mutex.go) as etcd 3.5.1's v3lock server runs it:
//! one session per request, on the request's lease (a new one for lease 0).

use super::cancel::Cancel;
use super::client::KvClient;
use super::error::ConcurrencyError;
use super::ops::{created_at, first_kv, put_op, range_op};
use super::wait::{WaitEnd, wait_deletes};
use super::{name_prefix, prefix_end, session_key};
use crate::embedded::errors::EtcdError;
use crate::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::etcdserverpb::{RangeRequest, ResponseHeader, TxnRequest};

/// etcd's `Mutex.Lock`: puts the session's key under `name/` (or reuses it if it exists) and
/// waits until every key created before it is gone; answers the header and the key. When the
/// wait fails or the caller goes away, the key is deleted, as etcd's `Unlock` on that path.
pub async fn lock(
    client: &KvClient,
    name: &[u8],
    lease: i64,
    cancel: &mut Cancel,
) -> Result<(ResponseHeader, Vec<u8>), ConcurrencyError> {
    let lease = client.session_lease(lease).await?;
    let prefix = name_prefix(name);
    let key = session_key(&prefix, lease);
    let owner = range_op(RangeRequest {
        key: prefix.clone(),
        range_end: prefix_end(&prefix),
        limit: 1,
        sort_order: SortOrder::Ascend as i32,
        sort_target: SortTarget::Create as i32,
        ..Default::default()
    });
    let response = client
        .txn(TxnRequest {
            compare: vec![created_at(&key, 0)],
            success: vec![put_op(&key, b"", lease), owner.clone()],
            failure: vec![
                range_op(RangeRequest {
                    key: key.clone(),
                    ..Default::default()
                }),
                owner,
            ],
        })
        .await?;
    let header = response.header.unwrap_or_default();
    let my_rev = if response.succeeded {
        header.revision
    } else {
        first_kv(&response.responses, 0)
            .ok_or(EtcdError::KeyNotFound)?
            .create_revision
    };
    let holder = first_kv(&response.responses, 1);
    if holder.is_none_or(|holder| holder.create_revision == my_rev) {
        if response.succeeded && cancel.is_cancelled() {
            let _ = client.delete(&key).await;
            return Err(ConcurrencyError::Cancelled);
        }
        return Ok((header, key));
    }
    let waited = wait_deletes(client, &prefix, my_rev - 1, &key, cancel).await;
    match waited {
        Ok(_) => {}
        // The key is gone already: nothing to release.
        Err(WaitEnd::OwnKeyDeleted) => return Err(ConcurrencyError::SessionExpired),
        Err(end) => {
            let _ = client.delete(&key).await;
            return Err(end.into());
        }
    }
    // The key must still be there (the session has not expired).
    let mine = match client.get(&key) {
        Ok(mine) => mine,
        Err(err) => {
            let _ = client.delete(&key).await;
            return Err(err.into());
        }
    };
    if mine.kvs.is_empty() {
        return Err(ConcurrencyError::SessionExpired);
    }
    if cancel.is_cancelled() {
        let _ = client.delete(&key).await;
        return Err(ConcurrencyError::Cancelled);
    }
    Ok((mine.header.unwrap_or_default(), key))
}

/// etcd's `Unlock` of the v3lock server: deletes `key`; answers the delete's header.
pub async fn unlock(client: &KvClient, key: &[u8]) -> Result<ResponseHeader, ConcurrencyError> {
    let response = client.delete(key).await?;
    Ok(response.header.unwrap_or_default())
}
