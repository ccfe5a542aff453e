//! Differential scenarios: the same scripted requests go to etcd's own gateway (side A, a
//! fresh etcd) and to the gateway under test (side B: a second fresh etcd behind it, or our
//! binary on its embedded store, see [`Target`]). Each step asserts the exact status on both
//! sides and equal masked JSON bodies, or, for a known version difference, the exact outcome
//! of each side.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::etcd::{Etcd, EtcdVersion};
use super::gateway::{Gateway, Mode, Store, Target};
use super::http::{self, Reply};
use super::json::{Masker, diff};

/// What one side is expected to answer for a step with a known version difference.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// This status and exactly this JSON after masking.
    Json(u16, Value),
    /// This status and exactly this text body (etcd's Go `http.Error` answers).
    Text(u16, &'static str),
    /// An error body with exactly the keys `error`, `code`, `message`, where `error` equals
    /// `message` and the message contains `contains` (decode errors, whose wording is ours).
    Error {
        status: u16,
        code: u32,
        contains: &'static str,
    },
}

impl Outcome {
    fn check(&self, side: &mut Side, reply: &Reply) -> Result<(), String> {
        match self {
            Outcome::Json(status, want) => {
                let got = reply
                    .json()
                    .ok_or_else(|| format!("expected JSON, got {}", reply.describe()))?;
                let masked = side.masker.mask(&got);
                if reply.status != *status {
                    return Err(format!(
                        "expected status {status}, got {}",
                        reply.describe()
                    ));
                }
                match diff(&masked, want) {
                    None => Ok(()),
                    Some(d) => Err(format!(
                        "body differs from the expectation at {d}\n  masked: {masked}\n  expected: {want}"
                    )),
                }
            }
            Outcome::Error {
                status,
                code,
                contains,
            } => {
                let got = reply
                    .json()
                    .ok_or_else(|| format!("expected JSON, got {}", reply.describe()))?;
                check_error_shape(&got, reply.status, *status, *code, contains)
            }
            Outcome::Text(status, want) => {
                if reply.status == *status && reply.text() == *want {
                    Ok(())
                } else {
                    Err(format!(
                        "expected {status} {want:?}, got {} {:?}",
                        reply.status,
                        reply.text()
                    ))
                }
            }
        }
    }
}

/// A documented difference between etcd's gateway and ours for one etcd version.
#[derive(Clone, Debug)]
pub struct KnownDiff {
    pub version: EtcdVersion,
    /// Row of the version-difference table in `tests/differential.rs`.
    pub why: &'static str,
    pub etcd: Outcome,
    pub ours: Outcome,
}

/// One scripted request.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub method: String,
    pub path: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// `(variable, JSON pointer)`: stored per side from the raw response.
    pub captures: Vec<(String, String)>,
    /// Expected HTTP status on both sides.
    pub status: u16,
    /// The error is FailedPrecondition: Debian's etcd 3.4 (grpc-gateway 1.6.4) answers 412
    /// where etcd 3.5 and we answer 400; the bodies are still compared.
    pub failed_precondition: bool,
    /// Exact masked body expected on both sides.
    pub json: Option<Value>,
    /// Exact masked values expected at JSON pointers, on both sides.
    pub fields: Vec<(String, Value)>,
    pub known: Vec<KnownDiff>,
    pub only: Option<EtcdVersion>,
    /// Wait this long before sending (see [`Step::settle`]).
    pub pause: Option<Duration>,
}

/// `POST path` with a body template; `{{var}}` is replaced per side.
pub fn post(path: &str, body: &str) -> Step {
    Step {
        name: format!("POST {path} {body}"),
        method: "POST".into(),
        path: path.into(),
        body: body.into(),
        headers: Vec::new(),
        captures: Vec::new(),
        status: 200,
        failed_precondition: false,
        json: None,
        fields: Vec::new(),
        known: Vec::new(),
        only: None,
        pause: None,
    }
}

impl Step {
    pub fn named(mut self, name: &str) -> Step {
        self.name = name.into();
        self
    }

    pub fn method(mut self, method: &str) -> Step {
        self.method = method.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Step {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn capture(mut self, var: &str, pointer: &str) -> Step {
        self.captures.push((var.into(), pointer.into()));
        self
    }

    pub fn status(mut self, status: u16) -> Step {
        self.status = status;
        self
    }

    /// An exact masked body.
    pub fn json(mut self, body: Value) -> Step {
        self.json = Some(body);
        self
    }

    /// An exact masked value at a JSON pointer.
    pub fn field(mut self, pointer: &str, value: Value) -> Step {
        self.fields.push((pointer.into(), value));
        self
    }

    /// An error answer `{"error":msg,"code":code,"message":msg}` with `status`.
    pub fn error(self, status: u16, code: u32, message: &str) -> Step {
        self.status(status)
            .json(super::json::error_body(code, message))
    }

    /// A FailedPrecondition (code 9) error: 400, or 412 from Debian's etcd 3.4 gateway.
    pub fn failed_precondition(mut self, message: &str) -> Step {
        self.failed_precondition = true;
        self.error(400, 9, message)
    }

    pub fn known(
        mut self,
        version: EtcdVersion,
        why: &'static str,
        etcd: Outcome,
        ours: Outcome,
    ) -> Step {
        self.known.push(KnownDiff {
            version,
            why,
            etcd,
            ours,
        });
        self
    }

    /// Waits before this step. etcd's raft drops a configuration change proposed while the
    /// previous one is not yet marked applied inside raft, and the request then never returns;
    /// membership changes right after another one wait a moment first.
    pub fn settle(mut self) -> Step {
        self.pause = Some(Duration::from_millis(500));
        self
    }

    pub fn only(mut self, version: EtcdVersion) -> Step {
        self.only = Some(version);
        self
    }
}

/// One side of a differential run.
pub struct Side {
    pub label: &'static str,
    /// Where requests go: etcd's client port (A) or the gateway under test (B).
    pub addr: String,
    /// The server behind this side.
    pub etcd: Store,
    pub masker: Masker,
    pub vars: HashMap<String, String>,
}

impl Side {
    /// Seeds the variables `member_id`, `peer_url`, `client_url` and the masker from the member
    /// list, read straight from the server (for an embedded store, from the binary itself).
    async fn new(label: &'static str, addr: String, etcd: Store) -> Side {
        let mut side = Side {
            label,
            addr,
            masker: Masker::new(),
            vars: HashMap::new(),
            etcd,
        };
        let reply = http::post(&side.etcd.addr(), "/v3/cluster/member/list", "{}").await;
        let list = reply.expect_json();
        let id = list["members"][0]["ID"]
            .as_str()
            .unwrap_or_else(|| panic!("member list without ID: {list}"))
            .to_owned();
        side.masker.seed_id(&id, "<member g1>");
        match &side.etcd {
            Store::Etcd(etcd) => {
                side.masker.port(etcd.client_port, "client");
                side.masker.port(etcd.peer_port, "peer");
                // Our gateway in front of the member answers its own URL as the member's
                // client URL (`--advertise-client-urls`).
                if side.addr != etcd.addr() {
                    let port = side.addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                    side.masker
                        .port(port.expect("port in the gateway address"), "client");
                }
                let (peer_url, client_url) = (etcd.peer_url(), etcd.client_url());
                side.vars.insert("peer_url".into(), peer_url);
                side.vars.insert("client_url".into(), client_url);
            }
            Store::Embedded { addr } => {
                let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                side.masker
                    .port(port.expect("port in the gateway address"), "client");
                for (var, field) in [("peer_url", "peerURLs"), ("client_url", "clientURLs")] {
                    let url = list["members"][0][field][0].as_str().unwrap_or_default();
                    side.vars.insert(var.into(), url.to_owned());
                }
            }
        }
        side.vars.insert("member_id".into(), id);
        side
    }

    fn render(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .unwrap_or_else(|| panic!("unterminated {{{{ in {template:?}"));
            let var = &after[..end];
            let value = self
                .vars
                .get(var)
                .unwrap_or_else(|| panic!("variable {var:?} not captured (side {})", self.label));
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// etcd's gateway on a fresh etcd (A) against the gateway under test on another fresh etcd, or
/// against our binary on its embedded store (B).
pub struct Pair {
    pub version: EtcdVersion,
    pub mode: Mode,
    pub target: Target,
    pub a: Side,
    pub b: Side,
    pub gateway: Option<Gateway>,
}

impl Pair {
    pub async fn start(version: EtcdVersion) -> Pair {
        Pair::start_target(version, Target::Etcd).await
    }

    /// Side B on `target`; for [`Target::Embedded`], `version` is the reference etcd of side A.
    pub async fn start_target(version: EtcdVersion, target: Target) -> Pair {
        if target == Target::Embedded {
            return Pair::start_embedded(version).await;
        }
        let mode = Mode::from_env();
        let mut etcds = Etcd::start_all(&[version, version]).await;
        let etcd_b = etcds.pop().expect("two servers");
        let etcd_a = etcds.pop().expect("two servers");
        let gateway = match mode {
            Mode::Binary => Some(Gateway::start(&etcd_b.client_url()).await),
            Mode::Etcd => None,
        };
        let b_addr = match &gateway {
            Some(g) => g.addr.clone(),
            None => etcd_b.addr(),
        };
        let a_addr = etcd_a.addr();
        let a = Side::new("etcd", a_addr, Store::Etcd(etcd_a)).await;
        let b = Side::new(
            match mode {
                Mode::Binary => "ours",
                Mode::Etcd => "etcd (as ours)",
            },
            b_addr,
            Store::Etcd(etcd_b),
        )
        .await;
        Pair {
            version,
            mode,
            target,
            a,
            b,
            gateway,
        }
    }

    async fn start_embedded(version: EtcdVersion) -> Pair {
        let etcd_a = Etcd::spawn(version);
        let gateway = Gateway::start_embedded().await;
        let mut etcd_a = etcd_a;
        etcd_a.wait_ready().await;
        let a = Side::new("etcd", etcd_a.addr(), Store::Etcd(etcd_a)).await;
        let addr = gateway.addr.clone();
        let b = Side::new("ours (embedded)", addr.clone(), Store::Embedded { addr }).await;
        Pair {
            version,
            mode: Mode::Binary,
            target: Target::Embedded,
            a,
            b,
            gateway: Some(gateway),
        }
    }

    /// Runs `steps` in order; panics at the first step that does not hold.
    pub async fn run(&mut self, steps: &[Step]) {
        let mut ran = 0;
        for (index, step) in steps.iter().enumerate() {
            if step.only.is_some_and(|v| v != self.version) {
                continue;
            }
            if let Err(e) = self.run_step(step).await {
                let gateway_log = self
                    .gateway
                    .as_ref()
                    .map(|g| g.log_tail())
                    .unwrap_or_default();
                let what = match self.target {
                    Target::Etcd => self.version.to_string(),
                    Target::Embedded => format!("{} vs embedded", self.version),
                };
                panic!(
                    "{what} step #{index} {:?} failed:\n{e}\n--- gateway stderr tail ---\n{gateway_log}",
                    step.name
                );
            }
            ran += 1;
        }
        assert!(ran > 0, "no step ran for {}", self.version);
    }

    async fn run_step(&mut self, step: &Step) -> Result<(), String> {
        if let Some(pause) = step.pause {
            tokio::time::sleep(pause).await;
        }
        let req_a = Request::render(&self.a, step);
        let req_b = Request::render(&self.b, step);
        let (ra, rb) = tokio::join!(req_a.send(&self.a.addr), req_b.send(&self.b.addr));
        let ra = ra?;
        let rb = rb?;
        let context = format!(
            "  request A: {} {} {}\n  request B: {} {} {}\n  etcd: {}\n  {}: {}",
            step.method,
            req_a.path,
            req_a.body,
            step.method,
            req_b.path,
            req_b.body,
            ra.describe(),
            self.b.label,
            rb.describe()
        );
        self.check(step, &ra, &rb)
            .map_err(|e| format!("{e}\n{context}"))?;
        capture(&mut self.a, step, &ra).map_err(|e| format!("{e}\n{context}"))?;
        capture(&mut self.b, step, &rb).map_err(|e| format!("{e}\n{context}"))?;
        Ok(())
    }

    fn check(&mut self, step: &Step, ra: &Reply, rb: &Reply) -> Result<(), String> {
        check_cors(ra, "etcd")?;
        check_cors(rb, self.b.label)?;

        if let Some(known) = step.known.iter().find(|k| k.version == self.version) {
            known
                .etcd
                .check(&mut self.a, ra)
                .map_err(|e| format!("etcd side ({}): {e}", known.why))?;
            let ours = match self.mode {
                Mode::Binary => &known.ours,
                Mode::Etcd => &known.etcd,
            };
            return ours
                .check(&mut self.b, rb)
                .map_err(|e| format!("{} side ({}): {e}", self.b.label, known.why));
        }

        let etcd_status = if step.failed_precondition && self.version == EtcdVersion::V3_4 {
            412
        } else {
            step.status
        };
        let ours_status = match self.mode {
            Mode::Binary => step.status,
            Mode::Etcd => etcd_status,
        };
        if ra.status != etcd_status {
            return Err(format!(
                "etcd answered {}, expected {etcd_status}",
                ra.status
            ));
        }
        if rb.status != ours_status {
            return Err(format!(
                "{} answered {}, expected {ours_status}",
                self.b.label, rb.status
            ));
        }
        let ja = ra
            .json()
            .ok_or_else(|| "etcd's answer is not JSON".to_string())?;
        let jb = rb
            .json()
            .ok_or_else(|| format!("{}'s answer is not JSON", self.b.label))?;
        if rb.header("content-type") != Some("application/json") {
            return Err(format!(
                "{} Content-Type {:?}, expected application/json",
                self.b.label,
                rb.header("content-type")
            ));
        }
        let ma = self.a.masker.mask(&ja);
        let mb = self.b.masker.mask(&jb);
        if std::env::var_os("SCENARIO_TRACE").is_some() {
            eprintln!("[{}] {} -> {} {ma}", self.version, step.name, ra.status);
        }
        if let Some(d) = diff(&ma, &mb) {
            return Err(format!(
                "masked bodies differ at {d}\n  masked etcd: {ma}\n  masked {}: {mb}",
                self.b.label
            ));
        }
        if let Some(want) = &step.json
            && let Some(d) = diff(&ma, want)
        {
            return Err(format!(
                "body differs from the expectation at {d}\n  masked: {ma}\n  expected: {want}"
            ));
        }
        for (pointer, want) in &step.fields {
            match ma.pointer(pointer) {
                Some(got) if diff(got, want).is_none() => {}
                got => {
                    return Err(format!(
                        "{pointer}: expected {want}, got {got:?} in masked body {ma}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `{"error":M,"code":code,"message":M}` with `M` containing `contains`, and `status`.
pub fn check_error_shape(
    got: &Value,
    got_status: u16,
    status: u16,
    code: u32,
    contains: &str,
) -> Result<(), String> {
    let obj = got
        .as_object()
        .ok_or_else(|| format!("expected an error object, got {got}"))?;
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let message = obj.get("message").and_then(Value::as_str).unwrap_or("");
    let ok = got_status == status
        && keys == ["code", "error", "message"]
        && obj.get("code") == Some(&Value::from(code))
        && obj.get("error").and_then(Value::as_str) == Some(message)
        && message.contains(contains);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected {status} {{\"error\":M,\"code\":{code},\"message\":M}} with M containing \
             {contains:?}, got {got_status} {got}"
        ))
    }
}

/// etcd sends these on every gateway answer; so must we.
fn check_cors(reply: &Reply, label: &str) -> Result<(), String> {
    const CORS: [(&str, &str); 3] = [
        ("access-control-allow-origin", "*"),
        (
            "access-control-allow-methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        ),
        (
            "access-control-allow-headers",
            "accept, content-type, authorization",
        ),
    ];
    for (name, value) in CORS {
        if reply.header(name) != Some(value) {
            return Err(format!(
                "{label}: header {name} is {:?}, expected {value:?}",
                reply.header(name)
            ));
        }
    }
    Ok(())
}

fn capture(side: &mut Side, step: &Step, reply: &Reply) -> Result<(), String> {
    if step.captures.is_empty() {
        return Ok(());
    }
    let json = reply
        .json()
        .ok_or_else(|| format!("{}: cannot capture from a non-JSON answer", side.label))?;
    for (var, pointer) in &step.captures {
        let value = json
            .pointer(pointer)
            .ok_or_else(|| format!("{}: nothing at {pointer} to capture as {var}", side.label))?;
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        side.vars.insert(var.clone(), text);
    }
    Ok(())
}

struct Request {
    path: String,
    body: String,
    headers: Vec<(String, String)>,
    method: String,
}

impl Request {
    fn render(side: &Side, step: &Step) -> Request {
        Request {
            path: side.render(&step.path),
            body: side.render(&step.body),
            headers: step
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), side.render(v)))
                .collect(),
            method: step.method.clone(),
        }
    }

    async fn send(&self, addr: &str) -> Result<Reply, String> {
        http::request(
            addr,
            &self.method,
            &self.path,
            &self.headers,
            self.body.clone(),
        )
        .await
    }
}
