//! Watches and lease keepalives through the gateway outlive the etcd member serving them
//! (upstream mode, a 3-member etcd 3.5.1 cluster, the gateway given all three endpoints).
//!
//! The gateway resumes a lost upstream stream on another member: each watch is re-created
//! with its id and filters from the revision after the last one delivered, so the client sees
//! every revision once and in order, with no second `created`; keepalives not answered are
//! sent again. etcd's own gateway ends such streams with an `h2 protocol error` line instead.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use support::EtcdVersion::V3_5;
use support::cluster::Cluster;
use support::http;
use support::http_stream::{Call, Stream, parse};
use support::watch_gauges::{await_watch_gauges, watch_gauges};
use support::watch_keepalive::{b64, create_request, put};
use support::watch_reader::{Delivered, WatchConn, event_revisions, spawn_reader};
use support::websocket_client::{ws_connect, ws_send, ws_text};
use support::{Etcd, Gateway, Server};
use tokio::sync::watch;

/// How long a stream may take to deliver again after a kill (generous: shared machine).
const RESUME_WAIT: Duration = Duration::from_secs(30);
/// The pause between two writes of the writer.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// The cluster tests of this file run one at a time (each starts three members, the machine
/// is small, and parallel starts race for free ports).
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A cluster member as a [`Server`] (for the watch gauges).
struct MemberAddr(String);

impl Server for MemberAddr {
    fn addr(&self) -> String {
        self.0.clone()
    }

    fn describe(&self) -> String {
        format!("member at {}", self.0)
    }
}

/// `POST path` on the first running member that answers 200, trying them in turn (a killed
/// member refuses at once; an election may take a moment).
async fn post_any(cluster_addrs: &[String], path: &str, body: &str) -> Value {
    let deadline = Instant::now() + RESUME_WAIT;
    loop {
        for addr in cluster_addrs {
            let reply = http::request_with_timeout(
                addr,
                "POST",
                path,
                &[],
                Bytes::from(body.to_owned()),
                Duration::from_secs(2),
            )
            .await;
            if let Ok(reply) = reply
                && reply.status == 200
                && let Some(json) = reply.json()
            {
                return json;
            }
        }
        assert!(
            Instant::now() < deadline,
            "POST {path} {body}: no member answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A transaction that creates `key` only if it does not exist: a put retried after a lost
/// answer (the election after a kill can take longer than the request timeout) does not make
/// a second revision.
fn create_once(key: &str) -> String {
    json!({
        "compare": [{"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
        "success": [{"request_put": {"key": b64(key), "value": b64("v")}}],
    })
    .to_string()
}

/// Creates `<prefix>00000`, `<prefix>00001`, ... until told to stop; returns when each write
/// was answered.
fn spawn_writer(
    addrs: Vec<String>,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Instant>> {
    tokio::spawn(async move {
        let mut answered = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{prefix}{:05}", answered.len());
            post_any(&addrs, "/v3/kv/txn", &create_once(&key)).await;
            answered.push(Instant::now());
            tokio::time::sleep(WRITE_EVERY).await;
        }
        answered
    })
}

/// The `mod_revision`s of every key under `prefix`, in revision order (each key is written
/// once, so these are exactly the revisions a watch on the prefix must deliver).
async fn written_revisions(addrs: &[String], prefix: &str) -> Vec<i64> {
    let mut range_end = prefix.as_bytes().to_vec();
    *range_end.last_mut().expect("non-empty prefix") += 1;
    let body = json!({"key": b64(prefix), "range_end": base64_bytes(&range_end)}).to_string();
    let reply = post_any(addrs, "/v3/kv/range", &body).await;
    let mut revisions: Vec<i64> = reply["kvs"]
        .as_array()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| kv["mod_revision"].as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default();
    revisions.sort_unstable();
    revisions
}

fn base64_bytes(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The members' watcher gauges, `None` for a member that is down.
async fn watchers(cluster: &Cluster) -> Vec<Option<u64>> {
    let mut gauges = Vec::new();
    for member in &cluster.members {
        gauges.push(if member.is_running() {
            Some(watch_gauges(&MemberAddr(member.addr())).await.0)
        } else {
            None
        });
    }
    gauges
}

/// Continuity of one stream against the revisions written.
fn check_continuity(what: &str, delivered: &Delivered, written: &[i64], watch_id: &str) {
    let got: Vec<i64> = delivered
        .events
        .iter()
        .map(|(revision, _)| *revision)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let duplicated = got
        .iter()
        .filter(|revision| !seen.insert(**revision))
        .count();
    let missing = written
        .iter()
        .filter(|revision| !seen.contains(revision))
        .count();
    println!(
        "{what}: written {}, delivered {}, duplicated {duplicated}, missing {missing}, \
         created messages after the first {}",
        written.len(),
        got.len(),
        delivered.created
    );
    assert_eq!(delivered.failure, None, "{what}: reading stopped early");
    assert_eq!(
        delivered.created, 0,
        "{what}: created messages after the first"
    );
    assert!(
        delivered.others.is_empty(),
        "{what}: unexpected messages {:?}",
        delivered.others
    );
    assert!(
        delivered.watch_ids.iter().all(|id| id == watch_id),
        "{what}: watch ids {:?}, expected all {watch_id}",
        delivered.watch_ids
    );
    assert_eq!(
        (duplicated, missing),
        (0, 0),
        "{what}: duplicated and missing revisions"
    );
    assert_eq!(got, written, "{what}: revisions in order");
}

/// The pause between the last of `times` before `at` and the first after it.
fn gap_around(times: impl Iterator<Item = Instant> + Clone, at: Instant) -> Option<Duration> {
    let before = times.clone().filter(|when| *when <= at).last()?;
    let after = times.into_iter().find(|when| *when > at)?;
    Some(after - before)
}

async fn open_lines(gateway: &Gateway, create: &str) -> WatchConn {
    let mut stream = Call::post_open(&gateway.addr, "/v3/watch", &[], create)
        .await
        .expect_response()
        .await;
    let created = parse(&stream.next_line().await);
    assert_eq!(created["result"]["created"], true, "JSON lines: {created}");
    WatchConn::Lines(stream)
}

async fn open_sse(gateway: &Gateway, create: &str) -> WatchConn {
    let sse = [("accept", "text/event-stream")];
    let mut stream = Call::post_open(&gateway.addr, "/v3/watch", &sse, create)
        .await
        .expect_response()
        .await;
    let event = stream.next_event().await;
    let created = parse(event.trim_end().strip_prefix("data: ").expect("SSE data"));
    assert_eq!(created["result"]["created"], true, "SSE: {created}");
    WatchConn::Sse(stream)
}

async fn open_ws(gateway: &Gateway, create: &str) -> WatchConn {
    let (mut socket, _) = ws_connect(&gateway.addr, "/v3/watch", &[])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ws_send(&mut socket, create).await;
    let created = parse(&ws_text(&mut socket, "WebSocket created").await);
    assert_eq!(created["result"]["created"], true, "WebSocket: {created}");
    WatchConn::Ws(Box::new(socket))
}

/// Keepalives every 300 ms on one stream, answered each with a positive TTL.
struct KeepAlives {
    stream: Stream,
    id: i64,
    sent: usize,
    answered: usize,
    ttls: Vec<i64>,
}

impl KeepAlives {
    async fn open(gateway: &Gateway, id: i64) -> KeepAlives {
        let body = json!({"ID": id}).to_string();
        let mut stream = Call::post_open(&gateway.addr, "/v3/lease/keepalive", &[], &body)
            .await
            .expect_response()
            .await;
        let first = parse(&stream.next_line().await);
        let mut keepalives = KeepAlives {
            stream,
            id,
            sent: 1,
            answered: 0,
            ttls: Vec::new(),
        };
        keepalives.record(&first);
        keepalives
    }

    fn record(&mut self, message: &Value) {
        let result = &message["result"];
        assert_eq!(
            result["ID"],
            self.id.to_string(),
            "keepalive answer {message}"
        );
        let ttl = result["TTL"].as_str().unwrap_or("0").parse().unwrap();
        self.ttls.push(ttl);
        self.answered += 1;
    }

    /// Sends one keepalive and reads its answer (waiting up to `wait`).
    async fn round(&mut self, wait: Duration) {
        self.stream.send(&json!({"ID": self.id}).to_string()).await;
        self.sent += 1;
        let line = self
            .stream
            .next_delimited(b"\n", wait)
            .await
            .unwrap_or_else(|e| panic!("keepalive {}: {e}", self.sent))
            .unwrap_or_else(|| panic!("keepalive {}: the stream ended", self.sent));
        self.record(&parse(&line));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_and_keepalives_survive_member_kills() {
    let _one = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(V3_5, 3, &[]).await;
    let addrs: Vec<String> = cluster.members.iter().map(|m| m.addr()).collect();
    let gateway = Gateway::start(&cluster.endpoints()).await;

    let lease = post_any(&addrs, "/v3/lease/grant", r#"{"TTL":10}"#).await;
    let lease_id: i64 = lease["ID"].as_str().unwrap().parse().unwrap();
    let prefix = json!({"key": b64("k/"), "range_end": b64("k0")});
    let create = create_request(prefix.clone());
    let mut with_id = prefix;
    with_id["watch_id"] = json!(7);
    with_id["prev_kv"] = json!(true);
    let create_with_id = create_request(with_id);

    let (until_tx, until_rx) = watch::channel(None);
    let deadline = Instant::now() + Duration::from_secs(300);
    let readers = [
        ("JSON lines", "0", open_lines(&gateway, &create).await),
        ("SSE", "0", open_sse(&gateway, &create).await),
        ("WebSocket", "7", open_ws(&gateway, &create_with_id).await),
    ]
    .map(|(what, id, conn)| (what, id, spawn_reader(conn, until_rx.clone(), deadline)));

    let stop = Arc::new(AtomicBool::new(false));
    let mut keepalives = KeepAlives::open(&gateway, lease_id).await;
    let keepalive_stop = Arc::clone(&stop);
    let keepalive_task = tokio::spawn(async move {
        while !keepalive_stop.load(Ordering::Relaxed) {
            keepalives.round(RESUME_WAIT).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        keepalives
    });
    let writer = spawn_writer(addrs.clone(), "k/", Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Each member is killed once (and restarted before the next kill), the one holding the
    // most watchers first: every stream loses its member at least once.
    let mut kills = Vec::new();
    let mut resumed = 0;
    for round in 0..cluster.members.len() {
        let gauges = watchers(&cluster).await;
        let killed: Vec<usize> = kills.iter().map(|(index, _)| *index).collect();
        let index = (0..cluster.members.len())
            .filter(|index| !killed.contains(index))
            .max_by_key(|index| gauges[*index].unwrap_or(0))
            .expect("a member not killed yet");
        println!("round {round}: watchers per member {gauges:?}, kill -9 m{index}");
        resumed += gauges[index].unwrap_or(0);
        kills.push((index, Instant::now()));
        cluster.kill(index);
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.restart(index).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.await.expect("writer");
    let written = written_revisions(&addrs, "k/").await;
    assert_eq!(written.len(), writes.len(), "keys written");
    for (index, at) in &kills {
        println!(
            "writer: longest pause between answered puts across the kill of m{index}: {:?}",
            gap_around(writes.iter().copied(), *at)
        );
    }
    until_tx.send_replace(written.last().copied());

    let mut conns = Vec::new();
    for (what, id, reader) in readers {
        let (delivered, conn) = reader.await.expect("reader");
        check_continuity(what, &delivered, &written, id);
        for (index, at) in &kills {
            println!(
                "{what}: longest pause in deliveries across the kill of m{index}: {:?}",
                gap_around(delivered.events.iter().map(|(_, when)| *when), *at)
            );
        }
        conns.push(conn);
    }
    println!("watches resumed (watchers on the killed members): {resumed}");
    assert!(resumed >= 3, "every watch lost its member at least once");
    let total: u64 = watchers(&cluster).await.into_iter().flatten().sum();
    assert_eq!(
        total, 3,
        "upstream watchers: one per open watch, none leaked"
    );

    let keepalives = keepalive_task.await.expect("keepalive task");
    println!(
        "keepalives: sent {}, answered {}, TTLs from {:?} to {:?}",
        keepalives.sent,
        keepalives.answered,
        keepalives.ttls.iter().min(),
        keepalives.ttls.iter().max()
    );
    assert_eq!(
        keepalives.answered, keepalives.sent,
        "every keepalive answered once"
    );
    assert!(
        keepalives.ttls.iter().all(|ttl| *ttl > 0),
        "TTLs {:?}",
        keepalives.ttls
    );

    // The clients going away cancels the upstream watches on every member.
    drop(conns);
    drop(keepalives);
    for member in &cluster.members {
        await_watch_gauges(&MemberAddr(member.addr()), (0, 0), Duration::from_secs(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_outage_cancels_the_watch() {
    let _one = ONE_CLUSTER_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(V3_5, 3, &[]).await;
    let others: Vec<String> = cluster.members[1..].iter().map(|m| m.addr()).collect();
    // Only m0 behind the gateway: while it is down, the watch cannot resume anywhere.
    let gateway = Gateway::start(&cluster.members[0].client_url()).await;
    let create = create_request(json!({"key": b64("c/"), "range_end": b64("c0")}));
    let mut stream = Call::post_open(&gateway.addr, "/v3/watch", &[], &create)
        .await
        .expect_response()
        .await;
    assert_eq!(parse(&stream.next_line().await)["result"]["created"], true);
    let first = post_any(&others, "/v3/kv/put", &put("c/1", "v")).await;
    let first_revision = revision_of(&first);
    let message = parse(&stream.next_line().await);
    assert_eq!(event_revisions(&message), [first_revision], "{message}");

    cluster.kill(0);
    let mut last = 0;
    for key in ["c/2", "c/3", "c/4"] {
        last = revision_of(&post_any(&others, "/v3/kv/put", &put(key, "v")).await);
    }
    let compaction = json!({"revision": last.to_string()}).to_string();
    post_any(&others, "/v3/kv/compaction", &compaction).await;
    cluster.restart(0).await;

    let line = stream
        .next_delimited(b"\n", RESUME_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("a cancellation, not the end of the stream");
    let message = parse(&line);
    let result = &message["result"];
    assert_eq!(result["canceled"], true, "{message}");
    assert_eq!(result["compact_revision"], last.to_string(), "{message}");
    assert_eq!(result["created"], Value::Null, "{message}");
    assert_eq!(result["watch_id"], Value::Null, "{message}");
    assert_eq!(result["events"], Value::Null, "{message}");

    // The stream goes on: progress requests and new watches work.
    stream.send(r#"{"progress_request":{}}"#).await;
    let progress = parse(&stream.next_line().await);
    assert_eq!(progress["result"]["watch_id"], "-1", "{progress}");
    stream.send(&create).await;
    let created = parse(&stream.next_line().await);
    assert_eq!(created["result"]["created"], true, "{created}");
    let next = revision_of(&post_any(&others, "/v3/kv/put", &put("c/5", "v")).await);
    let message = parse(&stream.next_line().await);
    assert_eq!(event_revisions(&message), [next], "{message}");

    drop(stream);
    await_watch_gauges(
        &MemberAddr(cluster.members[0].addr()),
        (0, 0),
        Duration::from_secs(10),
    )
    .await;
}

fn revision_of(reply: &Value) -> i64 {
    reply["header"]["revision"]
        .as_str()
        .and_then(|revision| revision.parse().ok())
        .unwrap_or_else(|| panic!("no header revision in {reply}"))
}

/// With no member reachable for `--stream-resume-timeout`, the stream ends with a 503 line
/// (code 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_gives_up_when_no_member_comes_back() {
    let mut etcd = Etcd::start(V3_5).await;
    let endpoint = format!("http://{}", etcd.addr());
    let args = ["--endpoints", &endpoint, "--stream-resume-timeout", "3s"];
    let gateway = Gateway::start_with_args(&args).await;
    let create = create_request(json!({"key": b64("g")}));
    let mut stream = Call::post_open(&gateway.addr, "/v3/watch", &[], &create)
        .await
        .expect_response()
        .await;
    assert_eq!(parse(&stream.next_line().await)["result"]["created"], true);
    etcd.stop();
    let started = Instant::now();
    let line = stream
        .next_delimited(b"\n", Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("an error line, not the end of the stream");
    println!("gave up after {:?}: {line}", started.elapsed());
    let error = &parse(&line)["error"];
    assert_eq!(error["grpc_code"], 14, "{line}");
    assert_eq!(error["http_code"], 503, "{line}");
    assert_eq!(error["http_status"], "Service Unavailable", "{line}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("upstream stream lost and not resumed within 3s: "),
        "{line}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "gave up too early"
    );
    stream.expect_end().await;
}
