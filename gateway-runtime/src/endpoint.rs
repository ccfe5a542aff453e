//! One endpoint per binding: how its HTTP requests and its WebSocket sessions are served.
//!
//! A [`BindingEndpoint`] is a binding's compiled route and its generated call; as [`Unary`] it
//! serves every binding form (the request message from the body alone, or merged from path
//! variables, query and body as [`crate::binding`] describes), as [`ServerStream`] and
//! [`BidiStream`] the streaming calls. The router registers any [`Endpoint`] the same way.

use std::{future::Future, marker::PhantomData, sync::Arc};

use axum::{
    body::Body,
    extract::{FromRequestParts, RawPathParams, ws::WebSocket},
    response::Response,
};
use bytes::Bytes;
use futures_util::Stream;
use http::request::Parts;
use serde::{Serialize, de::DeserializeOwned};
use tonic::Status;

use crate::{
    ServiceClient,
    binding::{Binding, request::Captures, template::BindingRoute},
    body::read_body,
    codec,
    context::RequestContext,
    error::{error_body, error_response, not_found},
    session::hold_while_streaming,
    state::GatewayState,
    stream::{self, Framing, RequestStream},
    unary::{call_unary, unary_response},
    websocket,
};

/// What a WebSocket session takes from its handshake.
pub(crate) struct Handshake {
    /// The calls' context, or why the handshake's headers or path are unusable.
    pub(crate) context: Result<RequestContext, Status>,
    /// The upgrade path's captures.
    pub(crate) captures: Captures,
    /// The upgrade's query string.
    pub(crate) query: Option<String>,
}

/// One HTTP request to a binding.
pub(crate) struct HttpExchange {
    pub(crate) state: GatewayState,
    pub(crate) context: RequestContext,
    pub(crate) parts: Parts,
    pub(crate) body: Body,
}

/// One accepted WebSocket of a binding.
pub(crate) struct WebSocketSession {
    pub(crate) state: GatewayState,
    pub(crate) handshake: Handshake,
    pub(crate) socket: WebSocket,
}

/// How one binding is served.
pub(crate) trait Endpoint: Send + Sync + 'static {
    /// Answers one HTTP request.
    fn serve_http(self: Arc<Self>, exchange: HttpExchange)
    -> impl Future<Output = Response> + Send;

    /// Serves one accepted WebSocket.
    fn serve_websocket(
        self: Arc<Self>,
        session: WebSocketSession,
    ) -> impl Future<Output = ()> + Send;
}

/// A binding served as `Kind` ([`Unary`], [`ServerStream`] or [`BidiStream`]) with its
/// generated call closure, which takes a client `C` and a request of `Req`.
pub(crate) struct BindingEndpoint<Kind, C, Req, F> {
    route: BindingRoute,
    call: F,
    signature: PhantomData<fn(Kind, C, Req)>,
}

impl<Kind, C, Req, F> BindingEndpoint<Kind, C, Req, F> {
    /// Where the binding is served.
    pub(crate) fn route(&self) -> &BindingRoute {
        &self.route
    }
}

/// Unary calls, of every binding form.
pub(crate) enum Unary {}

/// Server-streaming calls: the body is the request message.
pub(crate) enum ServerStream {}

/// Bidirectional-streaming calls: the body is a sequence of request messages.
pub(crate) enum BidiStream {}

impl<Kind, C, Req, Out, F> BindingEndpoint<Kind, C, Req, F>
where
    C: ServiceClient,
    F: Fn(C, tonic::Request<Req>) -> Out,
{
    /// Serves `binding` with `call`.
    pub(crate) fn new(binding: &'static Binding, call: F) -> Self {
        Self {
            route: BindingRoute::compile(binding),
            call,
            signature: PhantomData,
        }
    }

    /// Sends `request` on a client built from `state`.
    fn invoke(&self, state: &GatewayState, request: tonic::Request<Req>) -> Out {
        (self.call)(state.client(), request)
    }

    /// A unary call's outcome for one request body: the message decoded from the body alone,
    /// or merged from the path captures, query and body.
    async fn unary_outcome<Resp>(
        &self,
        state: &GatewayState,
        context: &RequestContext,
        captures: &Captures,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<tonic::Response<Resp>, Status>
    where
        Req: DeserializeOwned + Default,
        Out: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let message: Req = if self.route.is_whole_body() {
            codec::decode(body)?
        } else {
            self.route
                .request_json(captures, query, body)
                .and_then(codec::decode_value)?
        };
        call_unary(context, message, |request| self.invoke(state, request)).await
    }
}

impl<C, Req, Resp, F, Fut> Endpoint for BindingEndpoint<Unary, C, Req, F>
where
    C: ServiceClient,
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(C, tonic::Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    async fn serve_http(self: Arc<Self>, exchange: HttpExchange) -> Response {
        let HttpExchange {
            state,
            context,
            mut parts,
            body,
        } = exchange;
        let captures = match captures(&mut parts).await {
            Ok(captures) => captures,
            Err(status) => return error_response(&status),
        };
        if !self.route.matches_verb(&captures) {
            return not_found();
        }
        let body = match read_body(body, state.max_body_bytes).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let outcome = self
            .unary_outcome(&state, &context, &captures, parts.uri.query(), &body)
            .await;
        unary_response(outcome, |message| self.route.response_json(message))
    }

    async fn serve_websocket(self: Arc<Self>, session: WebSocketSession) {
        let WebSocketSession {
            state,
            handshake,
            socket,
        } = session;
        let (endpoint, state, handshake) = (&*self, &state, &handshake);
        let answer = move |payload: Bytes| async move {
            let outcome = match &handshake.context {
                Ok(context) => {
                    let query = handshake.query.as_deref();
                    endpoint
                        .unary_outcome(state, context, &handshake.captures, query, &payload)
                        .await
                }
                Err(status) => Err(status.clone()),
            };
            match outcome.and_then(|response| endpoint.route.response_json(response.get_ref())) {
                Ok(reply) => reply,
                Err(status) => error_body(status.code(), status.message()),
            }
        };
        websocket::unary(socket, state.shutdown.clone(), answer).await;
    }
}

impl<C, Req, Resp, S, F, Fut> Endpoint for BindingEndpoint<ServerStream, C, Req, F>
where
    C: ServiceClient,
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    F: Fn(C, tonic::Request<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
{
    async fn serve_http(self: Arc<Self>, exchange: HttpExchange) -> Response {
        let framing = Framing::negotiate(&exchange.parts.headers);
        let body = match read_body(exchange.body, exchange.state.max_body_bytes).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let call = |request| self.invoke(&exchange.state, request);
        let shutdown = exchange.state.shutdown.clone();
        let response =
            stream::server_streaming(&exchange.context, framing, shutdown, &body, call).await;
        hold_while_streaming(exchange.parts.extensions.get(), response)
    }

    async fn serve_websocket(self: Arc<Self>, session: WebSocketSession) {
        let call = |request| self.invoke(&session.state, request);
        let shutdown = session.state.shutdown.clone();
        websocket::server_streaming(session.socket, session.handshake.context, shutdown, call)
            .await;
    }
}

impl<C, Req, Resp, S, F, Fut> Endpoint for BindingEndpoint<BidiStream, C, RequestStream<Req>, F>
where
    C: ServiceClient,
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    S: Stream<Item = Result<Resp, Status>> + Send + 'static,
    F: Fn(C, tonic::Request<RequestStream<Req>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
{
    async fn serve_http(self: Arc<Self>, exchange: HttpExchange) -> Response {
        let framing = Framing::negotiate(&exchange.parts.headers);
        let limit = exchange.state.max_body_bytes;
        let call = |request| self.invoke(&exchange.state, request);
        let shutdown = exchange.state.shutdown.clone();
        let response = stream::bidi_streaming(
            &exchange.context,
            framing,
            shutdown,
            exchange.body,
            limit,
            call,
        )
        .await;
        hold_while_streaming(exchange.parts.extensions.get(), response)
    }

    async fn serve_websocket(self: Arc<Self>, session: WebSocketSession) {
        let call = |request| self.invoke(&session.state, request);
        let shutdown = session.state.shutdown.clone();
        websocket::bidi_streaming(session.socket, session.handshake.context, shutdown, call).await;
    }
}

/// The captures of a request's path, percent-decoded.
pub(crate) async fn captures(parts: &mut Parts) -> Result<Captures, Status> {
    let path = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|rejection| Status::invalid_argument(format!("invalid path: {rejection}")))?;
    Ok(path
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}
