//! Election and lock through the JSON gateway on the embedded store, compared with etcd 3.5.1's
//! own gateway: the same steps go to a fresh etcd (side A, the reference) and to our binary
//! without `--endpoints` (side B). Unary steps compare masked bodies; the blocking scenarios
//! (a campaign waiting for a resign, `Observe`, a lock waiting for an unlock, a waiter whose
//! client goes away, a holder whose lease is revoked) run on each side and compare every answer
//! and the keys left behind.
//!
//! Membership changes on the embedded store, which a one-member store answers differently from
//! etcd on purpose, are asserted on the embedded store alone.
//!
//! # Inherent differences
//!
//! | id | etcd 3.5.1 | embedded store |
//! |----|------------|----------------|
//! | `ids` | random `cluster_id`/`member_id`, lease IDs it picks | its own (masked on both sides) |
//! | `member-add` | adds the member (the cluster then waits for it) | `400` code 9: one member only, use `--endpoints` |

mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use support::EtcdVersion::V3_5;
use support::http_stream::{Call, parse};
use support::json::{Masker, diff, error_body, header};
use support::scenario::{Pair, Step, post};
use support::{Target, http};

/// How long a call that must wait is watched for an early answer.
const PENDING: Duration = Duration::from_millis(700);

fn b64(text: &str) -> String {
    B64.encode(text)
}

/// `{"name":…,"lease":…,"value":…}` of a campaign.
fn campaign_body(name: &str, lease: &str, value: &str) -> String {
    json!({"name": b64(name), "lease": lease, "value": b64(value)}).to_string()
}

fn leader_key(name: &str, lease_hex: &str, rev: &str, lease: &str) -> Value {
    json!({"name": b64(name), "key": b64(&format!("{name}/{lease_hex}")), "rev": rev, "lease": lease})
}

/// etcd's v3election/v3lock errors: plain Go errors, so gRPC code 2 and HTTP 500.
fn unknown(step: Step, message: &str) -> Step {
    step.error(500, 2, message)
}

/// Election and lock steps that answer at once, compared with etcd 3.5.1 (recorded from its
/// gateway; etcd 3.5.1 server/etcdserver/api/v3election/election.go, v3lock/lock.go,
/// client/v3/concurrency).
fn unary_steps() -> Vec<Step> {
    let el = leader_key("el", "1000", "2", "4096");
    vec![
        post("/v3/lease/grant", r#"{"TTL":"30","ID":"4096"}"#),
        post("/v3/election/campaign", &campaign_body("el", "4096", "v1"))
            .json(json!({"header": header(2), "leader": el})),
        post(
            "/v3/election/leader",
            &json!({"name": b64("el")}).to_string(),
        )
        .json(json!({
            "header": header(2),
            "kv": {"key": b64("el/1000"), "create_revision": "2", "mod_revision": "2",
                   "version": "1", "value": b64("v1"), "lease": "4096"},
        })),
        post(
            "/v3/election/proclaim",
            &json!({"leader": el, "value": b64("v2")}).to_string(),
        )
        .json(json!({"header": header(3)})),
        // The same lease campaigns again: the key is taken over and the new value proclaimed;
        // the answer carries the header of the campaign's first txn.
        post("/v3/election/campaign", &campaign_body("el", "4096", "v3"))
            .json(json!({"header": header(3), "leader": el})),
        post(
            "/v3/election/leader",
            &json!({"name": b64("el")}).to_string(),
        )
        .field("/kv/value", json!(b64("v3")))
        .field("/kv/version", json!("3")),
        post("/v3/election/resign", &json!({"leader": el}).to_string())
            .json(json!({"header": header(5)})),
        unknown(
            post(
                "/v3/election/leader",
                &json!({"name": b64("el")}).to_string(),
            ),
            "election: no leader",
        ),
        unknown(
            post(
                "/v3/election/proclaim",
                &json!({"value": b64("x")}).to_string(),
            ),
            r#""leader" field must be provided"#,
        ),
        unknown(
            post("/v3/election/resign", "{}"),
            r#""leader" field must be provided"#,
        ),
        unknown(
            post(
                "/v3/election/proclaim",
                &json!({"leader": el, "value": b64("x")}).to_string(),
            ),
            "election: not leader",
        ),
        // Resigning a key that is gone changes nothing and succeeds.
        post("/v3/election/resign", &json!({"leader": el}).to_string())
            .json(json!({"header": header(5)})),
        unknown(
            post("/v3/election/campaign", &campaign_body("el", "12345", "v")),
            "etcdserver: requested lease not found",
        ),
        post(
            "/v3/lock/lock",
            &json!({"name": b64("lk"), "lease": "4096"}).to_string(),
        )
        .json(json!({"header": header(6), "key": b64("lk/1000")})),
        // The session's key exists: the same lease holds the lock already.
        post(
            "/v3/lock/lock",
            &json!({"name": b64("lk"), "lease": "4096"}).to_string(),
        )
        .json(json!({"header": header(6), "key": b64("lk/1000")})),
        post(
            "/v3/lock/unlock",
            &json!({"key": b64("lk/1000")}).to_string(),
        )
        .json(json!({"header": header(7)})),
        post("/v3/lock/unlock", &json!({"key": b64("none")}).to_string())
            .json(json!({"header": header(7)})),
        unknown(
            post("/v3/lock/unlock", "{}"),
            "etcdserver: key is not provided",
        ),
        unknown(
            post(
                "/v3/lock/lock",
                &json!({"name": b64("lk"), "lease": "999"}).to_string(),
            ),
            "etcdserver: requested lease not found",
        ),
        // Lease 0: the session grants a lease of its own (60 s) and the key carries it.
        post("/v3/lock/lock", &json!({"name": b64("lk")}).to_string())
            .json(json!({"header": header(8), "key": "<key lk/<id1>>"})),
        post("/v3/lease/timetolive", r#"{"ID":"4096"}"#).field("/grantedTTL", json!("30")),
        // Cluster. etcd proposes a configuration change for some of these and drops one
        // proposed too soon after another (the request then never returns): the update,
        // which does, comes last, and each step waits a moment first.
        post("/v3/cluster/member/remove", r#"{"ID":"1"}"#)
            .settle()
            .error(404, 5, "etcdserver: member not found"),
        // etcd 3.5.1 server/etcdserver/server.go mayRemoveMember: the only voter stays.
        post("/v3/cluster/member/remove", r#"{"ID":"{{member_id}}"}"#)
            .settle()
            .error(
                500,
                2,
                "etcdserver: re-configuration failed due to not enough started members",
            ),
        post("/v3/cluster/member/promote", r#"{"ID":"1"}"#)
            .settle()
            .error(404, 5, "etcdserver: member not found"),
        post("/v3/cluster/member/promote", r#"{"ID":"{{member_id}}"}"#)
            .settle()
            .failed_precondition("etcdserver: can only promote a learner member"),
        post("/v3/cluster/member/add", r#"{"peerURLs":["bad"]}"#)
            .settle()
            .error(400, 3, "etcdserver: given member URLs are invalid"),
        post(
            "/v3/cluster/member/update",
            r#"{"ID":"1","peerURLs":["http://127.0.0.1:1"]}"#,
        )
        .settle()
        .error(404, 5, "etcdserver: member not found"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_steps_match_etcd() {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    pair.run(&unary_steps()).await;
}

/// Sends `POST path body` and returns the status and JSON body of the answer.
async fn call(addr: &str, path: &str, body: &str) -> (u16, Value) {
    let reply = http::post(addr, path, body).await;
    (reply.status, reply.expect_json())
}

/// The status and JSON body of a call that was left waiting.
async fn answer(call: Call) -> (u16, Value) {
    let mut stream = call.expect_response().await;
    let body = stream.read_to_end().await.concat();
    (stream.status, parse(&body))
}

/// The keys under `prefix`, as text.
async fn keys(addr: &str, prefix: &str) -> Vec<String> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("prefix") += 1;
    let body = json!({"key": b64(prefix), "range_end": B64.encode(&end), "keys_only": true});
    let (status, reply) = call(addr, "/v3/kv/range", &body.to_string()).await;
    assert_eq!(status, 200, "range {prefix}: {reply}");
    let kvs = reply["kvs"].as_array().cloned().unwrap_or_default();
    kvs.iter()
        .map(|kv| {
            let raw = B64
                .decode(kv["key"].as_str().expect("key"))
                .expect("base64");
            String::from_utf8(raw).expect("UTF-8 key")
        })
        .collect()
}

/// Waits (bounded) until the keys under `prefix` are `want`.
async fn await_keys(addr: &str, prefix: &str, want: &[&str]) {
    let mut got = Vec::new();
    for _ in 0..50 {
        got = keys(addr, prefix).await;
        if got == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr}: keys under {prefix} are {got:?}, expected {want:?}");
}

async fn grant(addr: &str, id: u64) {
    let body = json!({"TTL": "30", "ID": id.to_string()}).to_string();
    let (status, reply) = call(addr, "/v3/lease/grant", &body).await;
    assert_eq!(status, 200, "grant {id}: {reply}");
}

/// A campaign waits for the leader to resign; `Observe` streams the leader, its proclaims and
/// the next leader. Returns every answer, masked.
async fn campaign_and_observe(addr: &str, masker: &mut Masker) -> Vec<Value> {
    let mut seen = Vec::new();
    grant(addr, 8192).await;
    grant(addr, 8193).await;
    let observe = Call::post(
        addr,
        "/v3/election/observe",
        &[],
        &json!({"name": b64("ob")}).to_string(),
    )
    .await;
    let (status, first) = call(
        addr,
        "/v3/election/campaign",
        &campaign_body("ob", "8192", "a"),
    )
    .await;
    assert_eq!(status, 200, "{addr}: first campaign: {first}");
    let mut observed = observe.expect_response().await;
    assert_eq!(observed.status, 200, "{addr}: observe");
    seen.push(masker.mask(&parse(&observed.next_line().await)));
    let mut second = Call::post(
        addr,
        "/v3/election/campaign",
        &[],
        &campaign_body("ob", "8193", "b"),
    )
    .await;
    second.expect_pending(PENDING).await;
    let leader = json!({"leader": first["leader"], "value": b64("a2")}).to_string();
    let (status, proclaimed) = call(addr, "/v3/election/proclaim", &leader).await;
    assert_eq!(status, 200, "{addr}: proclaim: {proclaimed}");
    seen.push(masker.mask(&parse(&observed.next_line().await)));
    second.expect_pending(PENDING).await;
    let resign = json!({"leader": first["leader"]}).to_string();
    let (status, resigned) = call(addr, "/v3/election/resign", &resign).await;
    assert_eq!(status, 200, "{addr}: resign: {resigned}");
    seen.push(masker.mask(&resigned));
    let (status, won) = answer(second).await;
    assert_eq!(status, 200, "{addr}: second campaign: {won}");
    seen.push(masker.mask(&won));
    seen.push(masker.mask(&parse(&observed.next_line().await)));
    seen
}

/// A lock waits while held; unlock hands it over. Returns every answer, masked.
async fn lock_handover(addr: &str, masker: &mut Masker) -> Vec<Value> {
    let mut seen = Vec::new();
    grant(addr, 12288).await;
    grant(addr, 12289).await;
    let lock = |lease: &str| json!({"name": b64("lk"), "lease": lease}).to_string();
    let (status, held) = call(addr, "/v3/lock/lock", &lock("12288")).await;
    assert_eq!(status, 200, "{addr}: lock: {held}");
    seen.push(masker.mask(&held));
    let mut waiting = Call::post(addr, "/v3/lock/lock", &[], &lock("12289")).await;
    waiting.expect_pending(PENDING).await;
    let unlock = json!({"key": held["key"]}).to_string();
    let (status, unlocked) = call(addr, "/v3/lock/unlock", &unlock).await;
    assert_eq!(status, 200, "{addr}: unlock: {unlocked}");
    seen.push(masker.mask(&unlocked));
    let (status, got) = answer(waiting).await;
    assert_eq!(status, 200, "{addr}: second lock: {got}");
    seen.push(masker.mask(&got));
    seen
}

/// Waiters whose client goes away leave no key; a holder whose lease is revoked releases the
/// lock to the next waiter.
async fn disconnect_and_revoke(addr: &str, masker: &mut Masker) -> Vec<Value> {
    let mut seen = Vec::new();
    for id in [16384, 16385, 16386] {
        grant(addr, id).await;
    }
    let lock = |lease: &str| json!({"name": b64("dl"), "lease": lease}).to_string();
    let (status, held) = call(addr, "/v3/lock/lock", &lock("16384")).await;
    assert_eq!(status, 200, "{addr}: lock: {held}");
    let mut gone = Call::post(addr, "/v3/lock/lock", &[], &lock("16385")).await;
    gone.expect_pending(PENDING).await;
    await_keys(addr, "dl/", &["dl/4000", "dl/4001"]).await;
    gone.abort();
    await_keys(addr, "dl/", &["dl/4000"]).await;
    // The same for a campaign.
    let (status, _) = call(
        addr,
        "/v3/election/campaign",
        &campaign_body("de", "16384", "a"),
    )
    .await;
    assert_eq!(status, 200, "{addr}: campaign");
    let mut gone = Call::post(
        addr,
        "/v3/election/campaign",
        &[],
        &campaign_body("de", "16385", "b"),
    )
    .await;
    gone.expect_pending(PENDING).await;
    await_keys(addr, "de/", &["de/4000", "de/4001"]).await;
    gone.abort();
    await_keys(addr, "de/", &["de/4000"]).await;
    // A waiter whose deadline (`Grpc-Timeout`) passes stops and leaves no key either.
    let headers = [("Grpc-Timeout".to_owned(), "500m".to_owned())];
    let reply = http::request(addr, "POST", "/v3/lock/lock", &headers, lock("16385"))
        .await
        .expect("lock with a deadline");
    seen.push(json!({"deadline status": reply.status, "code": reply.expect_json()["code"]}));
    await_keys(addr, "dl/", &["dl/4000"]).await;
    // Revoking the holder's lease hands the lock over.
    let mut waiting = Call::post(addr, "/v3/lock/lock", &[], &lock("16386")).await;
    waiting.expect_pending(PENDING).await;
    let (status, revoked) = call(addr, "/v3/lease/revoke", r#"{"ID":"16384"}"#).await;
    assert_eq!(status, 200, "{addr}: revoke: {revoked}");
    let (status, got) = answer(waiting).await;
    assert_eq!(status, 200, "{addr}: lock after revoke: {got}");
    seen.push(masker.mask(&got));
    await_keys(addr, "dl/", &["dl/4002"]).await;
    await_keys(addr, "de/", &[]).await;
    seen
}

/// Asserts that both sides answered alike and returns the answers.
fn same(etcd: Vec<Value>, ours: Vec<Value>, what: &str) -> Vec<Value> {
    let (a, b) = (Value::Array(etcd), Value::Array(ours));
    if let Some(d) = diff(&a, &b) {
        panic!("{what}: answers differ at {d}\n  etcd: {a}\n  ours: {b}");
    }
    match a {
        Value::Array(items) => items,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_waits_for_resign_and_observe_follows_as_etcd() {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    let etcd = campaign_and_observe(&pair.a.addr.clone(), &mut pair.a.masker).await;
    let ours = campaign_and_observe(&pair.b.addr.clone(), &mut pair.b.masker).await;
    let seen = same(etcd, ours, "campaign and observe");
    let kv = |key: &str, create: u64, rev: u64, version: u64, value: &str, lease: &str| {
        json!({"key": b64(key), "create_revision": create.to_string(),
               "mod_revision": rev.to_string(), "version": version.to_string(),
               "value": b64(value), "lease": lease})
    };
    assert_eq!(
        seen,
        vec![
            json!({"result": {"header": header(2), "kv": kv("ob/2000", 2, 2, 1, "a", "8192")}}),
            json!({"result": {"header": header(4), "kv": kv("ob/2000", 2, 4, 2, "a2", "8192")}}),
            json!({"header": header(5)}),
            // The campaign's answer carries the header of its own txn (revision 3).
            json!({"header": header(3), "leader": leader_key("ob", "2001", "3", "8193")}),
            json!({"result": {"header": header(5), "kv": kv("ob/2001", 3, 3, 1, "b", "8193")}}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_waits_while_held_as_etcd() {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    let etcd = lock_handover(&pair.a.addr.clone(), &mut pair.a.masker).await;
    let ours = lock_handover(&pair.b.addr.clone(), &mut pair.b.masker).await;
    let seen = same(etcd, ours, "lock handover");
    assert_eq!(
        seen,
        vec![
            json!({"header": header(2), "key": b64("lk/3000")}),
            json!({"header": header(4)}),
            // The waiter answers with the header of its final read.
            json!({"header": header(4), "key": b64("lk/3001")}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_waiters_leave_no_key_and_revoke_releases_as_etcd() {
    let mut pair = Pair::start_target(V3_5, Target::Embedded).await;
    let etcd = disconnect_and_revoke(&pair.a.addr.clone(), &mut pair.a.masker).await;
    let ours = disconnect_and_revoke(&pair.b.addr.clone(), &mut pair.b.masker).await;
    let seen = same(etcd, ours, "disconnect and revoke");
    assert_eq!(seen[0], json!({"deadline status": 504, "code": 4}));
}

/// `MemberUpdate` of the member itself replaces its peer URLs; adding members is refused with
/// the reason (see the table at the top).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_on_the_embedded_store() {
    let gateway = support::Gateway::start_embedded().await;
    let addr = &gateway.addr;
    let (_, list) = call(addr, "/v3/cluster/member/list", "{}").await;
    let id = list["members"][0]["ID"]
        .as_str()
        .expect("member ID")
        .to_owned();
    let update = json!({"ID": id, "peerURLs": ["http://127.0.0.1:2380", "http://10.0.0.1:2380"]});
    let (status, updated) = call(addr, "/v3/cluster/member/update", &update.to_string()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["members"][0]["peerURLs"],
        json!(["http://127.0.0.1:2380", "http://10.0.0.1:2380"])
    );
    assert_eq!(updated["header"].get("revision"), None, "{updated}");
    let (_, listed) = call(addr, "/v3/cluster/member/list", "{}").await;
    assert_eq!(listed["members"], updated["members"]);
    let (status, added) = call(
        addr,
        "/v3/cluster/member/add",
        r#"{"peerURLs":["http://127.0.0.1:2390"]}"#,
    )
    .await;
    assert_eq!(
        (status, added),
        (
            400,
            error_body(
                9,
                "the embedded store is a single-member cluster and cannot add members; to run \
                 a cluster of several members, start etcd members and serve them with \
                 --endpoints"
            )
        )
    );
}

/// Native gRPC on the same port, as etcd's clients call it: errors keep etcd's code
/// (`Unknown`) and text, and a waiting `Lock` whose deadline passes leaves no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_grpc_election_and_lock() {
    use etcd_gateway::etcdserverpb::LeaseGrantRequest;
    use etcd_gateway::etcdserverpb::lease_client::LeaseClient;
    use etcd_gateway::v3electionpb::LeaderRequest;
    use etcd_gateway::v3electionpb::election_client::ElectionClient;
    use etcd_gateway::v3lockpb::LockRequest;
    use etcd_gateway::v3lockpb::lock_client::LockClient;

    let gateway = support::Gateway::start_embedded().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", gateway.addr))
        .expect("URL")
        .connect()
        .await
        .expect("connect the gRPC client");
    let status = ElectionClient::new(channel.clone())
        .leader(LeaderRequest {
            name: b"none".to_vec(),
        })
        .await
        .expect_err("no leader");
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::Unknown, "election: no leader")
    );
    let mut leases = LeaseClient::new(channel.clone());
    for id in [20480, 20481] {
        leases
            .lease_grant(LeaseGrantRequest { id, ttl: 30 })
            .await
            .expect("grant");
    }
    let mut locks = LockClient::new(channel);
    let held = locks
        .lock(LockRequest {
            name: b"gl".to_vec(),
            lease: 20480,
        })
        .await
        .expect("lock")
        .into_inner();
    assert_eq!(held.key, b"gl/5000");
    let mut waiting = tonic::Request::new(LockRequest {
        name: b"gl".to_vec(),
        lease: 20481,
    });
    waiting.set_timeout(Duration::from_millis(500));
    let status = locks.lock(waiting).await.expect_err("deadline");
    // The client gives up first (tonic: `Cancelled`, "Timeout expired") or the server's
    // deadline answers; either way the call is dropped on the server.
    assert!(
        matches!(
            status.code(),
            tonic::Code::Cancelled | tonic::Code::DeadlineExceeded
        ),
        "{status:?}"
    );
    await_keys(&gateway.addr, "gl/", &["gl/5000"]).await;
}
