//! A throw-away etcd 3.5.1 member serving its clients over mutual TLS only
//! (`--client-cert-auth`, https client URL).

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::{Ca, CertDir, Leaf};
use super::etcd::EtcdVersion;
use super::process::{die_with_parent, free_port_pair, kill_child, tail};
use super::tls_http::{Alpn, TlsClient};

/// How long the member may take to report healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: usize = 5;

/// One etcd 3.5.1 member named `g1` that requires client certificates, killed on drop.
pub struct TlsEtcd {
    pub client_port: u16,
    child: Option<Child>,
    dir: CertDir,
}

impl TlsEtcd {
    /// Starts etcd with `server` as its certificate and `ca` as the CA of its clients, and
    /// waits until `/health` (asked with `client`'s certificate) reports healthy.
    pub async fn start(ca: &Ca, server: &Leaf, client: &Leaf) -> TlsEtcd {
        let mut dir = CertDir::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut etcd = TlsEtcd::spawn(dir, ca, server, attempt);
            match etcd.wait_ready(ca, client).await {
                Ok(()) => return etcd,
                Err(log) if log.contains("address already in use") && attempt < START_ATTEMPTS => {
                    kill_child(etcd.child.as_mut().expect("child"));
                    dir = std::mem::replace(&mut etcd.dir, CertDir::new());
                }
                Err(log) => panic!("TLS etcd 3.5.1 did not start; log tail:\n{log}"),
            }
        }
    }

    fn spawn(dir: CertDir, ca: &Ca, server: &Leaf, attempt: usize) -> TlsEtcd {
        let ca_file = dir.write_ca("etcd-ca", ca);
        let (cert_file, key_file) = dir.write_leaf("etcd-server", server);
        let (client_port, peer_port) = free_port_pair();
        let client_url = format!("https://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let log = File::create(dir.path().join("etcd.log")).expect("create etcd log");
        let log2 = log.try_clone().expect("clone log handle");
        let mut cmd = Command::new(EtcdVersion::V3_5.binary());
        cmd.args(["--name", "g1", "--data-dir"])
            .arg(dir.path().join(format!("data-{attempt}")))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("g1={peer_url}")])
            .args(["--client-cert-auth", "--trusted-ca-file", &ca_file])
            .args(["--cert-file", &cert_file, "--key-file", &key_file])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(name);
            }
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", EtcdVersion::V3_5.binary().display()));
        TlsEtcd {
            client_port,
            child: Some(child),
            dir,
        }
    }

    /// Waits for `/health`; on failure, the log tail.
    async fn wait_ready(&mut self, ca: &Ca, client: &Leaf) -> Result<(), String> {
        let http = TlsClient::new(ca, Some(client), Alpn::Http1);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|child| child.try_wait()) {
                return Err(format!("exited with {status}\n{}", self.log_tail()));
            }
            if let Ok(answer) = http.request(&self.addr(), "GET", "/health", "").await
                && answer.reply.status == 200
                && answer.reply.text().contains("\"health\":\"true\"")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not healthy after {READY_TIMEOUT:?}\n{}",
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:<client port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `https://127.0.0.1:<client port>`.
    pub fn client_url(&self) -> String {
        format!("https://{}", self.addr())
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log_path(), 40)
    }
}

impl Drop for TlsEtcd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_child(&mut child);
        }
    }
}
