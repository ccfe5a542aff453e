//! What counts as a lost upstream connection, and how long and how often to try again.

use std::time::Duration;

use tonic::{Code, Status};

/// The first pause between two attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether `status` means the upstream stream was lost (rather than answered with an error
/// the client must see): `Unavailable` (refused connection, no leader, member stopping), or
/// a transport failure (`h2 protocol error`, broken connection) reported as another code.
pub fn is_connection_loss(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable => true,
        Code::Unknown | Code::Internal | Code::Cancelled => {
            let message = status.message();
            [
                "h2 protocol error",
                "transport error",
                "connection",
                "broken pipe",
            ]
            .iter()
            .any(|sign| message.contains(sign))
        }
        _ => false,
    }
}

/// The final status of a stream whose upstream could not be reached again within `timeout`.
pub fn gave_up(timeout: Duration, last: &Status) -> Status {
    Status::unavailable(format!(
        "upstream stream lost and not resumed within {timeout:?}: {}",
        last.message()
    ))
}

/// Exponential pauses between attempts, from 50 ms up to 1 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: FIRST_BACKOFF,
        }
    }
}

impl Backoff {
    /// The pause before the next attempt (doubling each time, capped).
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }

    /// Starts again from the first pause (after a success).
    pub fn reset(&mut self) {
        self.next = FIRST_BACKOFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_losses_answers_are_not() {
        assert!(is_connection_loss(&Status::unavailable(
            "etcdserver: no leader"
        )));
        assert!(is_connection_loss(&Status::unknown(
            "h2 protocol error: error reading a body from connection"
        )));
        assert!(!is_connection_loss(&Status::permission_denied(
            "etcdserver: permission denied"
        )));
        assert!(!is_connection_loss(&Status::unknown(
            "context deadline exceeded"
        )));
        assert!(!is_connection_loss(&Status::invalid_argument("bad")));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..7).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next_pause(), FIRST_BACKOFF);
    }
}
