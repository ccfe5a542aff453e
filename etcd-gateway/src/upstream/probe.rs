//! Health probing: every member is asked for its `Maintenance.Status` at a fixed interval; one
//! that does not answer in time is taken out of rotation, one that answers is put back.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use super::member::Member;
use crate::etcdserverpb::StatusRequest;
use crate::etcdserverpb::maintenance_client::MaintenanceClient;

/// The shortest time a probe is given to answer.
const MIN_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Starts one probing task per member of `members`; each ends when `members` is dropped.
pub fn spawn(members: &Arc<[Member]>, interval: Duration, runtime: &tokio::runtime::Handle) {
    for index in 0..members.len() {
        runtime.spawn(probe_loop(Arc::downgrade(members), index, interval));
    }
}

async fn probe_loop(members: Weak<[Member]>, index: usize, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(members) = members.upgrade() else {
            return;
        };
        let member = &members[index];
        match probe(member, interval.max(MIN_PROBE_TIMEOUT)).await {
            Ok(()) => member.mark_healthy(),
            Err(why) => member.mark_unhealthy(&why),
        }
    }
}

/// Asks `member` for its status; the error says why it is not usable.
async fn probe(member: &Member, timeout: Duration) -> Result<(), String> {
    let mut request = tonic::Request::new(StatusRequest {});
    request.set_timeout(timeout);
    let mut client = MaintenanceClient::new(member.channel());
    let call = client.status(request);
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(format!("status probe failed: {}", status.message())),
        Err(_) => Err(format!("status probe not answered within {timeout:?}")),
    }
}
