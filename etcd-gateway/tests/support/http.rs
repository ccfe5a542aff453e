//! Minimal HTTP/1.1 client: one fresh connection per request, a hard timeout on every call,
//! and nothing added to the request beyond `Host` and, for bodies, `Content-Length`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Every request gives up after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A fully read response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as JSON; panics with the raw body otherwise.
    pub fn expect_json(&self) -> Value {
        self.json().unwrap_or_else(|| {
            panic!(
                "expected a JSON body, got status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `"<status> <body>"`, for failure messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.status, self.text())
    }
}

/// Sends one request to `addr` (`host:port`). `headers` are sent as given.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: impl Into<Bytes>,
) -> Result<Reply, String> {
    request_with_timeout(addr, method, path, headers, body.into(), REQUEST_TIMEOUT).await
}

pub async fn request_with_timeout(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let what = format!("{method} http://{addr}{path}");
    match tokio::time::timeout(timeout, send(addr, method, path, headers, body)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no response within {timeout:?}")),
    }
}

async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Result<Reply, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);

    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut builder = Request::builder().method(method).uri(path);
    let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    if !has_host {
        builder = builder.header("host", addr);
    }
    for (k, v) in headers {
        let value = HeaderValue::from_bytes(v.as_bytes()).map_err(|e| e.to_string())?;
        builder = builder.header(k.as_str(), value);
    }
    let req = builder
        .body(Full::new(body))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    conn.abort();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// `POST path` with a JSON (or any) body and no extra headers; panics on transport errors.
pub async fn post(addr: &str, path: &str, body: &str) -> Reply {
    request(addr, "POST", path, &[], body.to_owned())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `POST path` with extra headers; panics on transport errors.
pub async fn post_with(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    request(addr, "POST", path, &headers, body.to_owned())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `GET path`; panics on transport errors.
pub async fn get(addr: &str, path: &str) -> Reply {
    request(addr, "GET", path, &[], Bytes::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends a hand-written request over a raw TCP connection. `head` is everything up to and
/// including the blank line. If the server answers within `early` after the head (e.g. it
/// rejects a too large `Content-Length` up front), the body is never sent; otherwise the body
/// is written and the answer read. Parses `Content-Length`, chunked and read-to-close bodies.
pub async fn raw_request(
    addr: &str,
    head: &str,
    body: Bytes,
    early: Duration,
) -> Result<Reply, String> {
    let what = format!("raw request to {addr}");
    match tokio::time::timeout(REQUEST_TIMEOUT * 3, raw_exchange(addr, head, body, early)).await {
        Ok(r) => r.map_err(|e| format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no complete answer in time")),
    }
}

async fn raw_exchange(
    addr: &str,
    head: &str,
    body: Bytes,
    early: Duration,
) -> Result<Reply, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("write head: {e}"))?;
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    match tokio::time::timeout(early, stream.read(&mut buf)).await {
        Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        Ok(Err(e)) => return Err(format!("read: {e}")),
        Err(_) => {
            // No early answer: send the body. A server that stops reading half-way may reset
            // the connection; its answer is still read below when it got out first.
            let (mut rd, mut wr) = stream.into_split();
            let writer = tokio::spawn(async move {
                let _ = wr.write_all(&body).await;
                let _ = wr.flush().await;
                wr
            });
            let mut out = Vec::new();
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        out.extend_from_slice(&buf[..n]);
                        if response_complete(&out) {
                            break;
                        }
                    }
                    Err(e) if out.is_empty() => return Err(format!("read: {e}")),
                    Err(_) => break,
                }
            }
            writer.abort();
            return parse_response(&out);
        }
    }
    while !response_complete(&received) {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    parse_response(&received)
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let pos = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&raw[..pos], &raw[pos + 4..]))
}

fn response_complete(raw: &[u8]) -> bool {
    let Some((head, body)) = split_head(raw) else {
        return false;
    };
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    if head.contains("transfer-encoding: chunked") {
        return dechunk(body).is_some();
    }
    false
}

/// Decodes a complete chunked body; `None` while incomplete.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

fn parse_response(raw: &[u8]) -> Result<Reply, String> {
    let (head, body) = split_head(raw).ok_or_else(|| {
        format!(
            "incomplete answer ({} bytes): {:?}",
            raw.len(),
            String::from_utf8_lossy(&raw[..raw.len().min(200)])
        )
    })?;
    let head = String::from_utf8_lossy(head).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let name = hyper::header::HeaderName::from_bytes(k.trim().as_bytes())
                .map_err(|e| e.to_string())?;
            let value = HeaderValue::from_str(v.trim()).map_err(|e| e.to_string())?;
            headers.append(name, value);
        }
    }
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked {
        dechunk(body).ok_or("incomplete chunked body")?
    } else if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.get(..len).ok_or("short body")?.to_vec()
    } else {
        body.to_vec()
    };
    Ok(Reply {
        status,
        headers,
        body: Bytes::from(body),
    })
}
