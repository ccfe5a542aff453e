//! Snapshots of the embedded store, framed as etcd 3.5.1 frames them
//! (`server/etcdserver/api/v3rpc/maintenance.go`), and their restore.
//!
//! A snapshot is a consistent copy of the database file, taken from one read transaction
//! ([`Store::copy_to`]) into a temporary file that is unlinked as soon as it is open. It is
//! streamed in messages of at most [`SNAPSHOT_CHUNK_BYTES`] of `blob`, each with the bytes
//! still to come in `remaining_bytes`, then one last message whose `blob` is the SHA-256 of
//! everything sent before (and `remaining_bytes` 0). No message carries a header or a version,
//! as in etcd 3.5.1. A client that writes every blob to a file, as `etcdctl snapshot save` does,
//! gets the database followed by its checksum; [`restore`] checks it and makes a data
//! directory of it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use tokio::sync::mpsc;
use tokio_rustls::rustls::crypto::hash::Context as HashContext;
use tonic::Status;

use super::errors::EtcdError;
use super::mvcc::Store;
use super::storage::{Storage, db_path, random_id};
use crate::config::SnapshotCommand;
use crate::etcdserverpb::SnapshotResponse;

/// The most bytes of the database in one message (etcd's `snapshotSendBufferSize`).
pub const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;
/// The length of the SHA-256 checksum that ends a snapshot.
pub const CHECKSUM_BYTES: usize = 32;
/// How many messages wait for a slow client at most.
const QUEUED_MESSAGES: usize = 4;

/// A new SHA-256 computation (ring's, through rustls).
fn sha256() -> Box<dyn HashContext> {
    let suite = tokio_rustls::rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    suite
        .tls13()
        .expect("a TLS 1.3 suite")
        .common
        .hash_provider
        .start()
}

/// The SHA-256 of `data`.
pub fn sha256_of(data: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let mut hasher = sha256();
    hasher.update(data);
    digest_bytes(hasher)
}

fn digest_bytes(hasher: Box<dyn HashContext>) -> [u8; CHECKSUM_BYTES] {
    let mut out = [0; CHECKSUM_BYTES];
    out.copy_from_slice(hasher.finish().as_ref());
    out
}

/// A consistent copy of a store's database, open and already unlinked.
#[derive(Debug)]
pub struct SnapshotFile {
    file: File,
    len: u64,
}

impl SnapshotFile {
    /// Copies `store` (opened from `data_dir`) into a temporary file in `data_dir` and
    /// unlinks it at once (blocking).
    pub fn take(store: &Store, data_dir: &Path) -> Result<Self, EtcdError> {
        let path = data_dir.join(format!("snapshot-{:016x}.tmp", random_id()));
        let copied = store.copy_to(&path).and_then(|()| {
            let file = File::open(&path).map_err(EtcdError::storage)?;
            let len = file.metadata().map_err(EtcdError::storage)?.len();
            Ok(Self { file, len })
        });
        // The open file stays readable; nothing is left behind in the data directory.
        let _ = std::fs::remove_file(&path);
        copied
    }

    /// The size of the copy in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the copy is empty (never, for a store's database).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Streams the copy as etcd's `Snapshot` does, from a blocking thread through a bounded
    /// queue; stops when the receiver is dropped.
    pub fn stream(self) -> mpsc::Receiver<Result<SnapshotResponse, Status>> {
        let (sender, receiver) = mpsc::channel(QUEUED_MESSAGES);
        tokio::task::spawn_blocking(move || {
            if let Err(status) = self.send_all(&sender) {
                let _ = sender.blocking_send(Err(status));
            }
        });
        receiver
    }

    fn send_all(
        mut self,
        sender: &mpsc::Sender<Result<SnapshotResponse, Status>>,
    ) -> Result<(), Status> {
        let mut hasher = sha256();
        let mut remaining = self.len;
        while remaining > 0 {
            let chunk = remaining.min(SNAPSHOT_CHUNK_BYTES as u64) as usize;
            let mut blob = vec![0; chunk];
            self.file
                .read_exact(&mut blob)
                .map_err(|err| Status::internal(format!("cannot read the snapshot: {err}")))?;
            hasher.update(&blob);
            remaining -= chunk as u64;
            let message = SnapshotResponse {
                header: None,
                remaining_bytes: remaining,
                blob,
                version: String::new(),
            };
            if sender.blocking_send(Ok(message)).is_err() {
                return Ok(());
            }
        }
        let checksum = SnapshotResponse {
            header: None,
            remaining_bytes: 0,
            blob: digest_bytes(hasher).to_vec(),
            version: String::new(),
        };
        let _ = sender.blocking_send(Ok(checksum));
        Ok(())
    }
}

/// What [`restore`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The database file written.
    pub db_path: PathBuf,
    /// The new member id.
    pub member_id: u64,
    /// The new cluster id.
    pub cluster_id: u64,
}

/// Makes `data_dir` (which must not hold a database yet) a data directory holding the
/// snapshot `file`: checks the SHA-256 at its end (a file without one, such as a copy of a
/// data directory's `db`, needs `skip_hash_check`), writes the database and gives it new
/// member and cluster ids, as `etcdutl snapshot restore` makes a new cluster.
pub fn restore(file: &Path, data_dir: &Path, skip_hash_check: bool) -> anyhow::Result<Restored> {
    let target = db_path(data_dir);
    ensure!(
        !target.exists(),
        "{} already holds a database; restore into a new data directory",
        data_dir.display()
    );
    let mut input =
        File::open(file).with_context(|| format!("cannot read the snapshot {}", file.display()))?;
    let len = input
        .metadata()
        .with_context(|| format!("cannot read the snapshot {}", file.display()))?
        .len();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let partial = data_dir.join("db.restoring");
    if let Err(err) = write_checked(&mut input, len, &partial, skip_hash_check) {
        let _ = std::fs::remove_file(&partial);
        return Err(err.context(format!("snapshot {}", file.display())));
    }
    std::fs::rename(&partial, &target)
        .with_context(|| format!("cannot move the database to {}", target.display()))?;
    let mut storage = Storage::open(data_dir)
        .map_err(|err| anyhow::anyhow!("the restored database does not open: {err}"))?;
    let (member_id, cluster_id) = storage
        .reset_ids()
        .map_err(|err| anyhow::anyhow!("cannot give the restored database new ids: {err}"))?;
    Ok(Restored {
        db_path: target,
        member_id,
        cluster_id,
    })
}

/// Runs `etcd-gateway snapshot <command>`, telling on stdout what it did.
pub fn run(command: SnapshotCommand) -> anyhow::Result<()> {
    match command {
        SnapshotCommand::Restore {
            file,
            data_dir,
            skip_hash_check,
        } => {
            let restored = restore(&file, &data_dir, skip_hash_check)?;
            println!(
                "restored snapshot {} into {} (member {:x}, cluster {:x})",
                file.display(),
                restored.db_path.display(),
                restored.member_id,
                restored.cluster_id
            );
            Ok(())
        }
    }
}

/// Copies the snapshot `input` (`len` bytes) into a new file at `partial`, without the
/// SHA-256 at its end, which must match what precedes it (or, with `skip_hash_check`, the
/// whole file when it does not end with its checksum). Durable when it returns.
fn write_checked(
    input: &mut File,
    len: u64,
    partial: &Path,
    skip_hash_check: bool,
) -> anyhow::Result<()> {
    let mut out =
        File::create(partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut hasher = sha256();
    let mut body = input.take(len.saturating_sub(CHECKSUM_BYTES as u64));
    let mut buffer = vec![0; SNAPSHOT_CHUNK_BYTES];
    loop {
        let read = body.read(&mut buffer).context("cannot read the snapshot")?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        out.write_all(&buffer[..read])
            .with_context(|| format!("cannot write {}", partial.display()))?;
    }
    let mut tail = Vec::with_capacity(CHECKSUM_BYTES);
    input
        .read_to_end(&mut tail)
        .context("cannot read the snapshot")?;
    let intact = tail.len() == CHECKSUM_BYTES && digest_bytes(hasher)[..] == tail[..];
    if !intact {
        ensure!(
            skip_hash_check,
            "fails its integrity check: it does not end with the SHA-256 of its contents (a \
             copy of a data directory's db file restores with --skip-hash-check)"
        );
        out.write_all(&tail)
            .with_context(|| format!("cannot write {}", partial.display()))?;
    }
    out.sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_sha256() {
        // FIPS 180-2 test vector for "abc".
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = sha256_of(b"abc")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, expected);
    }

    /// A data directory's database with its checksum appended restores; a changed byte or
    /// a missing checksum is refused (the latter accepted with `skip_hash_check`); a data
    /// directory that holds a database is never overwritten.
    #[test]
    fn restore_checks_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let member_id = Storage::open(&source).unwrap().member_id();
        let database = std::fs::read(db_path(&source)).unwrap();
        let mut snapshot = database.clone();
        snapshot.extend_from_slice(&sha256_of(&database));
        let file = dir.path().join("snapshot");
        std::fs::write(&file, &snapshot).unwrap();

        let restored = restore(&file, &dir.path().join("restored"), false).unwrap();
        assert_ne!(restored.member_id, member_id);
        assert_eq!(
            std::fs::read(&restored.db_path).unwrap().len(),
            database.len()
        );
        let again = restore(&file, &dir.path().join("restored"), false).unwrap_err();
        assert!(
            again.to_string().contains("already holds a database"),
            "{again}"
        );

        snapshot[10] ^= 1;
        std::fs::write(&file, &snapshot).unwrap();
        let damaged = restore(&file, &dir.path().join("damaged"), false).unwrap_err();
        assert!(
            format!("{damaged:#}").contains("fails its integrity check"),
            "{damaged:#}"
        );
        assert!(!db_path(&dir.path().join("damaged")).exists());

        std::fs::write(&file, &database).unwrap();
        assert!(restore(&file, &dir.path().join("plain"), false).is_err());
        restore(&file, &dir.path().join("plain"), true).unwrap();
    }
}
