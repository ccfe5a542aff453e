//! Cancellation of a waiter when its caller goes away.
//!
//! A service runs each waiting operation as its own task, holding a [`CancelGuard`] while it
//! awaits the answer. When the caller goes away (the client disconnected, or its deadline
//! passed), the request future is dropped with the guard, and the task's [`Cancel`] fires:
//! the operation stops waiting and removes what etcd removes on a cancelled context.

use std::future::Future;

use tokio::sync::oneshot;
use tonic::Status;

/// Held by the request future; dropping it cancels the paired [`Cancel`].
#[derive(Debug)]
pub struct CancelGuard {
    _alive: oneshot::Sender<()>,
}

/// The task's side: resolves once the paired [`CancelGuard`] is dropped.
#[derive(Debug)]
pub struct Cancel {
    dropped: oneshot::Receiver<()>,
    /// The guard is known to be dropped (the receiver must not be polled again).
    fired: bool,
}

/// A guard and the cancellation it controls.
pub fn cancel_pair() -> (CancelGuard, Cancel) {
    let (alive, dropped) = oneshot::channel();
    (
        CancelGuard { _alive: alive },
        Cancel {
            dropped,
            fired: false,
        },
    )
}

impl Cancel {
    /// Resolves once the caller has gone away.
    pub async fn cancelled(&mut self) {
        if !self.fired {
            let _ = (&mut self.dropped).await;
            self.fired = true;
        }
    }

    /// Whether the caller has gone away.
    pub fn is_cancelled(&mut self) -> bool {
        if !self.fired {
            self.fired = !matches!(
                self.dropped.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            );
        }
        self.fired
    }
}

/// Runs `operation` as its own task and waits for its answer. If the caller goes away (this
/// future is dropped), the task keeps running with its [`Cancel`] fired, so that it can stop
/// waiting and clean up.
pub async fn detached<T, F, Fut>(operation: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce(Cancel) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let (guard, cancel) = cancel_pair();
    let task = tokio::spawn(operation(cancel));
    let answer = task.await;
    drop(guard);
    answer.map_err(|err| Status::internal(format!("the operation failed: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_guard_cancels() {
        let (guard, mut cancel) = cancel_pair();
        assert!(!cancel.is_cancelled());
        drop(guard);
        assert!(cancel.is_cancelled());
        cancel.cancelled().await;
    }
}
