//! The router behind a real HTTP/1.1 server: connection handling after errors.

use gateway_runtime::{
    GatewayRouter, GrpcTransport, MessageLimits, ServiceClient,
    binding::{Binding, BodyRule, PathTemplate, Segment},
    transport,
};
use http::Method;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

#[derive(Default, Deserialize, Serialize)]
#[serde(default)]
struct Message {
    key: String,
}

/// The test route's client, which answers without the transport.
struct Client;

impl ServiceClient for Client {
    fn from_transport(_transport: GrpcTransport, _limits: MessageLimits) -> Self {
        Self
    }
}

static ECHO: Binding = Binding {
    rpc: "test.Echo/Echo",
    method: Method::POST,
    template: PathTemplate {
        segments: &[Segment::Literal("v1"), Segment::Literal("echo")],
        verb: None,
    },
    body: BodyRule::Whole,
    response_body: None,
    query_fields: &[],
};

async fn echo(
    _client: Client,
    request: tonic::Request<Message>,
) -> Result<tonic::Response<Message>, tonic::Status> {
    Ok(tonic::Response::new(request.into_inner()))
}

async fn start() -> std::net::SocketAddr {
    let transport = transport(tower::service_fn(
        |_request: http::Request<tonic::body::Body>| async {
            Err::<http::Response<tonic::body::Body>, _>(tonic::Status::unavailable("down"))
        },
    ));
    let router = GatewayRouter::new(transport)
        .max_body_bytes(64)
        .unary(&ECHO, echo)
        .into_router();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Reads one response with a `Content-Length` body; returns (head, body).
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_owned)
            })
            .expect("content-length")
            .parse()
            .unwrap();
        if buf.len() >= end + 4 + length {
            let body = String::from_utf8(buf[end + 4..end + 4 + length].to_vec()).unwrap();
            return (head, body);
        }
    }
}

fn request(body: &str) -> String {
    format!(
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn keeps_serving_after_errors() {
    let addr = start().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();

    let oversized = format!(r#"{{"key":"{}"}}"#, "a".repeat(100));
    stream
        .write_all(request(&oversized).as_bytes())
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    assert!(body.contains(r#""code":8"#), "{body}");

    stream
        .write_all(request("not json").as_bytes())
        .await
        .unwrap();
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");

    stream
        .write_all(request(r#"{"key":"Zm9v"}"#).as_bytes())
        .await
        .unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: *")
    );
    assert_eq!(body, r#"{"key":"Zm9v"}"#);
}

#[tokio::test]
async fn huge_bodies_do_not_take_the_server_down() {
    let addr = start().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(&[b' '; 65536]).await;
    let (head, _) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request("{}").as_bytes()).await.unwrap();
    let (head, body) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(body, r#"{"key":""}"#);
}
