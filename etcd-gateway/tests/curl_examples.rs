//! The `curl` examples of etcd's guide "Why gRPC gateway" (dev-guide/api_grpc_gateway, 3.5),
//! run verbatim with the `curl` binary against etcd's own gateway and against ours (each in
//! front of its own fresh etcd). Both answers must equal the expected masked answer, and key
//! fields are asserted exactly. Only `http://localhost:2379` and the guide's sample token are
//! replaced by the real address and token, and `-sS --max-time 10` is added.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::json::{Masker, diff, error_body, header as h};
use support::{Etcd, EtcdVersion, Gateway, Mode};

// Key-value: put, range, prefix range.
const PUT: &str = r#"curl -L http://localhost:2379/v3/kv/put \
  -X POST -d '{"key": "Zm9v", "value": "YmFy"}'"#;
const RANGE: &str = r#"curl -L http://localhost:2379/v3/kv/range \
  -X POST -d '{"key": "Zm9v"}'"#;
const RANGE_PREFIX: &str = r#"curl -L http://localhost:2379/v3/kv/range \
  -X POST -d '{"key": "Zm9v", "range_end": "Zm9w"}'"#;

// Transactions.
const TXN_CREATE: &str = r#"curl -L http://localhost:2379/v3/kv/txn \
  -X POST \
  -d '{"compare":[{"target":"CREATE","key":"Zm9v","createRevision":"2"}],"success":[{"requestPut":{"key":"Zm9v","value":"YmFy"}}]}'"#;
const TXN_VERSION: &str = r#"curl -L http://localhost:2379/v3/kv/txn \
  -X POST \
  -d '{"compare":[{"version":"4","result":"EQUAL","target":"VERSION","key":"Zm9v"}],"success":[{"requestRange":{"key":"Zm9v"}}]}'"#;

// Authentication.
const USER_ADD_ROOT: &str = r#"curl -L http://localhost:2379/v3/auth/user/add \
  -X POST -d '{"name": "root", "password": "pass"}'"#;
const ROLE_ADD_ROOT: &str = r#"curl -L http://localhost:2379/v3/auth/role/add \
  -X POST -d '{"name": "root"}'"#;
const USER_GRANT_ROOT: &str = r#"curl -L http://localhost:2379/v3/auth/user/grant \
  -X POST -d '{"user": "root", "role": "root"}'"#;
const AUTH_ENABLE: &str = r#"curl -L http://localhost:2379/v3/auth/enable -X POST -d '{}'"#;
const AUTHENTICATE: &str = r#"curl -L http://localhost:2379/v3/auth/authenticate \
  -X POST -d '{"name": "root", "password": "pass"}'"#;
const PUT_WITH_TOKEN: &str = r#"curl -L http://localhost:2379/v3/kv/put \
  -H 'Authorization: sssvIpwfnLAcWAQH.9' \
  -X POST -d '{"key": "Zm9v", "value": "YmFy"}'"#;
/// The token printed by the guide's authenticate example.
const SAMPLE_TOKEN: &str = "sssvIpwfnLAcWAQH.9";

/// Splits a shell command line the way `sh` would for these examples: words separated by
/// blanks, `\`-newline continuations, and '...' / "..." quoting (no expansions are needed).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'\n') => {
                chars.next();
            }
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    assert!(
                        q != '$' || c == '\'',
                        "expansions are not supported: {line}"
                    );
                    word.push(q);
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// One place the examples are sent to.
struct Target {
    label: &'static str,
    addr: String,
    masker: Masker,
    token: Option<String>,
}

impl Target {
    async fn new(label: &'static str, addr: String, etcd: &Etcd) -> Target {
        let list = support::http::post(&etcd.addr(), "/v3/cluster/member/list", "{}")
            .await
            .expect_json();
        let mut masker = Masker::new();
        masker.seed_id(
            list["members"][0]["ID"].as_str().expect("member ID"),
            "<member g1>",
        );
        Target {
            label,
            addr,
            masker,
            token: None,
        }
    }

    /// Runs the example with `curl -sS` and returns its raw stdout.
    fn curl(&self, example: &str) -> String {
        let mut line = example.replace("http://localhost:2379", &format!("http://{}", self.addr));
        if let Some(token) = &self.token {
            line = line.replace(SAMPLE_TOKEN, token);
        }
        let words = shell_words(&line);
        assert_eq!(words[0], "curl", "{example}");
        let out = Command::new("curl")
            .arg("-sS")
            .arg("--max-time")
            .arg("10")
            .args(&words[1..])
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        assert!(
            out.status.success(),
            "{}: curl failed ({}): {}\n{example}",
            self.label,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 answer")
    }
}

/// Runs one example on both targets, checks both masked answers equal `expected`, and returns
/// the raw answers (etcd's, ours).
fn example(
    etcd: &mut Target,
    ours: &mut Target,
    command: &str,
    expected: &Value,
) -> (Value, Value) {
    let mut raw = Vec::new();
    for target in [&mut *etcd, &mut *ours] {
        let text = target.curl(command);
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: answer is not JSON ({e}): {text:?}\n{command}",
                target.label
            )
        });
        let masked = target.masker.mask(&json);
        if let Some(d) = diff(&masked, expected) {
            panic!(
                "{}: unexpected answer at {d}\n  command: {command}\n  raw: {text}\n  masked: {masked}\n  expected: {expected}",
                target.label
            );
        }
        raw.push(json);
    }
    let theirs = raw.remove(0);
    let mine = raw.remove(0);
    let masked_theirs = etcd.masker.mask(&theirs);
    let masked_mine = ours.masker.mask(&mine);
    assert!(
        diff(&masked_theirs, &masked_mine).is_none(),
        "answers differ\n  etcd: {theirs}\n  ours: {mine}\n  command: {command}"
    );
    (theirs, mine)
}

async fn run(version: EtcdVersion) {
    let mode = Mode::from_env();
    let mut servers = Etcd::start_all(&[version, version]).await;
    let etcd_b = servers.pop().expect("two servers");
    let etcd_a = servers.pop().expect("two servers");
    let gateway = match mode {
        Mode::Binary => Some(Gateway::start(&etcd_b.client_url()).await),
        Mode::Etcd => None,
    };
    let ours_addr = gateway
        .as_ref()
        .map_or_else(|| etcd_b.addr(), |g| g.addr.clone());
    let mut theirs = Target::new("etcd", etcd_a.addr(), &etcd_a).await;
    let mut ours = Target::new("ours", ours_addr, &etcd_b).await;
    let (a, b) = (&mut theirs, &mut ours);

    let foo_kv = |modr: u64, version: u64| {
        json!({"key": "Zm9v", "create_revision": "2", "mod_revision": modr.to_string(),
            "version": version.to_string(), "value": "YmFy"})
    };

    example(a, b, PUT, &json!({"header": h(2)}));
    example(
        a,
        b,
        RANGE,
        &json!({"header": h(2), "kvs": [foo_kv(2, 1)], "count": "1"}),
    );
    example(
        a,
        b,
        RANGE_PREFIX,
        &json!({"header": h(2), "kvs": [foo_kv(2, 1)], "count": "1"}),
    );

    let (_, txn) = example(
        a,
        b,
        TXN_CREATE,
        &json!({"header": h(3), "succeeded": true,
            "responses": [{"response_put": {"header": {"revision": "3"}}}]}),
    );
    assert_eq!(txn["succeeded"], json!(true));
    assert_eq!(
        txn["responses"][0]["response_put"]["header"]["revision"],
        json!("3")
    );

    // The guide's watch section puts the key again; twice brings "foo" to version 4.
    example(a, b, PUT, &json!({"header": h(4)}));
    example(a, b, PUT, &json!({"header": h(5)}));
    let (_, txn) = example(
        a,
        b,
        TXN_VERSION,
        &json!({"header": h(5), "succeeded": true, "responses": [{"response_range": {
            "header": {"revision": "5"}, "kvs": [foo_kv(5, 4)], "count": "1"}}]}),
    );
    assert_eq!(txn["succeeded"], json!(true));
    assert_eq!(
        txn["responses"][0]["response_range"]["kvs"][0]["version"],
        json!("4")
    );

    example(a, b, USER_ADD_ROOT, &json!({"header": h(5)}));
    example(a, b, ROLE_ADD_ROOT, &json!({"header": h(5)}));
    example(a, b, USER_GRANT_ROOT, &json!({"header": h(5)}));
    example(a, b, AUTH_ENABLE, &json!({"header": h(5)}));
    let (token_a, token_b) = example(
        a,
        b,
        AUTHENTICATE,
        &json!({"header": h(5), "token": "<token1>"}),
    );
    a.token = Some(token_a["token"].as_str().expect("token").to_owned());
    b.token = Some(token_b["token"].as_str().expect("token").to_owned());

    example(a, b, PUT_WITH_TOKEN, &json!({"header": h(6)}));
    let (_, rejected) = example(a, b, PUT, &error_body(3, "etcdserver: user name is empty"));
    assert_eq!(rejected["message"], json!("etcdserver: user name is empty"));

    if let Some(mut gateway) = gateway {
        assert!(gateway.is_alive(), "gateway exited: {}", gateway.log_tail());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_examples_etcd_3_5() {
    run(EtcdVersion::V3_5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_examples_etcd_3_4() {
    run(EtcdVersion::V3_4).await;
}

#[test]
fn shell_words_handles_the_example_syntax() {
    assert_eq!(
        shell_words(PUT_WITH_TOKEN),
        [
            "curl",
            "-L",
            "http://localhost:2379/v3/kv/put",
            "-H",
            "Authorization: sssvIpwfnLAcWAQH.9",
            "-X",
            "POST",
            "-d",
            r#"{"key": "Zm9v", "value": "YmFy"}"#,
        ]
    );
}
