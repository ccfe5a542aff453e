//! etcd's gRPC clients of other languages against the embedded store's native gRPC port:
//! Python's `etcd3` (PyPI 0.12, on grpcio) and Node's `etcd3` (npm 1.1, on @grpc/grpc-js), as
//! people use them. Each runs its script of `tests/clients/` (put, get, prefix, delete, txn,
//! lease and keepalive, watch, compaction errors) against a fresh etcd 3.5.1 and against a
//! fresh embedded store; both transcripts must equal the one recorded from etcd 3.5.1 below.
//!
//! `scripts/install-test-deps.sh` installs the clients (pip `etcd3==0.12.0` with
//! `protobuf==3.20.3`, which that release needs; `npm ci` in `tests/clients/`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::EtcdVersion::V3_5;
use support::{Etcd, Gateway};

/// The transcript of `tests/clients/python_etcd3.py`, recorded against etcd 3.5.1.
const PYTHON_TRANSCRIPT: &str = "\
get b'1' b'/py/a' 1 2 2
get missing (None, None)
prefix [(b'/py/a', b'1'), (b'/py/b', b'2')]
txn True ['ResponseOp', [(b'/py/b', b'2')]]
txn else False (None, None)
keepalive 30 [b'/py/leased']
lease ttl True 30
after revoke (None, None)
watch PutEvent b'/py/w' b'v' 8
delete True False
delete prefix 2
compact latest ok
compact old OUT_OF_RANGE etcdserver: mvcc: required revision has been compacted
compact future OUT_OF_RANGE etcdserver: mvcc: required revision is a future revision
";

/// The transcript of `tests/clients/node_etcd3.js`, recorded against etcd 3.5.1.
const NODE_TRANSCRIPT: &str = r#""get" "1"
"get missing" null
"prefix" {"/js/a":"1","/js/b":"2"}
"count" 2
"txn" true ["response_put","response_range"]
"txn else" false "1"
"keepalive" "30"
"after revoke" null
"watch" "/js/w" "v" "8"
"delete" "1"
"delete prefix" "2"
"compact" "latest" "ok"
"compact" "old" "GRPCOutOfRangeError" "11 OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted"
"compact" "future" "GRPCOutOfRangeError" "11 OUT_OF_RANGE: etcdserver: mvcc: required revision is a future revision"
"#;

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs `program args...`, returning its stdout; panics with its output if it fails.
fn transcript(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(clients_dir())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}); run scripts/install-test-deps.sh if a client is missing\n\
         stdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn python(addr: &str) -> String {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    transcript("python3", &["python_etcd3.py", host, port])
}

fn node(addr: &str) -> String {
    transcript("node", &["node_etcd3.js", addr])
}

/// Runs `client` against a fresh etcd 3.5.1 and a fresh embedded store.
async fn against_both(client: fn(&str) -> String, want: &str) {
    let etcd = Etcd::start(V3_5).await;
    let gateway = Gateway::start_embedded().await;
    let (etcd_addr, gateway_addr) = (etcd.addr(), gateway.addr.clone());
    let reference = tokio::task::spawn_blocking(move || client(&etcd_addr))
        .await
        .expect("client against etcd");
    assert_eq!(reference, want, "etcd 3.5.1's transcript changed");
    let ours = tokio::task::spawn_blocking(move || client(&gateway_addr))
        .await
        .expect("client against the embedded store");
    assert_eq!(
        ours, want,
        "the embedded store answers differently from etcd"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_etcd3() {
    against_both(python, PYTHON_TRANSCRIPT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_etcd3() {
    against_both(node, NODE_TRANSCRIPT).await;
}
