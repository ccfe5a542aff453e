//! HTTP/1.1 load for the JSON gateways: one keep-alive connection per worker.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::load::{self, Caller, Load, Tally};
use super::scenario::Unary;

/// The `Content-Type` of every request.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Measures `scenario` against the JSON gateway at `addr`, connecting every worker first
/// (a connection that fails now is retried, and counted, by the worker's first request).
/// With a `token`, every request carries it in `Authorization`, as etcd's gateway expects.
pub async fn measure(
    addr: SocketAddr,
    scenario: Unary,
    load: &Load,
    token: Option<&str>,
) -> Result<Tally> {
    let token = token.map(HeaderValue::from_str).transpose()?;
    let mut callers = Vec::with_capacity(load.concurrency);
    for worker in 0..load.concurrency {
        callers.push(HttpCaller {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            path: Uri::from_static(scenario.http_path()),
            body: scenario.http_body(worker),
            token: token.clone(),
            conn: connect(addr).await.ok(),
        });
    }
    load::drive(callers, load).await
}

/// Sends one POST with a JSON `body` (and `token` in `Authorization`) on a fresh connection
/// and returns the status and the whole body.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    body: String,
    token: Option<&str>,
) -> Result<(StatusCode, Bytes)> {
    let mut conn = connect(addr).await?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, addr.to_string())
        .header(CONTENT_TYPE, JSON);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, token);
    }
    exchange_all(&mut conn, request.body(Full::new(Bytes::from(body)))?).await
}

/// Sends one GET on a fresh connection and returns the status and the whole body.
pub async fn get(addr: SocketAddr, path: &'static str) -> Result<(StatusCode, Bytes)> {
    let mut conn = connect(addr).await?;
    let request = Request::builder()
        .method(Method::GET)
        .uri(Uri::from_static(path))
        .header(HOST, addr.to_string())
        .body(Full::new(Bytes::new()))?;
    exchange_all(&mut conn, request).await
}

/// Sends `request` and reads the whole response.
async fn exchange_all(
    conn: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    let response = conn.send_request(request).await?;
    let status = response.status();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// One worker's connection and its prebuilt request parts.
struct HttpCaller {
    /// The server.
    addr: SocketAddr,
    /// The `Host` header.
    host: HeaderValue,
    /// The request path (origin form).
    path: Uri,
    /// The JSON request body.
    body: Bytes,
    /// The `Authorization` header: an auth token, with authentication on.
    token: Option<HeaderValue>,
    /// The open connection; `None` after a transport failure, reopened by the next request.
    conn: Option<SendRequest<Full<Bytes>>>,
}

impl Caller for HttpCaller {
    async fn call(&mut self) -> Result<()> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(connect(self.addr).await?),
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.path.clone())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, JSON);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        let request = request.body(Full::new(self.body.clone()))?;
        let response = match exchange(conn, request).await {
            Ok(response) => response,
            Err(err) => {
                self.conn = None;
                return Err(err);
            }
        };
        match response {
            (StatusCode::OK, _) => Ok(()),
            (status, body) => {
                let body = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
                anyhow::bail!("HTTP {status}: {body}")
            }
        }
    }
}

/// Sends `request` and reads the whole response; the body is kept only for a non-200 status.
async fn exchange(
    conn: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes)> {
    conn.ready().await?;
    let response = conn.send_request(request).await?;
    let status = response.status();
    let mut body = response.into_body();
    if status != StatusCode::OK {
        return Ok((status, body.collect().await?.to_bytes()));
    }
    drain(&mut body).await?;
    Ok((status, Bytes::new()))
}

/// Reads a body to its end without keeping it.
async fn drain(body: &mut Incoming) -> Result<()> {
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(())
}

/// Opens an HTTP/1.1 connection to `addr`, driven by a background task.
async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
