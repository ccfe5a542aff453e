//! Throw-away multi-member etcd clusters on loopback: members that can be killed (`SIGKILL`),
//! frozen (`SIGSTOP`) and restarted on the same ports and data, for failover tests.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::etcd::EtcdVersion;
use super::http;
use super::process::{die_with_parent, free_port, kill_child, tail};

/// How long a cluster may take to elect a leader and report healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a start is retried when a port was taken in between.
const START_ATTEMPTS: usize = 3;

/// One member's ports, data and process.
pub struct Member {
    /// `m0`, `m1`, ...
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `http://127.0.0.1:<client port>`.
    pub fn client_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://127.0.0.1:<peer port>`.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// Whether the process is running (it may still be frozen).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines of the member's log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 40)
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A cluster of etcd members started together, all killed on drop.
pub struct Cluster {
    pub version: EtcdVersion,
    pub members: Vec<Member>,
    extra_args: Vec<String>,
    _dir: TempDir,
}

impl Cluster {
    /// Starts `size` members of `version` (each with `extra_args` added) and waits until every
    /// member is healthy.
    pub async fn start(version: EtcdVersion, size: usize, extra_args: &[&str]) -> Cluster {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut cluster = Cluster::spawn(version, size, extra_args);
            match cluster.wait_healthy(READY_TIMEOUT).await {
                Ok(()) => return cluster,
                Err(why) if attempt < START_ATTEMPTS && why.contains("address already in use") => {
                    continue;
                }
                Err(why) => panic!("{size}-member {version} cluster did not start: {why}"),
            }
        }
    }

    fn spawn(version: EtcdVersion, size: usize, extra_args: &[&str]) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("etcd-gw-cluster-")
            .tempdir()
            .expect("create temp dir");
        let members = (0..size)
            .map(|index| Member {
                name: format!("m{index}"),
                client_port: free_port(),
                peer_port: free_port(),
                data: dir.path().join(format!("m{index}.etcd")),
                log: dir.path().join(format!("m{index}.log")),
                child: None,
            })
            .collect();
        let mut cluster = Cluster {
            version,
            members,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            _dir: dir,
        };
        for index in 0..size {
            cluster.launch(index);
        }
        cluster
    }

    /// `m0=http://...,m1=http://...`: the `--initial-cluster` of every member.
    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|member| format!("{}={}", member.name, member.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, index: usize) {
        let initial_cluster = self.initial_cluster();
        let member = &mut self.members[index];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .expect("open member log");
        let log_err = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(self.version.binary());
        cmd.arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(&member.data)
            .arg("--listen-client-urls")
            .arg(member.client_url())
            .arg("--advertise-client-urls")
            .arg(member.client_url())
            .arg("--listen-peer-urls")
            .arg(member.peer_url())
            .arg("--initial-advertise-peer-urls")
            .arg(member.peer_url())
            .arg("--initial-cluster")
            .arg(&initial_cluster)
            .arg("--initial-cluster-token")
            .arg("etcd-gw-test-cluster")
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(key);
            }
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.version.binary().display()));
        member.child = Some(child);
    }

    /// The members' client URLs, comma-separated, as `--endpoints` takes them.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(Member::client_url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Kills member `index` with `SIGKILL` (its data stays for [`Cluster::restart`]).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            kill_child(&mut child);
        }
    }

    /// Freezes member `index` with `SIGSTOP` (it keeps its sockets open but answers nothing).
    pub fn freeze(&self, index: usize) {
        self.signal(index, "-STOP");
    }

    /// Resumes a frozen member with `SIGCONT`.
    pub fn thaw(&self, index: usize) {
        self.signal(index, "-CONT");
    }

    fn signal(&self, index: usize, signal: &str) {
        let pid = self.members[index]
            .pid()
            .unwrap_or_else(|| panic!("member m{index} is not running"));
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Starts a killed member again on its ports and data, and waits until it is healthy.
    pub async fn restart(&mut self, index: usize) {
        assert!(
            !self.members[index].is_running(),
            "member m{index} is still running"
        );
        self.launch(index);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !member_healthy(&self.members[index]).await {
            assert!(
                Instant::now() < deadline,
                "member m{index} not healthy {READY_TIMEOUT:?} after its restart; log tail:\n{}",
                self.members[index].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The index of the current leader, as the running members report it (waits up to
    /// `wait` for one to be elected).
    pub async fn leader(&self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        loop {
            for (index, member) in self.members.iter().enumerate() {
                if !member.is_running() {
                    continue;
                }
                if let Some(status) = status(member).await {
                    let leader = status["leader"].as_str().unwrap_or_default();
                    let own = status["header"]["member_id"].as_str().unwrap_or_default();
                    if !leader.is_empty() && leader != "0" && leader == own {
                        return index;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader within {wait:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every running member reports healthy; the error names what was seen.
    pub async fn wait_healthy(&mut self, wait: Duration) -> Result<(), String> {
        let deadline = Instant::now() + wait;
        loop {
            for member in &mut self.members {
                if let Some(child) = member.child.as_mut()
                    && let Ok(Some(exit)) = child.try_wait()
                {
                    member.child = None;
                    return Err(format!(
                        "member {} exited ({exit}); log tail:\n{}",
                        member.name,
                        member.log_tail()
                    ));
                }
            }
            let mut all = true;
            for member in self.members.iter().filter(|m| m.is_running()) {
                all &= member_healthy(member).await;
            }
            if all {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = self
                    .members
                    .iter()
                    .map(|m| format!("{}:\n{}", m.name, m.log_tail()))
                    .collect();
                return Err(format!("not healthy within {wait:?}\n{}", logs.join("\n")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// `POST /v3/maintenance/status` of one member, if it answers within a second.
async fn status(member: &Member) -> Option<Value> {
    let reply = http::request_with_timeout(
        &member.addr(),
        "POST",
        "/v3/maintenance/status",
        &[],
        bytes::Bytes::from_static(b"{}"),
        Duration::from_secs(1),
    )
    .await
    .ok()?;
    (reply.status == 200).then(|| reply.json()).flatten()
}

/// Whether a member's `/health` says `true` (it has a leader and no alarm).
async fn member_healthy(member: &Member) -> bool {
    let reply = http::request_with_timeout(
        &member.addr(),
        "GET",
        "/health",
        &[],
        bytes::Bytes::new(),
        Duration::from_secs(1),
    )
    .await;
    matches!(reply, Ok(reply) if reply.status == 200
        && reply.json().is_some_and(|v| v["health"].as_str() == Some("true")))
}
