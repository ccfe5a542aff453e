//! The gateway under test, run as a child process.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{die_with_parent, kill_child, tail};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const BANNER: &str = "etcd-gateway listening on http://";

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
        let dir = tempfile::Builder::new()
            .prefix("etcd-gw-test-gateway-")
            .tempdir()
            .expect("create temp dir");
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
                    let addr = line.strip_prefix(BANNER).unwrap_or_else(|| {
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
