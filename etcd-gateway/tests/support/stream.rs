//! Streaming responses and WebSockets: an HTTP/1.1 client that reads a response body message
//! by message with a timeout on every read (and can keep writing the request body meanwhile),
//! a WebSocket client with timeouts, a pair of fresh etcd servers (etcd's gateway on one, ours
//! on the other, or ours on its embedded store instead of the second server) for differential
//! stream tests, and etcd's watch gauges from `/metrics`.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::etcd::{Etcd, EtcdVersion};
use super::gateway::{Gateway, Mode, Server, Store, Target};
use super::http;
use super::json::{Masker, diff};

/// How long a test waits for the next streamed message before it fails.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test waits to conclude that nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(400);

/// Flag that makes etcd send progress notifications every second.
pub const PROGRESS_NOTIFY_1S: [&str; 2] = ["--experimental-watch-progress-notify-interval", "1s"];

// ------------------------------------------------------------------------------------------
// HTTP streams

/// A request body: either complete up front (sent with `Content-Length`), or open, fed through
/// [`Call::send`] / [`Stream::send`] (sent chunked) until [`Stream::end_body`].
struct RequestBody {
    first: Option<Bytes>,
    more: Option<mpsc::Receiver<Bytes>>,
    len: u64,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take()
            && !first.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match &mut self.more {
            None => Poll::Ready(None),
            Some(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
                Poll::Ready(None) => {
                    self.more = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.more.is_none() && self.first.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        match self.more {
            None => SizeHint::with_exact(self.len),
            Some(_) => SizeHint::default(),
        }
    }
}

/// A request that was sent; its response head may not have arrived yet (etcd's gateway and
/// ours send the status line only with the first message).
pub struct Call {
    what: String,
    more: Option<mpsc::Sender<Bytes>>,
    response: JoinHandle<Result<hyper::Response<Incoming>, String>>,
    conn: JoinHandle<()>,
}

impl Call {
    /// Sends `POST path` with a complete body (`Content-Length`).
    pub async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Call {
        Call::start(
            addr,
            "POST",
            path,
            headers,
            Bytes::from(body.to_owned()),
            false,
        )
        .await
    }

    /// Sends `POST path` with a chunked body that starts with `first` and stays open.
    pub async fn post_open(addr: &str, path: &str, headers: &[(&str, &str)], first: &str) -> Call {
        Call::start(
            addr,
            "POST",
            path,
            headers,
            Bytes::from(first.to_owned()),
            true,
        )
        .await
    }

    pub async fn start(
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        open: bool,
    ) -> Call {
        let what = format!("{method} http://{addr}{path}");
        let stream = tokio::time::timeout(MESSAGE_TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("{what}: connect timed out"))
            .unwrap_or_else(|e| panic!("{what}: connect: {e}"));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| panic!("{what}: handshake: {e}"));
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        let (more, rx) = if open {
            let (tx, rx) = mpsc::channel(16);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let len = body.len() as u64;
        let mut builder = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path)
            .header("host", addr);
        for (k, v) in headers {
            builder = builder.header(*k, HeaderValue::from_str(v).expect("header value"));
        }
        let request = builder
            .body(RequestBody {
                first: Some(body),
                more: rx,
                len,
            })
            .expect("request");
        let response = sender.send_request(request);
        let label = what.clone();
        let response = tokio::spawn(async move {
            let _keep = sender;
            response.await.map_err(|e| format!("{label}: {e}"))
        });
        Call {
            what,
            more,
            response,
            conn,
        }
    }

    /// Writes more of an open request body.
    pub async fn send(&mut self, data: &str) {
        send_more(&self.more, &self.what, data).await;
    }

    /// The response head, waiting at most `wait`.
    pub async fn response(self, wait: Duration) -> Result<Stream, String> {
        let Call {
            what,
            more,
            mut response,
            conn,
        } = self;
        let response = match tokio::time::timeout(wait, &mut response).await {
            Ok(joined) => joined.map_err(|e| format!("{what}: {e}"))??,
            Err(_) => {
                response.abort();
                conn.abort();
                return Err(format!("{what}: no response head within {wait:?}"));
            }
        };
        let (parts, body) = response.into_parts();
        Ok(Stream {
            what,
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            buf: BytesMut::new(),
            ended: false,
            more,
            conn,
        })
    }

    /// The response head; panics when it does not come within [`MESSAGE_TIMEOUT`].
    pub async fn expect_response(self) -> Stream {
        self.response(MESSAGE_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Asserts that no response head arrives within `wait` (the call stays usable).
    pub async fn expect_pending(&mut self, wait: Duration) {
        if let Ok(joined) = tokio::time::timeout(wait, &mut self.response).await {
            let status = joined.map(|r| r.map(|response| response.status()));
            panic!(
                "{}: expected no answer within {wait:?}, got {status:?}",
                self.what
            );
        }
    }

    /// Drops the connection (the client goes away).
    pub fn abort(self) {
        self.response.abort();
        self.conn.abort();
    }
}

async fn send_more(more: &Option<mpsc::Sender<Bytes>>, what: &str, data: &str) {
    let tx = more
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: the request body is complete already"));
    tokio::time::timeout(MESSAGE_TIMEOUT, tx.send(Bytes::from(data.to_owned())))
        .await
        .unwrap_or_else(|_| panic!("{what}: request body not taken within {MESSAGE_TIMEOUT:?}"))
        .unwrap_or_else(|_| panic!("{what}: the request body is closed"));
}

/// An open streaming response. Dropping it closes the connection.
pub struct Stream {
    what: String,
    pub status: u16,
    pub headers: HeaderMap,
    body: Incoming,
    buf: BytesMut,
    ended: bool,
    more: Option<mpsc::Sender<Bytes>>,
    conn: JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Stream {
    /// Opens `POST path` with a complete body and waits for the response head.
    pub async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Stream {
        Call::post(addr, path, headers, body)
            .await
            .expect_response()
            .await
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Writes more of an open request body.
    pub async fn send(&mut self, data: &str) {
        send_more(&self.more, &self.what, data).await;
    }

    /// Ends an open request body.
    pub fn end_body(&mut self) {
        self.more = None;
    }

    /// The next message up to and including `delimiter`, or at the end of the body what is
    /// left (without a delimiter); `None` once the body has ended. Errors after `wait`.
    pub async fn next_delimited(
        &mut self,
        delimiter: &[u8],
        wait: Duration,
    ) -> Result<Option<String>, String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(pos) = self
                .buf
                .windows(delimiter.len())
                .position(|w| w == delimiter)
            {
                let message = self.buf.split_to(pos + delimiter.len());
                return Ok(Some(utf8(&message)));
            }
            if self.ended {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let rest = self.buf.split();
                return Ok(Some(utf8(&rest)));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.body.frame()).await {
                Err(_) => {
                    return Err(format!(
                        "{}: nothing more within {wait:?} (pending: {:?})",
                        self.what,
                        utf8(&self.buf)
                    ));
                }
                Ok(None) => self.ended = true,
                Ok(Some(Err(e))) => return Err(format!("{}: body: {e}", self.what)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// The next JSON line including its `\n` (a final message without `\n` as it is).
    pub async fn next_line(&mut self) -> String {
        match self.next_delimited(b"\n", MESSAGE_TIMEOUT).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!("{}: the stream ended, expected another line", self.what),
            Err(e) => panic!("{e}"),
        }
    }

    /// The next Server-Sent Event including its blank line.
    pub async fn next_event(&mut self) -> String {
        match self.next_delimited(b"\n\n", MESSAGE_TIMEOUT).await {
            Ok(Some(event)) => event,
            Ok(None) => panic!("{}: the stream ended, expected another event", self.what),
            Err(e) => panic!("{e}"),
        }
    }

    /// Asserts that the body ends (cleanly) within [`MESSAGE_TIMEOUT`] with nothing more.
    pub async fn expect_end(&mut self) {
        match self.next_delimited(b"\n", MESSAGE_TIMEOUT).await {
            Ok(None) => {}
            Ok(Some(line)) => panic!("{}: expected the end, got {line:?}", self.what),
            Err(e) => panic!("expected the end of the stream: {e}"),
        }
    }

    /// Asserts that nothing arrives (and the body does not end) for `wait`.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        match self.next_delimited(b"\n", wait).await {
            Err(_) if self.buf.is_empty() => {}
            Err(e) => panic!(
                "{}: expected nothing, got a partial message: {e}",
                self.what
            ),
            Ok(Some(line)) => panic!("{}: expected nothing, got {line:?}", self.what),
            Ok(None) => panic!("{}: expected nothing, the stream ended", self.what),
        }
    }

    /// Reads lines until the body ends.
    pub async fn read_to_end(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.next_delimited(b"\n", MESSAGE_TIMEOUT).await {
                Ok(Some(line)) => lines.push(line),
                Ok(None) => return lines,
                Err(e) => panic!("after {} lines: {e}", lines.len()),
            }
        }
    }
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|_| panic!("not UTF-8: {:?}", String::from_utf8_lossy(bytes)))
}

/// Parses one streamed JSON message (with or without its trailing `\n`).
pub fn parse(message: &str) -> Value {
    serde_json::from_str(message.trim_end_matches('\n'))
        .unwrap_or_else(|e| panic!("not a JSON message ({e}): {message:?}"))
}

/// The header set of every successful stream response (etcd's and ours, both versions).
pub fn assert_stream_head(stream: &Stream, content_type: &str, what: &str) {
    let got = |name: &str| stream.header(name).map(str::to_owned);
    let checks = [
        ("content-type", content_type),
        ("grpc-metadata-content-type", "application/grpc"),
        ("transfer-encoding", "chunked"),
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
    assert_eq!(stream.status, 200, "{what}: status");
    for (name, want) in checks {
        assert_eq!(
            got(name).as_deref(),
            Some(want),
            "{what}: header {name} in {:?}",
            stream.headers
        );
    }
    assert_eq!(got("content-length"), None, "{what}: content-length");
    assert_eq!(got("trailer"), None, "{what}: trailer");
}

// ------------------------------------------------------------------------------------------
// WebSockets

pub type Socket = WebSocketStream<TcpStream>;

/// Opens a WebSocket on `path` with extra handshake headers. Returns the socket and the
/// handshake response.
pub async fn ws_connect(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, hyper::Response<Option<Vec<u8>>>), String> {
    let what = format!("WebSocket ws://{addr}{path}");
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .map_err(|e| format!("{what}: {e}"))?;
    for (k, v) in headers {
        request.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    let handshake = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("{what}: connect: {e}"))?;
        tokio_tungstenite::client_async(request, tcp)
            .await
            .map_err(|e| format!("{what}: handshake: {e}"))
    };
    tokio::time::timeout(MESSAGE_TIMEOUT, handshake)
        .await
        .map_err(|_| format!("{what}: no handshake within {MESSAGE_TIMEOUT:?}"))?
}

/// What the next WebSocket read gave.
#[derive(Debug, PartialEq)]
pub enum WsEvent {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame, or the connection ended.
    Closed,
    /// Nothing within the wait.
    Timeout,
}

pub async fn ws_send(socket: &mut Socket, text: &str) {
    tokio::time::timeout(MESSAGE_TIMEOUT, socket.send(Message::text(text)))
        .await
        .unwrap_or_else(|_| panic!("WebSocket send of {text:?} timed out"))
        .unwrap_or_else(|e| panic!("WebSocket send of {text:?}: {e}"));
}

/// The next data message (pings and pongs are skipped).
pub async fn ws_next(socket: &mut Socket, wait: Duration) -> WsEvent {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => return WsEvent::Timeout,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return WsEvent::Closed;
            }
            Ok(Some(Ok(Message::Text(text)))) => return WsEvent::Text(text.to_string()),
            Ok(Some(Ok(Message::Binary(data)))) => return WsEvent::Binary(data.to_vec()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The next text message; panics on anything else.
pub async fn ws_text(socket: &mut Socket, what: &str) -> String {
    match ws_next(socket, MESSAGE_TIMEOUT).await {
        WsEvent::Text(text) => text,
        other => panic!("{what}: expected a text message, got {other:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// etcd pairs

/// One side of a differential stream test.
pub struct Side {
    pub label: &'static str,
    /// Where stream requests go: etcd's own gateway (A) or the gateway under test (B).
    pub addr: String,
    /// The server behind this side.
    pub etcd: Store,
    pub masker: Masker,
    /// The member's cluster and member IDs as etcd prints them.
    pub cluster_id: String,
    pub member_id: String,
}

impl Side {
    async fn new(label: &'static str, addr: String, etcd: Store) -> Side {
        let mut masker = Masker::new();
        let reply = http::post(&etcd.addr(), "/v3/cluster/member/list", "{}").await;
        let list = reply.expect_json();
        let id = list["members"][0]["ID"]
            .as_str()
            .unwrap_or_else(|| panic!("member list without ID: {list}"))
            .to_owned();
        let cluster_id = list["header"]["cluster_id"]
            .as_str()
            .unwrap_or_else(|| panic!("member list without cluster_id: {list}"))
            .to_owned();
        masker.seed_id(&id, "<member g1>");
        match &etcd {
            Store::Etcd(etcd) => {
                masker.port(etcd.client_port, "client");
                masker.port(etcd.peer_port, "peer");
            }
            Store::Embedded { addr } => {
                let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
                masker.port(port.expect("port in the gateway address"), "client");
            }
        }
        Side {
            label,
            addr,
            etcd,
            masker,
            cluster_id,
            member_id: id,
        }
    }

    /// The raw text of a message with this side's cluster ID, member ID and raft term replaced
    /// by placeholders, for byte-exact comparisons (key order, spacing, escaping).
    pub fn mask_text(&self, message: &str) -> String {
        let text = message
            .replace(&format!("\"{}\"", self.cluster_id), "\"<cluster_id>\"")
            .replace(&format!("\"{}\"", self.member_id), "\"<member g1>\"");
        let mut out = String::new();
        let mut rest = text.as_str();
        const TERM: &str = "\"raft_term\":\"";
        while let Some(pos) = rest.find(TERM) {
            out.push_str(&rest[..pos + TERM.len()]);
            rest = rest[pos + TERM.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push_str("<raft_term>");
        }
        out.push_str(rest);
        out
    }

    /// The masked JSON of one streamed message.
    pub fn mask(&mut self, message: &str) -> Value {
        self.masker.mask(&parse(message))
    }
}

/// Two fresh etcd servers of one version: side A answered by etcd's own gateway, side B by the
/// gateway under test (or by etcd's gateway too with `GATEWAY_UNDER_TEST=etcd`). With
/// [`Target::Embedded`], side B is our binary on its embedded store instead.
pub struct Pair {
    pub version: EtcdVersion,
    pub mode: Mode,
    pub target: Target,
    pub a: Side,
    pub b: Side,
    pub gateway: Option<Gateway>,
}

impl Pair {
    pub async fn start(version: EtcdVersion, etcd_args: &[&str]) -> Pair {
        Pair::start_with_mode(version, etcd_args, Mode::from_env()).await
    }

    /// Side B is our gateway whatever `GATEWAY_UNDER_TEST` says (tests of our own behaviour).
    pub async fn start_ours(version: EtcdVersion, etcd_args: &[&str]) -> Pair {
        Pair::start_with_mode(version, etcd_args, Mode::Binary).await
    }

    /// Side B on `target`. For [`Target::Embedded`], `etcd_args` apply to side A's etcd only
    /// (the embedded store has no such flags).
    pub async fn start_target(version: EtcdVersion, etcd_args: &[&str], target: Target) -> Pair {
        match target {
            Target::Etcd => Pair::start(version, etcd_args).await,
            Target::Embedded => {
                let mut etcd_a = Etcd::spawn_with_args(version, etcd_args);
                let gateway = Gateway::start_embedded().await;
                etcd_a.wait_ready().await;
                let a = Side::new("etcd", etcd_a.addr(), Store::Etcd(etcd_a)).await;
                let addr = gateway.addr.clone();
                let b = Side::new("ours (embedded)", addr.clone(), Store::Embedded { addr }).await;
                Pair {
                    version,
                    mode: Mode::Binary,
                    target,
                    a,
                    b,
                    gateway: Some(gateway),
                }
            }
        }
    }

    pub async fn start_with_mode(version: EtcdVersion, etcd_args: &[&str], mode: Mode) -> Pair {
        let mut etcds = Etcd::start_all_with_args(&[version, version], etcd_args).await;
        let etcd_b = etcds.pop().expect("two servers");
        let etcd_a = etcds.pop().expect("two servers");
        let gateway = match mode {
            Mode::Binary => Some(Gateway::start(&etcd_b.client_url()).await),
            Mode::Etcd => None,
        };
        let b_addr = gateway
            .as_ref()
            .map_or_else(|| etcd_b.addr(), |g| g.addr.clone());
        let a = Side::new("etcd", etcd_a.addr(), Store::Etcd(etcd_a)).await;
        let b_label = match mode {
            Mode::Binary => "ours",
            Mode::Etcd => "etcd (as ours)",
        };
        let b = Side::new(b_label, b_addr, Store::Etcd(etcd_b)).await;
        Pair {
            version,
            mode,
            target: Target::Etcd,
            a,
            b,
            gateway,
        }
    }

    /// The reference version, and the target of side B when it is not a second etcd.
    pub fn label(&self) -> String {
        match self.target {
            Target::Etcd => self.version.to_string(),
            Target::Embedded => format!("{} vs embedded", self.version),
        }
    }

    /// The same unary request straight to both etcd servers (not through our gateway; an
    /// embedded store is only reachable through our binary); both must answer 200 with equal
    /// masked bodies. Returns the masked body.
    pub async fn write(&mut self, path: &str, body: &str) -> Value {
        let (addr_a, addr_b) = (self.a.etcd.addr(), self.b.etcd.addr());
        let (ra, rb) = tokio::join!(
            http::request(&addr_a, "POST", path, &[], body.to_owned()),
            http::request(&addr_b, "POST", path, &[], body.to_owned()),
        );
        let (ra, rb) = (
            ra.unwrap_or_else(|e| panic!("{e}")),
            rb.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(
            (ra.status, rb.status),
            (200, 200),
            "{} {path} {body}: {} / {}",
            self.label(),
            ra.describe(),
            rb.describe()
        );
        let ma = self.a.masker.mask(&ra.expect_json());
        let mb = self.b.masker.mask(&rb.expect_json());
        if let Some(d) = diff(&ma, &mb) {
            panic!(
                "{} {path} {body}: the two servers differ at {d}",
                self.label()
            );
        }
        ma
    }

    /// Opens the same stream request on both sides and checks the response heads.
    pub async fn open(&self, path: &str, headers: &[(&str, &str)], body: &str) -> (Stream, Stream) {
        let (sa, sb) = tokio::join!(
            Stream::post(&self.a.addr, path, headers, body),
            Stream::post(&self.b.addr, path, headers, body),
        );
        assert_stream_head(&sa, "application/json", &format!("etcd {path} {body}"));
        assert_stream_head(&sb, "application/json", &format!("ours {path} {body}"));
        (sa, sb)
    }

    /// Reads the next line on both sides: both must end with `\n` and be equal after masking,
    /// and equal to `want`.
    pub async fn next_both(&mut self, sa: &mut Stream, sb: &mut Stream, want: &Value) {
        let (la, lb) = tokio::join!(sa.next_line(), sb.next_line());
        self.compare(&la, &lb, want);
    }

    /// Compares one line of each side: both end with `\n`, are byte-equal once the IDs are
    /// replaced by placeholders, and equal `want` after masking.
    pub fn compare(&mut self, la: &str, lb: &str, want: &Value) {
        let version = self.label();
        assert!(
            la.ends_with('\n'),
            "{version} etcd line without newline: {la:?}"
        );
        assert!(
            lb.ends_with('\n'),
            "{version} our line without newline: {lb:?}"
        );
        self.compare_messages(la, lb, want);
    }

    /// Compares one message of each side (any framing): byte-equal once the IDs are replaced
    /// by placeholders, and equal to `want` after masking.
    pub fn compare_messages(&mut self, la: &str, lb: &str, want: &Value) {
        let version = self.label();
        let (ta, tb) = (self.a.mask_text(la), self.b.mask_text(lb));
        assert_eq!(
            ta, tb,
            "{version}: messages differ (etcd, ours) after masking the IDs"
        );
        let (ma, mb) = (self.a.mask(la), self.b.mask(lb));
        if let Some(d) = diff(&ma, &mb) {
            panic!(
                "{version}: lines differ at {d}\n  etcd: {la}  ours: {lb}  masked etcd: {ma}\n  masked ours: {mb}"
            );
        }
        if let Some(d) = diff(&ma, want) {
            panic!(
                "{version}: line differs from the expectation at {d}\n  masked: {ma}\n  expected: {want}"
            );
        }
    }

    /// Asserts that neither side sends anything for `wait`.
    pub async fn quiet_both(&self, sa: &mut Stream, sb: &mut Stream, wait: Duration) {
        tokio::join!(sa.expect_quiet(wait), sb.expect_quiet(wait));
    }
}

// ------------------------------------------------------------------------------------------
// etcd metrics

/// `(etcd_debugging_mvcc_watcher_total, etcd_debugging_mvcc_watch_stream_total)`.
pub async fn watch_gauges(etcd: &impl Server) -> (u64, u64) {
    let reply = http::get(&etcd.addr(), "/metrics").await;
    assert_eq!(reply.status, 200, "GET /metrics: {}", reply.status);
    let text = reply.text();
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("/metrics has no {name}")) as u64
    };
    (
        gauge("etcd_debugging_mvcc_watcher_total"),
        gauge("etcd_debugging_mvcc_watch_stream_total"),
    )
}

/// Polls the watch gauges until they equal `want`; panics after `wait` with the last value.
pub async fn await_watch_gauges(etcd: &impl Server, want: (u64, u64), wait: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = watch_gauges(etcd).await;
        if got == want {
            return start.elapsed();
        }
        if start.elapsed() > wait {
            panic!(
                "{}: (watchers, watch streams) stayed {got:?}, expected {want:?} within {wait:?}",
                etcd.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
