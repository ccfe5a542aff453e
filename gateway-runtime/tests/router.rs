//! Router behaviour through `tower::ServiceExt::oneshot`, with in-process fake transports.

use std::{convert::Infallible, marker::PhantomData, time::Duration};

use axum::{body::Body, extract::State, response::Response, routing::get};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use gateway_runtime::{
    GatewayRouter, GrpcTransport, MessageLimits, ServiceClient,
    binding::{Binding, BodyRule, PathTemplate, Segment},
    transport,
};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tower::ServiceExt;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct EchoRequest {
    key: String,
    limit: i64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct EchoResponse {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom: Option<String>,
}

/// The test routes' client: the transport itself.
struct Client(GrpcTransport);

impl ServiceClient for Client {
    fn from_transport(transport: GrpcTransport, _limits: MessageLimits) -> Self {
        Self(transport)
    }
}

/// A binding of `rpc` on a literal path with the whole message as body.
const fn literal(rpc: &'static str, method: Method, segments: &'static [Segment]) -> Binding {
    Binding {
        rpc,
        method,
        template: PathTemplate {
            segments,
            verb: None,
        },
        body: BodyRule::Whole,
        response_body: None,
        query_fields: &[],
    }
}

static ECHO: Binding = literal(
    "test.Echo/Echo",
    Method::POST,
    &[Segment::Literal("v1"), Segment::Literal("echo")],
);
static FAIL: Binding = literal(
    "test.Echo/Fail",
    Method::POST,
    &[Segment::Literal("v1"), Segment::Literal("fail")],
);
static HANG: Binding = literal(
    "test.Echo/Hang",
    Method::POST,
    &[Segment::Literal("v1"), Segment::Literal("hang")],
);
static GRPC: Binding = literal(
    "test.Echo/Echo",
    Method::POST,
    &[Segment::Literal("v1"), Segment::Literal("grpc")],
);
static GRPC_PUT: Binding = literal(
    "test.Echo/Echo",
    Method::PUT,
    &[Segment::Literal("v1"), Segment::Literal("grpc")],
);
static WATCH: Binding = literal(
    "test.Watch/Watch",
    Method::POST,
    &[Segment::Literal("v1"), Segment::Literal("watch")],
);

fn ascii(metadata: &tonic::metadata::MetadataMap, key: &str) -> Option<String> {
    metadata.get(key).map(|v| v.to_str().unwrap().to_owned())
}

/// Answers from the request alone, without touching the transport.
async fn echo(
    _client: Client,
    request: tonic::Request<EchoRequest>,
) -> Result<tonic::Response<EchoResponse>, Status> {
    let metadata = request.metadata();
    let message = EchoResponse {
        auth: ascii(metadata, "authorization"),
        timeout: ascii(metadata, "grpc-timeout"),
        custom: ascii(metadata, "x-custom"),
        key: request.get_ref().key.clone(),
    };
    let mut response = tonic::Response::new(message);
    response
        .metadata_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    Ok(response)
}

async fn fail(
    _client: Client,
    _request: tonic::Request<EchoRequest>,
) -> Result<tonic::Response<EchoResponse>, Status> {
    Err(Status::failed_precondition("server: <nope> & \"quoted\""))
}

async fn hang(
    _client: Client,
    _request: tonic::Request<EchoRequest>,
) -> Result<tonic::Response<EchoResponse>, Status> {
    std::future::pending().await
}

/// Sends the request through the transport with tonic's client, like generated code does.
async fn grpc_echo(
    Client(transport): Client,
    request: tonic::Request<EchoRequest>,
) -> Result<tonic::Response<EchoResponse>, Status> {
    let mut grpc = tonic::client::Grpc::new(transport);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("Service was not ready: {}", e)))?;
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static("/test.Echo/Echo"),
        JsonCodec::<EchoRequest, EchoResponse>::default(),
    )
    .await
}

/// A transport whose upstream is unreachable.
fn unreachable_transport() -> GrpcTransport {
    transport(tower::service_fn(
        |_request: http::Request<tonic::body::Body>| async {
            Err::<http::Response<tonic::body::Body>, _>(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))
        },
    ))
}

/// A transport serving `/test.Echo/Echo` with real gRPC framing.
fn fake_grpc_server() -> GrpcTransport {
    transport(tower::service_fn(
        |request: http::Request<tonic::body::Body>| async move {
            assert_eq!(request.uri().path(), "/test.Echo/Echo");
            let (parts, body) = request.into_parts();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let auth = header("authorization");
            let timeout = header("grpc-timeout");
            let custom = header("x-custom");
            let mut frame = body.collect().await?.to_bytes();
            assert_eq!(frame.get_u8(), 0, "uncompressed");
            let len = frame.get_u32() as usize;
            let message: EchoRequest = serde_json::from_slice(&frame[..len]).unwrap();

            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("x-served-by", "fake");
            if message.key == "missing" {
                let response = response
                    .header("grpc-status", "5")
                    .header("grpc-message", "key not found")
                    .body(grpc_body(Vec::new()))
                    .unwrap();
                return Ok::<_, Status>(response);
            }
            let reply = EchoResponse {
                key: message.key,
                auth,
                timeout,
                custom,
            };
            let payload = serde_json::to_vec(&reply).unwrap();
            let mut data = BytesMut::new();
            data.put_u8(0);
            data.put_u32(payload.len() as u32);
            data.put_slice(&payload);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let frames = vec![
                http_body::Frame::data(data.freeze()),
                http_body::Frame::trailers(trailers),
            ];
            Ok(response.body(grpc_body(frames)).unwrap())
        },
    ))
}

fn grpc_body(frames: Vec<http_body::Frame<Bytes>>) -> tonic::body::Body {
    tonic::body::Body::new(StreamBody::new(futures_util::stream::iter(
        frames.into_iter().map(Ok::<_, Infallible>),
    )))
}

async fn version(State(_transport): State<GrpcTransport>) -> Response {
    gateway_runtime::error::json_response(StatusCode::OK, Bytes::from_static(b"{\"v\":\"1\"}"))
}

fn router(transport: GrpcTransport) -> axum::Router {
    GatewayRouter::new(transport)
        .prefix_aliases("/v1/", &["/v1beta/"])
        .max_body_bytes(64)
        .unary(&ECHO, echo)
        .unary(&FAIL, fail)
        .unary(&HANG, hang)
        .unary(&GRPC, grpc_echo)
        .unary(&GRPC_PUT, echo)
        .unsupported(&WATCH)
        .route("/version", get(version))
        .into_router()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(router: axum::Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn post(path: &str, body: &'static str) -> Request<Body> {
    Request::post(path).body(Body::from(body)).unwrap()
}

fn assert_cors(reply: &Reply) {
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert_eq!(
        reply.headers["access-control-allow-methods"],
        "POST, GET, OPTIONS, PUT, DELETE"
    );
    assert_eq!(
        reply.headers["access-control-allow-headers"],
        "accept, content-type, authorization"
    );
}

/// The `grpc-timeout` the echo saw, in microseconds: the time left until the deadline when the
/// call was sent, at most the client's `Grpc-Timeout`.
fn forwarded_timeout(reply: &Reply) -> u64 {
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON body");
    let timeout = body["timeout"].as_str().expect("a forwarded timeout");
    timeout
        .strip_suffix('u')
        .and_then(|micros| micros.parse().ok())
        .unwrap_or_else(|| panic!("not microseconds: {timeout}"))
}

fn assert_json(reply: &Reply, status: StatusCode, body: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.body, body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_cors(reply);
}

#[tokio::test]
async fn unary_success() {
    let request = Request::post("/v1/echo?key=ignored")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "text/plain")
        .header(header::AUTHORIZATION, "Bearer tok.7")
        .header("grpc-metadata-x-custom", "hello")
        .header("x-other", "dropped")
        .body(Body::from(
            r#"{"key":"Zm9v","limit":null} trailing garbage"#,
        ))
        .unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_json(
        &reply,
        StatusCode::OK,
        r#"{"key":"Zm9v","auth":"tok.7","custom":"hello"}"#,
    );
    assert_eq!(
        reply.headers["grpc-metadata-content-type"],
        "application/grpc"
    );
}

#[tokio::test]
async fn empty_body_is_the_default_message() {
    let reply = send(router(unreachable_transport()), post("/v1/echo", "")).await;
    assert_json(&reply, StatusCode::OK, r#"{"key":""}"#);
}

#[tokio::test]
async fn prefix_alias_serves_the_same_route() {
    let reply = send(
        router(unreachable_transport()),
        post("/v1beta/echo", r#"{"key":"YQ=="}"#),
    )
    .await;
    assert_json(&reply, StatusCode::OK, r#"{"key":"YQ=="}"#);

    let reply = send(
        router(unreachable_transport()),
        post("/v1alpha/echo", r#"{"key":"YQ=="}"#),
    )
    .await;
    assert_json(
        &reply,
        StatusCode::NOT_FOUND,
        r#"{"error":"Not Found","code":5,"message":"Not Found"}"#,
    );
}

#[tokio::test]
async fn aliases_may_be_declared_after_routes() {
    let router = GatewayRouter::new(unreachable_transport())
        .unary(&ECHO, echo)
        .prefix_aliases("/v1/", &["/v1beta/", "/v1alpha/"])
        .into_router();
    for path in ["/v1/echo", "/v1beta/echo", "/v1alpha/echo"] {
        let reply = send(router.clone(), post(path, "{}")).await;
        assert_json(&reply, StatusCode::OK, r#"{"key":""}"#);
    }
}

#[tokio::test]
async fn grpc_errors_use_the_json_shape() {
    let reply = send(router(unreachable_transport()), post("/v1/fail", "{}")).await;
    assert_json(
        &reply,
        StatusCode::BAD_REQUEST,
        r#"{"error":"server: <nope> & \"quoted\"","code":9,"message":"server: <nope> & \"quoted\""}"#,
    );
    assert!(!reply.headers.contains_key("grpc-metadata-content-type"));
}

#[tokio::test]
async fn decode_errors_are_invalid_argument() {
    let reply = send(
        router(unreachable_transport()),
        post("/v1/echo", r#"{"key":1}"#),
    )
    .await;
    let message = r#"invalid value for \"key\": expected a string, found 1"#;
    assert_json(
        &reply,
        StatusCode::BAD_REQUEST,
        &format!(r#"{{"error":"{message}","code":3,"message":"{message}"}}"#),
    );

    let reply = send(router(unreachable_transport()), post("/v1/echo", "[1]")).await;
    let message = "invalid request body: expected a JSON object, found an array";
    assert_json(
        &reply,
        StatusCode::BAD_REQUEST,
        &format!(r#"{{"error":"{message}","code":3,"message":"{message}"}}"#),
    );
}

#[tokio::test]
async fn malformed_grpc_timeout_is_rejected() {
    let request = Request::post("/v1/echo")
        .header("grpc-timeout", "bogus")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_json(
        &reply,
        StatusCode::BAD_REQUEST,
        r#"{"error":"invalid grpc-timeout: bogus","code":3,"message":"invalid grpc-timeout: bogus"}"#,
    );
}

#[tokio::test]
async fn grpc_timeout_is_forwarded_and_enforced() {
    let request = Request::post("/v1/echo")
        .header("grpc-timeout", "1S")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    let forwarded = forwarded_timeout(&reply);
    assert_json(
        &reply,
        StatusCode::OK,
        &format!(r#"{{"key":"","timeout":"{forwarded}u"}}"#),
    );
    assert!((900_000..=1_000_000).contains(&forwarded), "{forwarded}");

    let request = Request::post("/v1/hang")
        .header("grpc-timeout", "20m")
        .body(Body::from("{}"))
        .unwrap();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        send(router(unreachable_transport()), request),
    )
    .await
    .expect("the deadline must end the call");
    assert_json(
        &reply,
        StatusCode::GATEWAY_TIMEOUT,
        r#"{"error":"context deadline exceeded","code":4,"message":"context deadline exceeded"}"#,
    );
}

#[tokio::test]
async fn unknown_path_is_404_json() {
    for path in ["/v1/nosuch", "/v1/echo/", "/", "/V1/echo"] {
        let reply = send(router(unreachable_transport()), post(path, "{}")).await;
        assert_json(
            &reply,
            StatusCode::NOT_FOUND,
            r#"{"error":"Not Found","code":5,"message":"Not Found"}"#,
        );
    }
}

#[tokio::test]
async fn wrong_method_is_405_json_with_allow() {
    for method in [Method::GET, Method::DELETE, Method::PATCH] {
        let request = Request::builder()
            .method(method.clone())
            .uri("/v1/echo")
            .body(Body::empty())
            .unwrap();
        let reply = send(router(unreachable_transport()), request).await;
        assert_json(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":"Method Not Allowed","code":12,"message":"Method Not Allowed"}"#,
        );
        assert_eq!(reply.headers[header::ALLOW], "POST", "{method}");
    }

    let request = Request::head("/v1/echo").body(Body::empty()).unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body, "", "no body for HEAD");
    assert_cors(&reply);

    let request = Request::get("/v1/grpc").body(Body::empty()).unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "POST,PUT");

    let reply = send(router(unreachable_transport()), post("/version", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "GET,HEAD");
}

#[tokio::test]
async fn options_is_200_empty_everywhere() {
    for path in ["/v1/echo", "/nowhere", "/version"] {
        let request = Request::options(path).body(Body::empty()).unwrap();
        let reply = send(router(unreachable_transport()), request).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "");
        assert!(!reply.headers.contains_key(header::CONTENT_TYPE));
        assert_cors(&reply);
    }
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let big = "x".repeat(65);
    let message = "request body is larger than the limit of 64 bytes";
    let expected = format!(r#"{{"error":"{message}","code":8,"message":"{message}"}}"#);

    let request = Request::post("/v1/echo")
        .body(Body::from(big.clone()))
        .unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_json(&reply, StatusCode::PAYLOAD_TOO_LARGE, &expected);

    let chunks = futures_util::stream::iter(
        big.into_bytes()
            .chunks(10)
            .map(|c| Ok::<_, Infallible>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let request = Request::post("/v1/echo")
        .body(Body::from_stream(chunks))
        .unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_json(&reply, StatusCode::PAYLOAD_TOO_LARGE, &expected);

    let body: &'static str = Box::leak(format!(r#"{{"key":"{}"}}"#, "y".repeat(54)).into());
    assert_eq!(body.len(), 64);
    let reply = send(router(unreachable_transport()), post("/v1/echo", body)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn unimplemented_stream_is_501() {
    let reply = send(router(unreachable_transport()), post("/v1/watch", "{}")).await;
    let message = "streaming method test.Watch/Watch is not supported by this gateway yet";
    assert_json(
        &reply,
        StatusCode::NOT_IMPLEMENTED,
        &format!(r#"{{"error":"{message}","code":12,"message":"{message}"}}"#),
    );
    let reply = send(router(unreachable_transport()), post("/v1beta/watch", "{}")).await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn custom_routes_are_served() {
    let request = Request::get("/version").body(Body::empty()).unwrap();
    let reply = send(router(unreachable_transport()), request).await;
    assert_json(&reply, StatusCode::OK, r#"{"v":"1"}"#);
}

#[tokio::test]
async fn unreachable_upstream_is_503() {
    let reply = send(
        router(unreachable_transport()),
        post("/v1/grpc", r#"{"key":"a"}"#),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    let value: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(value["code"], 14);
    assert_eq!(value["error"], value["message"]);
    assert!(
        value["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        reply.body
    );
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_cors(&reply);
}

#[tokio::test]
async fn real_grpc_round_trip() {
    let request = Request::post("/v1/grpc")
        .header(header::AUTHORIZATION, "tok.1")
        .header("grpc-metadata-x-custom", "v")
        .header("grpc-timeout", "5S")
        .body(Body::from(r#"{"key":"Zm9v"}"#))
        .unwrap();
    let reply = send(router(fake_grpc_server()), request).await;
    let forwarded = forwarded_timeout(&reply);
    assert_json(
        &reply,
        StatusCode::OK,
        &format!(r#"{{"key":"Zm9v","auth":"tok.1","timeout":"{forwarded}u","custom":"v"}}"#),
    );
    assert!((4_900_000..=5_000_000).contains(&forwarded), "{forwarded}");
    assert_eq!(
        reply.headers["grpc-metadata-content-type"],
        "application/grpc"
    );
    assert_eq!(reply.headers["grpc-metadata-x-served-by"], "fake");
    assert!(!reply.headers.contains_key("grpc-metadata-grpc-status"));
}

#[tokio::test]
async fn upstream_status_maps_to_http() {
    let reply = send(
        router(fake_grpc_server()),
        post("/v1/grpc", r#"{"key":"missing"}"#),
    )
    .await;
    assert_json(
        &reply,
        StatusCode::NOT_FOUND,
        r#"{"error":"key not found","code":5,"message":"key not found"}"#,
    );
}

/// A JSON codec so the tests can drive tonic's real client without generated code.
struct JsonCodec<E, D>(PhantomData<fn() -> (E, D)>);

impl<E, D> Default for JsonCodec<E, D> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

struct JsonEncoder<E>(PhantomData<fn() -> E>);
struct JsonDecoder<D>(PhantomData<fn() -> D>);

impl<E, D> Codec for JsonCodec<E, D>
where
    E: Serialize + Send + 'static,
    D: DeserializeOwned + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = JsonEncoder<E>;
    type Decoder = JsonDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        JsonEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        JsonDecoder(PhantomData)
    }
}

impl<E: Serialize> Encoder for JsonEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        serde_json::to_writer(dst.writer(), &item).map_err(|e| Status::internal(e.to_string()))
    }
}

impl<D: DeserializeOwned> Decoder for JsonDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        serde_json::from_reader(src.reader())
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

#[tokio::test]
async fn unreachable_channel_is_503() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let reply = send(router(transport(channel)), post("/v1/grpc", "{}")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    let value: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(value["code"], 14, "{}", reply.body);
}
