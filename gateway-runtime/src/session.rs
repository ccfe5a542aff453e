//! A hook for layers that watch long-lived exchanges: a [`SessionHook`] put into a request's
//! extensions is called when that request turns into an HTTP stream or a WebSocket session,
//! and what it returns is held until the stream or session ends.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{body::Body, response::Response};
use bytes::Bytes;
use http::StatusCode;
use http_body::Frame;

/// What a request turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// A streamed HTTP response (JSON lines or Server-Sent Events).
    Stream,
    /// An accepted WebSocket.
    WebSocket,
}

/// Held while a session is open; dropped when it ends.
pub type SessionGuard = Box<dyn Send + Sync>;

/// A request extension: called once when the request's stream or WebSocket session opens.
#[derive(Clone)]
pub struct SessionHook(Arc<dyn Fn(SessionKind) -> SessionGuard + Send + Sync>);

impl SessionHook {
    /// A hook calling `open` when a session opens; its result is dropped when it ends.
    pub fn new(open: impl Fn(SessionKind) -> SessionGuard + Send + Sync + 'static) -> Self {
        Self(Arc::new(open))
    }

    /// Opens a session of `kind`.
    pub(crate) fn open(&self, kind: SessionKind) -> SessionGuard {
        (self.0)(kind)
    }
}

impl fmt::Debug for SessionHook {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SessionHook")
    }
}

/// `response` holding the session of `hook` until its body is dropped, if it is a stream
/// (a 200: a stream that failed before its first message is an error response).
pub(crate) fn hold_while_streaming(hook: Option<&SessionHook>, response: Response) -> Response {
    match hook {
        Some(hook) if response.status() == StatusCode::OK => {
            let guard = hook.open(SessionKind::Stream);
            response.map(|body| {
                Body::new(Held {
                    body,
                    _guard: guard,
                })
            })
        }
        _ => response,
    }
}

/// A body with the guard of its session.
struct Held {
    body: Body,
    _guard: SessionGuard,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
