//! The gateway under test, run as a child process.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::etcd::Etcd;
use super::process::{die_with_parent, kill_child, tail};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const BANNER: &str = "etcd-gateway listening on http://";
/// The listening line with TLS on (`--cert-file`).
const TLS_BANNER: &str = "etcd-gateway listening on https://";

/// Which implementation plays "our gateway" in the differential and curl suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The `etcd-gateway` binary of this package (the default).
    Binary,
    /// etcd's own gateway (`GATEWAY_UNDER_TEST=etcd`): etcd against etcd, to validate scenarios.
    Etcd,
}

impl Mode {
    pub fn from_env() -> Mode {
        match std::env::var("GATEWAY_UNDER_TEST").as_deref() {
            Ok("etcd") => Mode::Etcd,
            Ok("") | Ok("binary") | Err(_) => Mode::Binary,
            Ok(other) => panic!("GATEWAY_UNDER_TEST={other:?}: expected \"binary\" or \"etcd\""),
        }
    }
}

/// What side B of a differential suite runs on; side A is always etcd's own gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The gateway under test (see [`Mode`]) in front of a second fresh etcd.
    Etcd,
    /// The `etcd-gateway` binary without `--endpoints`: its embedded store, on a fresh data
    /// directory. Always our binary, whatever `GATEWAY_UNDER_TEST` says.
    Embedded,
}

/// The server that holds one side's data. Writes and status requests of a test go to it
/// directly, not through the gateway under test.
pub enum Store {
    Etcd(Etcd),
    /// The embedded store of our binary, reached at the binary's own address (the binary is
    /// owned by the pair that started it).
    Embedded {
        addr: String,
    },
}

impl Store {
    /// `127.0.0.1:<port>` where the store answers etcd's JSON API.
    pub fn addr(&self) -> String {
        match self {
            Store::Etcd(etcd) => etcd.addr(),
            Store::Embedded { addr } => addr.clone(),
        }
    }

    /// The etcd server, when this side has one.
    pub fn etcd(&self) -> Option<&Etcd> {
        match self {
            Store::Etcd(etcd) => Some(etcd),
            Store::Embedded { .. } => None,
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Etcd(etcd) => write!(f, "{}", etcd.version),
            Store::Embedded { addr } => write!(f, "embedded store at {addr}"),
        }
    }
}

/// A server whose JSON API a test can reach directly: an etcd, or a side's [`Store`].
pub trait Server {
    fn addr(&self) -> String;
    /// Names the server in failure messages.
    fn describe(&self) -> String;
}

impl Server for Etcd {
    fn addr(&self) -> String {
        Etcd::addr(self)
    }

    fn describe(&self) -> String {
        self.version.to_string()
    }
}

impl Server for Store {
    fn addr(&self) -> String {
        Store::addr(self)
    }

    fn describe(&self) -> String {
        self.to_string()
    }
}

/// A running `etcd-gateway`, killed on drop.
pub struct Gateway {
    /// `127.0.0.1:<port>` as printed by the gateway.
    pub addr: String,
    child: Option<Child>,
    dir: TempDir,
}

impl Gateway {
    pub fn binary() -> PathBuf {
        match std::env::var_os("ETCD_GATEWAY_BIN").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_BIN_EXE_etcd-gateway")),
        }
    }

    /// Starts the gateway for `endpoint` (e.g. `http://127.0.0.1:2379`) on an ephemeral port and
    /// waits for its `listening on` line. Call from the test's own thread.
    pub async fn start(endpoint: &str) -> Gateway {
        Gateway::start_with_args(&["--endpoints", endpoint]).await
    }

    pub async fn start_with_args(args: &[&str]) -> Gateway {
        Gateway::launch(Gateway::temp_dir(), args).await
    }

    /// Starts the binary without `--endpoints`, on an embedded store in a fresh data directory
    /// (removed with the gateway). The member is named `g1`, like the test etcd servers.
    pub async fn start_embedded() -> Gateway {
        let dir = Gateway::temp_dir();
        let data_dir = dir.path().join("data");
        let data_dir = data_dir.to_str().expect("UTF-8 temp path").to_owned();
        Gateway::launch(dir, &["--data-dir", &data_dir, "--name", "g1"]).await
    }

    fn temp_dir() -> TempDir {
        tempfile::Builder::new()
            .prefix("etcd-gw-test-gateway-")
            .tempdir()
            .expect("create temp dir")
    }

    async fn launch(dir: TempDir, args: &[&str]) -> Gateway {
        let log_path = dir.path().join("gateway.log");
        let log = File::create(&log_path).expect("create gateway log");
        let mut cmd = Command::new(Gateway::binary());
        cmd.args(args)
            .args(["--listen-addr", "127.0.0.1:0", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", Gateway::binary().display()));

        // A reader thread hands over the first stdout line and then keeps draining the pipe so
        // the gateway never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });

        let mut gateway = Gateway {
            addr: String::new(),
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let addr = line.strip_prefix(BANNER);
                    let addr = addr.or_else(|| line.strip_prefix(TLS_BANNER));
                    let addr = addr.unwrap_or_else(|| {
                        panic!(
                            "unexpected first stdout line {line:?}, expected {BANNER:?}...; \
                             stderr:\n{}",
                            gateway.log_tail()
                        )
                    });
                    gateway.addr = addr.trim_end_matches('/').to_owned();
                    return gateway;
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    // stdout closed without a line: the process is gone or going.
                    std::thread::sleep(Duration::from_millis(100));
                    let status = gateway
                        .child
                        .as_mut()
                        .and_then(|c| c.try_wait().ok().flatten());
                    panic!(
                        "{} closed stdout without its listening line (exit status {status:?}); \
                         stderr:\n{}",
                        Gateway::binary().display(),
                        gateway.log_tail()
                    );
                }
                Err(mpsc::TryRecvError::Empty) => {}
            }
            if Instant::now() > deadline {
                panic!(
                    "gateway printed no listening line within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                    gateway.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True while the process has not exited.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The process id, while the gateway runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status, if the process exits within `wait`.
    pub fn wait_exit(&mut self, wait: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("gateway.log"), 40)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_child(&mut child);
        }
    }
}
