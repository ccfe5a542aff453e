//! Every route over a WebSocket (full duplex, which plain HTTP/1.1 bodies are not in practice).
//!
//! Each text (or binary) message from the client is one request message. Unary routes answer
//! each request with one message: the plain response JSON, or the error JSON. Streaming routes
//! answer with one `{"result":...}` message per response message, and end with an
//! `{"error":{...}}` message if the call fails. The client closing the socket cancels the call.
//!
//! Authentication on the handshake, as etcd's WebSocket proxy takes it: the subprotocol
//! `Sec-WebSocket-Protocol: Bearer, <token>` (answered with `Bearer`), a `token` cookie, or a
//! plain `Authorization` header.

use std::future::Future;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt, stream::SplitSink};
use http::{HeaderMap, HeaderValue, header};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::oneshot;
use tonic::Status;

use crate::{
    GrpcTransport, codec,
    error::error_body,
    stream::{self, Framing, RequestStream},
    unary::try_call_unary,
};

/// The subprotocol that carries a token.
pub const BEARER_PROTOCOL: &str = "Bearer";

/// Headers to build call metadata from: the handshake's, plus `Authorization` from the
/// `Bearer, <token>` subprotocol or the `token` cookie. Also says whether the client offered
/// the `Bearer` subprotocol (which the handshake response must then select).
pub fn handshake_headers(handshake: &HeaderMap) -> (HeaderMap, bool) {
    let mut headers = handshake.clone();
    let protocols: Vec<&str> = handshake
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let bearer = protocols.first() == Some(&BEARER_PROTOCOL);
    let from_protocol = protocols.get(1).filter(|_| bearer).copied();
    let from_cookie = handshake
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix("token="))
        .next();
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(token) = from_protocol.or(from_cookie)
        && let Ok(value) = HeaderValue::from_str(token)
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    (headers, bearer)
}

/// Serves a unary route: one call per request message, answered in order.
pub async fn unary<Req, Resp, F, Fut>(
    socket: WebSocket,
    headers: HeaderMap,
    transport: GrpcTransport,
    call: F,
) where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: Fn(GrpcTransport, tonic::Request<Req>) -> Fut + Clone,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let (mut sink, mut incoming) = socket.split();
    while let Some(payload) = next_payload(&mut incoming).await {
        let outcome = try_call_unary(transport.clone(), &headers, &payload, call.clone()).await;
        let reply = match outcome.and_then(|response| codec::encode(response.get_ref())) {
            Ok(body) => body,
            Err(status) => error_body(status.code(), status.message()),
        };
        if send(&mut sink, reply).await.is_err() {
            return;
        }
    }
}

/// Serves a server-streaming route: the first message is the request.
pub async fn server_streaming<Req, Resp, S, F, Fut>(socket: WebSocket, headers: HeaderMap, call: F)
where
    Req: DeserializeOwned + Default,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    F: FnOnce(tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (mut sink, mut incoming) = socket.split();
    let Some(payload) = next_payload(&mut incoming).await else {
        return;
    };
    let request = match stream::unary_request(&headers, &payload) {
        Ok(request) => request,
        Err(status) => {
            let _ = send(&mut sink, Framing::WebSocket.error(&status)).await;
            return;
        }
    };
    // Later messages are not requests; reading them notices the client closing.
    let (closed_sender, closed) = oneshot::channel();
    let watcher = tokio::spawn(async move {
        while next_payload(&mut incoming).await.is_some() {}
        let _ = closed_sender.send(Status::cancelled("client closed the WebSocket"));
    });
    relay(call(request), closed, sink, watcher.abort_handle()).await;
}

/// Serves a bidirectional route: every message is one request message of the stream.
pub async fn bidi_streaming<Req, Resp, S, F, Fut>(socket: WebSocket, headers: HeaderMap, call: F)
where
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    F: FnOnce(tonic::Request<RequestStream<Req>>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (sink, mut incoming) = socket.split();
    let metadata = match stream::request_metadata(&headers) {
        Ok(metadata) => metadata,
        Err(status) => {
            let mut sink = sink;
            let _ = send(&mut sink, Framing::WebSocket.error(&status)).await;
            return;
        }
    };
    let (sender, messages) = RequestStream::channel();
    let (failure_sender, failure) = oneshot::channel();
    let reader = tokio::spawn(async move {
        let status = loop {
            let Some(payload) = next_payload(&mut incoming).await else {
                break Status::cancelled("client closed the WebSocket");
            };
            match codec::decode::<Req>(&payload) {
                Ok(message) => {
                    if sender.send(message).await.is_err() {
                        return;
                    }
                }
                Err(status) => break status,
            }
        };
        let _ = failure_sender.send(status);
    });
    let request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), messages);
    relay(call(request), failure, sink, reader.abort_handle()).await;
}

/// Writes the call's responses until it ends, fails, or the client side fails or closes.
async fn relay<Resp, S, Fut>(
    call: Fut,
    mut failure: oneshot::Receiver<Status>,
    mut sink: SplitSink<WebSocket, Message>,
    reader: tokio::task::AbortHandle,
) where
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let _guard = stream::StreamGuard::new(Some(reader));
    let framing = Framing::WebSocket;
    let upstream = tokio::select! {
        response = call => response,
        status = &mut failure => Err(status.unwrap_or_else(|_| Status::cancelled("client gone"))),
    };
    let mut upstream = match upstream {
        Ok(response) => Box::pin(response.into_inner()),
        Err(status) => {
            let _ = finish(&mut sink, framing.error(&status), &status).await;
            return;
        }
    };
    loop {
        let frame = tokio::select! {
            message = upstream.next() => match message {
                Some(Ok(message)) => framing.result(&message),
                Some(Err(status)) => {
                    let _ = finish(&mut sink, framing.error(&status), &status).await;
                    return;
                }
                None => {
                    let _ = sink.close().await;
                    return;
                }
            },
            status = &mut failure => {
                if let Ok(status) = status
                    && status.code() != tonic::Code::Cancelled
                {
                    let _ = finish(&mut sink, framing.error(&status), &status).await;
                }
                return;
            }
        };
        if send(&mut sink, frame).await.is_err() {
            return;
        }
    }
}

/// The next request payload; `None` when the client closed the socket or it failed.
async fn next_payload<S>(incoming: &mut S) -> Option<Bytes>
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    while let Some(Ok(message)) = incoming.next().await {
        match message {
            Message::Text(text) => return Some(Bytes::from(text)),
            Message::Binary(data) => return Some(data),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

async fn send(sink: &mut SplitSink<WebSocket, Message>, payload: Bytes) -> Result<(), axum::Error> {
    let message = match Utf8Bytes::try_from(payload.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(payload),
    };
    sink.send(message).await
}

/// Sends a final error message and closes the socket.
async fn finish(
    sink: &mut SplitSink<WebSocket, Message>,
    payload: Bytes,
    status: &Status,
) -> Result<(), axum::Error> {
    tracing::debug!(code = ?status.code(), message = status.message(), "stream ended with an error");
    send(sink, payload).await?;
    sink.close().await
}
