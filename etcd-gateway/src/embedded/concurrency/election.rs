//! etcd's `Election` (client/v3/concurrency/election.go) as etcd 3.5.1's v3election server
//! runs it: one session per request, on the request's lease (a new one for lease 0).

use tokio::sync::mpsc;
use tonic::Status;

use super::cancel::Cancel;
use super::client::KvClient;
use super::error::ConcurrencyError;
use super::ops::{created_at, first_kv, put_op, range_op};
use super::wait::{WaitEnd, wait_deletes};
use super::{name_prefix, session_key};
use crate::embedded::errors::EtcdError;
use crate::etcdserverpb::range_request::SortOrder;
use crate::etcdserverpb::request_op::Request;
use crate::etcdserverpb::{
    DeleteRangeRequest, RangeRequest, RequestOp, ResponseHeader, TxnRequest,
};
use crate::mvccpb::KeyValue;
use crate::mvccpb::event::EventType;
use crate::v3electionpb::{LeaderKey, LeaderResponse};

/// etcd's `Campaign`: puts the session's key under `name/` (or takes it over if it exists,
/// proclaiming `value` if it differs) and waits until every key created before it is gone.
/// Answers the header of the first txn and the leader key. A cancelled campaign resigns.
pub async fn campaign(
    client: &KvClient,
    name: &[u8],
    lease: i64,
    value: &[u8],
    cancel: &mut Cancel,
) -> Result<(ResponseHeader, LeaderKey), ConcurrencyError> {
    let lease = client.session_lease(lease).await?;
    let prefix = name_prefix(name);
    let key = session_key(&prefix, lease);
    let response = client
        .txn(TxnRequest {
            compare: vec![created_at(&key, 0)],
            success: vec![put_op(&key, value, lease)],
            failure: vec![range_op(RangeRequest {
                key: key.clone(),
                ..Default::default()
            })],
        })
        .await?;
    let header = response.header.unwrap_or_default();
    let mut leader_rev = header.revision;
    if !response.succeeded {
        let existing = first_kv(&response.responses, 0).ok_or(EtcdError::KeyNotFound)?;
        leader_rev = existing.create_revision;
        if existing.value != value
            && let Err(err) = proclaim_as(client, &key, leader_rev, lease, value).await
        {
            // etcd resigns and answers the proclaim's error.
            let _ = resign_as(client, &key, leader_rev).await;
            return Err(err);
        }
    }
    match wait_deletes(client, &prefix, leader_rev - 1, &key, cancel).await {
        Ok(_) => {}
        Err(WaitEnd::Cancelled) => {
            let _ = resign_as(client, &key, leader_rev).await;
            return Err(ConcurrencyError::Cancelled);
        }
        Err(WaitEnd::OwnKeyDeleted) if client.lease_exists(lease) => {
            return Err(ConcurrencyError::NotLeader);
        }
        Err(WaitEnd::OwnKeyDeleted) => return Err(EtcdError::LeaseNotFound.into()),
        Err(WaitEnd::Failed(err)) => return Err(err.into()),
    }
    if cancel.is_cancelled() {
        // Nobody will learn of this leadership: give it up.
        let _ = resign_as(client, &key, leader_rev).await;
        return Err(ConcurrencyError::Cancelled);
    }
    let leader = LeaderKey {
        name: name.to_vec(),
        key,
        rev: leader_rev,
        lease,
    };
    Ok((header, leader))
}

/// etcd's `Proclaim` for a resumed election: puts `value` on the leader key if it still has
/// the leader's create revision (on the session's lease); `election: not leader` otherwise.
pub async fn proclaim(
    client: &KvClient,
    leader: &LeaderKey,
    value: &[u8],
) -> Result<ResponseHeader, ConcurrencyError> {
    let lease = client.session_lease(leader.lease).await?;
    proclaim_as(client, &leader.key, leader.rev, lease, value).await
}

async fn proclaim_as(
    client: &KvClient,
    key: &[u8],
    rev: i64,
    lease: i64,
    value: &[u8],
) -> Result<ResponseHeader, ConcurrencyError> {
    let response = client
        .txn(TxnRequest {
            compare: vec![created_at(key, rev)],
            success: vec![put_op(key, value, lease)],
            failure: Vec::new(),
        })
        .await?;
    if !response.succeeded {
        return Err(ConcurrencyError::NotLeader);
    }
    Ok(response.header.unwrap_or_default())
}

/// etcd's `Resign` for a resumed election: deletes the leader key if it still has the
/// leader's create revision; answers the txn's header either way.
pub async fn resign(
    client: &KvClient,
    leader: &LeaderKey,
) -> Result<ResponseHeader, ConcurrencyError> {
    // The session is created (a lease granted for lease 0) and orphaned, as etcd does.
    client.session_lease(leader.lease).await?;
    resign_as(client, &leader.key, leader.rev).await
}

async fn resign_as(
    client: &KvClient,
    key: &[u8],
    rev: i64,
) -> Result<ResponseHeader, ConcurrencyError> {
    let response = client
        .txn(TxnRequest {
            compare: vec![created_at(key, rev)],
            success: vec![RequestOp {
                request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                    key: key.to_vec(),
                    ..Default::default()
                })),
            }],
            failure: Vec::new(),
        })
        .await?;
    Ok(response.header.unwrap_or_default())
}

/// etcd's `Leader`: the key under `name/` with the lowest create revision.
pub fn leader(client: &KvClient, name: &[u8]) -> Result<LeaderResponse, ConcurrencyError> {
    let response = client.by_create(&name_prefix(name), SortOrder::Ascend, 0)?;
    let kv = response
        .kvs
        .into_iter()
        .next()
        .ok_or(ConcurrencyError::NoLeader)?;
    Ok(LeaderResponse {
        header: response.header,
        kv: Some(kv),
    })
}

/// etcd's `Observe`: sends the leader of `name`, then every new value it proclaims, then the
/// next leader once its key is deleted, and so on, until `out` is closed or a read fails
/// (which ends the stream without an error, as etcd's does).
pub async fn observe(
    client: &KvClient,
    name: &[u8],
    out: &mpsc::Sender<Result<LeaderResponse, Status>>,
) {
    let _ = observe_until_closed(client, name, out).await;
}

/// Why observing stopped.
enum Stop {
    Closed,
    Failed,
}

impl From<EtcdError> for Stop {
    fn from(_: EtcdError) -> Self {
        Self::Failed
    }
}

async fn observe_until_closed(
    client: &KvClient,
    name: &[u8],
    out: &mpsc::Sender<Result<LeaderResponse, Status>>,
) -> Result<(), Stop> {
    let prefix = name_prefix(name);
    let end = super::prefix_end(&prefix);
    // Subscribed before the first read: every change after a read reaches the feed.
    let mut feed = client.feed();
    let next = async |feed: &mut super::EventFeed| {
        tokio::select! {
            () = out.closed() => Err(Stop::Closed),
            revision = feed.next() => Ok(revision?),
        }
    };
    loop {
        let first = client.by_create(&prefix, SortOrder::Ascend, 0)?;
        let read_header = first.header.unwrap_or_default();
        feed.skip_through(read_header.revision);
        let (header, leader) = match first.kvs.into_iter().next() {
            Some(kv) => (read_header, kv),
            None => loop {
                // No leader yet: the first key put under the prefix is the leader.
                let revision = next(&mut feed).await?;
                let put = revision.events.iter().find_map(|event| {
                    let kv = event.kv.as_ref()?;
                    let under = kv.key >= prefix && kv.key < end;
                    (event.r#type == EventType::Put as i32 && under).then(|| kv.clone())
                });
                if let Some(kv) = put {
                    break (client.store().header(kv.mod_revision), kv);
                }
            },
        };
        send(out, header, leader.clone()).await?;
        // The leader's changes until its key is deleted.
        'leader: loop {
            let revision = next(&mut feed).await?;
            for event in &revision.events {
                let Some(kv) = event.kv.as_ref().filter(|kv| kv.key == leader.key) else {
                    continue;
                };
                if event.r#type == EventType::Delete as i32 {
                    break 'leader;
                }
                let header = client.store().header(revision.revision);
                send(out, header, kv.clone()).await?;
            }
        }
    }
}

async fn send(
    out: &mpsc::Sender<Result<LeaderResponse, Status>>,
    header: ResponseHeader,
    kv: KeyValue,
) -> Result<(), Stop> {
    let response = LeaderResponse {
        header: Some(header),
        kv: Some(kv),
    };
    out.send(Ok(response)).await.map_err(|_| Stop::Closed)
}
