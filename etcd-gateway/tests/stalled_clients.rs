//! Clients that stop reading must not hold back anybody else.
//!
//! Three HTTP watchers on a busy prefix never read their responses (their sockets have a tiny
//! receive buffer), while values of 64 KiB are written under the prefix until each watcher has
//! 10 MiB of events it has not taken. Unrelated unary requests (puts and ranges of other keys)
//! must then keep a normal latency: all answered 200, p99 under a second. Runs against an etcd
//! 3.5.1 upstream and on the embedded store.

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use support::{EtcdVersion, Gateway, http};

/// Watchers that never read.
const STALLED_WATCHERS: usize = 3;
/// Size of each value written under the busy prefix.
const VALUE_BYTES: usize = 64 * 1024;
/// Values written under the busy prefix: 10 MiB of events per watcher.
const BUSY_WRITES: usize = 160;
/// Unary requests measured while the watchers are stalled, and how many run at once.
const MEASURED_REQUESTS: usize = 200;
const CONCURRENCY: usize = 4;
/// The latency bound of the test.
const P99_BOUND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watchers_do_not_hold_back_an_etcd_upstream() {
    let etcd = support::Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    stalled_watchers_do_not_hold_back_others(&gateway, "upstream etcd 3.5.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watchers_do_not_hold_back_the_embedded_store() {
    let gateway = Gateway::start_embedded().await;
    stalled_watchers_do_not_hold_back_others(&gateway, "embedded store").await;
}

async fn stalled_watchers_do_not_hold_back_others(gateway: &Gateway, what: &str) {
    let addr = gateway.addr.clone();
    let mut watchers = Vec::new();
    for _ in 0..STALLED_WATCHERS {
        watchers.push(stalled_watcher(&addr, "/busy/").await);
    }
    // Let the watches be created before the first write.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let value = B64.encode(vec![b'v'; VALUE_BYTES]);
    let started = Instant::now();
    for index in 0..BUSY_WRITES {
        let body = format!(
            r#"{{"key":"{}","value":"{value}"}}"#,
            B64.encode(format!("/busy/{index}"))
        );
        let reply = http::post(&addr, "/v3/kv/put", &body).await;
        assert_eq!(
            reply.status,
            200,
            "{what}: busy write {index}: {}\ngateway log:\n{}",
            reply.describe(),
            gateway.log_tail()
        );
    }
    let undelivered = STALLED_WATCHERS * BUSY_WRITES * VALUE_BYTES;
    println!(
        "{what}: {BUSY_WRITES} writes of {VALUE_BYTES} bytes in {:?}; {} MiB of events undelivered \
         to {STALLED_WATCHERS} stalled watchers",
        started.elapsed(),
        undelivered / (1024 * 1024)
    );

    let latencies = measure_unary_latency(&addr, what).await;
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let (p50, p99, max) = (
        percentile(0.50),
        percentile(0.99),
        latencies[latencies.len() - 1],
    );
    println!(
        "{what}: {MEASURED_REQUESTS} unary requests ({CONCURRENCY} at a time) while the watchers \
         are stalled: p50 {p50:?}, p99 {p99:?}, max {max:?}"
    );
    assert!(
        p99 < P99_BOUND,
        "{what}: p99 {p99:?} with stalled watchers, expected under {P99_BOUND:?}"
    );

    // The watchers were held the whole time.
    for watcher in &watchers {
        assert!(
            watcher.peer_addr().is_ok(),
            "{what}: a stalled watcher was disconnected"
        );
    }
    drop(watchers);
}

/// Opens `POST /v3/watch` on every key under `prefix` with a socket whose receive buffer is as
/// small as the system allows, and never reads from it.
async fn stalled_watcher(addr: &str, prefix: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stream = socket
        .connect(addr.parse().expect("gateway address"))
        .await
        .expect("connect to the gateway");
    let mut range_end = prefix.as_bytes().to_vec();
    *range_end.last_mut().expect("non-empty prefix") += 1;
    let body = format!(
        r#"{{"create_request":{{"key":"{}","range_end":"{}"}}}}"#,
        B64.encode(prefix),
        B64.encode(range_end)
    );
    let head = format!(
        "POST /v3/watch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .expect("send the watch request");
    stream
}

/// Sends puts and ranges of keys outside the busy prefix, `CONCURRENCY` at a time; every one
/// must be answered 200. The latencies, sorted.
async fn measure_unary_latency(addr: &str, what: &str) -> Vec<Duration> {
    let per_worker = MEASURED_REQUESTS / CONCURRENCY;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|worker| {
            let addr = addr.to_owned();
            let what = what.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                for index in 0..per_worker {
                    let key = B64.encode(format!("/quiet/{worker}/{index}"));
                    let (path, body) = if index % 2 == 0 {
                        ("/v3/kv/put", format!(r#"{{"key":"{key}","value":"eA=="}}"#))
                    } else {
                        ("/v3/kv/range", format!(r#"{{"key":"{key}"}}"#))
                    };
                    let started = Instant::now();
                    let reply = http::post(&addr, path, &body).await;
                    latencies.push(started.elapsed());
                    assert_eq!(reply.status, 200, "{what}: {path}: {}", reply.describe());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(MEASURED_REQUESTS);
    for worker in workers {
        latencies.extend(worker.await.expect("latency worker"));
    }
    latencies.sort();
    latencies
}
