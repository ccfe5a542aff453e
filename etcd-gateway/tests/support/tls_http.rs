//! A TLS HTTP client for the TLS suites: one fresh connection per request, HTTP/1.1 or HTTP/2
//! chosen by ALPN, an optional client certificate, a hard timeout, and what the handshake
//! showed (the server's certificate, the protocol agreed).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::certs::{Ca, Leaf};
use super::http::{REQUEST_TIMEOUT, Reply};

/// The protocol the client offers by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    Http1,
    Http2,
}

/// A response over TLS and what the handshake agreed.
#[derive(Debug)]
pub struct TlsReply {
    pub reply: Reply,
    /// The server's leaf certificate (DER).
    pub server_certificate: Vec<u8>,
    /// The ALPN protocol agreed (`h2`, `http/1.1`).
    pub alpn: Option<String>,
    pub version: http::Version,
}

/// How to connect: which CA to trust, which client certificate to show, which protocol.
#[derive(Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    alpn: Alpn,
}

impl TlsClient {
    /// A client trusting `ca`, offering `alpn`, presenting `identity` if given.
    pub fn new(ca: &Ca, identity: Option<&Leaf>, alpn: Alpn) -> TlsClient {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.der.clone()))
            .expect("add CA");
        let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
        let mut config = match identity {
            Some(leaf) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(leaf.der.clone())],
                    PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("client key"),
                )
                .expect("client certificate"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![match alpn {
            Alpn::Http1 => b"http/1.1".to_vec(),
            Alpn::Http2 => b"h2".to_vec(),
        }];
        TlsClient {
            config: Arc::new(config),
            alpn,
        }
    }

    /// Sends one request to `addr` (`127.0.0.1:<port>`) on a fresh connection.
    pub async fn request(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        body: &str,
    ) -> Result<TlsReply, String> {
        let what = format!("{method} https://{addr}{path} ({:?})", self.alpn);
        let exchange = self.exchange(addr, method, path, Bytes::from(body.to_owned()));
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(format!("{what}: {err}")),
            Err(_) => Err(format!("{what}: no response within {REQUEST_TIMEOUT:?}")),
        }
    }

    /// Like [`TlsClient::request`], panicking on failure.
    pub async fn post(&self, addr: &str, path: &str, body: &str) -> TlsReply {
        self.request(addr, "POST", path, body)
            .await
            .unwrap_or_else(|err| panic!("{err}"))
    }

    /// Why the server refuses this client's TLS connection: the error of the first read after
    /// the handshake (TLS 1.3 sends the server's verdict on a client certificate only then).
    /// Reading rather than sending a request keeps the server's alert from being hidden by a
    /// broken pipe on the client's first write. Text naming the outcome if nothing was refused.
    pub async fn refusal(&self, addr: &str) -> String {
        use tokio::io::AsyncReadExt;
        let tcp = match TcpStream::connect(addr).await {
            Ok(tcp) => tcp,
            Err(err) => return format!("connect: {err}"),
        };
        let server_name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let mut tls = match TlsConnector::from(self.config.clone())
            .connect(server_name, tcp)
            .await
        {
            Ok(tls) => tls,
            Err(err) => return format!("TLS handshake: {err}"),
        };
        let mut buffer = [0u8; 1024];
        match tokio::time::timeout(Duration::from_secs(2), tls.read(&mut buffer)).await {
            Ok(Err(err)) => format!("read: {err}"),
            Ok(Ok(0)) => "not refused: the server closed the connection without an alert".into(),
            Ok(Ok(read)) => format!("not refused: the server sent {read} bytes"),
            Err(_) => "not refused: no alert within 2s".into(),
        }
    }

    async fn exchange(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<TlsReply, String> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        let server_name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let tls = TlsConnector::from(self.config.clone())
            .connect(server_name, tcp)
            .await
            .map_err(|err| format!("TLS handshake: {err}"))?;
        let (_, session) = tls.get_ref();
        let server_certificate = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.to_vec())
            .unwrap_or_default();
        let alpn = session
            .alpn_protocol()
            .map(|proto| String::from_utf8_lossy(proto).into_owned());

        let request = Request::builder()
            .method(method)
            .uri(format!("https://{addr}{path}"))
            .body(Full::new(body))
            .map_err(|err| format!("request: {err}"))?;
        let io = TokioIo::new(tls);
        let response = match self.alpn {
            Alpn::Http1 => {
                let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|err| format!("HTTP/1.1 handshake: {err}"))?;
                let connection = tokio::spawn(connection);
                let (mut parts, body) = request.into_parts();
                parts.headers.insert(
                    http::header::HOST,
                    http::HeaderValue::from_str(addr).expect("host header"),
                );
                parts.uri = path.parse().expect("path");
                match sender.send_request(Request::from_parts(parts, body)).await {
                    Ok(response) => response,
                    Err(err) => return Err(send_error(err, connection).await),
                }
            }
            Alpn::Http2 => {
                let (mut sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(|err| format!("HTTP/2 handshake: {err}"))?;
                let connection = tokio::spawn(connection);
                match sender.send_request(request).await {
                    Ok(response) => response,
                    Err(err) => return Err(send_error(err, connection).await),
                }
            }
        };
        let status = response.status().as_u16();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("body: {err}"))?
            .to_bytes();
        Ok(TlsReply {
            reply: Reply {
                status,
                headers,
                body,
            },
            server_certificate,
            alpn,
            version,
        })
    }
}

/// A failed send, with the reason the connection ended (e.g. the server's TLS alert).
async fn send_error(
    err: hyper::Error,
    connection: tokio::task::JoinHandle<Result<(), hyper::Error>>,
) -> String {
    let ended = tokio::time::timeout(Duration::from_secs(2), connection).await;
    let reason = match ended {
        Ok(Ok(Err(connection_err))) => error_chain(&connection_err),
        _ => String::new(),
    };
    format!("send: {}; connection: {reason}", error_chain(&err))
}

/// `err` and its sources, `: `-separated.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
