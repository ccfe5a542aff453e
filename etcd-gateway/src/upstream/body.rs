//! Response bodies handed back to the JSON handlers.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// A unary response read completely from the member: its data, then its trailers.
#[derive(Debug, Default)]
pub struct BufferedBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl BufferedBody {
    /// A body of `data` followed by `trailers`.
    pub fn new(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            data: (!data.is_empty()).then_some(data),
            trailers,
        }
    }
}

impl Body for BufferedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(
            self.trailers
                .take()
                .map(|trailers| Ok(Frame::trailers(trailers))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |data| data.len() as u64))
    }
}

/// A streamed response whose transport failures (the member died, the connection was reset)
/// end it with `Unavailable` rather than an HTTP/2 protocol error.
#[derive(Debug)]
pub struct LossIsUnavailable {
    inner: tonic::body::Body,
}

impl LossIsUnavailable {
    /// Wraps a member's response body.
    pub fn new(inner: tonic::body::Body) -> Self {
        Self { inner }
    }
}

impl Body for LossIsUnavailable {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.inner)
            .poll_frame(cx)
            .map_err(|err| connection_lost(&err))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The status of a call whose connection failed while its response was being read.
pub fn connection_lost(err: &tonic::Status) -> tonic::Status {
    match err.code() {
        tonic::Code::Unknown | tonic::Code::Internal => {
            tonic::Status::unavailable(format!("upstream connection lost: {}", err.message()))
        }
        _ => err.clone(),
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_buffered_body_gives_data_then_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let collected = BufferedBody::new(Bytes::from_static(b"abc"), Some(trailers.clone()))
            .collect()
            .await
            .unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"abc"));
    }

    #[test]
    fn protocol_errors_become_unavailable() {
        let status = connection_lost(&tonic::Status::unknown("h2 protocol error: broken pipe"));
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.message(),
            "upstream connection lost: h2 protocol error: broken pipe"
        );
    }
}
