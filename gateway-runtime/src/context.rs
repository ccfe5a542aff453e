//! The request context: everything a call takes from the request headers, read once.
//!
//! * gRPC metadata: `Authorization` (a `Bearer ` prefix stripped) and `Grpc-Metadata-*`
//!   (see [`crate::metadata`]);
//! * the deadline from `Grpc-Timeout`, counted from when the request arrived;
//! * on WebSocket handshakes, the token of the `Bearer, <token>` subprotocol or of the `token`
//!   cookie, as etcd's WebSocket proxy takes it, when no `Authorization` header is given.
//!
//! HTTP unary calls, HTTP streams (JSON lines or Server-Sent Events) and WebSocket sessions all
//! build their gRPC requests from it.

use std::time::Duration;

use axum::{extract::FromRequestParts, response::Response};
use http::{HeaderMap, HeaderValue, header, request::Parts};
use tokio::time::Instant;
use tonic::{Status, metadata::MetadataMap};

use crate::{error::error_response, metadata};

/// The subprotocol that carries a token on a WebSocket handshake.
pub(crate) const BEARER_PROTOCOL: &str = "Bearer";

/// What every call of one HTTP request (or WebSocket session) takes from its headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// Forwarded metadata, without the deadline.
    metadata: MetadataMap,
    /// The `Grpc-Timeout`, if given.
    timeout: Option<Duration>,
    /// When the request arrived.
    received: Instant,
}

impl RequestContext {
    /// Reads the context of a request. A malformed `Grpc-Timeout` is
    /// [`tonic::Code::InvalidArgument`] `invalid grpc-timeout: <value>`; a zero one (`0n`)
    /// sets no deadline, as in etcd's gateway (grpc-gateway v1.16 applies only a non-zero
    /// timeout).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, Status> {
        Ok(Self {
            timeout: metadata::grpc_timeout(headers)?.filter(|timeout| !timeout.is_zero()),
            metadata: metadata::forwarded_metadata(headers),
            received: Instant::now(),
        })
    }

    /// Reads the context of a WebSocket handshake: like [`Self::from_headers`], with the token
    /// of the `Bearer, <token>` subprotocol or the `token` cookie as `Authorization` when the
    /// handshake has no such header. Also says whether the client offered the `Bearer`
    /// subprotocol, which the handshake response must then select.
    pub(crate) fn from_handshake(headers: &HeaderMap) -> (Result<Self, Status>, bool) {
        let protocols: Vec<&str> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let bearer = protocols.first() == Some(&BEARER_PROTOCOL);
        let from_protocol = protocols.get(1).filter(|_| bearer).copied();
        let from_cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| pair.trim().strip_prefix("token="));
        let token = from_protocol
            .or(from_cookie)
            .filter(|_| !headers.contains_key(header::AUTHORIZATION))
            .and_then(|token| HeaderValue::from_str(token).ok());
        let context = match token {
            Some(token) => {
                let mut headers = headers.clone();
                headers.insert(header::AUTHORIZATION, token);
                Self::from_headers(&headers)
            }
            None => Self::from_headers(headers),
        };
        (context, bearer)
    }

    /// A unary request: the metadata, and the time left until the deadline forwarded as
    /// `grpc-timeout` (the gateway also enforces the deadline around the call).
    pub(crate) fn unary_request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = self.stream_request(message);
        if let Some(deadline) = self.deadline() {
            request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        request
    }

    /// A streaming request: the metadata only. The gateway enforces a stream's deadline rather
    /// than sending it upstream, so a stream always ends the same way when its deadline passes
    /// (`DeadlineExceeded`), whatever the upstream would have reported.
    pub(crate) fn stream_request<T>(&self, message: T) -> tonic::Request<T> {
        tonic::Request::from_parts(self.metadata.clone(), tonic::Extensions::default(), message)
    }

    /// When the call's deadline passes: the timeout covers the whole call from the request's
    /// arrival, as in grpc-gateway.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|timeout| self.received + timeout)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        Self::from_headers(&parts.headers).map_err(|status| error_response(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(pairs: &[(&str, &str)]) -> (Option<String>, bool) {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let (context, bearer) = RequestContext::from_handshake(&headers);
        let request = context.unwrap().stream_request(());
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap().to_owned());
        (authorization, bearer)
    }

    #[test]
    fn handshake_tokens() {
        assert_eq!(
            handshake(&[("sec-websocket-protocol", "Bearer, tok.1")]),
            (Some("tok.1".into()), true)
        );
        assert_eq!(
            handshake(&[("cookie", "a=b; token=tok.2")]),
            (Some("tok.2".into()), false)
        );
        assert_eq!(
            handshake(&[
                ("authorization", "Bearer tok.3"),
                ("sec-websocket-protocol", "Bearer, tok.1"),
            ]),
            (Some("tok.3".into()), true)
        );
        assert_eq!(
            handshake(&[("sec-websocket-protocol", "json, tok.1")]),
            (None, false)
        );
    }

    #[test]
    fn streams_do_not_forward_the_timeout() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_static("2S"));
        let context = RequestContext::from_headers(&headers).unwrap();
        assert!(
            context
                .stream_request(())
                .metadata()
                .get("grpc-timeout")
                .is_none()
        );
        assert!(context.deadline().unwrap() <= Instant::now() + Duration::from_secs(2));
        assert!(context.deadline().unwrap() > Instant::now());
    }

    #[test]
    fn a_zero_timeout_sets_no_deadline() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_static("0n"));
        let context = RequestContext::from_headers(&headers).unwrap();
        assert_eq!(context.deadline(), None);
    }
}
