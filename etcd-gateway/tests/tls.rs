//! TLS on both sides of the gateway, with certificates generated per test:
//! * clients → gateway: HTTP/1.1 and HTTP/2 chosen by ALPN on one TLS port, client
//!   certificates required with `--client-cert-auth`, certificates re-read without a restart,
//!   `etcdctl` over TLS to the embedded backend's native gRPC API;
//! * gateway → cluster: mutual TLS to an etcd 3.5.1 with `--client-cert-auth`, and a wrong CA
//!   reported at start and answered with a quick `503` per request.
//!
//! Needs `/usr/bin/etcdctl` (Debian's `etcd-client`) and etcd 3.5.1 (`ETCD_35_BIN`).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Gateway;
use support::certs::{Ca, CertDir, Validity};
use support::etcd_tls::TlsEtcd;
use support::http;
use support::tls_http::{Alpn, TlsClient, TlsReply, eventually};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// The body without its `header` (run-specific ids), for exact comparisons.
fn without_header(reply: &http::Reply) -> Value {
    let mut body = reply.expect_json();
    let header = body
        .as_object_mut()
        .and_then(|object| object.remove("header"));
    assert!(header.is_some(), "no header in {}", reply.describe());
    body
}

/// A gateway on a fresh embedded store with `tls_args` (paths in `dir`).
async fn embedded_gateway(dir: &CertDir, tls_args: &[&str]) -> Gateway {
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().expect("UTF-8 temp path");
    let mut args = vec!["--data-dir", data_dir, "--name", "g1"];
    args.extend_from_slice(tls_args);
    Gateway::start_with_args(&args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn http1_and_http2_by_alpn_on_one_tls_port() {
    let ca = Ca::new("gateway CA");
    let dir = CertDir::new();
    let (cert, key) = dir.write_leaf("gateway", &ca.server("gateway", 1));
    let gateway = embedded_gateway(&dir, &["--cert-file", &cert, "--key-file", &key]).await;

    let http1 = TlsClient::new(&ca, None, Alpn::Http1);
    let http2 = TlsClient::new(&ca, None, Alpn::Http2);
    let put = http1
        .post(
            &gateway.addr,
            "/v3/kv/put",
            r#"{"key": "Zm9v", "value": "YmFy"}"#,
        )
        .await;
    assert_eq!(put.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(put.version, ::http::Version::HTTP_11);
    assert_eq!(put.reply.status, 200, "{}", put.reply.describe());
    assert_eq!(without_header(&put.reply), json!({}));

    for client in [&http1, &http2] {
        let range = client
            .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
            .await;
        assert_eq!(range.reply.status, 200, "{}", range.reply.describe());
        assert_eq!(
            without_header(&range.reply),
            json!({
                "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                         "version": "1", "value": "YmFy"}],
                "count": "1",
            })
        );
    }
    let range = http2
        .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
        .await;
    assert_eq!(range.alpn.as_deref(), Some("h2"));
    assert_eq!(range.version, ::http::Version::HTTP_2);

    let health = http2
        .request(&gateway.addr, "GET", "/health", "")
        .await
        .unwrap();
    assert_eq!(health.reply.status, 200);
    assert_eq!(
        health.reply.expect_json(),
        json!({"health": "true", "reason": ""})
    );

    // Plain HTTP on the TLS port gets no answer.
    let plain = http::request_with_timeout(
        &gateway.addr,
        "GET",
        "/health",
        &[],
        bytes::Bytes::new(),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        plain.as_ref().is_err() || plain.as_ref().unwrap().status == 400,
        "plain HTTP on the TLS port: {plain:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_cert_auth_refuses_clients_without_a_trusted_certificate() {
    let ca = Ca::new("gateway CA");
    let other_ca = Ca::new("someone else's CA");
    let dir = CertDir::new();
    let (cert, key) = dir.write_leaf("gateway", &ca.server("gateway", 1));
    let trusted = dir.write_ca("clients-ca", &ca);
    let gateway = embedded_gateway(
        &dir,
        &[
            "--cert-file",
            &cert,
            "--key-file",
            &key,
            "--trusted-ca-file",
            &trusted,
            "--client-cert-auth",
        ],
    )
    .await;

    let client = ca.client("client", Validity::Current);
    for alpn in [Alpn::Http1, Alpn::Http2] {
        let with_cert = TlsClient::new(&ca, Some(&client), alpn)
            .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
            .await;
        assert_eq!(
            with_cert.reply.status,
            200,
            "{}",
            with_cert.reply.describe()
        );
        assert_eq!(without_header(&with_cert.reply), json!({}));

        let err = TlsClient::new(&ca, None, alpn).refusal(&gateway.addr).await;
        assert!(err.contains("CertificateRequired"), "{err}");

        let foreign = other_ca.client("intruder", Validity::Current);
        let err = TlsClient::new(&ca, Some(&foreign), alpn)
            .refusal(&gateway.addr)
            .await;
        assert!(err.contains("UnknownCA"), "{err}");

        let expired = ca.client("expired", Validity::Expired);
        let err = TlsClient::new(&ca, Some(&expired), alpn)
            .refusal(&gateway.addr)
            .await;
        assert!(err.contains("CertificateExpired"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_certificates_are_served_without_a_restart() {
    let ca = Ca::new("gateway CA");
    let dir = CertDir::new();
    let first = ca.server("gateway one", 1);
    let second = ca.server("gateway two", 2);
    let (cert, key) = dir.write_leaf("gateway", &first);
    let mut gateway = embedded_gateway(&dir, &["--cert-file", &cert, "--key-file", &key]).await;
    let client = TlsClient::new(&ca, None, Alpn::Http2);

    let served = client
        .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
        .await;
    assert!(
        served.server_certificate == first.der,
        "not the first certificate"
    );

    dir.write_leaf("gateway", &second);
    let started = Instant::now();
    let rotated = eventually(Duration::from_secs(15), || async {
        let served: TlsReply = client
            .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
            .await;
        assert_eq!(served.reply.status, 200, "{}", served.reply.describe());
        (served.server_certificate == second.der).then_some(())
    })
    .await;
    assert!(
        rotated.is_some(),
        "the replaced certificate was not served within 15s; log:\n{}",
        gateway.log_tail()
    );
    assert!(gateway.is_alive(), "the gateway restarted");
    eprintln!("new certificate served after {:?}", started.elapsed());

    // Files that do not fit together keep the last good certificate in service.
    dir.write("gateway-key.pem", &first.key_pem);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let served = client
        .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
        .await;
    assert!(
        served.server_certificate == second.der,
        "not the last good certificate"
    );
    assert!(
        gateway
            .log_tail()
            .contains("keeping the previous TLS certificates"),
        "no warning; log:\n{}",
        gateway.log_tail()
    );
}

/// Runs `/usr/bin/etcdctl` (API v3) with `args`; returns its stdout, panicking unless it
/// succeeds within 30 s.
fn etcdctl(args: &[&str]) -> String {
    assert!(
        Path::new(ETCDCTL).exists(),
        "{ETCDCTL} is missing: install Debian's etcd-client package (apt-get install etcd-client)"
    );
    let mut child = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "3")
        .args(["--dial-timeout=5s", "--command-timeout=10s"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("run {ETCDCTL}: {err}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("etcdctl status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("etcdctl {args:?} did not finish within 30s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("etcdctl output");
    assert!(
        output.status.success(),
        "etcdctl {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread")]
async fn etcdctl_over_mutual_tls_to_the_embedded_backend() {
    let ca = Ca::new("gateway CA");
    let dir = CertDir::new();
    let (cert, key) = dir.write_leaf("gateway", &ca.server("gateway", 1));
    let ca_file = dir.write_ca("ca", &ca);
    let (client_cert, client_key) =
        dir.write_leaf("client", &ca.client("etcdctl", Validity::Current));
    let gateway = embedded_gateway(
        &dir,
        &[
            "--cert-file",
            &cert,
            "--key-file",
            &key,
            "--trusted-ca-file",
            &ca_file,
            "--client-cert-auth",
        ],
    )
    .await;

    let tls: Vec<String> = [
        format!("--endpoints=https://{}", gateway.addr),
        format!("--cacert={ca_file}"),
        format!("--cert={client_cert}"),
        format!("--key={client_key}"),
    ]
    .into();
    let (put, get) = tokio::task::spawn_blocking(move || {
        let with_tls = |command: &[&str]| {
            let mut args: Vec<&str> = tls.iter().map(String::as_str).collect();
            args.extend_from_slice(command);
            etcdctl(&args)
        };
        (with_tls(&["put", "foo", "bar"]), with_tls(&["get", "foo"]))
    })
    .await
    .unwrap();
    assert_eq!(put, "OK\n");
    assert_eq!(get, "foo\nbar\n");

    // The JSON gateway on the same port sees the write.
    let client = ca.client("json client", Validity::Current);
    let range = TlsClient::new(&ca, Some(&client), Alpn::Http1)
        .post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#)
        .await;
    assert_eq!(
        without_header(&range.reply),
        json!({
            "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                     "version": "1", "value": "YmFy"}],
            "count": "1",
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_to_an_etcd_that_requires_client_certificates() {
    let ca = Ca::new("cluster CA");
    let client = ca.client("gateway", Validity::Current);
    let etcd = TlsEtcd::start(&ca, &ca.server("etcd", 1), &client).await;
    let dir = CertDir::new();
    let cacert = dir.write_ca("ca", &ca);
    let (cert, key) = dir.write_leaf("client", &client);
    let endpoint = etcd.client_url();
    let gateway = Gateway::start_with_args(&[
        "--endpoints",
        &endpoint,
        "--cacert",
        &cacert,
        "--cert",
        &cert,
        "--key",
        &key,
    ])
    .await;

    let put = http::post(
        &gateway.addr,
        "/v3/kv/put",
        r#"{"key": "Zm9v", "value": "YmFy"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.describe());
    assert_eq!(without_header(&put), json!({}));
    let range = http::post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#).await;
    assert_eq!(range.status, 200, "{}", range.describe());
    assert_eq!(
        without_header(&range),
        json!({
            "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                     "version": "1", "value": "YmFy"}],
            "count": "1",
        })
    );
    let version = http::get(&gateway.addr, "/version").await;
    assert_eq!(
        version.expect_json(),
        json!({"etcdserver": "3.5.1", "etcdcluster": "3.5.0"})
    );
    assert!(
        !gateway.log_tail().contains("WARN"),
        "unexpected warning; log:\n{}",
        gateway.log_tail()
    );
}

/// Starts a gateway for `etcd` with `tls_args`, then expects a start-up warning containing
/// `problem` and a quick `503` whose message contains it.
async fn expect_tls_problem(etcd: &TlsEtcd, tls_args: &[&str], problem: &str) {
    let endpoint = etcd.client_url();
    let mut args = vec!["--endpoints", endpoint.as_str(), "--dial-timeout", "3s"];
    args.extend_from_slice(tls_args);
    let gateway = Gateway::start_with_args(&args).await;

    let warned = eventually(Duration::from_secs(15), || async {
        let log = gateway.log_tail();
        log.lines()
            .find(|line| line.contains("WARN") && line.contains(problem))
            .map(str::to_owned)
    })
    .await;
    let warning = warned.unwrap_or_else(|| {
        panic!(
            "no start-up warning naming {problem:?}; log:\n{}",
            gateway.log_tail()
        )
    });
    eprintln!("start-up warning: {warning}");

    for _ in 0..2 {
        let started = Instant::now();
        let reply = http::post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#).await;
        let elapsed = started.elapsed();
        assert_eq!(reply.status, 503, "{}", reply.describe());
        let body = reply.expect_json();
        let message = body["message"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            body,
            json!({"error": message, "code": 14, "message": message})
        );
        assert!(message.contains(problem), "{message}");
        assert!(
            elapsed < Duration::from_secs(8),
            "answered after {elapsed:?}"
        );
        eprintln!("503 after {elapsed:?}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_problems_warn_at_start_and_answer_503() {
    let ca = Ca::new("cluster CA");
    let client = ca.client("gateway", Validity::Current);
    let etcd = TlsEtcd::start(&ca, &ca.server("etcd", 1), &client).await;
    let dir = CertDir::new();
    let good_ca = dir.write_ca("ca", &ca);
    let wrong_ca = dir.write_ca("wrong-ca", &Ca::new("wrong CA"));
    let (cert, key) = dir.write_leaf("client", &client);
    let (expired_cert, expired_key) =
        dir.write_leaf("expired", &ca.client("expired", Validity::Expired));

    // The members' certificate is not signed by --cacert.
    expect_tls_problem(
        &etcd,
        &["--cacert", &wrong_ca, "--cert", &cert, "--key", &key],
        "invalid peer certificate: UnknownIssuer",
    )
    .await;
    // etcd refuses an expired client certificate.
    expect_tls_problem(
        &etcd,
        &[
            "--cacert",
            &good_ca,
            "--cert",
            &expired_cert,
            "--key",
            &expired_key,
        ],
        "received fatal alert: BadCertificate",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn insecure_skip_tls_verify_encrypts_without_verifying_the_member() {
    // The member's certificate comes from a CA the gateway is never given.
    let ca = Ca::new("cluster CA");
    let client = ca.client("gateway", Validity::Current);
    let etcd = TlsEtcd::start(&ca, &ca.server("etcd", 1), &client).await;
    let dir = CertDir::new();
    let (cert, key) = dir.write_leaf("client", &client);
    let endpoint = etcd.client_url();
    let gateway = Gateway::start_with_args(&[
        "--endpoints",
        &endpoint,
        "--insecure-skip-tls-verify",
        "--cert",
        &cert,
        "--key",
        &key,
    ])
    .await;

    let put = http::post(
        &gateway.addr,
        "/v3/kv/put",
        r#"{"key": "Zm9v", "value": "YmFy"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.describe());
    let range = http::post(&gateway.addr, "/v3/kv/range", r#"{"key": "Zm9v"}"#).await;
    assert_eq!(range.status, 200, "{}", range.describe());
    assert_eq!(
        without_header(&range),
        json!({
            "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "2",
                     "version": "1", "value": "YmFy"}],
            "count": "1",
        })
    );
}

#[test]
fn insecure_skip_tls_verify_with_cacert_is_refused_at_start() {
    let dir = CertDir::new();
    let cacert = dir.write_ca("ca", &Ca::new("cluster CA"));
    let output = Command::new(Gateway::binary())
        .args([
            "--endpoints",
            "https://127.0.0.1:1",
            "--insecure-skip-tls-verify",
            "--cacert",
            &cacert,
            "--listen-addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run the gateway");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--insecure-skip-tls-verify and --cacert contradict each other"),
        "{stderr}"
    );
}
