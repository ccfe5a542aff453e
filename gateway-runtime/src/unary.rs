//! One unary call: a decoded request message → gRPC → the JSON response.

use std::future::Future;

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use tokio::time::Instant;
use tonic::Status;

use crate::{
    context::RequestContext,
    deadline::{deadline_exceeded, settle},
    error::{error_response, json_response},
    metadata,
};

/// Sends `message` with the context's metadata and deadline through `call`.
///
/// The `Grpc-Timeout` deadline is also enforced locally: a deadline that has passed before the
/// call starts fails it without sending (as a Go client does with an expired context), an
/// upstream that never answers yields `DeadlineExceeded`, and a failure that reports the passed
/// deadline in other words is the same `DeadlineExceeded` (see [`settle`]): always 504
/// `context deadline exceeded`.
pub(crate) async fn call_unary<Req, Resp, Fut>(
    context: &RequestContext,
    message: Req,
    call: impl FnOnce(tonic::Request<Req>) -> Fut,
) -> Result<tonic::Response<Resp>, Status>
where
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let deadline = context.deadline();
    let outcome = match deadline {
        None => call(context.unary_request(message)).await,
        Some(deadline) if Instant::now() >= deadline => Err(deadline_exceeded()),
        Some(deadline) => tokio::time::timeout_at(deadline, call(context.unary_request(message)))
            .await
            .unwrap_or_else(|_| Err(deadline_exceeded())),
    };
    outcome.map_err(|status| settle(status, deadline))
}

/// Renders a unary outcome: 200, `Content-Type: application/json`, the body produced by
/// `encode` (the message, or one field of it) and the response metadata as `Grpc-Metadata-*`
/// headers; or the JSON error.
pub(crate) fn unary_response<Resp>(
    outcome: Result<tonic::Response<Resp>, Status>,
    encode: impl FnOnce(&Resp) -> Result<Bytes, Status>,
) -> Response {
    let (response_metadata, message, _) = match outcome {
        Ok(response) => response.into_parts(),
        Err(status) => return error_response(&status),
    };
    match encode(&message) {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, body);
            metadata::forward_response_metadata(response_metadata, response.headers_mut());
            response
        }
        Err(status) => error_response(&status),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, header};
    use http_body_util::BodyExt;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::codec;

    #[derive(Default, Deserialize, Serialize)]
    #[serde(default)]
    struct Echo {
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        auth: Option<String>,
    }

    async fn echo(request: tonic::Request<Echo>) -> Result<tonic::Response<Echo>, Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .map(|value| value.to_str().unwrap().to_owned());
        let key = request.into_inner().key;
        Ok(tonic::Response::new(Echo { key, auth }))
    }

    #[tokio::test]
    async fn call_unary_is_reusable_outside_the_router() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "t".parse().unwrap());
        let context = RequestContext::from_headers(&headers).unwrap();
        let message: Echo = codec::decode(br#"{"key":"k"}"#).unwrap();
        let outcome = call_unary(&context, message, echo).await;
        let response = unary_response(outcome, codec::encode);
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"key":"k","auth":"t"}"#);
    }
}
