//! Deadlines: the one status every call ends with when its deadline passes.
//!
//! A passed deadline shows in different ways depending on who notices it first: the gateway's
//! own timer, tonic's timeout layer (`Cancelled`, "Timeout expired"), or the upstream
//! (`DeadlineExceeded`). Whatever noticed it, the client gets what etcd's gateway answers:
//! `DeadlineExceeded` with the message `context deadline exceeded` (HTTP 504).

use std::error::Error as StdError;

use tokio::time::Instant;
use tonic::{Code, Status};

/// The message etcd's gateway (Go's `context.DeadlineExceeded`) gives a passed deadline.
pub const DEADLINE_EXCEEDED_MESSAGE: &str = "context deadline exceeded";

/// The status of a call whose deadline passed: `DeadlineExceeded`, `context deadline exceeded`.
pub fn deadline_exceeded() -> Status {
    Status::deadline_exceeded(DEADLINE_EXCEEDED_MESSAGE)
}

/// Whether `err` or one of its causes is tonic's [`tonic::TimeoutExpired`] (its timeout layer
/// gave up on the call because the `grpc-timeout` passed).
pub fn is_timeout_expired(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<tonic::TimeoutExpired>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// The status a failed call with `deadline` ends with: [`deadline_exceeded`] when the failure is
/// a deadline however it was worded (`DeadlineExceeded`, or tonic's `Cancelled` "Timeout
/// expired"), or when it came after the deadline had passed (a Go client whose context expired
/// reports `DeadlineExceeded` whatever the server answers later, e.g. etcd 3.4's lock service
/// `Unknown` "context deadline exceeded"); `status` unchanged otherwise.
pub(crate) fn settle(status: Status, deadline: Option<Instant>) -> Status {
    let passed = deadline.is_some_and(|deadline| Instant::now() >= deadline);
    let tonic_timeout = status.code() == Code::Cancelled
        && status.message() == tonic::TimeoutExpired(()).to_string().as_str();
    if passed || tonic_timeout || status.code() == Code::DeadlineExceeded {
        deadline_exceeded()
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_failure_after_the_deadline_is_a_passed_deadline() {
        let past = Some(Instant::now() - Duration::from_millis(1));
        let future = Some(Instant::now() + Duration::from_secs(60));
        let expired = settle(Status::cancelled("Timeout expired"), past);
        assert_eq!(expired.code(), Code::DeadlineExceeded);
        assert_eq!(expired.message(), "context deadline exceeded");
        let cancelled = settle(Status::cancelled("client gone"), future);
        assert_eq!(cancelled.code(), Code::Cancelled);
        assert_eq!(
            settle(Status::cancelled("gone"), None).code(),
            Code::Cancelled
        );
        let upstream = settle(Status::deadline_exceeded("timed out"), None);
        assert_eq!(upstream.message(), "context deadline exceeded");
        let late = settle(Status::unknown("context deadline exceeded"), past);
        assert_eq!(late.code(), Code::DeadlineExceeded);
        let other = settle(Status::not_found("x"), future);
        assert_eq!(other.code(), Code::NotFound);
    }

    #[test]
    fn tonic_timeouts_are_passed_deadlines() {
        let status = Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert_eq!(status.code(), Code::Cancelled);
        assert_eq!(settle(status, None).code(), Code::DeadlineExceeded);
        assert!(is_timeout_expired(&tonic::TimeoutExpired(())));
        assert!(!is_timeout_expired(&std::io::Error::other("refused")));
    }
}
