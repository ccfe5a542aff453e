//! A WebSocket client with a timeout on every read.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::header::HeaderValue;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::http_stream::MESSAGE_TIMEOUT;

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
