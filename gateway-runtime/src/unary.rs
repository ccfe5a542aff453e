//! One complete unary call: HTTP headers + JSON body → gRPC request → JSON response.

use std::future::Future;

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tonic::Status;

use crate::{
    GrpcTransport, codec,
    error::{error_response, json_response},
    metadata,
};

/// Runs one unary call and renders its outcome as an HTTP response.
///
/// `body` is decoded with [`codec::decode`], the headers become metadata and deadline via
/// [`metadata`], `call` sends the request through `transport`, and the result is rendered with
/// [`unary_response`] or [`error_response`]. A `Grpc-Timeout` deadline is also enforced
/// locally, so an upstream that never answers yields 504 `context deadline exceeded`.
pub async fn call_unary<Req, Resp, F, Fut>(
    transport: GrpcTransport,
    headers: &HeaderMap,
    body: &[u8],
    call: F,
) -> Response
where
    Req: DeserializeOwned + Default,
    Resp: Serialize,
    F: FnOnce(GrpcTransport, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    match try_call_unary(transport, headers, body, call).await {
        Ok(response) => unary_response(response),
        Err(status) => error_response(&status),
    }
}

/// Like [`call_unary`], but returns the gRPC outcome instead of rendering it.
pub async fn try_call_unary<Req, Resp, F, Fut>(
    transport: GrpcTransport,
    headers: &HeaderMap,
    body: &[u8],
    call: F,
) -> Result<tonic::Response<Resp>, Status>
where
    Req: DeserializeOwned + Default,
    F: FnOnce(GrpcTransport, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let message: Req = codec::decode(body)?;
    try_call_message(transport, headers, message, call).await
}

/// Sends an already-decoded request message with the metadata and deadline from `headers`.
pub async fn try_call_message<Req, Resp, F, Fut>(
    transport: GrpcTransport,
    headers: &HeaderMap,
    message: Req,
    call: F,
) -> Result<tonic::Response<Resp>, Status>
where
    F: FnOnce(GrpcTransport, tonic::Request<Req>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
{
    let timeout = metadata::grpc_timeout(headers)?;
    let metadata = metadata::request_metadata(headers)?;
    let request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
    let response = call(transport, request);
    match timeout {
        None => response.await,
        Some(timeout) => tokio::time::timeout(timeout, response)
            .await
            .unwrap_or_else(|_| Err(Status::deadline_exceeded("context deadline exceeded"))),
    }
}

/// Renders a successful unary response: 200, `Content-Type: application/json`, the JSON
/// message as body, and the response metadata as `Grpc-Metadata-*` headers.
pub fn unary_response<Resp: Serialize>(response: tonic::Response<Resp>) -> Response {
    unary_response_with(response, codec::encode)
}

/// Like [`unary_response`], with the body produced by `encode` (e.g. one field of the message).
pub fn unary_response_with<Resp>(
    response: tonic::Response<Resp>,
    encode: impl FnOnce(&Resp) -> Result<bytes::Bytes, Status>,
) -> Response {
    let (response_metadata, message, _) = response.into_parts();
    match encode(&message) {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, body);
            metadata::forward_response_metadata(response_metadata, response.headers_mut());
            response
        }
        Err(status) => error_response(&status),
    }
}
