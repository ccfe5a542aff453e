//! etcd 3.5.1's `Downgrade` on a single member (`server/etcdserver/v3_server.go`): the
//! cluster version is [`CLUSTER_VERSION`], the one version it may be downgraded to is the
//! minor version below it, and a downgrade job is enabled until it is cancelled. The job is
//! kept in memory: a single member never reaches the target version, so it only records
//! the request, as etcd does while it waits for members to restart on the older version.
//!
//! etcd 3.5.1 applies an enable or a cancel but never answers it: its applier returns no
//! result for `DowngradeInfoSet` (`server/etcdserver/apply.go`), so the request waits out
//! the request timeout and fails with `etcdserver: request timed out` (Unavailable) once
//! the change is made. Both answer that error here too, without the wait.

use std::sync::{Mutex, PoisonError};

use tonic::{Code, Status};

use crate::etcdserverpb::downgrade_request::DowngradeAction;

/// The cluster version the embedded member reports, `major.minor.0`.
pub const CLUSTER_VERSION: &str = "3.5.0";
/// The (major, minor) of [`CLUSTER_VERSION`].
const CLUSTER_MINOR: (i64, i64) = (3, 5);

/// etcd's error for a target version that does not parse.
fn wrong_format() -> Status {
    Status::invalid_argument("etcdserver: wrong downgrade target version format")
}

/// etcd's error for a target other than the minor version below the cluster's.
fn invalid_target() -> Status {
    Status::invalid_argument("etcdserver: invalid downgrade target version")
}

/// etcd's error for a validation or enable while a job is enabled.
fn in_process() -> Status {
    Status::failed_precondition("etcdserver: cluster has a downgrade job in progress")
}

/// etcd's answer to an enable or a cancel that was applied (see the module documentation).
fn timed_out() -> Status {
    Status::unavailable("etcdserver: request timed out")
}

/// etcd's error for a cancel without an enabled job.
fn no_inflight() -> Status {
    Status::failed_precondition("etcdserver: no inflight downgrade job")
}

/// The downgrade job of the member: `Some(target)` while one is enabled.
#[derive(Debug, Default)]
pub struct Downgrade {
    enabled: Mutex<Option<(i64, i64)>>,
}

impl Downgrade {
    /// Runs a `Downgrade` request with action number `action` and target `version`; answers
    /// the cluster version (a validation), or etcd's error (an applied enable or cancel
    /// answers `request timed out`, as in etcd 3.5.1).
    pub fn run(&self, action: i32, version: &str) -> Result<String, Status> {
        let mut enabled = self.enabled.lock().unwrap_or_else(PoisonError::into_inner);
        match DowngradeAction::try_from(action) {
            Ok(DowngradeAction::Validate) => {
                validate(version, enabled.is_some())?;
                Ok(CLUSTER_VERSION.to_owned())
            }
            Ok(DowngradeAction::Enable) => {
                *enabled = Some(validate(version, enabled.is_some())?);
                Err(timed_out())
            }
            Ok(DowngradeAction::Cancel) => {
                enabled.take().ok_or_else(no_inflight)?;
                Err(timed_out())
            }
            Err(_) => Err(Status::new(Code::Unknown, "etcdserver: unknown method")),
        }
    }

    /// Whether a downgrade job is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// etcd's `downgradeValidate`: the target parses, is the minor version below the cluster's,
/// and no job is enabled. Answers the target's (major, minor).
fn validate(version: &str, job_enabled: bool) -> Result<(i64, i64), Status> {
    let target = cluster_version(version).ok_or_else(wrong_format)?;
    let allowed = (CLUSTER_MINOR.0, CLUSTER_MINOR.1 - 1);
    if target != allowed {
        return Err(invalid_target());
    }
    if job_enabled {
        return Err(in_process());
    }
    Ok(target)
}

/// etcd's `convertToClusterVersion`: a semantic version, or `major.minor`, reduced to its
/// (major, minor).
fn cluster_version(version: &str) -> Option<(i64, i64)> {
    semver(version)
        .or_else(|| semver(&format!("{version}.0")))
        .map(|(major, minor, _)| (major, minor))
}

/// The (major, minor, patch) of a semantic version as go-semver's `NewVersion` reads it:
/// `major.minor.patch`, then optionally `-prerelease` and `+metadata`.
fn semver(version: &str) -> Option<(i64, i64, i64)> {
    let (version, metadata) = version.split_once('+').unwrap_or((version, ""));
    let (version, prerelease) = version.split_once('-').unwrap_or((version, ""));
    if !is_identifier(prerelease) || !is_identifier(metadata) {
        return None;
    }
    let mut parts = version.splitn(3, '.');
    let mut next = || parts.next().and_then(|part| part.parse::<i64>().ok());
    Some((next()?, next()?, next()?))
}

/// Dot-separated non-empty runs of ASCII letters, digits and `-` (or nothing).
fn is_identifier(text: &str) -> bool {
    text.is_empty()
        || text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALIDATE: i32 = DowngradeAction::Validate as i32;
    const ENABLE: i32 = DowngradeAction::Enable as i32;
    const CANCEL: i32 = DowngradeAction::Cancel as i32;

    fn message(result: Result<String, Status>) -> String {
        match result {
            Ok(version) => version,
            Err(status) => format!("{:?} {}", status.code(), status.message()),
        }
    }

    #[test]
    fn versions_parse_as_etcd_reads_them() {
        assert_eq!(cluster_version("3.4"), Some((3, 4)));
        assert_eq!(cluster_version("3.4.7"), Some((3, 4)));
        assert_eq!(cluster_version("3.4.0-rc.1+build"), Some((3, 4)));
        assert_eq!(cluster_version("v3.4"), None);
        assert_eq!(cluster_version("3"), None);
        assert_eq!(cluster_version(""), None);
    }

    #[test]
    fn a_job_is_enabled_then_cancelled() {
        let downgrade = Downgrade::default();
        assert_eq!(message(downgrade.run(VALIDATE, "3.4")), "3.5.0");
        assert_eq!(
            message(downgrade.run(VALIDATE, "x")),
            "InvalidArgument etcdserver: wrong downgrade target version format"
        );
        assert_eq!(
            message(downgrade.run(ENABLE, "3.3")),
            "InvalidArgument etcdserver: invalid downgrade target version"
        );
        assert_eq!(
            message(downgrade.run(CANCEL, "")),
            "FailedPrecondition etcdserver: no inflight downgrade job"
        );
        assert_eq!(
            message(downgrade.run(ENABLE, "3.4")),
            "Unavailable etcdserver: request timed out"
        );
        assert!(downgrade.is_enabled());
        assert_eq!(
            message(downgrade.run(ENABLE, "3.4")),
            "FailedPrecondition etcdserver: cluster has a downgrade job in progress"
        );
        assert_eq!(
            message(downgrade.run(CANCEL, "")),
            "Unavailable etcdserver: request timed out"
        );
        assert!(!downgrade.is_enabled());
        assert_eq!(
            message(downgrade.run(7, "3.4")),
            "Unknown etcdserver: unknown method"
        );
    }
}
