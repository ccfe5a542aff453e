//! Calls on both sides of a [`scenario::Pair`](super::scenario::Pair) that a [`Step`] cannot
//! express: the first lines of a stream, a unary call the client gives up on, a body compared
//! with a few inherently different fields taken out, native gRPC channels, and the framing of a
//! snapshot stream. Templates (`{{var}}`) are rendered with each side's captured variables, as
//! steps are.
//!
//! [`Step`]: super::scenario::Step

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::etcd::EtcdVersion;
use super::gateway::{Mode, Target};
use super::http;
use super::http_stream::{MESSAGE_TIMEOUT, Stream};
use super::json::diff;
use super::scenario::{Pair, Side};

/// etcd's snapshot chunk size (`server/etcdserver/api/v3rpc/maintenance.go`: `snapshotSendBufferSize`).
pub const SNAPSHOT_CHUNK: usize = 32 * 1024;

/// Side A on etcd's own gateway; side B on our binary's embedded store, or, with
/// `GATEWAY_UNDER_TEST=etcd`, on a second etcd's own gateway (which checks the scenarios and
/// their expectations against etcd alone).
pub async fn start_reference_pair(version: EtcdVersion) -> Pair {
    match Mode::from_env() {
        Mode::Etcd => Pair::start_target(version, Target::Etcd).await,
        Mode::Binary => Pair::start_target(version, Target::Embedded).await,
    }
}

/// True when side B is our embedded store (not etcd standing in for it).
pub fn b_is_embedded(pair: &Pair) -> bool {
    pair.target == Target::Embedded
}

/// `template` with every `{{var}}` replaced by the side's captured value.
pub fn render(side: &Side, template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .unwrap_or_else(|| panic!("unterminated {{{{ in {template:?}"));
        let var = &after[..end];
        let value = side
            .vars
            .get(var)
            .unwrap_or_else(|| panic!("variable {var:?} not captured (side {})", side.label));
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn render_headers(side: &Side, headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| (name.to_string(), render(side, value)))
        .collect()
}

/// One side's first line of a stream: its HTTP status and the line, masked with the side's
/// masker (a non-stream answer, such as a JSON error, is its whole body).
async fn first_line(
    side: &mut Side,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let rendered = render_headers(side, headers);
    let headers: Vec<(&str, &str)> = rendered
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let body = render(side, body);
    let mut stream = Stream::post(&side.addr, path, &headers, &body).await;
    let line = match stream.next_delimited(b"\n", MESSAGE_TIMEOUT).await {
        Ok(Some(line)) => line,
        Ok(None) => return (stream.status, json!("<empty body>")),
        Err(e) => return (stream.status, json!(format!("<no line: {e}>"))),
    };
    let value = serde_json::from_str(line.trim_end_matches('\n'))
        .unwrap_or_else(|_| json!(format!("<not JSON: {line}>")));
    (stream.status, side.masker.mask(&value))
}

/// Opens `POST path` on both sides, reads the first line of each, and checks that both are
/// `200` with the same masked line, equal to `want`. Panics with both lines otherwise.
pub async fn first_lines_equal(
    pair: &mut Pair,
    what: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    want: &Value,
) {
    let (a, b) = tokio::join!(
        first_line(&mut pair.a, path, headers, body),
        first_line(&mut pair.b, path, headers, body)
    );
    let mut wrong = Vec::new();
    if a.0 != 200 {
        wrong.push(format!("etcd answered {}", a.0));
    }
    if b.0 != 200 {
        wrong.push(format!("{} answered {}", pair.b.label, b.0));
    }
    if let Some(d) = diff(&a.1, &b.1) {
        wrong.push(format!("masked first lines differ at {d}"));
    }
    if let Some(d) = diff(&a.1, want) {
        wrong.push(format!(
            "etcd's first line differs from the expectation at {d}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "{what}: POST {path} {body}\n  {}\n  masked etcd: {} {}\n  masked {}: {} {}\n  expected: 200 {want}",
        wrong.join("\n  "),
        a.0,
        a.1,
        pair.b.label,
        b.0,
        b.1
    );
}

/// Sends `POST path` to both sides with a client that gives up after `wait`, and checks that
/// neither side answered by then (the call is still waiting on the server, e.g. for a lock).
pub async fn both_pending(pair: &Pair, what: &str, path: &str, body: &str, wait: Duration) {
    let call = |side: &Side| {
        let (addr, body) = (side.addr.clone(), render(side, body));
        let path = path.to_owned();
        async move { http::request_with_timeout(&addr, "POST", &path, &[], body.into(), wait).await }
    };
    let (ra, rb) = tokio::join!(call(&pair.a), call(&pair.b));
    let describe = |reply: &Result<http::Reply, String>| match reply {
        Ok(reply) => format!("answered {}", reply.describe()),
        Err(e) if e.contains("no response within") => "no answer (as expected)".to_owned(),
        Err(e) => format!("failed: {e}"),
    };
    let pending = |reply: &Result<http::Reply, String>| matches!(reply, Err(e) if e.contains("no response within"));
    assert!(
        pending(&ra) && pending(&rb),
        "{what}: POST {path} {body}: expected no answer within {wait:?} on either side\n  etcd: {}\n  {}: {}",
        describe(&ra),
        pair.b.label,
        describe(&rb)
    );
}

/// The expectation for one field a side answers differently by design.
#[derive(Clone, Debug)]
pub enum Field {
    /// Exactly this masked value.
    Is(Value),
    /// Present, with any value (e.g. each side's own raft index).
    Present,
}

/// A field left out of a comparison: its JSON pointer, etcd's value, the embedded store's.
#[derive(Clone, Debug)]
pub struct Inherent {
    pub pointer: &'static str,
    pub etcd: Field,
    pub embedded: Field,
}

/// Sends `POST path body` to both sides and compares the masked answers (status `200` on both)
/// after checking and taking out the `inherent` fields; the rest must be equal and equal to
/// `want` (where the inherent fields read `"<inherently different>"`). When side B is etcd too,
/// its inherent fields are checked against etcd's expectation.
pub async fn compare_with_inherent(
    pair: &mut Pair,
    path: &str,
    body: &str,
    inherent: &[Inherent],
    want: &Value,
) {
    let (body_a, body_b) = (render(&pair.a, body), render(&pair.b, body));
    let (ra, rb) = tokio::join!(
        http::post(&pair.a.addr, path, &body_a),
        http::post(&pair.b.addr, path, &body_b)
    );
    let embedded = b_is_embedded(pair);
    let mut wrong = Vec::new();
    let mut masked = Vec::new();
    for (side, reply, is_embedded) in [(&mut pair.a, &ra, false), (&mut pair.b, &rb, embedded)] {
        if reply.status != 200 {
            wrong.push(format!("{} answered {}", side.label, reply.describe()));
            masked.push(Value::Null);
            continue;
        }
        let Some(json) = reply.json() else {
            wrong.push(format!("{}: not JSON: {}", side.label, reply.describe()));
            masked.push(Value::Null);
            continue;
        };
        let mut value = side.masker.mask(&json);
        for field in inherent {
            let expected = if is_embedded {
                &field.embedded
            } else {
                &field.etcd
            };
            if let Err(e) = take(&mut value, field.pointer, expected) {
                wrong.push(format!("{}: {e}", side.label));
            }
        }
        masked.push(value);
    }
    if wrong.is_empty() {
        if let Some(d) = diff(&masked[0], &masked[1]) {
            wrong.push(format!("masked bodies differ at {d}"));
        }
        if let Some(d) = diff(&masked[0], want) {
            wrong.push(format!("etcd's body differs from the expectation at {d}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "POST {path} {body}\n  {}\n  masked etcd: {}\n  masked {}: {}\n  expected: {want}",
        wrong.join("\n  "),
        masked[0],
        pair.b.label,
        masked[1]
    );
}

/// Replaces the value at `pointer` by `"<inherently different>"` after checking it.
fn take(body: &mut Value, pointer: &str, want: &Field) -> Result<(), String> {
    let slot = body
        .pointer_mut(pointer)
        .ok_or_else(|| format!("nothing at {pointer}"))?;
    if let Field::Is(want) = want
        && diff(slot, want).is_some()
    {
        return Err(format!("{pointer} is {slot}, expected {want}"));
    }
    *slot = json!("<inherently different>");
    Ok(())
}

/// A gRPC channel to a side's address (etcd's client port and our binary both serve gRPC).
pub async fn grpc_channel(side: &Side) -> tonic::transport::Channel {
    let url = format!("http://{}", side.addr);
    tonic::transport::Channel::from_shared(url.clone())
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .connect_timeout(Duration::from_secs(5))
        .timeout(http::REQUEST_TIMEOUT)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{} ({url}): gRPC connect: {e}", side.label))
}

/// What a snapshot stream carried, once its framing was checked.
#[derive(Debug, PartialEq, Eq)]
pub struct SnapshotFraming {
    /// Lines in the stream, the checksum line included.
    pub lines: usize,
    /// Bytes of the database (all blobs but the checksum).
    pub size: usize,
}

/// Checks one snapshot stream as etcd 3.5.1 frames it: every line exactly
/// `{"result":{"remaining_bytes":"R","blob":"B"}}\n`, blobs of [`SNAPSHOT_CHUNK`] bytes but the
/// last data blob, `remaining_bytes` the bytes still to come after this blob (left out once it
/// is zero), and a last line `{"result":{"blob":"B"}}\n` whose 32-byte blob is the SHA-256 of
/// all the data before it.
pub fn snapshot_framing(lines: &[String]) -> Result<SnapshotFraming, String> {
    if lines.len() < 2 {
        return Err(format!(
            "{} line(s), expected data and a checksum: {lines:?}",
            lines.len()
        ));
    }
    let mut data = Vec::new();
    let mut remaining_before: Option<u64> = None;
    let last = lines.len() - 1;
    for (index, line) in lines.iter().enumerate() {
        let value = serde_json::from_str::<Value>(line.trim_end_matches('\n'))
            .map_err(|e| format!("line {index} is not JSON ({e}): {line:.200}"))?;
        let message = value["result"]
            .as_object()
            .ok_or_else(|| format!("line {index} is not a result: {line:.200}"))?;
        let blob_text = message
            .get("blob")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("line {index} has no blob: {line:.200}"))?;
        let blob = B64
            .decode(blob_text)
            .map_err(|e| format!("line {index}: blob is not base64: {e}"))?;
        let remaining = match message.get("remaining_bytes") {
            None => 0,
            Some(Value::String(text)) => text
                .parse::<u64>()
                .map_err(|e| format!("line {index}: remaining_bytes {text:?}: {e}"))?,
            Some(other) => return Err(format!("line {index}: remaining_bytes is {other}")),
        };
        let exact = if remaining == 0 {
            format!("{{\"result\":{{\"blob\":\"{blob_text}\"}}}}\n")
        } else {
            format!(
                "{{\"result\":{{\"remaining_bytes\":\"{remaining}\",\"blob\":\"{blob_text}\"}}}}\n"
            )
        };
        if *line != exact {
            return Err(format!(
                "line {index} is not framed as {exact:.120}: {line:.200}"
            ));
        }
        if index == last {
            if remaining != 0 {
                return Err(format!("the checksum line has remaining_bytes {remaining}"));
            }
            let digest = Sha256::digest(&data);
            if blob != digest.as_slice() {
                return Err(format!(
                    "the last blob ({} bytes) is not the SHA-256 of the {} bytes before it",
                    blob.len(),
                    data.len()
                ));
            }
            break;
        }
        if index + 1 < last && blob.len() != SNAPSHOT_CHUNK {
            return Err(format!(
                "blob {index} has {} bytes, expected {SNAPSHOT_CHUNK}",
                blob.len()
            ));
        }
        if blob.is_empty() || blob.len() > SNAPSHOT_CHUNK {
            return Err(format!("blob {index} has {} bytes", blob.len()));
        }
        if let Some(before) = remaining_before
            && before != remaining + blob.len() as u64
        {
            return Err(format!(
                "line {index}: remaining_bytes {remaining} after {before} and a blob of {} bytes",
                blob.len()
            ));
        }
        if index + 1 == last && remaining != 0 {
            return Err(format!(
                "the last data line has remaining_bytes {remaining}"
            ));
        }
        remaining_before = Some(remaining);
        data.extend_from_slice(&blob);
    }
    Ok(SnapshotFraming {
        lines: lines.len(),
        size: data.len(),
    })
}

/// Reads a whole snapshot stream from one side: its status, `Content-Type` and lines.
pub async fn read_snapshot(side: &Side) -> (u16, Option<String>, Vec<String>) {
    let mut stream = Stream::post(&side.addr, "/v3/maintenance/snapshot", &[], "{}").await;
    let content_type = stream.header("content-type").map(str::to_owned);
    let mut lines = Vec::new();
    loop {
        match stream.next_delimited(b"\n", MESSAGE_TIMEOUT).await {
            Ok(Some(line)) => lines.push(line),
            Ok(None) => break,
            Err(e) => {
                lines.push(format!("<read error after {} lines: {e}>", lines.len()));
                break;
            }
        }
    }
    (stream.status, content_type, lines)
}

/// The first line of a stream with its blob cut to its length, for failure messages.
pub fn shape(line: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(line.trim_end_matches('\n')) else {
        return format!("{line:.200}");
    };
    if let Some(blob) = value.pointer_mut("/result/blob")
        && let Some(text) = blob.as_str()
    {
        let len = B64.decode(text).map(|b| b.len()).unwrap_or_default();
        *blob = json!(format!("<{len} bytes>"));
    }
    value.to_string()
}

/// A unary call sent to both sides that has not been answered yet (e.g. a campaign waiting for
/// the leader to go).
pub struct Waiting {
    what: String,
    etcd: tokio::task::JoinHandle<Result<http::Reply, String>>,
    other: tokio::task::JoinHandle<Result<http::Reply, String>>,
}

impl Waiting {
    /// Sends `POST path body` to both sides in the background.
    pub fn start(pair: &Pair, what: &str, path: &str, body: &str) -> Waiting {
        let spawn = |side: &Side| {
            let (addr, body, path) = (side.addr.clone(), render(side, body), path.to_owned());
            tokio::spawn(async move {
                http::request_with_timeout(&addr, "POST", &path, &[], body.into(), WAIT_LIMIT).await
            })
        };
        Waiting {
            what: format!("{what}: POST {path} {body}"),
            etcd: spawn(&pair.a),
            other: spawn(&pair.b),
        }
    }

    /// Checks that neither side has answered after `wait`.
    pub async fn assert_waiting(&self, pair: &Pair, wait: Duration) {
        tokio::time::sleep(wait).await;
        let (a, b) = (self.etcd.is_finished(), self.other.is_finished());
        assert!(
            !a && !b,
            "{}: expected both sides still waiting after {wait:?}; answered: etcd {a}, {} {b}",
            self.what,
            pair.b.label
        );
    }

    /// The answers of both sides: status `200` on both, equal masked bodies equal to `want`.
    /// Returns each side's unmasked body (for values a later step sends back).
    pub async fn finish(self, pair: &mut Pair, want: &Value) -> (Value, Value) {
        let join = |handle: tokio::task::JoinHandle<Result<http::Reply, String>>| async move {
            match handle.await {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(format!("call task failed: {e}")),
            }
        };
        let (ra, rb) = tokio::join!(join(self.etcd), join(self.other));
        let describe = |r: &Result<http::Reply, String>| match r {
            Ok(reply) => reply.describe(),
            Err(e) => e.clone(),
        };
        let fail = |why: String| -> ! {
            panic!(
                "{}: {why}\n  etcd: {}\n  {}: {}\n  expected: 200 {want}",
                self.what,
                describe(&ra),
                pair.b.label,
                describe(&rb)
            )
        };
        let (Ok(reply_a), Ok(reply_b)) = (&ra, &rb) else {
            fail("no answer".to_owned());
        };
        let (Some(raw_a), Some(raw_b)) = (reply_a.json(), reply_b.json()) else {
            fail("not JSON".to_owned());
        };
        if (reply_a.status, reply_b.status) != (200, 200) {
            fail(format!("status {} and {}", reply_a.status, reply_b.status));
        }
        let (masked_a, masked_b) = (pair.a.masker.mask(&raw_a), pair.b.masker.mask(&raw_b));
        if let Some(d) = diff(&masked_a, &masked_b) {
            fail(format!(
                "masked bodies differ at {d}\n  masked etcd: {masked_a}\n  masked {}: {masked_b}",
                pair.b.label
            ));
        }
        if let Some(d) = diff(&masked_a, want) {
            fail(format!(
                "etcd's body differs from the expectation at {d}\n  masked: {masked_a}"
            ));
        }
        (raw_a, raw_b)
    }
}

/// How long a [`Waiting`] call may stay unanswered before the client gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(20);
