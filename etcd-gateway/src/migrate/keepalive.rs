//! Keeps the leases granted on the target alive while the migration runs, so that a short
//! lease does not expire (and delete its keys) before the copy is verified. Once the
//! migration ends each lease counts down its full TTL from its last renewal.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::codegen::tokio_stream::StreamExt;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;

use super::target::Connection;
use crate::etcdserverpb::LeaseKeepAliveRequest;
use crate::etcdserverpb::lease_client::LeaseClient;

/// How often the renewals due are looked for.
const TICK: Duration = Duration::from_millis(500);

/// Keep-alive requests queued for the stream at most.
const QUEUE: usize = 1024;

/// The background task renewing the leases; [`KeepAlive::stop`] ends it.
pub struct KeepAlive {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl KeepAlive {
    /// Nothing to keep alive.
    pub fn none() -> Self {
        Self {
            stop: None,
            task: None,
        }
    }

    /// Renews each of `leases` (id, TTL in seconds) every third of its TTL, over one
    /// keep-alive stream of `client`. A failed stream is logged and not retried: the leases
    /// then live their full TTL from the last renewal.
    pub fn start(client: LeaseClient<Connection>, leases: Vec<(i64, i64)>) -> Self {
        if leases.is_empty() {
            return Self::none();
        }
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(renew(client, leases, stopped));
        Self {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops renewing and waits for the task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn renew(
    mut client: LeaseClient<Connection>,
    leases: Vec<(i64, i64)>,
    mut stopped: oneshot::Receiver<()>,
) {
    let (requests, queue) = mpsc::channel(QUEUE);
    // etcd answers the stream's headers with its first answer: renew every lease once now,
    // so the stream opens at once.
    let start = Instant::now();
    let mut due: Vec<(i64, Duration, Instant)> = leases
        .into_iter()
        .map(|(id, ttl)| (id, Duration::from_secs(ttl.max(1) as u64) / 3, start))
        .collect();
    send_due(&requests, &mut due);
    let opened = tokio::select! {
        _ = &mut stopped => return,
        opened = client.lease_keep_alive(ReceiverStream::new(queue)) => opened,
    };
    let mut responses = match opened {
        Ok(response) => response.into_inner(),
        Err(status) => {
            tracing::warn!(%status, "cannot keep the target's leases alive");
            return;
        }
    };
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            answer = responses.next() => match answer {
                Some(Ok(_)) => {}
                Some(Err(status)) => {
                    tracing::warn!(%status, "the target's lease keep-alive stream failed");
                    return;
                }
                None => return,
            },
            _ = ticks.tick() => {
                if !send_due(&requests, &mut due) {
                    return;
                }
            }
        }
    }
}

/// Queues a renewal of each lease whose time has come, as far as the queue has room; false
/// once the stream is gone.
fn send_due(
    requests: &mpsc::Sender<LeaseKeepAliveRequest>,
    due: &mut [(i64, Duration, Instant)],
) -> bool {
    let now = Instant::now();
    for (id, every, next) in due {
        if *next > now {
            continue;
        }
        match requests.try_send(LeaseKeepAliveRequest { id: *id }) {
            Ok(()) => *next = now + *every,
            // The stream is behind: the rest waits for the next tick.
            Err(mpsc::error::TrySendError::Full(_)) => break,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
        }
    }
    true
}
