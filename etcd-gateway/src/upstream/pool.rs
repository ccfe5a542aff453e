//! The members as one gRPC service: picks a member per call, retries what may be retried
//! (see [`super::policy`]) and enforces the default deadline of unary calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Request, Response, Uri, Version};
use http_body_util::BodyExt;
use tokio::time::Instant;
use tonic::body::Body;
use tower::{Service, ServiceExt};

use super::body::{BufferedBody, LossIsUnavailable, connection_lost};
use super::deadline::{grpc_timeout, set_grpc_timeout};
use super::member::{Member, MemberHealth};
use super::policy::{CallKind, Deadline, Failure};

/// The first pause before another round over the members; doubled each round.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// The longest pause between two rounds.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The upstream members, served as one [`Service`] of gRPC calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    members: Arc<[Member]>,
    next: Arc<AtomicUsize>,
    request_timeout: Duration,
}

impl Pool {
    /// A pool over `members`, giving unary calls `request_timeout` unless they ask for less.
    pub fn new(members: Arc<[Member]>, request_timeout: Duration) -> Self {
        Self {
            members,
            next: Arc::new(AtomicUsize::new(0)),
            request_timeout,
        }
    }

    /// Every member's URL and whether it is in rotation, in `--endpoints` order.
    pub fn members(&self) -> Vec<MemberHealth> {
        self.members.iter().map(Member::health).collect()
    }

    /// The members a call tries, in order: those in rotation, from a rotating start so calls
    /// spread evenly; all of them as a last resort when none is in rotation.
    fn order(&self) -> Vec<usize> {
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        let rotated: Vec<usize> = (0..count).map(|offset| (start + offset) % count).collect();
        let healthy: Vec<usize> = rotated
            .iter()
            .copied()
            .filter(|&index| self.members[index].is_healthy())
            .collect();
        if healthy.is_empty() { rotated } else { healthy }
    }

    /// A streaming call: sent once, to the first member in rotation.
    async fn stream(self, request: Request<Body>) -> Result<Response<Body>, tonic::Status> {
        let member = &self.members[self.order()[0]];
        match member.channel().oneshot(request).await {
            Ok(response) => Ok(response.map(|body| Body::new(LossIsUnavailable::new(body)))),
            Err(err) => {
                let failure = Failure::of_transport_error(&err);
                if failure.is_connection_failure() {
                    member.mark_unhealthy(&failure.to_string());
                }
                Err(failure.into_status())
            }
        }
    }

    /// A unary call: buffered, and tried on the members in turn as long as its kind and its
    /// failures allow and its deadline has not passed.
    async fn unary(
        self,
        kind: CallKind,
        request: Request<Body>,
    ) -> Result<Response<Body>, tonic::Status> {
        let limit = Deadline::of(grpc_timeout(request.headers()), self.request_timeout);
        let deadline = Instant::now() + limit.timeout();
        let call = UnaryCall::buffer(request).await?;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let mut last_failure = None;
            for index in self.order() {
                let member = &self.members[index];
                let failure = match call.attempt(member, kind, deadline).await {
                    Ok(response) => return Ok(response),
                    Err(failure) => failure,
                };
                if failure.is_connection_failure() {
                    member.mark_unhealthy(&failure.to_string());
                }
                if !failure.may_retry(kind) {
                    return Err(failure.into_status());
                }
                tracing::debug!(member = member.url(), %failure, "retrying on another member");
                last_failure = Some(failure);
            }
            // Every member failed this round: go on only while one is in rotation (a read
            // during an election), never past the deadline.
            let failure = last_failure.expect("a pool has at least one member");
            let pause_until = Instant::now() + backoff;
            if !self.members.iter().any(Member::is_healthy) || pause_until >= deadline {
                return Err(failure.into_status());
            }
            tokio::time::sleep_until(pause_until).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

impl Service<Request<Body>> for Pool {
    type Response = Response<Body>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, tonic::Status>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let pool = self.clone();
        match CallKind::of(request.uri().path()) {
            CallKind::Stream => Box::pin(pool.stream(request)),
            kind => Box::pin(pool.unary(kind, request)),
        }
    }
}

/// A unary request kept whole so it can be sent again. Its body is one encoded message, which
/// the client's encoder already limited to the largest message size.
struct UnaryCall {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
}

impl UnaryCall {
    async fn buffer(request: Request<Body>) -> Result<Self, tonic::Status> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Self {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            extensions: parts.extensions,
            body,
        })
    }

    /// The request for one attempt, with the time left as its `grpc-timeout`.
    fn request(&self, time_left: Duration) -> Request<Body> {
        let mut request = Request::new(Body::new(http_body_util::Full::new(self.body.clone())));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        *request.extensions_mut() = self.extensions.clone();
        set_grpc_timeout(request.headers_mut(), time_left);
        request
    }

    /// One attempt on `member`, its response read completely. A read also gives up when the
    /// member is taken out of rotation meanwhile (it stopped answering), so it can go elsewhere.
    async fn attempt(
        &self,
        member: &Member,
        kind: CallKind,
        deadline: Instant,
    ) -> Result<Response<Body>, Failure> {
        let time_left = deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            return Err(Failure::DeadlineExceeded);
        }
        let exchange = exchange(member, self.request(time_left));
        let taken_out = async {
            match kind {
                CallKind::Read => member.taken_out().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            result = tokio::time::timeout_at(deadline, exchange) => {
                result.unwrap_or(Err(Failure::DeadlineExceeded))
            }
            () = taken_out => Err(Failure::Lost(format!(
                "member {} stopped answering",
                member.url()
            ))),
        }
    }
}

/// Sends `request` to `member` and reads the whole response. A response whose status is
/// `Unavailable` is a failure (the member could not serve it).
async fn exchange(member: &Member, request: Request<Body>) -> Result<Response<Body>, Failure> {
    let response = member
        .channel()
        .oneshot(request)
        .await
        .map_err(|err| Failure::of_transport_error(&err))?;
    let (parts, body) = response.into_parts();
    let collected = body
        .collect()
        .await
        .map_err(|status| Failure::Lost(connection_lost(&status).message().to_owned()))?;
    let trailers = collected.trailers().cloned();
    let status = tonic::Status::from_header_map(&parts.headers)
        .or_else(|| trailers.as_ref().and_then(tonic::Status::from_header_map));
    if let Some(status) = status.filter(|status| status.code() == tonic::Code::Unavailable) {
        return Err(Failure::Unavailable(status));
    }
    let body = BufferedBody::new(collected.to_bytes(), trailers);
    Ok(Response::from_parts(parts, Body::new(body)))
}
