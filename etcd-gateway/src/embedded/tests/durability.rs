//! Crash durability: a child process writes from several tasks and prints every acknowledged
//! write; it is killed with SIGKILL at a random moment; every acknowledged write must then be
//! in the store at its revision, and revisions must go on without a gap.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;

const CHILD_DIR: &str = "EMBEDDED_STORE_DURABILITY_DIR";
const CHILD_ROUND: &str = "EMBEDDED_STORE_DURABILITY_ROUND";
const WRITERS: usize = 6;
const ROUNDS: usize = 12;

/// The writer process: runs only when started by [`acknowledged_writes_survive_sigkill`].
#[test]
fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let round = std::env::var(CHILD_ROUND).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Arc::new(Store::open(&dir).unwrap());
        let stdout = Arc::new(Mutex::new(std::io::stdout()));
        for w in 0..WRITERS {
            let store = Arc::clone(&store);
            let stdout = Arc::clone(&stdout);
            let round = round.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("r{round}-w{w}-{i}");
                    let resp = store
                        .put(PutRequest {
                            key: key.clone().into_bytes(),
                            value: key.clone().into_bytes(),
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    let line = format!("ACK {key} {}\n", resp.header.unwrap().revision);
                    let mut out = stdout.lock().unwrap();
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
        // The parent kills this process long before.
        tokio::time::sleep(Duration::from_secs(60)).await;
        std::process::exit(3);
    });
}

fn random_below(n: u64) -> u64 {
    RandomState::new().hash_one(Instant::now()) % n
}

/// Runs one child until it is killed; returns its acknowledged writes.
fn run_child(dir: &std::path::Path, round: usize) -> Vec<(String, i64)> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedded::tests::durability::durability_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut by the kill has no newline: it does not count.
            let Some(ack) = line.strip_suffix('\n').and_then(|l| l.strip_prefix("ACK ")) else {
                continue;
            };
            let (key, revision) = ack.split_once(' ').unwrap();
            acks.push((key.to_string(), revision.parse::<i64>().unwrap()));
            if acks.len() == 1 {
                let _ = first_tx.send(());
            }
        }
        acks
    });
    // Kill at a random moment once writes are flowing.
    first_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the child acknowledges writes");
    std::thread::sleep(Duration::from_millis(10 + random_below(200)));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: BTreeMap<String, i64> = BTreeMap::new();
    for round in 0..ROUNDS {
        let acks = run_child(dir.path(), round);
        assert!(!acks.is_empty());
        acked.extend(acks);

        let store = Store::open(dir.path()).unwrap();
        let current = store.current_revision();
        let all = store
            .range(&range_req("\0", "\0"))
            .unwrap_or_else(|err| panic!("round {round}: {err}"));
        let stored: BTreeMap<String, i64> = all
            .kvs
            .iter()
            .map(|kv| (String::from_utf8(kv.key.clone()).unwrap(), kv.mod_revision))
            .collect();
        for (key, revision) in &acked {
            assert_eq!(
                stored.get(key),
                Some(revision),
                "round {round}: acknowledged {key}"
            );
        }
        // Every write is a put of a new key: revisions 2..=current hold one key each.
        let mut revisions: Vec<i64> = stored.values().copied().collect();
        revisions.sort_unstable();
        assert_eq!(
            revisions,
            (2..=current).collect::<Vec<_>>(),
            "round {round}"
        );
        assert!(current >= acked.values().copied().max().unwrap());

        let probe = store
            .put(PutRequest {
                key: format!("probe-{round}").into_bytes(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(probe.header.unwrap().revision, current + 1, "round {round}");
        acked.insert(format!("probe-{round}"), current + 1);
    }
}
