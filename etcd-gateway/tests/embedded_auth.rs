//! Auth on the embedded store, through the JSON gateway and etcd's native gRPC API on the
//! same port: the README's authentication example run as written, `etcdctl --user`, etcd
//! 3.5.1's exact error bodies, what survives `kill -9`, and the bcrypt cost flag.
//!
//! Expected bodies are etcd 3.5.1's: messages and codes from `api/v3rpc/rpctypes/error.go`
//! (`ErrGRPCUserEmpty`, `ErrGRPCInvalidAuthToken`, ...), HTTP statuses from grpc-gateway's
//! table, the watch refusal from `server/etcdserver/api/v3rpc/watch.go` (`isWatchPermitted`),
//! auth revisions from `server/auth/store.go` (`commitRevision` on every change but
//! `AuthEnable`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::Gateway;
use support::http::{post, post_with};
use support::http_stream::Stream;
use support::json::error_body;

/// The token the README's example prints, replaced by the real one when run.
const README_TOKEN: &str = "sssvIpwfnLAcWAQH.9";

/// Debian's etcdctl 3.4 (`ETCDCTL_BIN` overrides it).
fn etcdctl_binary() -> PathBuf {
    std::env::var_os("ETCDCTL_BIN")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/etcdctl"))
}

/// A response with the ids of its header replaced: they are random per data directory.
fn masked(mut value: Value) -> Value {
    if let Some(header) = value.get_mut("header").and_then(Value::as_object_mut) {
        for id in ["cluster_id", "member_id"] {
            if header.contains_key(id) {
                header.insert(id.into(), "<id>".into());
            }
        }
    }
    value
}

/// The masked header of the embedded store at `revision` (raft term 2, as a fresh
/// single-member etcd 3.5.1).
fn header(revision: u64) -> Value {
    json!({
        "cluster_id": "<id>",
        "member_id": "<id>",
        "revision": revision.to_string(),
        "raft_term": "2",
    })
}

/// Whether `token` is shaped like etcd's simple tokens: 16 letters, `.`, an index.
fn is_simple_token(token: &str) -> bool {
    token.split_once('.').is_some_and(|(prefix, index)| {
        prefix.len() == 16
            && prefix.bytes().all(|byte| byte.is_ascii_alphabetic())
            && !index.is_empty()
            && index.bytes().all(|byte| byte.is_ascii_digit())
    })
}

/// The `curl` commands of the README's authentication example, as written.
fn readme_auth_commands() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let start = readme
        .find("\nAuthentication")
        .expect("README has the authentication example");
    let block = &readme[start..];
    let open = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = open + block[open..].find("```").expect("the block ends");
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in block[open..close].lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        pending.push_str(line.trim_end_matches('\\'));
        if !line.ends_with('\\') {
            commands.push(std::mem::take(&mut pending));
        }
    }
    commands
}

/// Runs a README command line with `sh`, pointed at `addr`, and parses its output.
fn run_curl(line: &str, addr: &str, token: Option<&str>) -> Value {
    let mut line = line.replace("http://localhost:2379", &format!("http://{addr}"));
    if let Some(token) = token {
        line = line.replace(README_TOKEN, token);
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{line} -sS --max-time 10"))
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "{line}: not JSON ({err}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs etcdctl (API v3) against `addr`; returns (success, stdout, stderr).
fn etcdctl(addr: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(etcdctl_binary())
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            addr,
            "--dial-timeout",
            "5s",
            "--command-timeout",
            "10s",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("run {}: {err}", etcdctl_binary().display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `POST path` with `body`, with the token in `Authorization` if given.
async fn call(addr: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let body = body.to_string();
    let reply = match token {
        Some(token) => post_with(addr, path, &[("Authorization", token)], &body).await,
        None => post(addr, path, &body).await,
    };
    (reply.status, masked(reply.expect_json()))
}

/// Authenticates and returns the token.
async fn authenticate(addr: &str, name: &str, password: &str) -> String {
    let (status, body) = call(
        addr,
        "/v3/auth/authenticate",
        None,
        json!({"name": name, "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

/// Creates `root` (password `pass`, role `root`), the role `reader` (READ on `foo`) and the
/// user `alice` (password `secret`, role `reader`), then enables auth. Auth revision after:
/// 8 (seven changes after the initial 1; enabling does not count).
async fn set_up_users(addr: &str) {
    let steps = [
        (
            "/v3/auth/user/add",
            json!({"name": "root", "password": "pass"}),
        ),
        ("/v3/auth/role/add", json!({"name": "root"})),
        (
            "/v3/auth/user/grant",
            json!({"user": "root", "role": "root"}),
        ),
        ("/v3/auth/role/add", json!({"name": "reader"})),
        (
            "/v3/auth/role/grant",
            json!({"name": "reader", "perm": {"permType": "READ", "key": "Zm9v"}}),
        ),
        (
            "/v3/auth/user/add",
            json!({"name": "alice", "password": "secret"}),
        ),
        (
            "/v3/auth/user/grant",
            json!({"user": "alice", "role": "reader"}),
        ),
        ("/v3/auth/enable", json!({})),
    ];
    for (path, body) in steps {
        let (status, answer) = call(addr, path, None, body).await;
        assert_eq!(
            (status, answer),
            (200, json!({"header": header(1)})),
            "{path}"
        );
    }
}

/// Kills the gateway with SIGKILL and waits for it to be gone.
fn kill_9(gateway: &mut Gateway) {
    let pid = gateway.pid().expect("gateway runs");
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert!(
        gateway.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway survived kill -9"
    );
}

fn data_dir_args(dir: &Path) -> Vec<String> {
    vec![
        "--data-dir".into(),
        dir.to_str().expect("UTF-8 path").into(),
        "--name".into(),
        "g1".into(),
    ]
}

async fn start_on(dir: &Path, extra: &[&str]) -> Gateway {
    let mut args = data_dir_args(dir);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Gateway::start_with_args(&args).await
}

#[tokio::test]
async fn readme_example_and_etcdctl_on_the_embedded_default() {
    let gateway = Gateway::start_embedded().await;
    let addr = gateway.addr.clone();
    let commands = readme_auth_commands();
    assert_eq!(commands.len(), 6, "{commands:#?}");
    let expected_plain = json!({"header": header(1)});
    for command in &commands[..4] {
        assert_eq!(
            masked(run_curl(command, &addr, None)),
            expected_plain,
            "{command}"
        );
    }
    let authenticated = masked(run_curl(&commands[4], &addr, None));
    let token = authenticated["token"].as_str().expect("a token").to_owned();
    assert!(is_simple_token(&token), "{token}");
    assert_eq!(
        authenticated,
        json!({"header": header(1), "token": token.clone()})
    );
    assert!(commands[5].contains(README_TOKEN), "{}", commands[5]);
    assert_eq!(
        masked(run_curl(&commands[5], &addr, Some(&token))),
        json!({"header": header(2)})
    );

    // etcd's gRPC API on the same port, as etcdctl uses it (token metadata).
    let (ok, out, err) = etcdctl(&addr, &["--user", "root:pass", "put", "k", "v"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "OK");
    let (ok, out, err) = etcdctl(&addr, &["--user", "root:pass", "get", "foo"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out, "foo\nbar\n");
    let (ok, _, err) = etcdctl(&addr, &["get", "foo"]);
    assert!(!ok);
    assert!(err.contains("etcdserver: user name is empty"), "{err}");
    let (ok, _, err) = etcdctl(&addr, &["--user", "root:wrong", "get", "foo"]);
    assert!(!ok);
    assert!(
        err.contains("etcdserver: authentication failed, invalid user ID or password"),
        "{err}"
    );
}

#[tokio::test]
async fn errors_are_etcds_word_for_word() {
    let gateway = Gateway::start_embedded().await;
    let addr = gateway.addr.as_str();

    // Before auth is enabled.
    let root = json!({"name": "root", "password": "pass"});
    assert_eq!(
        call(addr, "/v3/auth/authenticate", None, root.clone()).await,
        (
            400,
            error_body(9, "etcdserver: authentication is not enabled")
        )
    );
    assert_eq!(
        call(addr, "/v3/auth/enable", None, json!({})).await,
        (400, error_body(9, "etcdserver: root user does not exist"))
    );
    call(addr, "/v3/auth/user/add", None, root.clone()).await;
    assert_eq!(
        call(addr, "/v3/auth/enable", None, json!({})).await,
        (
            400,
            error_body(9, "etcdserver: root user does not have root role")
        )
    );
    assert_eq!(
        call(addr, "/v3/auth/user/add", None, root.clone()).await,
        (400, error_body(9, "etcdserver: user name already exists"))
    );
    assert_eq!(
        call(addr, "/v3/auth/user/add", None, json!({"name": ""})).await,
        (400, error_body(3, "etcdserver: user name is empty"))
    );
    assert_eq!(
        call(
            addr,
            "/v3/auth/user/grant",
            None,
            json!({"user": "root", "role": "x"})
        )
        .await,
        (400, error_body(9, "etcdserver: role name not found"))
    );
    assert_eq!(
        call(addr, "/v3/auth/user/get", None, json!({"name": "nobody"})).await,
        (400, error_body(9, "etcdserver: user name not found"))
    );
    // A token while auth is disabled is checked all the same (etcd's AuthInfoFromCtx).
    assert_eq!(
        call(
            addr,
            "/v3/kv/range",
            Some("bogus.1"),
            json!({"key": "Zm9v"})
        )
        .await,
        (401, error_body(16, "etcdserver: invalid auth token"))
    );
    call(addr, "/v3/auth/user/delete", None, json!({"name": "root"})).await;
    // Auth revision: 1, +1 user add, +1 user delete, +7 in set_up_users.
    set_up_users(addr).await;

    // Auth enabled.
    assert_eq!(
        call(
            addr,
            "/v3/kv/put",
            None,
            json!({"key": "Zm9v", "value": "YmFy"})
        )
        .await,
        (400, error_body(3, "etcdserver: user name is empty"))
    );
    assert_eq!(
        call(
            addr,
            "/v3/kv/range",
            Some("bogus.1"),
            json!({"key": "Zm9v"})
        )
        .await,
        (401, error_body(16, "etcdserver: invalid auth token"))
    );
    assert_eq!(
        call(
            addr,
            "/v3/auth/authenticate",
            None,
            json!({"name": "alice", "password": "no"})
        )
        .await,
        (
            400,
            error_body(
                3,
                "etcdserver: authentication failed, invalid user ID or password"
            )
        )
    );
    let root_token = authenticate(addr, "root", "pass").await;
    let alice_token = authenticate(addr, "alice", "secret").await;
    let alice = Some(alice_token.as_str());
    let denied = (403, error_body(7, "etcdserver: permission denied"));
    assert_eq!(
        call(addr, "/v3/kv/range", alice, json!({"key": "Zm9v"})).await,
        (200, json!({"header": header(1)}))
    );
    assert_eq!(
        call(
            addr,
            "/v3/kv/put",
            alice,
            json!({"key": "Zm9v", "value": "YmFy"})
        )
        .await,
        denied
    );
    assert_eq!(
        call(
            addr,
            "/v3/kv/range",
            alice,
            json!({"key": "Zm9v", "range_end": "Zm9w"})
        )
        .await,
        denied
    );
    assert_eq!(
        call(
            addr,
            "/v3/kv/txn",
            alice,
            json!({"compare": [{"target": "VERSION", "key": "YmFy", "version": "0"}]})
        )
        .await,
        denied
    );
    assert_eq!(
        call(addr, "/v3/kv/deleterange", alice, json!({"key": "Zm9v"})).await,
        denied
    );
    assert_eq!(
        call(addr, "/v3/auth/user/list", alice, json!({})).await,
        denied
    );
    assert_eq!(
        call(addr, "/v3/auth/user/get", alice, json!({"name": "alice"})).await,
        (200, json!({"header": header(1), "roles": ["reader"]}))
    );
    assert_eq!(
        call(addr, "/v3/auth/role/get", alice, json!({"role": "reader"})).await,
        (200, json!({"header": header(1), "perm": [{"key": "Zm9v"}]}))
    );
    let root = Some(root_token.as_str());
    assert_eq!(
        call(addr, "/v3/auth/status", root, json!({})).await,
        (
            200,
            json!({"header": header(1), "enabled": true, "authRevision": "10"})
        )
    );
    assert_eq!(
        call(addr, "/v3/auth/user/delete", root, json!({"name": "root"})).await,
        (400, error_body(3, "etcdserver: invalid auth management"))
    );
    assert_eq!(
        call(
            addr,
            "/v3/auth/user/revoke",
            root,
            json!({"name": "root", "role": "root"})
        )
        .await,
        (400, error_body(3, "etcdserver: invalid auth management"))
    );
    assert_eq!(
        call(
            addr,
            "/v3/auth/user/revoke",
            root,
            json!({"name": "alice", "role": "root"})
        )
        .await,
        (
            400,
            error_body(9, "etcdserver: role is not granted to the user")
        )
    );

    // A lease whose keys the caller may not write cannot be revoked (etcd's checkLeasePuts).
    let (status, lease) = call(addr, "/v3/lease/grant", root, json!({"TTL": "60"})).await;
    assert_eq!(status, 200, "{lease}");
    let lease_id = lease["ID"].as_str().expect("lease id").to_owned();
    let (status, put) = call(
        addr,
        "/v3/kv/put",
        root,
        json!({"key": "Zm9v", "value": "YmFy", "lease": lease_id}),
    )
    .await;
    assert_eq!((status, put), (200, json!({"header": header(2)})));
    assert_eq!(
        call(addr, "/v3/lease/revoke", alice, json!({"ID": lease_id})).await,
        denied
    );
    assert_eq!(
        call(addr, "/v3/lease/revoke", root, json!({"ID": lease_id})).await,
        (200, json!({"header": header(3)}))
    );

    // A watch the caller may not make is created and canceled at once.
    let mut watch = Stream::post(
        addr,
        "/v3/watch",
        &[("Authorization", alice_token.as_str())],
        r#"{"create_request": {"key": "YmFy"}}"#,
    )
    .await;
    let line = watch
        .next_delimited(b"\n", Duration::from_secs(10))
        .await
        .expect("a watch answer")
        .expect("a line");
    let answer: Value = serde_json::from_str(&line).expect("JSON line");
    let mut result = answer["result"].clone();
    result["header"] = masked(json!({"header": result["header"].clone()}))["header"].clone();
    assert_eq!(
        result,
        json!({
            "header": header(3),
            "created": true,
            "canceled": true,
            "cancel_reason": "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
        })
    );

    // Disabling bumps the auth revision; tokens go.
    assert_eq!(
        call(addr, "/v3/auth/disable", root, json!({})).await,
        (200, json!({"header": header(3)}))
    );
    assert_eq!(
        call(addr, "/v3/auth/status", None, json!({})).await,
        (200, json!({"header": header(3), "authRevision": "11"}))
    );
    assert_eq!(
        call(addr, "/v3/kv/range", root, json!({"key": "Zm9v"})).await,
        (401, error_body(16, "etcdserver: invalid auth token"))
    );
}

#[tokio::test]
async fn auth_state_survives_kill_9_and_tokens_do_as_etcds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut gateway = start_on(&data, &[]).await;
    set_up_users(&gateway.addr).await;
    let old_token = authenticate(&gateway.addr, "root", "pass").await;
    kill_9(&mut gateway);
    drop(gateway);

    let mut gateway = start_on(&data, &[]).await;
    let addr = gateway.addr.clone();
    // Simple tokens live in memory only.
    assert_eq!(
        call(
            &addr,
            "/v3/kv/range",
            Some(&old_token),
            json!({"key": "Zm9v"})
        )
        .await,
        (401, error_body(16, "etcdserver: invalid auth token"))
    );
    assert_eq!(
        call(&addr, "/v3/kv/range", None, json!({"key": "Zm9v"})).await,
        (400, error_body(3, "etcdserver: user name is empty"))
    );
    let root = authenticate(&addr, "root", "pass").await;
    let root = Some(root.as_str());
    assert_eq!(
        call(&addr, "/v3/auth/status", root, json!({})).await,
        (
            200,
            json!({"header": header(1), "enabled": true, "authRevision": "8"})
        )
    );
    assert_eq!(
        call(&addr, "/v3/auth/user/list", root, json!({})).await,
        (
            200,
            json!({"header": header(1), "users": ["alice", "root"]})
        )
    );
    assert_eq!(
        call(&addr, "/v3/auth/role/list", root, json!({})).await,
        (
            200,
            json!({"header": header(1), "roles": ["reader", "root"]})
        )
    );
    let alice = authenticate(&addr, "alice", "secret").await;
    assert_eq!(
        call(
            &addr,
            "/v3/kv/put",
            Some(&alice),
            json!({"key": "Zm9v", "value": "YmFy"})
        )
        .await,
        (403, error_body(7, "etcdserver: permission denied"))
    );
    kill_9(&mut gateway);
    drop(gateway);

    // JWTs (ES256, keys from files) stay valid across a restart until they expire.
    let keys = dir.path();
    let key_pair = rcgen::KeyPair::generate().expect("EC key pair");
    std::fs::write(keys.join("jwt.key"), key_pair.serialize_pem()).expect("write key");
    std::fs::write(keys.join("jwt.pub"), key_pair.public_key_pem()).expect("write key");
    let flag = format!(
        "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=10m",
        keys.join("jwt.pub").display(),
        keys.join("jwt.key").display()
    );
    let mut gateway = start_on(&data, &["--auth-token", &flag]).await;
    let jwt = authenticate(&gateway.addr, "root", "pass").await;
    assert_eq!(jwt.matches('.').count(), 2, "{jwt}");
    kill_9(&mut gateway);
    drop(gateway);
    let gateway = start_on(&data, &["--auth-token", &flag]).await;
    assert_eq!(
        call(
            &gateway.addr,
            "/v3/kv/put",
            Some(&jwt),
            json!({"key": "Zm9v", "value": "YmFy"})
        )
        .await,
        (200, json!({"header": header(2)}))
    );
    let (ok, out, err) = etcdctl(&gateway.addr, &["--user", "root:pass", "get", "foo"]);
    assert!(ok, "{out}{err}");
    assert_eq!(out, "foo\nbar\n");
}

#[tokio::test]
async fn bcrypt_cost_flag_is_honoured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let gateway = start_on(&data, &["--bcrypt-cost", "4"]).await;
    let body = json!({"name": "quick", "password": "pass"});
    assert_eq!(
        call(&gateway.addr, "/v3/auth/user/add", None, body).await.0,
        200
    );
    drop(gateway);
    let gateway = start_on(&data, &[]).await;
    let body = json!({"name": "default", "password": "pass"});
    assert_eq!(
        call(&gateway.addr, "/v3/auth/user/add", None, body).await.0,
        200
    );
    drop(gateway);

    let store = etcd_gateway::embedded::Store::open(&data).expect("open the store");
    let records = store.auth_records().expect("auth records");
    let hashes: Vec<(String, String)> = records
        .users
        .iter()
        .map(|(name, value)| {
            let user = <etcd_gateway::authpb::User as prost::Message>::decode(value.as_slice())
                .expect("a user record");
            (
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(&user.password[..7]).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        hashes,
        [
            ("default".to_owned(), "$2a$10$".to_owned()),
            ("quick".to_owned(), "$2a$04$".to_owned())
        ]
    );
}
