//! Every route over a WebSocket (full duplex, which plain HTTP/1.1 bodies are not in practice).
//!
//! Each text (or binary) message from the client is one request message. Unary routes answer
//! each request with one message: the plain response JSON, or the error JSON. Streaming routes
//! answer with one `{"result":...}` message per response message, and end with an
//! `{"error":{...}}` message if the call fails or its `Grpc-Timeout` deadline passes. The client
//! closing the socket cancels the call.
//!
//! The calls' metadata and deadline come from the handshake's
//! [`RequestContext`](crate::context::RequestContext), which also takes a token from the
//! `Bearer, <token>` subprotocol or a `token` cookie.

use std::{future::Future, pin::Pin};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt, stream::SplitSink};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{sync::oneshot, time::Instant};
use tonic::Status;

use crate::{
    codec,
    context::RequestContext,
    deadline::{deadline_exceeded, settle},
    shutdown::{SHUTTING_DOWN, ShutdownListener, shutting_down},
    stream::{Framing, RequestStream, StreamGuard},
};

/// The sending half of a WebSocket.
type Sink = SplitSink<WebSocket, Message>;

/// Resolves when the gateway begins shutting down.
type ShutdownBegun = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves a unary route: every request message is answered, in order, with what `answer`
/// makes of its payload. On shutdown, the socket is closed (code 1001, going away) once the
/// request being answered, if any, has its answer.
pub(crate) async fn unary<Fut>(
    socket: WebSocket,
    shutdown: ShutdownListener,
    answer: impl Fn(Bytes) -> Fut,
) where
    Fut: Future<Output = Bytes>,
{
    let (mut sink, mut incoming) = socket.split();
    let mut begun: ShutdownBegun = Box::pin(shutdown.begun());
    loop {
        let payload = tokio::select! {
            payload = next_payload(&mut incoming) => payload,
            () = begun.as_mut() => {
                let _ = sink.send(going_away()).await;
                return;
            }
        };
        let payload = match payload {
            Some(Ok(payload)) => payload,
            Some(Err(status)) => {
                let _ = finish(&mut sink, &status).await;
                return;
            }
            None => return,
        };
        if send(&mut sink, answer(payload).await).await.is_err() {
            return;
        }
    }
}

/// The close frame of a socket closed by the gateway's shutdown.
fn going_away() -> Message {
    Message::Close(Some(CloseFrame {
        code: close_code::AWAY,
        reason: Utf8Bytes::from_static(SHUTTING_DOWN),
    }))
}

/// Serves a server-streaming route: the first message is the request.
pub(crate) async fn server_streaming<Req, Resp, S, Fut>(
    socket: WebSocket,
    context: Result<RequestContext, Status>,
    shutdown: ShutdownListener,
    call: impl FnOnce(tonic::Request<Req>) -> Fut,
) where
    Req: DeserializeOwned + Default,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (mut sink, mut incoming) = socket.split();
    let mut begun: ShutdownBegun = Box::pin(shutdown.begun());
    let payload = tokio::select! {
        payload = next_payload(&mut incoming) => payload,
        () = begun.as_mut() => {
            let _ = finish(&mut sink, &shutting_down()).await;
            return;
        }
    };
    let payload = match payload {
        Some(Ok(payload)) => payload,
        Some(Err(status)) => {
            let _ = finish(&mut sink, &status).await;
            return;
        }
        None => return,
    };
    let request = context.and_then(|context| {
        let message = codec::decode(&payload)?;
        Ok((context.stream_request(message), context.deadline()))
    });
    let (request, deadline) = match request {
        Ok(request) => request,
        Err(status) => {
            let _ = send(&mut sink, Framing::WebSocket.error(&status)).await;
            return;
        }
    };
    // Later messages are not requests; reading them notices the client closing.
    let (closed_sender, closed) = oneshot::channel();
    let watcher = tokio::spawn(async move {
        let status = loop {
            match next_payload(&mut incoming).await {
                Some(Ok(_)) => {}
                Some(Err(status)) => break status,
                None => break Status::cancelled("client closed the WebSocket"),
            }
        };
        let _ = closed_sender.send(status);
    });
    let session = Session {
        sink,
        failure: closed,
        deadline,
        shutdown: begun,
        _guard: StreamGuard::new(Some(watcher.abort_handle())),
    };
    session.relay(call(request)).await;
}

/// Serves a bidirectional route: every message is one request message of the stream.
pub(crate) async fn bidi_streaming<Req, Resp, S, Fut>(
    socket: WebSocket,
    context: Result<RequestContext, Status>,
    shutdown: ShutdownListener,
    call: impl FnOnce(tonic::Request<RequestStream<Req>>) -> Fut,
) where
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (mut sink, mut incoming) = socket.split();
    let context = match context {
        Ok(context) => context,
        Err(status) => {
            let _ = send(&mut sink, Framing::WebSocket.error(&status)).await;
            return;
        }
    };
    let (sender, messages) = RequestStream::channel();
    let (failure_sender, failure) = oneshot::channel();
    let reader = tokio::spawn(async move {
        let status = loop {
            let payload = match next_payload(&mut incoming).await {
                Some(Ok(payload)) => payload,
                Some(Err(status)) => break status,
                None => break Status::cancelled("client closed the WebSocket"),
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
    let session = Session {
        sink,
        failure,
        deadline: context.deadline(),
        shutdown: Box::pin(shutdown.begun()),
        _guard: StreamGuard::new(Some(reader.abort_handle())),
    };
    session.relay(call(context.stream_request(messages))).await;
}

/// A streaming call's WebSocket once the request side is being read.
struct Session {
    sink: Sink,
    /// Reports the request side failing or the client closing the socket.
    failure: oneshot::Receiver<Status>,
    /// When the `Grpc-Timeout` deadline passes.
    deadline: Option<Instant>,
    /// When the gateway begins shutting down.
    shutdown: ShutdownBegun,
    /// Stops the request side's reader when the session ends.
    _guard: StreamGuard,
}

/// How a streaming session ends.
enum Ending {
    /// The upstream stream ended: close the socket.
    Complete,
    /// The call failed: send the final error message and close the socket.
    Failed(Status),
    /// The client went away: nothing more to send.
    ClientGone,
}

impl Session {
    /// Writes the call's responses until it ends, fails, its deadline passes, the gateway
    /// shuts down, or the client side fails or closes.
    async fn relay<Resp, S, Fut>(mut self, call: Fut)
    where
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>>,
    {
        let framing = Framing::WebSocket;
        let deadline = until(self.deadline);
        tokio::pin!(deadline);
        let upstream = tokio::select! {
            response = call => response,
            status = &mut self.failure => {
                Err(status.unwrap_or_else(|_| Status::cancelled("client gone")))
            }
            () = &mut deadline => Err(deadline_exceeded()),
            () = self.shutdown.as_mut() => Err(shutting_down()),
        };
        let mut upstream = match upstream {
            Ok(response) => Box::pin(response.into_inner()),
            Err(status) => {
                let _ = finish(&mut self.sink, &settle(status, self.deadline)).await;
                return;
            }
        };
        let ending = loop {
            let frame = tokio::select! {
                message = upstream.next() => match message {
                    Some(Ok(message)) => framing.result(&message),
                    Some(Err(status)) => break Ending::Failed(status),
                    None => break Ending::Complete,
                },
                status = &mut self.failure => match status {
                    Ok(status) if status.code() != tonic::Code::Cancelled => {
                        break Ending::Failed(status);
                    }
                    _ => break Ending::ClientGone,
                },
                () = &mut deadline => break Ending::Failed(deadline_exceeded()),
                () = self.shutdown.as_mut() => break Ending::Failed(shutting_down()),
            };
            if send(&mut self.sink, frame).await.is_err() {
                break Ending::ClientGone;
            }
        };
        match ending {
            Ending::Complete => {
                let _ = self.sink.close().await;
            }
            Ending::Failed(status) => {
                let _ = finish(&mut self.sink, &settle(status, self.deadline)).await;
            }
            Ending::ClientGone => {}
        }
    }
}

/// Resolves at `deadline`; never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The next request payload; `None` when the client closed the socket or it failed, an
/// error (`ResourceExhausted`) when the message is over the size limit.
async fn next_payload<S>(incoming: &mut S) -> Option<Result<Bytes, Status>>
where
    S: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        match incoming.next().await? {
            Ok(Message::Text(text)) => return Some(Ok(Bytes::from(text))),
            Ok(Message::Binary(data)) => return Some(Ok(data)),
            Ok(Message::Close(_)) => return None,
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(err) => return too_large(err).map(Err),
        }
    }
}

/// The error for a message over the size limit, if that is why reading failed.
fn too_large(err: axum::Error) -> Option<Status> {
    use tungstenite::error::{CapacityError, Error};
    match err.into_inner().downcast::<Error>().ok().map(|err| *err) {
        Some(Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
            Some(Status::resource_exhausted(format!(
                "request message is larger than the limit of {max_size} bytes: {size} bytes"
            )))
        }
        _ => None,
    }
}

/// Sends one message: text when the payload is UTF-8 (JSON always is), binary otherwise.
async fn send(sink: &mut Sink, payload: Bytes) -> Result<(), axum::Error> {
    let message = match Utf8Bytes::try_from(payload.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(payload),
    };
    sink.send(message).await
}

/// Sends the final error message of a stream and closes the socket: with code 1009 (message
/// too big) after a `ResourceExhausted` error, else without a code.
async fn finish(sink: &mut Sink, status: &Status) -> Result<(), axum::Error> {
    tracing::debug!(code = ?status.code(), message = status.message(), "stream ended with an error");
    send(sink, Framing::WebSocket.error(status)).await?;
    if status.code() == tonic::Code::ResourceExhausted {
        let close = CloseFrame {
            code: close_code::SIZE,
            reason: Utf8Bytes::from_static("message too big"),
        };
        sink.send(Message::Close(Some(close))).await?;
        return sink.flush().await;
    }
    sink.close().await
}
