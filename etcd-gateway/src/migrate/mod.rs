//! `etcd-gateway migrate`: copies the embedded store of a data directory into a real etcd
//! cluster, then checks the copy.
//!
//! The steps, each in its own module:
//! - [`source`]: opens the store of `--data-dir` (refusing while a gateway runs on it) and
//!   reads the latest revision of every key, in key order, one page at a time;
//! - [`target`]: connects to the first member of `--to` that answers, and refuses a cluster
//!   that already holds keys unless `--force`;
//! - [`copy`]: grants every lease again on the target (same id, the TTL it was granted with:
//!   the remaining time is not recorded by the embedded store), keeps those leases alive
//!   while the copy runs ([`keepalive`]), and writes the keys in txns of at most
//!   `--max-txn-ops` puts and `--max-request-bytes` bytes ([`batch`]);
//! - [`verify`]: ranges both sides in key order and compares every key, value and lease, and
//!   the key counts;
//! - [`progress`]: the progress bar on stderr.
//!
//! Revisions, versions and history are not copied: etcd assigns its own revisions to the
//! writes, so each key arrives with version 1 at a new revision.

pub mod batch;
pub mod copy;
pub mod keepalive;
pub mod progress;
pub mod source;
pub mod target;
pub mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::config::parse_duration;

/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// etcd's default `--max-request-bytes` (1.5 MiB).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 3 * 512 * 1024;

/// Keys read from either side per range request.
pub const PAGE_SIZE: i64 = 1000;

/// Options of `etcd-gateway migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// Data directory of the embedded store to copy (no gateway may be running on it).
    #[arg(long)]
    pub data_dir: PathBuf,

    /// Comma-separated client URLs of the target etcd cluster's members
    /// (`http://host:2379`, `https://...`; a bare `host:port` means `http://`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,

    /// Copy into a cluster that already holds keys: keys of the same name are overwritten,
    /// the others are left alone, and the verification ignores them.
    #[arg(long)]
    pub force: bool,

    /// The most puts in one txn; the target's `--max-txn-ops` (etcd's default: 128).
    #[arg(long, default_value_t = DEFAULT_MAX_TXN_OPS)]
    pub max_txn_ops: usize,

    /// The largest txn sent, in bytes; the target's `--max-request-bytes` (etcd's default:
    /// 1.5 MiB). A single key larger than this is sent on its own and may be refused.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// Time allowed to connect to a member.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub dial_timeout: Duration,

    /// Deadline of each request to the target.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// CA bundle (PEM) that verifies the members' certificates (https:// URLs); without it,
    /// the system's roots.
    #[arg(long)]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM) presented to the members (with --key).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,

    /// `name:password` of a user of the target allowed to read and write every key (e.g.
    /// `root`), for a cluster with authentication on (as etcdctl's `--user`).
    #[arg(long)]
    pub user: Option<String>,
}

/// Runs the migration described by `args`: copy, then verify. Fails (and so the binary exits
/// non-zero) on any error or difference found.
pub async fn run(args: MigrateArgs) -> Result<()> {
    anyhow::ensure!(
        args.max_txn_ops > 0,
        "--max-txn-ops must be at least 1, found 0"
    );
    let source = source::Source::open(&args.data_dir)?;
    let target = target::Target::connect(&args).await?;
    target.check_empty(args.force).await?;
    let limits = batch::Limits {
        max_ops: args.max_txn_ops,
        max_bytes: args.max_request_bytes,
    };
    let copied = copy::copy(&source, &target, limits).await?;
    let verified = verify::verify(&source, &target, args.force).await;
    copied.keepalive.stop().await;
    let verified = verified?;
    println!(
        "copied {} keys ({} attached to leases) and {} leases from {} (revision {}) to {}",
        copied.keys,
        copied.keys_with_lease,
        copied.leases,
        args.data_dir.display(),
        source.revision(),
        target.url(),
    );
    println!("{verified}");
    verified.into_result()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use crate::config::{Command, Config};

    #[test]
    fn migrate_is_a_subcommand_with_its_own_flags() {
        let config = Config::try_parse_from([
            "etcd-gateway",
            "migrate",
            "--data-dir",
            "old.etcd",
            "--to",
            "http://a:2379,http://b:2379",
            "--max-txn-ops",
            "64",
        ])
        .unwrap();
        let Some(Command::Migrate(args)) = config.command else {
            panic!("expected the migrate command, found {:?}", config.command);
        };
        assert_eq!(args.data_dir, PathBuf::from("old.etcd"));
        assert_eq!(args.to, ["http://a:2379", "http://b:2379"]);
        assert_eq!(args.max_txn_ops, 64);
        assert_eq!(args.max_request_bytes, super::DEFAULT_MAX_REQUEST_BYTES);
        assert!(!args.force);
        assert!(args.user.is_none());

        let err =
            Config::try_parse_from(["etcd-gateway", "migrate", "--data-dir", "d"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(
            Config::try_parse_from(["etcd-gateway"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
