//! The copy: leases granted again on the target, then every key put in bounded txns.

use std::collections::HashSet;

use anyhow::{Context, Result, bail};
use tonic::Code;

use super::batch::{Batcher, Limits};
use super::keepalive::KeepAlive;
use super::progress;
use super::source::{Source, key_after};
use super::target::Target;
use crate::etcdserverpb::{LeaseGrantRequest, PutRequest, TxnRequest};

/// What was copied.
pub struct Copied {
    /// Keys copied.
    pub keys: u64,
    /// Of them, keys attached to a lease.
    pub keys_with_lease: u64,
    /// Leases granted on the target.
    pub leases: u64,
    /// The renewal of those leases, to stop once the copy is verified.
    pub keepalive: KeepAlive,
}

/// Copies the leases and the keys of `source` into `target`.
pub async fn copy(source: &Source, target: &Target, limits: Limits) -> Result<Copied> {
    let leases = source.leases()?;
    grant_leases(target, &leases).await?;
    let keepalive = KeepAlive::start(target.lease(), leases.clone());
    let lease_ids: HashSet<i64> = leases.iter().map(|(id, _)| *id).collect();
    match copy_keys(source, target, limits, &lease_ids).await {
        Ok((keys, keys_with_lease)) => Ok(Copied {
            keys,
            keys_with_lease,
            leases: leases.len() as u64,
            keepalive,
        }),
        Err(err) => {
            keepalive.stop().await;
            Err(err)
        }
    }
}

/// Grants each lease with its id and granted TTL; a lease the target already has (possible
/// only with `--force`) is used as it is.
async fn grant_leases(target: &Target, leases: &[(i64, i64)]) -> Result<()> {
    let mut client = target.lease();
    for &(id, ttl) in leases {
        let request = LeaseGrantRequest { id, ttl };
        match client.lease_grant(request).await {
            Ok(_) => {}
            Err(status) if status.code() == Code::FailedPrecondition => {
                tracing::warn!(
                    lease = %format_args!("{id:x}"),
                    "the target already has this lease; its keys are attached to it as it is"
                );
            }
            Err(status) => {
                return Err(status).with_context(|| {
                    format!("cannot grant lease {id:x} (TTL {ttl}s) on {}", target.url())
                });
            }
        }
    }
    Ok(())
}

/// Puts every key of `source` into `target`; returns (keys, keys with a lease).
async fn copy_keys(
    source: &Source,
    target: &Target,
    limits: Limits,
    lease_ids: &HashSet<i64>,
) -> Result<(u64, u64)> {
    let bar = progress::keys("copying", source.key_count()?);
    let mut batcher = Batcher::new(limits);
    let (mut keys, mut keys_with_lease) = (0, 0);
    let mut start = Vec::new();
    loop {
        let page = source.page(&start)?;
        let Some(last) = page.last() else {
            break;
        };
        start = key_after(&last.key);
        for kv in page {
            if kv.lease != 0 {
                if !lease_ids.contains(&kv.lease) {
                    bail!(
                        "key {:?} is attached to lease {:x}, which the store does not record",
                        String::from_utf8_lossy(&kv.key),
                        kv.lease
                    );
                }
                keys_with_lease += 1;
            }
            keys += 1;
            let put = PutRequest {
                key: kv.key,
                value: kv.value,
                lease: kv.lease,
                ..Default::default()
            };
            if let Some(txn) = batcher.push(put) {
                send(target, txn).await?;
                bar.set_position(keys - 1);
            }
        }
    }
    if let Some(txn) = batcher.take() {
        send(target, txn).await?;
    }
    bar.set_position(keys);
    bar.finish_and_clear();
    Ok((keys, keys_with_lease))
}

/// Sends one txn of puts.
async fn send(target: &Target, txn: TxnRequest) -> Result<()> {
    let ops = txn.success.len();
    let first = match txn.success.first().and_then(|op| op.request.as_ref()) {
        Some(crate::etcdserverpb::request_op::Request::RequestPut(put)) => {
            String::from_utf8_lossy(&put.key).into_owned()
        }
        _ => String::new(),
    };
    target.kv().txn(txn).await.with_context(|| {
        format!(
            "cannot write {ops} keys from {first:?} on into {}",
            target.url()
        )
    })?;
    Ok(())
}
