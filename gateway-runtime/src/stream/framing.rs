//! How stream messages are written: one JSON line per message (`{"result":...}`), or Server-Sent
//! Events for browsers (`data: {"result":...}`), plus the final error message.

use std::io::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use tonic::Status;

use crate::error::http_status;

/// Media type of Server-Sent Events.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The framing of a streamed response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `{"result":<message>}\n` per message (newline-delimited JSON), as etcd's gateway writes.
    JsonLines,
    /// `data: {"result":<message>}\n\n` per message (`text/event-stream`).
    ServerSentEvents,
    /// `{"result":<message>}` per WebSocket text message, without delimiters.
    WebSocket,
}

impl Framing {
    /// Server-Sent Events when the client accepts `text/event-stream`, JSON lines otherwise.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let wants_sse = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains(EVENT_STREAM));
        if wants_sse {
            Self::ServerSentEvents
        } else {
            Self::JsonLines
        }
    }

    /// The `Content-Type` of the response.
    pub fn content_type(self) -> HeaderValue {
        match self {
            Self::JsonLines | Self::WebSocket => HeaderValue::from_static("application/json"),
            Self::ServerSentEvents => HeaderValue::from_static(EVENT_STREAM),
        }
    }

    /// One framed message: `{"result":<message>}` with this framing's delimiters.
    pub fn result<T: Serialize>(self, message: &T) -> Bytes {
        let mut out = BytesMut::with_capacity(256).writer();
        self.open(out.get_mut());
        out.get_mut().put_slice(b"{\"result\":");
        if let Err(err) = serde_json::to_writer(&mut out, message) {
            return self.error(&Status::internal(format!(
                "failed to encode response: {err}"
            )));
        }
        out.get_mut().put_slice(b"}");
        self.close(out.get_mut());
        out.into_inner().freeze()
    }

    /// The final error message of a stream, with the keys of both grpc-gateway generations:
    /// `{"error":{"grpc_code":N,"http_code":H,"message":M,"http_status":"<reason>","code":N}}`.
    pub fn error(self, status: &Status) -> Bytes {
        let code = status.code() as i32;
        let http = http_status(status.code());
        let message = serde_json::to_string(status.message()).expect("a string serializes");
        let reason = http.canonical_reason().unwrap_or("Unknown");
        let mut out = BytesMut::with_capacity(message.len() + 128);
        self.open(&mut out);
        write!(
            (&mut out).writer(),
            r#"{{"error":{{"grpc_code":{code},"http_code":{},"message":{message},"http_status":"{reason}","code":{code}}}}}"#,
            http.as_u16()
        )
        .expect("writing to memory cannot fail");
        self.close(&mut out);
        out.freeze()
    }

    fn open(self, out: &mut BytesMut) {
        if self == Self::ServerSentEvents {
            out.put_slice(b"data: ");
        }
    }

    fn close(self, out: &mut BytesMut) {
        match self {
            Self::JsonLines => out.put_u8(b'\n'),
            Self::ServerSentEvents => out.put_slice(b"\n\n"),
            Self::WebSocket => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Framing;
    use http::{HeaderMap, HeaderValue, header};
    use tonic::Status;

    #[test]
    fn json_lines() {
        let line = Framing::JsonLines.result(&serde_json::json!({"ID": "1"}));
        assert_eq!(&line[..], b"{\"result\":{\"ID\":\"1\"}}\n");
        let error =
            Framing::JsonLines.error(&Status::deadline_exceeded("context deadline exceeded"));
        assert_eq!(
            &error[..],
            &b"{\"error\":{\"grpc_code\":4,\"http_code\":504,\"message\":\"context deadline exceeded\",\"http_status\":\"Gateway Timeout\",\"code\":4}}\n"[..]
        );
    }

    /// Every framed message is one buffer with its delimiter at the end and no other newline,
    /// whatever its size or content: the runtime writes each buffer as one HTTP/1.1 chunk.
    #[test]
    fn one_buffer_per_message_with_a_single_trailing_newline() {
        let big = "x\ny\r".repeat(40 * 1024);
        let line = Framing::JsonLines.result(&serde_json::json!({"value": big}));
        assert!(line.len() > 64 * 1024);
        assert_eq!(line.iter().filter(|byte| **byte == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let event = Framing::ServerSentEvents.result(&serde_json::json!({"value": big}));
        assert!(event.starts_with(b"data: ") && event.ends_with(b"}\n\n"));
        assert_eq!(event.iter().filter(|byte| **byte == b'\n').count(), 2);
        let error = Framing::JsonLines.error(&Status::unavailable("line\nbreak"));
        assert_eq!(
            &error[..],
            &b"{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"line\\nbreak\",\"http_status\":\"Service Unavailable\",\"code\":14}}\n"[..]
        );
    }

    #[test]
    fn server_sent_events() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let framing = Framing::negotiate(&headers);
        assert_eq!(framing, Framing::ServerSentEvents);
        assert_eq!(
            &framing.result(&serde_json::json!({"a": 1}))[..],
            b"data: {\"result\":{\"a\":1}}\n\n"
        );
        assert_eq!(Framing::negotiate(&HeaderMap::new()), Framing::JsonLines);
    }
}
