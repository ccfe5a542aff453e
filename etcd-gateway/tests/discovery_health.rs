//! Member discovery through the gateway, etcd's health endpoints, and requests without `Host`.
//!
//! * Discovery: clients that read `MemberList` (Patroni, HA tools, auto-syncing clients) use
//!   the listed `clientURLs` from then on, so the gateway answers its own advertised URLs
//!   (`--advertise-client-urls`, default the URL it listens on) for every started member of
//!   the upstream, in all five Cluster responses; `--member-client-urls=passthrough` answers
//!   the members' own. Reference: etcd's own gateway's member list, with only `clientURLs`
//!   differing.
//! * `/health`: etcd 3.5.1's body `{"health":"true","reason":""}` (etcd 3.5.1
//!   server/etcdserver/api/etcdhttp/metrics.go, `Health`), also in front of etcd 3.4.23.
//! * `/livez`, `/readyz`: etcd 3.5.12's checks and plain-text answers (etcd 3.5.12
//!   server/etcdserver/api/etcdhttp/health.go: `ok\n`, `[+]<check> ok` lines with `?verbose`,
//!   `?exclude=<check>`, a subpath per check).

mod support;

use serde_json::{Value, json};
use support::http::{self, Reply};
use support::{Etcd, EtcdVersion, Gateway};

const MEMBER_LIST: &str = "/v3/cluster/member/list";

/// etcd's raft drops a configuration change proposed before the previous one is marked
/// applied, and the request never returns: membership changes wait this long after another.
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}

/// `list` with every started member's `clientURLs` replaced by `urls`.
fn with_client_urls(mut list: Value, urls: &[String]) -> Value {
    for member in list["members"].as_array_mut().expect("members") {
        if member.get("clientURLs").is_some() {
            member["clientURLs"] = json!(urls);
        }
    }
    list
}

fn expect_ok(reply: &Reply, what: &str) -> Value {
    assert_eq!(reply.status, 200, "{what}: {}", reply.describe());
    reply.expect_json()
}

async fn member_list(addr: &str) -> Value {
    expect_ok(&http::post(addr, MEMBER_LIST, "{}").await, "member list")
}

async fn discovery(version: EtcdVersion) {
    let etcd = Etcd::start(version).await;
    let theirs = member_list(&etcd.addr()).await;
    assert_eq!(
        theirs["members"][0]["clientURLs"],
        json!([etcd.client_url()]),
        "etcd {version:?} lists its own URL"
    );

    // Default: the URL the gateway listens on.
    let gateway = Gateway::start(&etcd.client_url()).await;
    let ours = member_list(&gateway.addr).await;
    let advertised = vec![format!("http://{}", gateway.addr)];
    assert_eq!(ours, with_client_urls(theirs.clone(), &advertised));

    // Given URLs, in their order.
    let urls = vec![
        "https://gw-a:2379".to_owned(),
        "https://gw-b:2379".to_owned(),
    ];
    let gateway = Gateway::start_with_args(&[
        "--endpoints",
        &etcd.client_url(),
        "--advertise-client-urls",
        &urls.join(","),
    ])
    .await;
    assert_eq!(
        member_list(&gateway.addr).await,
        with_client_urls(theirs.clone(), &urls)
    );

    // MemberAdd, MemberUpdate, MemberPromote, MemberRemove: the member lists they carry are
    // rewritten; a learner that never started lists no client URL and keeps none.
    let add = http::post(
        &gateway.addr,
        "/v3/cluster/member/add",
        r#"{"peerURLs":["http://127.0.0.1:1"],"isLearner":true}"#,
    )
    .await;
    let add = expect_ok(&add, "member add");
    let learner_id = add["member"]["ID"].as_str().expect("learner ID").to_owned();
    assert_eq!(add["member"].get("clientURLs"), None, "{add}");
    let members = add["members"].as_array().expect("members");
    assert_eq!(members.len(), 2, "{add}");
    for member in members {
        if member["ID"] == json!(learner_id) {
            assert_eq!(member.get("clientURLs"), None, "{add}");
        } else {
            assert_eq!(member["clientURLs"], json!(urls), "{add}");
        }
    }
    let direct = member_list(&etcd.addr()).await;
    assert_eq!(
        member_list(&gateway.addr).await,
        with_client_urls(direct, &urls),
        "member list with a learner"
    );

    settle().await;
    let update = http::post(
        &gateway.addr,
        "/v3/cluster/member/update",
        &format!(r#"{{"ID":"{learner_id}","peerURLs":["http://127.0.0.1:2"]}}"#),
    )
    .await;
    let update = expect_ok(&update, "member update");
    let direct = member_list(&etcd.addr()).await;
    assert_eq!(
        update["members"],
        with_client_urls(direct, &urls)["members"],
        "member update: {update}"
    );

    // Promoting a learner that is not in sync fails, as etcd's answer passes through.
    let promote_body = format!(r#"{{"ID":"{learner_id}"}}"#);
    settle().await;
    let theirs = http::post(&etcd.addr(), "/v3/cluster/member/promote", &promote_body).await;
    let ours = http::post(&gateway.addr, "/v3/cluster/member/promote", &promote_body).await;
    // The body is etcd's; the status is etcd 3.5.1's for FailedPrecondition (400), where
    // etcd 3.4.23's older grpc-gateway answers 412.
    assert_eq!(
        ours.json(),
        theirs.json(),
        "member promote of a learner not in sync"
    );
    assert_eq!(ours.status, 400, "{}", ours.describe());

    settle().await;
    let remove = http::post(
        &gateway.addr,
        "/v3/cluster/member/remove",
        &format!(r#"{{"ID":"{learner_id}"}}"#),
    )
    .await;
    let remove = expect_ok(&remove, "member remove");
    let direct = member_list(&etcd.addr()).await;
    assert_eq!(direct["members"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        remove["members"],
        with_client_urls(direct.clone(), &urls)["members"],
        "member remove: {remove}"
    );

    // Pass-through: the members' own URLs.
    let gateway = Gateway::start_with_args(&[
        "--endpoints",
        &etcd.client_url(),
        "--member-client-urls",
        "passthrough",
    ])
    .await;
    assert_eq!(member_list(&gateway.addr).await, direct);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_discovery_leads_to_the_gateway_etcd_3_4() {
    discovery(EtcdVersion::V3_4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_discovery_leads_to_the_gateway_etcd_3_5() {
    discovery(EtcdVersion::V3_5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_member_lists_the_advertised_urls() {
    let gateway = Gateway::start_embedded().await;
    let list = member_list(&gateway.addr).await;
    assert_eq!(
        list["members"][0]["clientURLs"],
        json!([format!("http://{}", gateway.addr)])
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let gateway = Gateway::start_with_args(&[
        "--data-dir",
        data_dir.to_str().expect("UTF-8 path"),
        "--advertise-client-urls",
        "https://gw-a:2379,https://gw-b:2379",
    ])
    .await;
    let list = member_list(&gateway.addr).await;
    assert_eq!(
        list["members"][0]["clientURLs"],
        json!(["https://gw-a:2379", "https://gw-b:2379"])
    );
}

/// `/health` against etcd 3.5.1's own, byte for byte, healthy and with the upstream gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_matches_etcd_3_5() {
    let mut etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    for path in [
        "/health",
        "/health?exclude=NOSPACE",
        "/health?serializable=true",
    ] {
        let theirs = http::get(&etcd.addr(), path).await;
        let ours = http::get(&gateway.addr, path).await;
        assert_eq!(
            (theirs.status, theirs.text()),
            (200, r#"{"health":"true","reason":""}"#.to_owned()),
            "etcd {path}"
        );
        assert_eq!(
            (ours.status, ours.text()),
            (theirs.status, theirs.text()),
            "ours {path}"
        );
    }
    etcd.stop();
    let ours = http::get(&gateway.addr, "/health").await;
    assert_eq!(ours.status, 503, "{}", ours.describe());
    let text = ours.text();
    assert!(text.ends_with("}\n"), "http.Error's newline: {text:?}");
    let body = ours.expect_json();
    assert_eq!(body["health"], json!("false"), "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("GET ERROR:")),
        "etcd grpc-proxy's reason for an unreachable cluster: {body}"
    );
}

/// `/livez` and `/readyz` with their parameters and subpaths, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_and_readyz_as_etcd_3_5_12() {
    let etcd = Etcd::start(EtcdVersion::V3_4).await;
    let upstream = Gateway::start(&etcd.client_url()).await;
    let embedded = Gateway::start_embedded().await;
    let cases = [
        ("/livez", "ok\n"),
        ("/livez?verbose", "[+]serializable_read ok\nok\n"),
        ("/readyz", "ok\n"),
        (
            "/readyz?verbose",
            "[+]data_corruption ok\n[+]linearizable_read ok\n[+]serializable_read ok\nok\n",
        ),
        (
            "/readyz?verbose&exclude=linearizable_read&exclude=data_corruption",
            "[+]serializable_read ok\nok\n",
        ),
        (
            "/readyz/linearizable_read?verbose",
            "[+]linearizable_read ok\nok\n",
        ),
        ("/readyz/data_corruption", "ok\n"),
        ("/livez/serializable_read", "ok\n"),
    ];
    for gateway in [&upstream, &embedded] {
        for (path, body) in cases {
            let reply = http::get(&gateway.addr, path).await;
            assert_eq!(
                (reply.status, reply.text()),
                (200, body.to_owned()),
                "{path}"
            );
            assert_eq!(
                reply.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "{path}"
            );
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        }
    }
    drop(etcd);
    let reply = http::get(&upstream.addr, "/readyz?exclude=data_corruption").await;
    assert_eq!(reply.status, 503, "{}", reply.describe());
    let text = reply.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(
        lines[0].starts_with("[-]linearizable_read failed: "),
        "{text:?}"
    );
    assert!(
        lines[1].starts_with("[-]serializable_read failed: "),
        "{text:?}"
    );
    assert_eq!(
        lines[2], "",
        "http.Error's newline after the listing: {text:?}"
    );
}

/// Sends `request` on a fresh connection and reads until the server closes it.
async fn raw_exchange(addr: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read answer");
        String::from_utf8(answer).expect("UTF-8 answer")
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{addr} did not answer and close: {request:?}"))
}

/// The status line, the headers Go sends (hyper also sends `content-length` and `date`), and
/// the body of an answer.
fn missing_host_parts(answer: &str) -> (String, Option<String>, Option<String>, String) {
    let (head, body) = answer.split_once("\r\n\r\n").expect("end of the head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let mut content_type = None;
    let mut connection = None;
    for line in lines {
        let (name, value) = line.split_once(": ").expect("header line");
        match name.to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_owned()),
            "connection" => connection = Some(value.to_owned()),
            _ => {}
        }
    }
    (status_line, content_type, connection, body.to_owned())
}

/// HTTP/1.1 without `Host`: etcd 3.5.1's Go server answers
/// `400 Bad Request: missing required Host header` (net/http server.go, `badRequestError`)
/// and closes the connection; so does ours, on both backends. HTTP/1.0 needs no `Host`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_1_1_without_host_is_a_bad_request() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let upstream = Gateway::start(&etcd.client_url()).await;
    let etcd_34 = Etcd::start(EtcdVersion::V3_4).await;
    let upstream_34 = Gateway::start(&etcd_34.client_url()).await;
    let embedded = Gateway::start_embedded().await;
    let expected = (
        "HTTP/1.1 400 Bad Request: missing required Host header".to_owned(),
        Some("text/plain; charset=utf-8".to_owned()),
        Some("close".to_owned()),
        "400 Bad Request: missing required Host header".to_owned(),
    );
    for (what, addr) in [
        ("etcd 3.5.1", etcd.addr()),
        ("ours upstream", upstream.addr.clone()),
        ("ours in front of etcd 3.4.23", upstream_34.addr.clone()),
        ("ours embedded", embedded.addr.clone()),
    ] {
        for request in [
            "GET /health HTTP/1.1\r\n\r\n",
            "POST /v3/kv/range HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        ] {
            let answer = raw_exchange(&addr, request).await;
            assert_eq!(
                missing_host_parts(&answer),
                expected,
                "{what}: {request:?} → {answer:?}"
            );
        }
        let answer = raw_exchange(&addr, "GET /health HTTP/1.0\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.0 200 OK\r\n")
                && answer.ends_with(r#"{"health":"true","reason":""}"#),
            "{what}: HTTP/1.0 without Host → {answer:?}"
        );
    }
}

/// An active CORRUPT alarm fails `/readyz`'s `data_corruption` check (etcd 3.5.12
/// health.go `activeAlarmCheck`: `alarm activated: CORRUPT`), listed with the other checks
/// and http.Error's newline; `?exclude=data_corruption` and `/livez` stay `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_an_active_corrupt_alarm() {
    let gateway = Gateway::start_embedded().await;
    let reply = http::post(
        &gateway.addr,
        "/v3/maintenance/alarm",
        r#"{"action":"ACTIVATE","memberID":"42","alarm":"CORRUPT"}"#,
    )
    .await;
    expect_ok(&reply, "activate CORRUPT");
    let reply = http::get(&gateway.addr, "/readyz").await;
    assert_eq!(
        (reply.status, reply.text()),
        (
            503,
            "[-]data_corruption failed: alarm activated: CORRUPT\n[+]linearizable_read ok\n\
             [+]serializable_read ok\n\n"
                .to_owned()
        )
    );
    let reply = http::get(&gateway.addr, "/readyz/data_corruption").await;
    assert_eq!(
        (reply.status, reply.text()),
        (
            503,
            "[-]data_corruption failed: alarm activated: CORRUPT\n\n".to_owned()
        )
    );
    for path in ["/readyz?exclude=data_corruption", "/livez"] {
        let reply = http::get(&gateway.addr, path).await;
        assert_eq!(
            (reply.status, reply.text()),
            (200, "ok\n".to_owned()),
            "{path}"
        );
    }
    let reply = http::get(&gateway.addr, "/health").await;
    assert_eq!(
        (reply.status, reply.text()),
        (
            503,
            "{\"health\":\"false\",\"reason\":\"ALARM CORRUPT\"}\n".to_owned()
        )
    );
}
