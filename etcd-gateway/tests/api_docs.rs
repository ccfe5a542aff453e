//! The API documents and the docs page, as served by the gateway binary:
//!
//! * `GET /openapi.json`, `/swagger.json`, `/swagger/<file>` and `/docs` return the files in
//!   `api/` (and `src/docs/index.html`) byte for byte; the per-file swagger documents equal
//!   etcd's published ones; an unknown `/swagger/<file>` is the gateway's JSON 404.
//! * Both served documents pass `openapi-spec-validator` (3.1 and 2.0), and a few facts of the
//!   OpenAPI document are checked exactly.
//! * `/docs` rendered by headless Chromium lists every operation of `/openapi.json`.
//! * The request the page's "Try it" button sends (`fetch` with a string body, so
//!   `Content-Type: text/plain;charset=UTF-8`) is served by the gateway in front of etcd.
//!
//! The documents are static, so the gateway of the document tests points at a closed port.
//! Missing tools (`python3` with `openapi-spec-validator`, `/usr/bin/chromium`) fail the tests;
//! `scripts/install-test-deps.sh` installs them.

mod support;

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::http::{self, Reply};
use support::process::{die_with_parent, free_port};
use support::{Etcd, EtcdVersion, Gateway};

const API_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/api/");
const PAGE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/docs/index.html");
/// etcd's published swagger documents (etcd main's `Documentation/dev-guide/apispec/swagger/`,
/// generated from the same protos as the crates.io package `etcd-client` 0.21.1, which `proto/`
/// holds) and the SHA-256 of each: the served documents must be these files byte for byte.
const ETCD_MAIN_SWAGGER: [(&str, &str); 3] = [
    (
        "rpc.swagger.json",
        "132c0e41f061dcb74faac985d5abec4fb81bc198fbed5c53560762459c874363",
    ),
    (
        "v3election.swagger.json",
        "22fbaaee5d6d988995b0a02a65b8366b7c528d195a63b7a7f767015391b0201a",
    ),
    (
        "v3lock.swagger.json",
        "46e8e8d150871f35df9eb5e1b8131cf44b2397c735d139fd99dd37c7885fdaa0",
    ),
];
/// Where a copy of etcd's published files may be (beside the repository): used only to explain
/// a digest mismatch.
const ETCD_MAIN_SWAGGER_COPY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/swagger/etcd-main/"
);
const NOT_FOUND: &str = r#"{"error":"Not Found","code":5,"message":"Not Found"}"#;
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
const VALIDATOR_TIMEOUT: Duration = Duration::from_secs(60);
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A gateway whose upstream is a closed loopback port: enough for the static documents.
async fn gateway_without_upstream() -> Gateway {
    Gateway::start(&format!("http://127.0.0.1:{}", free_port())).await
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn parse(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

async fn get_document(gateway: &Gateway, path: &str, content_type: &str) -> Reply {
    let reply = http::get(&gateway.addr, path).await;
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.describe());
    assert_eq!(
        reply.header("content-type"),
        Some(content_type),
        "GET {path}: content-type"
    );
    reply
}

/// `"<len> bytes"` plus the first differing offset, for failure messages on large bodies.
fn byte_diff(got: &[u8], want: &[u8]) -> String {
    let first = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "got {} bytes, want {} bytes, first difference at byte {first}",
        got.len(),
        want.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_documents_equal_the_files() {
    let gateway = gateway_without_upstream().await;

    for (path, file) in [
        ("/openapi.json", "openapi.json"),
        ("/swagger.json", "swagger.json"),
    ] {
        let reply = get_document(&gateway, path, "application/json").await;
        let want = read(&format!("{API_DIR}{file}"));
        assert!(
            reply.body[..] == want[..],
            "GET {path} differs from api/{file}: {}",
            byte_diff(&reply.body, &want)
        );
        parse(&reply.body, path);
    }

    for (file, etcd_sha256) in ETCD_MAIN_SWAGGER {
        let path = format!("/swagger/{file}");
        let reply = get_document(&gateway, &path, "application/json").await;
        let ours = read(&format!("{API_DIR}{file}"));
        assert!(
            reply.body[..] == ours[..],
            "GET {path} differs from api/{file}: {}",
            byte_diff(&reply.body, &ours)
        );
        parse(&reply.body, &path);
        let served_sha256 = sha256_hex(&reply.body);
        if served_sha256 != etcd_sha256 {
            let copy = format!("{ETCD_MAIN_SWAGGER_COPY}{file}");
            let detail = match std::fs::read(&copy) {
                Ok(etcd) => byte_diff(&reply.body, &etcd),
                Err(_) => format!("no copy of etcd's file at {copy} to compare with"),
            };
            panic!(
                "GET {path} is not etcd main's {file}: SHA-256 {served_sha256}, want {etcd_sha256}; {detail}"
            );
        }
    }

    let page = get_document(&gateway, "/docs", "text/html; charset=utf-8").await;
    let want = read(PAGE_FILE);
    assert!(
        page.body[..] == want[..],
        "GET /docs differs from src/docs/index.html: {}",
        byte_diff(&page.body, &want)
    );

    for path in [
        "/swagger/x",
        "/swagger/openapi.json",
        "/swagger/rpc.swagger",
        "/swagger/",
    ] {
        let reply = http::get(&gateway.addr, path).await;
        assert_eq!(
            (reply.status, reply.text()),
            (404, NOT_FOUND.to_owned()),
            "GET {path}"
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "GET {path}: content-type"
        );
    }
}

/// Runs `cmd` with stdout and stderr in files under `dir`, killing its whole process group
/// after `timeout`. Returns the exit status and both outputs.
async fn run_with_timeout(
    mut cmd: Command,
    dir: &Path,
    name: &str,
    timeout: Duration,
) -> (ExitStatus, String, String) {
    let out_path = dir.join(format!("{name}.stdout"));
    let err_path = dir.join(format!("{name}.stderr"));
    let out = File::create(&out_path).expect("create stdout file");
    let err = File::create(&err_path).expect("create stderr file");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    die_with_parent(&mut cmd);
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); run scripts/install-test-deps.sh"));
    let group = child.id();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = status.unwrap_or_else(|| {
        // Not reaped yet, so the group is still ours. Helpers the program started (e.g.
        // Chromium's renderers) share it.
        kill_group(group);
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{program} did not finish within {timeout:?}; stderr:\n{}",
            String::from_utf8_lossy(&std::fs::read(&err_path).unwrap_or_default())
        )
    });
    (status, read_text(&out_path), read_text(&err_path))
}

fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// SIGKILLs what is left of the process group `group` (a group this test created).
fn kill_group(group: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

const VALIDATE: &str = r#"
import json, sys
from openapi_spec_validator import validate, OpenAPIV2SpecValidator, OpenAPIV31SpecValidator

for path, cls in ((sys.argv[1], OpenAPIV31SpecValidator), (sys.argv[2], OpenAPIV2SpecValidator)):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    validate(doc, cls=cls)
    print("valid", cls.__name__)
    # The validator must reject a broken copy, or it checks nothing.
    broken = dict(doc)
    del broken["info"]
    try:
        validate(broken, cls=cls)
    except Exception:
        print("rejected", cls.__name__)
    else:
        sys.exit("accepted a document without info: " + cls.__name__)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_documents_pass_openapi_spec_validator() {
    let gateway = gateway_without_upstream().await;
    let dir = tempfile::Builder::new()
        .prefix("etcd-gw-test-docs-")
        .tempdir()
        .expect("create temp dir");
    let openapi = get_document(&gateway, "/openapi.json", "application/json").await;
    let swagger = get_document(&gateway, "/swagger.json", "application/json").await;
    let openapi_path = dir.path().join("openapi.json");
    let swagger_path = dir.path().join("swagger.json");
    std::fs::write(&openapi_path, &openapi.body).expect("write openapi.json");
    std::fs::write(&swagger_path, &swagger.body).expect("write swagger.json");

    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(VALIDATE)
        .arg(&openapi_path)
        .arg(&swagger_path);
    let (status, stdout, stderr) =
        run_with_timeout(cmd, dir.path(), "validator", VALIDATOR_TIMEOUT).await;
    assert!(
        status.success(),
        "openapi-spec-validator failed ({status}); run scripts/install-test-deps.sh if it is \
         missing.\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout,
        "valid OpenAPIV31SpecValidator\nrejected OpenAPIV31SpecValidator\n\
         valid OpenAPIV2SpecValidator\nrejected OpenAPIV2SpecValidator\n",
        "stderr:\n{stderr}"
    );

    let doc = parse(&openapi.body, "/openapi.json");
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let servers: Vec<&str> = doc["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| s["url"].as_str().expect("server url"))
        .collect();
    assert_eq!(servers, ["/v3", "/v3beta", "/v3alpha"]);
    assert_eq!(
        doc["paths"]["/kv/range"]["post"]["requestBody"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/etcdserverpbRangeRequest"})
    );
    let watch_content = doc["paths"]["/watch"]["post"]["responses"]["200"]["content"]
        .as_object()
        .expect("/watch 200 content");
    assert_eq!(
        watch_content.keys().collect::<Vec<_>>(),
        ["application/json", "text/event-stream"]
    );
    let error = &doc["components"]["schemas"]["GatewayError"];
    assert_eq!(error["type"], json!("object"), "{error}");
    let properties = error["properties"]
        .as_object()
        .expect("GatewayError properties");
    assert_eq!(
        properties.keys().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            &"code".to_owned(),
            &"error".to_owned(),
            &"message".to_owned()
        ]),
        "{error}"
    );
    assert_eq!(properties["error"]["type"], json!("string"));
    assert_eq!(properties["code"]["type"], json!("integer"));
    assert_eq!(properties["message"]["type"], json!("string"));
    assert_eq!(doc["security"], json!([{"ApiKey": []}, {}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKey"],
        json!({"type": "apiKey", "name": "Authorization", "in": "header"})
    );
    assert_eq!(operations(&doc).len(), 51);
}

/// `(first tag or "default", "/v3" + path)` of every operation (sorted by path, as serde_json
/// keeps object keys sorted).
fn operations(doc: &Value) -> Vec<(String, String)> {
    let prefix = doc["servers"][0]["url"].as_str().expect("first server url");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (verb, op) in item.as_object().expect("path item") {
            assert!(HTTP_METHODS.contains(&verb.as_str()), "{path}: key {verb}");
            let tag = op["tags"][0].as_str().unwrap_or("default").to_owned();
            ops.push((tag, format!("{prefix}{path}")));
        }
    }
    ops
}

/// The first 3000 characters of `html`, for failure messages.
fn excerpt(html: &str) -> &str {
    match html.char_indices().nth(3000) {
        Some((at, _)) => &html[..at],
        None => html,
    }
}

/// The values of every `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("closing quote")]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_renders_every_operation_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found; run scripts/install-test-deps.sh"
    );
    let gateway = gateway_without_upstream().await;
    let doc = parse(&read(&format!("{API_DIR}openapi.json")), "api/openapi.json");
    let ops = operations(&doc);
    assert_eq!(ops.len(), 51);

    let dir = tempfile::Builder::new()
        .prefix("etcd-gw-test-chromium-")
        .tempdir()
        .expect("create temp dir");
    let profile = dir.path().join("profile");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args([
        "--virtual-time-budget=5000",
        "--dump-dom",
        &format!("http://{}/docs", gateway.addr),
    ])
    .env("HOME", dir.path());
    let (status, dom, stderr) =
        run_with_timeout(cmd, dir.path(), "chromium", CHROMIUM_TIMEOUT).await;
    assert!(
        status.success(),
        "chromium failed ({status}); stderr:\n{stderr}"
    );

    let title = doc["info"]["title"].as_str().expect("info.title");
    assert!(
        dom.contains(&format!("<h1 id=\"title\">{title}</h1>")),
        "page title not replaced by {title:?} (did the script run?); DOM starts:\n{}",
        excerpt(&dom)
    );
    // Everything the script renders goes into <main id="api">; the checks below look only there
    // (the script's own source is part of the DOM too).
    let open = "<main id=\"api\">";
    let start = dom
        .find(open)
        .unwrap_or_else(|| panic!("no {open}:\n{}", excerpt(&dom)));
    let end = start + dom[start..].find("</main>").expect("closing </main>");
    let dom = &dom[start + open.len()..end];
    assert!(
        dom.starts_with("<h2>") && !dom.contains("Could not load"),
        "page did not render the operations:\n{}",
        excerpt(dom)
    );
    for path in ["/v3/kv/range", "/v3/watch", "/v3/election/campaign"] {
        assert!(
            dom.contains(&format!("<details class=\"op\" data-path=\"{path}\">")),
            "no operation {path} in the page:\n{}",
            excerpt(dom)
        );
    }
    assert_eq!(
        dom.matches("class=\"op\"").count(),
        ops.len(),
        "class=\"op\" count"
    );

    let mut rendered = attribute_values(dom, "data-path");
    rendered.sort_unstable();
    let mut want: Vec<&str> = ops.iter().map(|(_, p)| p.as_str()).collect();
    want.sort_unstable();
    assert_eq!(rendered, want, "rendered operations");

    // Exactly one heading per tag, and the watch stream is marked as such.
    let tags: BTreeSet<&str> = ops.iter().map(|(tag, _)| tag.as_str()).collect();
    let headings: Vec<&str> = dom
        .match_indices("<h2>")
        .map(|(at, _)| {
            let rest = &dom[at + 4..];
            &rest[..rest.find("</h2>").expect("closing </h2>")]
        })
        .collect();
    assert_eq!(headings.len(), tags.len(), "tag headings {headings:?}");
    assert_eq!(
        headings.iter().copied().collect::<BTreeSet<_>>(),
        tags,
        "tag headings"
    );
    assert!(
        dom.contains("<span class=\"path\">/v3/watch</span><span class=\"stream\">stream</span>"),
        "/v3/watch not marked as a stream"
    );
}

/// The page's "Try it" button calls `fetch(path, {method: "POST", body: text})`, which sends the
/// body as `text/plain;charset=UTF-8` from the page's own origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_it_request_is_served() {
    let etcd = Etcd::start(EtcdVersion::V3_5).await;
    let gateway = Gateway::start(&etcd.client_url()).await;
    let origin = format!("http://{}", gateway.addr);
    let headers = [
        ("Content-Type", "text/plain;charset=UTF-8"),
        ("Origin", origin.as_str()),
        ("Accept", "*/*"),
    ];

    let put = http::post_with(
        &gateway.addr,
        "/v3/kv/put",
        &headers,
        r#"{"key": "Zm9v", "value": "YmFy"}"#,
    )
    .await;
    assert_eq!(put.status, 200, "put: {}", put.describe());
    assert_eq!(put.header("content-type"), Some("application/json"));
    let body = put.expect_json();
    assert_eq!(body["header"]["revision"], json!("2"), "{body}");

    let range = http::post_with(
        &gateway.addr,
        "/v3/kv/range",
        &headers,
        r#"{"key": "Zm9v"}"#,
    )
    .await;
    assert_eq!(range.status, 200, "range: {}", range.describe());
    let body = range.expect_json();
    assert_eq!(body["count"], json!("1"), "{body}");
    assert_eq!(body["kvs"][0]["key"], json!("Zm9v"), "{body}");
    assert_eq!(body["kvs"][0]["value"], json!("YmFy"), "{body}");

    // The page's default body.
    let empty = http::post_with(&gateway.addr, "/v3/maintenance/status", &headers, "{}").await;
    assert_eq!(empty.status, 200, "status: {}", empty.describe());
    assert_eq!(
        empty.expect_json()["version"],
        json!(EtcdVersion::V3_5.version())
    );
}
