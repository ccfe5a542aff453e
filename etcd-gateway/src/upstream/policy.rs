//! Which calls may be sent again, and after which failures.
//!
//! * A *read* (a call that changes nothing) is retried on another member whatever happened
//!   to the first attempt: connection refused or lost, or the member answering `Unavailable`
//!   (no leader, leader changed).
//! * A *write* is retried only when it cannot have reached a member: the connection could
//!   not be opened. Once it may have been sent, its failure is the client's answer
//!   (`Unavailable`), so a write is applied at most once.
//! * A *stream* is never retried here: its request body is consumed as it is sent.

use std::error::Error as StdError;

/// How a call may be retried; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A unary call that changes nothing.
    Read,
    /// Any other unary call (unknown methods included).
    Write,
    /// A client-, server- or bidirectional-streaming call.
    Stream,
}

/// etcd's streaming methods, by gRPC path.
const STREAMS: &[&str] = &[
    "/etcdserverpb.Watch/Watch",
    "/etcdserverpb.Lease/LeaseKeepAlive",
    "/etcdserverpb.Maintenance/Snapshot",
    "/v3electionpb.Election/Observe",
];

/// etcd's unary methods that change nothing, by gRPC path.
const READS: &[&str] = &[
    "/etcdserverpb.KV/Range",
    "/etcdserverpb.Maintenance/Status",
    "/etcdserverpb.Maintenance/Hash",
    "/etcdserverpb.Maintenance/HashKV",
    "/etcdserverpb.Cluster/MemberList",
    "/etcdserverpb.Lease/LeaseTimeToLive",
    "/etcdserverpb.Lease/LeaseLeases",
    "/etcdserverpb.Auth/AuthStatus",
    "/etcdserverpb.Auth/Authenticate",
    "/etcdserverpb.Auth/UserGet",
    "/etcdserverpb.Auth/UserList",
    "/etcdserverpb.Auth/RoleGet",
    "/etcdserverpb.Auth/RoleList",
    "/v3electionpb.Election/Leader",
];

impl CallKind {
    /// The kind of the call to gRPC `path` (`/package.Service/Method`).
    pub fn of(path: &str) -> Self {
        if STREAMS.contains(&path) {
            Self::Stream
        } else if READS.contains(&path) {
            Self::Read
        } else {
            Self::Write
        }
    }
}

/// How one attempt of a unary call failed.
#[derive(Debug)]
pub enum Failure {
    /// The member could not be reached: nothing was sent.
    NotSent(String),
    /// The connection failed after the request may have been sent.
    Lost(String),
    /// The member answered `Unavailable` (e.g. no leader); it stays in rotation.
    Unavailable(tonic::Status),
    /// The call took longer than its deadline.
    DeadlineExceeded,
}

impl Failure {
    /// Classifies a transport error of the member's channel.
    pub fn of_transport_error(err: &(dyn StdError + 'static)) -> Self {
        if in_chain::<tonic::TimeoutExpired>(err) {
            Self::DeadlineExceeded
        } else if in_chain::<tonic::ConnectError>(err) {
            Self::NotSent(describe(err))
        } else {
            Self::Lost(describe(err))
        }
    }

    /// Whether a call of `kind` may be sent again (to another member) after this failure.
    pub fn may_retry(&self, kind: CallKind) -> bool {
        match (self, kind) {
            (Self::DeadlineExceeded, _) | (_, CallKind::Stream) => false,
            (Self::NotSent(_), _) => true,
            (Self::Lost(_) | Self::Unavailable(_), kind) => kind == CallKind::Read,
        }
    }

    /// Whether the failure says the member's connection is broken (take it out of rotation).
    pub fn is_connection_failure(&self) -> bool {
        matches!(self, Self::NotSent(_) | Self::Lost(_))
    }

    /// The status the client gets when this is the call's last failure: `Unavailable` when the
    /// upstream is lost, never `Unknown`/`Internal`. A passed deadline, the client's
    /// `Grpc-Timeout` or the gateway's `--request-timeout`, is `DeadlineExceeded` (`context
    /// deadline exceeded`, 504), as etcd's gateway reports a deadline that passed.
    pub fn into_status(self) -> tonic::Status {
        match self {
            Self::NotSent(why) | Self::Lost(why) => tonic::Status::unavailable(why),
            Self::Unavailable(status) => status,
            Self::DeadlineExceeded => gateway_runtime::deadline_exceeded(),
        }
    }
}

/// Where a unary call's deadline comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The client's `Grpc-Timeout`, shorter than the default.
    Client(std::time::Duration),
    /// The gateway's `--request-timeout`.
    Default(std::time::Duration),
}

impl Deadline {
    /// The deadline of a call that asked for `asked` (if anything), given the default.
    pub fn of(asked: Option<std::time::Duration>, default: std::time::Duration) -> Self {
        match asked {
            Some(asked) if asked < default => Self::Client(asked),
            _ => Self::Default(default),
        }
    }

    /// The time the call is given.
    pub fn timeout(&self) -> std::time::Duration {
        match *self {
            Self::Client(timeout) | Self::Default(timeout) => timeout,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotSent(why) => write!(f, "not sent: {why}"),
            Self::Lost(why) => write!(f, "connection lost: {why}"),
            Self::Unavailable(status) => write!(f, "unavailable: {}", status.message()),
            Self::DeadlineExceeded => f.write_str("deadline exceeded"),
        }
    }
}

/// Whether `err` or one of its causes is an `E` (tonic marks connect errors and expired
/// deadlines so).
fn in_chain<E: StdError + 'static>(err: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<E>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// The error and its causes on one line, without repeats (`transport error: tcp connect
/// error: Connection refused (os error 111)`).
pub fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{CallKind, Deadline, Failure};

    #[test]
    fn calls_are_classified_by_path() {
        assert_eq!(CallKind::of("/etcdserverpb.KV/Range"), CallKind::Read);
        assert_eq!(CallKind::of("/etcdserverpb.KV/Put"), CallKind::Write);
        assert_eq!(CallKind::of("/etcdserverpb.KV/Txn"), CallKind::Write);
        assert_eq!(
            CallKind::of("/etcdserverpb.Lease/LeaseGrant"),
            CallKind::Write
        );
        assert_eq!(CallKind::of("/etcdserverpb.Watch/Watch"), CallKind::Stream);
        assert_eq!(CallKind::of("/unknown.Service/Call"), CallKind::Write);
    }

    #[test]
    fn only_reads_are_retried_after_sending() {
        let connect = tonic::ConnectError("connection refused".into());
        let not_sent = Failure::of_transport_error(&connect);
        assert!(matches!(not_sent, Failure::NotSent(_)));
        assert!(not_sent.may_retry(CallKind::Write));
        assert!(not_sent.may_retry(CallKind::Read));
        assert!(!not_sent.may_retry(CallKind::Stream));

        let broken = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "broken pipe");
        let lost = Failure::of_transport_error(&broken);
        assert!(matches!(lost, Failure::Lost(_)));
        assert!(lost.may_retry(CallKind::Read));
        assert!(!lost.may_retry(CallKind::Write));
        assert_eq!(lost.into_status().code(), tonic::Code::Unavailable);

        let no_leader = Failure::Unavailable(tonic::Status::unavailable("etcdserver: no leader"));
        assert!(no_leader.may_retry(CallKind::Read));
        assert!(!no_leader.may_retry(CallKind::Write));
        assert!(!Failure::DeadlineExceeded.may_retry(CallKind::Read));
    }

    #[test]
    fn a_passed_deadline_is_deadline_exceeded_whoever_set_it() {
        let client = Deadline::of(Some(Duration::from_secs(1)), Duration::from_secs(5));
        assert_eq!(client, Deadline::Client(Duration::from_secs(1)));
        let default = Deadline::of(Some(Duration::from_secs(9)), Duration::from_secs(5));
        assert_eq!(default, Deadline::Default(Duration::from_secs(5)));
        let status = Failure::DeadlineExceeded.into_status();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(status.message(), "context deadline exceeded");
    }
}
