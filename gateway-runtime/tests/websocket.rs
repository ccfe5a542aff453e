//! Calls over WebSocket behind a real HTTP/1.1 server: the handshake's request context
//! (`Grpc-Timeout`) and unary bindings with a rule.

use std::{convert::Infallible, sync::Arc, time::Duration};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use gateway_runtime::{
    GatewayRouter, GrpcTransport, MessageLimits, ServiceClient,
    binding::{Binding, BodyRule, Cardinality, FieldKind, PathTemplate, QueryField, Segment},
    stream::RequestStream,
    transport,
};
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, StreamBody};
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, sync::Mutex};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
use tonic::Status;
use tower::ServiceExt;

/// The final message of a stream whose `Grpc-Timeout` deadline passed, as HTTP streams send it.
const DEADLINE_FRAME: &str = r#"{"error":{"grpc_code":4,"http_code":504,"message":"context deadline exceeded","http_status":"Gateway Timeout","code":4}}"#;

/// How long the tests wait for any one message.
const WAIT: Duration = Duration::from_secs(5);

/// The test routes' client: the transport itself.
struct Client(GrpcTransport);

impl ServiceClient for Client {
    fn from_transport(transport: GrpcTransport, _limits: MessageLimits) -> Self {
        Self(transport)
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct Tick {
    n: u32,
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
struct Book {
    title: String,
    pages: String,
}

#[derive(Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
struct CreateBookRequest {
    parent: String,
    book: Book,
    request_id: String,
    validate: bool,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
struct CreatedBook {
    name: String,
    title: String,
}

/// `POST /v1/ticks`: one tick, then nothing until the client or the deadline ends the stream.
static TICKS: Binding = literal(
    "test.Ticks/Ticks",
    &[Segment::Literal("v1"), Segment::Literal("ticks")],
);

/// `POST /v1/echo-ticks`: every request tick echoed, for as long as the stream is open.
static ECHO_TICKS: Binding = literal(
    "test.Ticks/EchoTicks",
    &[Segment::Literal("v1"), Segment::Literal("echo-ticks")],
);

/// `POST /v1/{parent=shelves/*}/books`, `body: "book"`, `request_id` and `validate` from the
/// query string.
static CREATE_BOOK: Binding = Binding {
    rpc: "test.Books/CreateBook",
    method: Method::POST,
    template: PathTemplate {
        segments: &[
            Segment::Literal("v1"),
            Segment::Variable {
                field: "parent",
                pattern: &[Segment::Literal("shelves"), Segment::Wildcard],
            },
            Segment::Literal("books"),
        ],
        verb: None,
    },
    body: BodyRule::Field("book"),
    response_body: None,
    query_fields: &[
        QueryField {
            path: "request_id",
            json_path: "requestId",
            kind: FieldKind::Text,
            cardinality: Cardinality::Single,
        },
        QueryField {
            path: "validate",
            json_path: "validate",
            kind: FieldKind::Bool,
            cardinality: Cardinality::Single,
        },
    ],
};

/// A `POST` binding on a literal path with the whole message as body.
const fn literal(rpc: &'static str, segments: &'static [Segment]) -> Binding {
    Binding {
        rpc,
        method: Method::POST,
        template: PathTemplate {
            segments,
            verb: None,
        },
        body: BodyRule::Whole,
        response_body: None,
        query_fields: &[],
    }
}

/// The request messages the in-process gRPC server has received.
type Received = Arc<Mutex<Vec<CreateBookRequest>>>;

/// An in-process gRPC server for `/test.Books/CreateBook` (JSON messages in gRPC framing):
/// records each request and answers with the book it names.
fn books_server(received: Received) -> GrpcTransport {
    transport(tower::service_fn(
        move |request: http::Request<tonic::body::Body>| {
            let received = Arc::clone(&received);
            async move {
                assert_eq!(request.uri().path(), "/test.Books/CreateBook");
                let mut frame = request.into_body().collect().await?.to_bytes();
                assert_eq!(frame.get_u8(), 0, "uncompressed");
                let length = frame.get_u32() as usize;
                let message: CreateBookRequest = serde_json::from_slice(&frame[..length]).unwrap();
                let reply = CreatedBook {
                    name: format!("{}/books/{}", message.parent, message.request_id),
                    title: message.book.title.clone(),
                };
                received.lock().await.push(message);
                let payload = serde_json::to_vec(&reply).unwrap();
                let mut data = BytesMut::new();
                data.put_u8(0);
                data.put_u32(payload.len() as u32);
                data.put_slice(&payload);
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                let frames = [
                    http_body::Frame::data(data.freeze()),
                    http_body::Frame::trailers(trailers),
                ];
                let body = tonic::body::Body::new(StreamBody::new(futures_util::stream::iter(
                    frames.into_iter().map(Ok::<_, Infallible>),
                )));
                let response = http::Response::builder()
                    .header("content-type", "application/grpc")
                    .body(body)
                    .unwrap();
                Ok::<_, Status>(response)
            }
        },
    ))
}

/// Sends the request through the transport with tonic's client, like generated code does.
async fn create_book(
    Client(transport): Client,
    request: tonic::Request<CreateBookRequest>,
) -> Result<tonic::Response<CreatedBook>, Status> {
    let mut grpc = tonic::client::Grpc::new(transport);
    grpc.ready()
        .await
        .map_err(|err| Status::unknown(format!("service was not ready: {err}")))?;
    grpc.unary(
        request,
        http::uri::PathAndQuery::from_static("/test.Books/CreateBook"),
        json_codec::JsonCodec::default(),
    )
    .await
}

async fn ticks(
    _client: Client,
    _request: tonic::Request<Tick>,
) -> Result<tonic::Response<impl futures_util::Stream<Item = Result<Tick, Status>>>, Status> {
    let first = futures_util::stream::iter([Ok(Tick { n: 1 })]);
    Ok(tonic::Response::new(
        first.chain(futures_util::stream::pending()),
    ))
}

async fn echo_ticks(
    _client: Client,
    request: tonic::Request<RequestStream<Tick>>,
) -> Result<tonic::Response<impl futures_util::Stream<Item = Result<Tick, Status>>>, Status> {
    Ok(tonic::Response::new(request.into_inner().map(Ok)))
}

fn router(received: Received) -> axum::Router {
    GatewayRouter::new(books_server(received))
        .server_streaming(&TICKS, ticks)
        .bidi_streaming(&ECHO_TICKS, echo_ticks)
        .unary(&CREATE_BOOK, create_book)
        .into_router()
}

/// Serves `router` on a free port.
async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket on `path` with extra handshake headers.
async fn connect(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Socket {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .unwrap();
    socket
}

/// The next text message; `None` once the server closed the socket.
async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => return Some(text.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn http_streams_end_with_the_deadline_frame() {
    // The bidirectional stream's request body stays open, as a watch's does.
    let open_body = || {
        let chunks = futures_util::stream::iter([Ok::<_, Infallible>(Bytes::from(r#"{"n":1}"#))])
            .chain(futures_util::stream::pending());
        axum::body::Body::from_stream(chunks)
    };
    for (path, body) in [
        ("/v1/ticks", axum::body::Body::from("{}")),
        ("/v1/echo-ticks", open_body()),
    ] {
        let request = Request::post(path)
            .header("grpc-timeout", "300m")
            .body(body)
            .unwrap();
        let response = router(Received::default()).oneshot(request).await.unwrap();
        let body = tokio::time::timeout(WAIT, response.into_body().collect())
            .await
            .expect("the deadline ends the stream")
            .unwrap()
            .to_bytes();
        assert_eq!(
            String::from_utf8(body.to_vec()).unwrap(),
            format!("{{\"result\":{{\"n\":1}}}}\n{DEADLINE_FRAME}\n"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn websocket_streams_honour_the_handshake_deadline() {
    let addr = serve(router(Received::default())).await;

    let mut socket = connect(addr, "/v1/ticks", &[("grpc-timeout", "300m")]).await;
    socket.send(Message::text("{}")).await.unwrap();
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(r#"{"result":{"n":1}}"#)
    );
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(DEADLINE_FRAME)
    );
    assert_eq!(next_text(&mut socket).await, None);

    let mut socket = connect(addr, "/v1/echo-ticks", &[("grpc-timeout", "300m")]).await;
    socket.send(Message::text(r#"{"n":7}"#)).await.unwrap();
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(r#"{"result":{"n":7}}"#)
    );
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(DEADLINE_FRAME)
    );
    assert_eq!(next_text(&mut socket).await, None);
}

#[tokio::test]
async fn websocket_streams_without_a_deadline_stay_open() {
    let addr = serve(router(Received::default())).await;
    let mut socket = connect(addr, "/v1/echo-ticks", &[]).await;
    socket.send(Message::text(r#"{"n":1}"#)).await.unwrap();
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(r#"{"result":{"n":1}}"#)
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    socket.send(Message::text(r#"{"n":2}"#)).await.unwrap();
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(r#"{"result":{"n":2}}"#)
    );
}

#[tokio::test]
async fn websocket_unary_bindings_apply_their_rule() {
    let received = Received::default();
    let addr = serve(router(Arc::clone(&received))).await;
    let mut socket = connect(addr, "/v1/shelves/s1/books?requestId=r1&validate=true", &[]).await;
    socket
        .send(Message::text(r#"{"title":"Dune","pages":"412"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut socket).await.as_deref(),
        Some(r#"{"name":"shelves/s1/books/r1","title":"Dune"}"#)
    );
    assert_eq!(
        *received.lock().await,
        [CreateBookRequest {
            parent: "shelves/s1".into(),
            book: Book {
                title: "Dune".into(),
                pages: "412".into(),
            },
            request_id: "r1".into(),
            validate: true,
        }]
    );

    // A bad query parameter is the same JSON error as over HTTP, and the socket stays open.
    let mut socket = connect(addr, "/v1/shelves/s2/books?validate=maybe", &[]).await;
    socket.send(Message::text("{}")).await.unwrap();
    let message = "invalid query parameter validate=maybe: expected true or false";
    assert_eq!(
        next_text(&mut socket).await,
        Some(format!(
            r#"{{"error":"{message}","code":3,"message":"{message}"}}"#
        ))
    );
    socket.send(Message::text("{}")).await.unwrap();
    assert!(next_text(&mut socket).await.is_some());
    assert_eq!(received.lock().await.len(), 1);
}

/// A JSON codec so the tests can drive tonic's real client without generated code.
mod json_codec {
    use std::marker::PhantomData;

    use bytes::{Buf, BufMut};
    use serde::{Serialize, de::DeserializeOwned};
    use tonic::{
        Status,
        codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    };

    pub struct JsonCodec<E, D>(PhantomData<fn() -> (E, D)>);

    impl<E, D> Default for JsonCodec<E, D> {
        fn default() -> Self {
            Self(PhantomData)
        }
    }

    pub struct JsonEncoder<E>(PhantomData<fn() -> E>);
    pub struct JsonDecoder<D>(PhantomData<fn() -> D>);

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
            serde_json::to_writer(dst.writer(), &item)
                .map_err(|err| Status::internal(err.to_string()))
        }
    }

    impl<D: DeserializeOwned> Decoder for JsonDecoder<D> {
        type Item = D;
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
            serde_json::from_reader(src.reader())
                .map(Some)
                .map_err(|err| Status::internal(err.to_string()))
        }
    }
}
