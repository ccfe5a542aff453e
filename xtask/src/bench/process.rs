//! The servers under test, started on loopback and killed when dropped.

use std::fs::Permissions;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;
use tokio::time::Instant;

use super::http;

/// How long a server may take to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process killed (and reaped) when dropped, also on error or panic.
struct ChildGuard(Child);

impl ChildGuard {
    /// Fails if the process has already exited.
    fn ensure_running(&mut self, what: &str) -> Result<()> {
        match self.0.try_wait()? {
            Some(status) => anyhow::bail!("{what} exited early: {status}"),
            None => Ok(()),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A single-member etcd with its data in a temporary directory.
pub struct Etcd {
    /// The etcd process; declared first so it is killed before its data directory goes.
    child: ChildGuard,
    /// The data directory, removed when dropped.
    _data: TempDir,
    /// The client address: JSON gateway (HTTP/1.1) and gRPC (HTTP/2).
    client: SocketAddr,
}

impl Etcd {
    /// Starts `binary` on free loopback ports and waits until `/health` reports healthy.
    pub async fn start(binary: &Path) -> Result<Etcd> {
        let data = tempfile::Builder::new().prefix("etcd-bench-").tempdir()?;
        std::fs::set_permissions(data.path(), Permissions::from_mode(0o700))?;
        let [client, peer] = free_ports()?;
        let client_url = format!("http://{client}");
        let peer_url = format!("http://{peer}");
        let child = Command::new(binary)
            .args(["--name", "b1", "--data-dir"])
            .arg(data.path())
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("b1={peer_url}")])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut etcd = Etcd {
            child: ChildGuard(child),
            _data: data,
            client,
        };
        etcd.wait_healthy().await?;
        Ok(etcd)
    }

    /// The client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client
    }

    /// The process id, to sample its memory.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The client URL, for gRPC clients and our gateway.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// Polls `/health` until it answers `{"health":"true"}`.
    async fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            self.child.ensure_running("etcd")?;
            if let Ok((_, body)) = http::get(self.client, "/health").await {
                let health: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if health["health"] == "true" {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "etcd not healthy after {STARTUP_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Our gateway, listening on a free loopback port.
pub struct Gateway {
    /// The gateway process; declared first so it is killed before its data directory goes.
    child: ChildGuard,
    /// The embedded store's data directory, removed when dropped (none in front of etcd).
    _data: Option<TempDir>,
    /// Where it listens.
    addr: SocketAddr,
}

impl Gateway {
    /// Starts `binary` in front of `etcd_url` and reads the address it reports on stdout.
    pub async fn start(binary: &Path, etcd_url: &str) -> Result<Gateway> {
        let mut command = Command::new(binary);
        command.args(["--endpoints", etcd_url]);
        Gateway::spawn(binary, command, None).await
    }

    /// Starts `binary` on its embedded store, in a fresh data directory under the same
    /// temporary directory (and so on the same disk) as etcd's, and reads its address.
    pub async fn start_embedded(binary: &Path) -> Result<Gateway> {
        let data = tempfile::Builder::new()
            .prefix("embedded-bench-")
            .tempdir()?;
        std::fs::set_permissions(data.path(), Permissions::from_mode(0o700))?;
        let mut command = Command::new(binary);
        command.arg("--data-dir").arg(data.path());
        Gateway::spawn(binary, command, Some(data)).await
    }

    /// The gRPC URL of the embedded store, served on the gateway's own port.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `command` (the binary and its backend options) on a free port and reads the
    /// address it reports on stdout.
    async fn spawn(binary: &Path, mut command: Command, data: Option<TempDir>) -> Result<Gateway> {
        anyhow::ensure!(binary.is_file(), "{} not found", binary.display());
        let mut child = command
            .args(["--listen-addr", "127.0.0.1:0"])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut child = ChildGuard(child);
        let line = tokio::time::timeout(STARTUP_TIMEOUT, first_line(stdout))
            .await
            .context("the gateway did not report its address")??;
        child.ensure_running("the gateway")?;
        let addr = line
            .trim()
            .strip_prefix("etcd-gateway listening on http://")
            .with_context(|| format!("unexpected gateway output {line:?}"))?
            .parse()
            .with_context(|| format!("unexpected gateway output {line:?}"))?;
        Ok(Gateway {
            child,
            _data: data,
            addr,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id, to sample its memory.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// Reads the first line of `output` on a thread that then discards the rest, so the process
/// never blocks on a full pipe.
async fn first_line(output: impl Read + Send + 'static) -> Result<String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(output);
        let mut line = String::new();
        let read = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.await.context("output reader stopped")??;
    anyhow::ensure!(!line.is_empty(), "the process exited without output");
    Ok(line)
}

/// Two distinct free loopback ports (held together while picked, so they differ).
fn free_ports() -> Result<[SocketAddr; 2]> {
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok([a.local_addr()?, b.local_addr()?])
}
