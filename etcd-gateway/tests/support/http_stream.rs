//! Streamed responses over HTTP/1.1: a client that reads a response body message by message
//! with a timeout on every read (and can keep writing the request body meanwhile), and the
//! header set every stream response carries.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for the next streamed message before it fails.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a test waits to conclude that nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(400);

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
