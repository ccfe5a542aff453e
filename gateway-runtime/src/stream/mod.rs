//! Streaming RPCs over HTTP: server-streaming and bidirectional calls.
//!
//! Requests: a server-streaming call decodes the body as one message; a bidirectional call
//! decodes the body as a sequence of JSON objects *as the bytes arrive* and sends each upstream
//! at once ([`RequestStream`]); the end of the body half-closes the upstream stream.
//!
//! Responses: every upstream message is written and flushed as soon as it arrives, framed by
//! `Framing` (JSON lines or Server-Sent Events). The HTTP status and headers go out with the first message; an upstream error
//! before it yields the unary error shape and status, an error after it one final error message.
//!
//! Wire framing: each framed message, delimiter included, is one item of the body stream and so
//! one `http_body::Frame`, which HTTP/1.1 writes as one chunk (a frame is never split or merged
//! with another). Client parsers of etcd's gateway rely on one complete message per chunk.
//!
//! Flow control: the response body is pulled by the HTTP connection, so a slow reader stops the
//! gateway from reading the upstream stream, and HTTP/2 flow control then holds the upstream
//! back; nothing is buffered without bound. On the request side at most
//! `REQUEST_QUEUE` (16) decoded messages wait for the upstream before the gateway stops reading
//! the body. A client that goes away drops the response, which cancels the upstream stream and
//! the body reader.

mod framing;
mod json_seq;

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{body::Body, response::Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

pub(crate) use framing::Framing;
use json_seq::JsonSeq;

use crate::{
    codec,
    context::RequestContext,
    deadline::{deadline_exceeded, settle},
    error::{error_response, error_response_with},
    metadata,
    shutdown::{ShutdownListener, shutting_down},
};

/// How many decoded request messages may wait for the upstream stream.
pub(crate) const REQUEST_QUEUE: usize = 16;

/// The request messages of a client-streaming call, in arrival order.
pub struct RequestStream<T> {
    receiver: mpsc::Receiver<T>,
}

impl<T> RequestStream<T> {
    /// A stream fed through the returned sender; dropping the sender ends the stream.
    pub(crate) fn channel() -> (mpsc::Sender<T>, Self) {
        let (sender, receiver) = mpsc::channel(REQUEST_QUEUE);
        (sender, Self { receiver })
    }
}

impl<T> Stream for RequestStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.receiver.poll_recv(cx)
    }
}

/// Resolves when the gateway begins shutting down.
type ShutdownBegun = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A boxed stream of upstream results.
type Upstream<Resp> = Pin<Box<dyn Stream<Item = Result<Resp, Status>> + Send>>;

/// Stops a stream's request reader when the stream is dropped.
pub(crate) struct StreamGuard {
    reader: Option<tokio::task::AbortHandle>,
}

impl StreamGuard {
    /// Guards the stream whose request side is read by `reader` (if any).
    pub(crate) fn new(reader: Option<tokio::task::AbortHandle>) -> Self {
        Self { reader }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

/// Serves a server-streaming call: the body is one request message.
pub(crate) async fn server_streaming<Req, Resp, S, Fut>(
    context: &RequestContext,
    framing: Framing,
    shutdown: ShutdownListener,
    body: &[u8],
    call: impl FnOnce(tonic::Request<Req>) -> Fut,
) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let message = match codec::decode(body) {
        Ok(message) => message,
        Err(status) => return error_response(&status),
    };
    let request = context.stream_request(message);
    respond(
        call(request),
        None,
        context.deadline(),
        (framing, shutdown),
        StreamGuard::new(None),
    )
    .await
}

/// Serves a bidirectional call: the body is decoded incrementally into request messages of
/// at most `max_message_bytes` each.
pub(crate) async fn bidi_streaming<Req, Resp, S, Fut>(
    context: &RequestContext,
    framing: Framing,
    shutdown: ShutdownListener,
    body: Body,
    max_message_bytes: usize,
    call: impl FnOnce(tonic::Request<RequestStream<Req>>) -> Fut,
) -> Response
where
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let (sender, messages) = RequestStream::channel();
    let (error_sender, input_error) = oneshot::channel();
    let reader = tokio::spawn(read_messages(body, max_message_bytes, sender, error_sender));
    let guard = StreamGuard::new(Some(reader.abort_handle()));
    respond(
        call(context.stream_request(messages)),
        Some(input_error),
        context.deadline(),
        (framing, shutdown),
        guard,
    )
    .await
}

/// Reads the body, sending each decoded message upstream as soon as it is complete. A bad
/// message, or a body that breaks off, is reported through `error` and ends the call.
async fn read_messages<Req: DeserializeOwned + Default>(
    mut body: Body,
    max_message_bytes: usize,
    sender: mpsc::Sender<Req>,
    error: oneshot::Sender<Status>,
) {
    let mut seq = JsonSeq::new(max_message_bytes);
    let outcome: Result<(), Status> = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| Status::cancelled(format!("request body: {err}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seq.push(&data);
            while let Some(object) = seq.next_object() {
                let message: Req = codec::decode(&object?)?;
                if sender.send(message).await.is_err() {
                    return Ok(()); // the upstream call is over
                }
            }
        }
        seq.finish()
    }
    .await;
    if let Err(status) = outcome {
        let _ = error.send(status);
    }
}

/// Awaits `future`, unless the request side fails or the deadline passes first.
async fn unless_input_fails<T>(
    future: impl Future<Output = T>,
    input_error: &mut Option<oneshot::Receiver<Status>>,
    deadline: Option<tokio::time::Instant>,
) -> Result<T, Status> {
    let Some(deadline) = deadline else {
        return until_input_fails(future, input_error).await;
    };
    let output = tokio::select! {
        biased;
        () = tokio::time::sleep_until(deadline) => return Err(deadline_exceeded()),
        output = until_input_fails(future, input_error) => output,
    };
    // The timer has millisecond resolution: an answer that came after the deadline but before
    // the timer fired is still late.
    if tokio::time::Instant::now() >= deadline {
        return Err(deadline_exceeded());
    }
    output
}

/// Awaits `result`, unless the gateway begins shutting down first.
async fn unless_shutdown<T>(
    result: impl Future<Output = Result<T, Status>>,
    shutdown: &mut ShutdownBegun,
) -> Result<T, Status> {
    tokio::select! {
        () = shutdown.as_mut() => Err(shutting_down()),
        output = result => output,
    }
}

/// Awaits `future`, unless the request side fails first. A failure already reported wins over
/// an output ready at the same time: the body reader reports a bad message before it stops
/// feeding the call (which may end the call), so the same input always gets the same answer.
async fn until_input_fails<T>(
    future: impl Future<Output = T>,
    input_error: &mut Option<oneshot::Receiver<Status>>,
) -> Result<T, Status> {
    tokio::pin!(future);
    loop {
        let Some(receiver) = input_error else {
            return Ok(future.await);
        };
        tokio::select! {
            biased;
            failure = receiver => match failure {
                Ok(status) => return Err(status),
                Err(_) => *input_error = None, // the body ended cleanly
            },
            output = &mut future => return Ok(output),
        }
    }
}

/// Renders the call: headers with the first message, then one framed message per upstream
/// message.
async fn respond<Resp, S, Fut>(
    call: Fut,
    mut input_error: Option<oneshot::Receiver<Status>>,
    deadline: Option<tokio::time::Instant>,
    (framing, shutdown): (Framing, ShutdownListener),
    guard: StreamGuard,
) -> Response
where
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>>,
{
    let mut shutdown: ShutdownBegun = Box::pin(shutdown.begun());
    let call = unless_input_fails(call, &mut input_error, deadline);
    let response = match unless_shutdown(call, &mut shutdown).await {
        Ok(Ok(response)) => response,
        Ok(Err(status)) => return error_response(&settle(status, deadline)),
        Err(status) => return input_error_response(&status),
    };
    let (response_metadata, upstream, _) = response.into_parts();
    let mut upstream: Upstream<Resp> = Box::pin(upstream);
    let first = unless_input_fails(upstream.next(), &mut input_error, deadline);
    let first = match unless_shutdown(first, &mut shutdown).await {
        Ok(Some(Ok(message))) => Some(framing.result(&message)),
        Ok(Some(Err(status))) => return error_response(&settle(status, deadline)),
        Err(status) => return input_error_response(&status),
        Ok(None) => None,
    };
    let lines = Lines {
        first,
        done: false,
        upstream,
        input_error,
        deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        shutdown,
        framing,
        _guard: guard,
    };
    let mut response = Response::new(Body::from_stream(lines));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, framing.content_type());
    if framing == Framing::ServerSentEvents {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    metadata::forward_response_metadata(response_metadata, headers);
    response
}

/// The error response when the request side fails (or the deadline passes, or the gateway
/// shuts down) before the first response message: a request message over the size limit is a
/// 413, like an oversized unary body.
fn input_error_response(status: &Status) -> Response {
    if status.code() == tonic::Code::ResourceExhausted {
        error_response_with(StatusCode::PAYLOAD_TOO_LARGE, status)
    } else {
        error_response(status)
    }
}

/// The response body: framed upstream messages, ended by the upstream, an error, or the
/// request side failing. Each item is one whole framed message (one HTTP/1.1 chunk).
struct Lines<Resp> {
    first: Option<Bytes>,
    done: bool,
    upstream: Upstream<Resp>,
    input_error: Option<oneshot::Receiver<Status>>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    shutdown: ShutdownBegun,
    framing: Framing,
    _guard: StreamGuard,
}

impl<Resp: Serialize> Stream for Lines<Resp> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(receiver) = &mut this.input_error {
            match Pin::new(receiver).poll(cx) {
                Poll::Ready(Ok(status)) => {
                    this.done = true;
                    return Poll::Ready(Some(Ok(this.framing.error(&status))));
                }
                Poll::Ready(Err(_)) => this.input_error = None,
                Poll::Pending => {}
            }
        }
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.done = true;
            return Poll::Ready(Some(Ok(this.framing.error(&deadline_exceeded()))));
        }
        if this.shutdown.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Ok(this.framing.error(&shutting_down()))));
        }
        match this.upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(Ok(this.framing.result(&message)))),
            Poll::Ready(Some(Err(status))) => {
                this.done = true;
                let deadline = this.deadline.as_ref().map(|sleep| sleep.deadline());
                Poll::Ready(Some(Ok(this.framing.error(&settle(status, deadline)))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
