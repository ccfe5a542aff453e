//! The route table builder.

use std::{collections::BTreeMap, future::Future, sync::Arc};

use axum::{
    Router,
    extract::{
        FromRequestParts, RawPathParams, Request,
        ws::{WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::Response,
    routing::{MethodFilter, MethodRouter},
};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::{Serialize, de::DeserializeOwned};
use tonic::{Code, Status};

use futures_util::Stream;

use crate::{
    GrpcTransport,
    binding::{Binding, request::Captures, template::BindingRoute},
    body::{DEFAULT_MAX_BODY_BYTES, read_body},
    client::{MessageLimits, ServiceClient},
    codec,
    cors::cors,
    error::error_response,
    error::{error_body, json_response, method_not_allowed, not_found},
    stream::{self, RequestStream},
    unary::{call_unary, try_call_message, unary_response_with},
    websocket,
};

/// Settings fixed when the router is built.
#[derive(Clone)]
struct Build {
    transport: GrpcTransport,
    max_body_bytes: usize,
    limits: MessageLimits,
}

/// Creates a route's endpoint once the final settings are known.
type MakeEndpoint = Box<dyn FnOnce(&Build) -> MethodRouter + Send>;

/// Serves one accepted WebSocket with the (auth-completed) handshake headers.
type WebSocketHandler = Arc<dyn Fn(WebSocket, HeaderMap) -> BoxFuture<'static, ()> + Send + Sync>;

/// Creates a route's WebSocket handler once the final settings are known.
type MakeWebSocket = Box<dyn FnOnce(&Build) -> WebSocketHandler + Send>;

/// One registered route.
struct Route {
    path: String,
    /// The HTTP method of a binding; `None` for custom routes.
    method: Option<Method>,
    make: MakeEndpoint,
    websocket: Option<MakeWebSocket>,
}

/// Builder for the gateway's HTTP router.
///
/// Routes and settings may be given in any order; everything is assembled by
/// [`GatewayRouter::into_router`].
pub struct GatewayRouter {
    transport: GrpcTransport,
    max_body_bytes: usize,
    limits: MessageLimits,
    aliases: Vec<(String, Vec<String>)>,
    routes: Vec<Route>,
}

impl GatewayRouter {
    /// Starts an empty router whose calls go through `transport`.
    pub fn new(transport: GrpcTransport) -> Self {
        Self {
            transport,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            limits: MessageLimits::default(),
            aliases: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Also serve every route registered under `canonical` (e.g. `"/v3/"`) under each alias
    /// prefix (e.g. `"/v3beta/"`, `"/v3alpha/"`). May be called before or after routes are
    /// added.
    pub fn prefix_aliases(mut self, canonical: &str, aliases: &[&str]) -> Self {
        self.aliases.push((
            canonical.to_owned(),
            aliases.iter().map(|alias| (*alias).to_owned()).collect(),
        ));
        self
    }

    /// Maximum request body size in bytes (default 16 MiB). Larger bodies get a 413 JSON error.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Message size limits of every generated client (default: none).
    pub fn message_limits(mut self, limits: MessageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Registers a unary RPC binding of any `google.api.http` form: a literal path with the
    /// whole message as body takes the fast path; path variables, query parameters, a body
    /// bound to one field or none, and `response_body` are merged as [`crate::binding`]
    /// describes.
    ///
    /// # Panics
    ///
    /// If the binding's method is not one of the standard HTTP methods.
    pub fn unary<C, Req, Resp, F, Fut>(self, binding: &'static Binding, call: F) -> Self
    where
        C: ServiceClient,
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        F: Fn(C, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
    {
        let route = Arc::new(BindingRoute::compile(binding));
        let path = route.path.clone();
        let websocket = call.clone();
        self.endpoint(
            binding.method.clone(),
            path,
            move |build, request: Request| {
                let transport = build.transport.clone();
                let limit = build.max_body_bytes;
                let call = with_client(call.clone(), build.limits);
                let route = Arc::clone(&route);
                async move {
                    let (mut parts, body) = request.into_parts();
                    if route.is_whole_body() {
                        let body: Bytes = match read_body(body, limit).await {
                            Ok(body) => body,
                            Err(response) => return response,
                        };
                        return call_unary(transport, &parts.headers, &body, call).await;
                    }
                    let path = match RawPathParams::from_request_parts(&mut parts, &()).await {
                        Ok(path) => path,
                        Err(rejection) => {
                            return error_response(&Status::invalid_argument(format!(
                                "invalid path: {rejection}"
                            )));
                        }
                    };
                    let captures: Captures = path
                        .iter()
                        .map(|(key, value)| (key.to_owned(), value.to_owned()))
                        .collect();
                    if !route.matches_verb(&captures) {
                        return crate::error::not_found();
                    }
                    let body = match read_body(body, limit).await {
                        Ok(body) => body,
                        Err(response) => return response,
                    };
                    let message = route
                        .request_json(&captures, parts.uri.query(), &body)
                        .and_then(codec::decode_value::<Req>);
                    let outcome = match message {
                        Ok(message) => {
                            try_call_message(transport, &parts.headers, message, call).await
                        }
                        Err(status) => Err(status),
                    };
                    match outcome {
                        Ok(response) => unary_response_with(response, |m| route.response_json(m)),
                        Err(status) => error_response(&status),
                    }
                }
            },
            move |build, socket, headers| {
                let transport = build.transport.clone();
                let call = with_client(websocket.clone(), build.limits);
                websocket::unary(socket, headers, transport, call)
            },
        )
    }

    /// Registers a server-streaming RPC binding: the body is the request message, and every
    /// response message is streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn server_streaming<C, Req, Resp, S, F, Fut>(
        self,
        binding: &'static Binding,
        call: F,
    ) -> Self
    where
        C: ServiceClient,
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: Fn(C, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
    {
        let path = BindingRoute::compile(binding).path;
        let websocket = call.clone();
        self.endpoint(
            binding.method.clone(),
            path,
            move |build, request: Request| {
                let transport = build.transport.clone();
                let limit = build.max_body_bytes;
                let call = with_client(call.clone(), build.limits);
                async move {
                    let (parts, body) = request.into_parts();
                    let body = match read_body(body, limit).await {
                        Ok(body) => body,
                        Err(response) => return response,
                    };
                    stream::server_streaming(&parts.headers, &body, |request| {
                        call(transport, request)
                    })
                    .await
                }
            },
            move |build, socket, headers| {
                let transport = build.transport.clone();
                let call = with_client(websocket.clone(), build.limits);
                websocket::server_streaming(socket, headers, move |request| {
                    call(transport, request)
                })
            },
        )
    }

    /// Registers a bidirectional-streaming RPC binding: the body is a sequence of JSON request
    /// messages, each sent upstream as soon as it has arrived, and every response message is
    /// streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn bidi_streaming<C, Req, Resp, S, F, Fut>(self, binding: &'static Binding, call: F) -> Self
    where
        C: ServiceClient,
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: Fn(C, tonic::Request<RequestStream<Req>>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
    {
        let path = BindingRoute::compile(binding).path;
        let websocket = call.clone();
        self.endpoint(
            binding.method.clone(),
            path,
            move |build, request: Request| {
                let transport = build.transport.clone();
                let limit = build.max_body_bytes;
                let call = with_client(call.clone(), build.limits);
                async move {
                    let (parts, body) = request.into_parts();
                    stream::bidi_streaming(&parts.headers, body, limit, |request| {
                        call(transport, request)
                    })
                    .await
                }
            },
            move |build, socket, headers| {
                let transport = build.transport.clone();
                let call = with_client(websocket.clone(), build.limits);
                websocket::bidi_streaming(socket, headers, move |request| call(transport, request))
            },
        )
    }

    /// Registers a binding: `serve` answers HTTP requests with `method` on `path`, and
    /// `serve_websocket` serves WebSocket upgrades of `path`; both get the final settings.
    fn endpoint<H, Fut, W, WFut>(
        mut self,
        method: Method,
        path: String,
        serve: H,
        serve_websocket: W,
    ) -> Self
    where
        H: Fn(&Build, Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
        W: Fn(&Build, WebSocket, HeaderMap) -> WFut + Send + Sync + 'static,
        WFut: Future<Output = ()> + Send + 'static,
    {
        let filter = method_filter(method.clone());
        let make: MakeEndpoint = Box::new(move |build: &Build| {
            let build = Arc::new(build.clone());
            axum::routing::on(filter, move |request: Request| {
                let build = Arc::clone(&build);
                let serve = serve.clone();
                async move { serve(&build, request).await }
            })
        });
        let websocket: MakeWebSocket = Box::new(move |build: &Build| {
            let build = build.clone();
            let handler: WebSocketHandler =
                Arc::new(move |socket, headers| Box::pin(serve_websocket(&build, socket, headers)));
            handler
        });
        self.routes.push(Route {
            path,
            method: Some(method),
            make,
            websocket: Some(websocket),
        });
        self
    }

    /// Registers a client-streaming binding, which is not served: it answers 501 with the JSON
    /// error shape, gRPC code `Unimplemented` and a message naming `binding.rpc`.
    ///
    /// # Panics
    ///
    /// If the binding's method is not one of the standard HTTP methods.
    pub fn unsupported(mut self, binding: &'static Binding) -> Self {
        let method = binding.method.clone();
        let rpc = binding.rpc;
        let path = BindingRoute::compile(binding).path;
        let filter = method_filter(method.clone());
        let body = error_body(
            Code::Unimplemented,
            &format!("streaming method {rpc} is not supported by this gateway yet"),
        );
        let make: MakeEndpoint = Box::new(move |_: &Build| {
            axum::routing::on(filter, move || {
                let body = body.clone();
                async move { json_response(StatusCode::NOT_IMPLEMENTED, body) }
            })
        });
        self.routes.push(Route {
            path,
            method: Some(method),
            make,
            websocket: None,
        });
        self
    }

    /// Adds a non-generated route (e.g. `/version`, `/health`) with access to the transport as
    /// axum state.
    ///
    /// Its unmatched methods get the JSON 405 like every other route, so `method_router`
    /// should not set a fallback of its own.
    pub fn route(mut self, path: &str, method_router: MethodRouter<GrpcTransport>) -> Self {
        let make: MakeEndpoint =
            Box::new(move |build: &Build| method_router.with_state(build.transport.clone()));
        self.routes.push(Route {
            path: path.to_owned(),
            method: None,
            make,
            websocket: None,
        });
        self
    }

    /// Finishes: an [`axum::Router`] with CORS headers on every response, `OPTIONS` on any path
    /// → 200 with an empty body, an unknown path → 404 JSON error, a known path with a wrong
    /// method → 405 JSON error with an `Allow` header.
    ///
    /// # Panics
    ///
    /// If two registrations (including alias expansions) serve the same method on the same
    /// path, or a path is not a valid axum route path.
    pub fn into_router(self) -> Router {
        let build = Build {
            transport: self.transport,
            max_body_bytes: self.max_body_bytes,
            limits: self.limits,
        };

        let mut by_path: BTreeMap<String, PathRoutes> = BTreeMap::new();
        for route in self.routes {
            let endpoint = (route.make)(&build);
            let websocket = route.websocket.map(|make| make(&build));
            let mut paths = vec![route.path.clone()];
            for (canonical, aliases) in &self.aliases {
                if let Some(rest) = route.path.strip_prefix(canonical.as_str()) {
                    paths.extend(aliases.iter().map(|alias| format!("{alias}{rest}")));
                }
            }
            for path in paths {
                by_path.entry(path).or_default().add(
                    endpoint.clone(),
                    route.method.as_ref(),
                    websocket.clone(),
                );
            }
        }

        by_path
            .into_iter()
            .fold(Router::new(), |router, (path, routes)| {
                router.route(&path, routes.finish())
            })
            .fallback(not_found_handler)
            .layer(axum::middleware::from_fn(cors))
    }
}

/// Everything served at one path.
#[derive(Default)]
struct PathRoutes {
    methods: Option<MethodRouter>,
    /// Methods of the bindings served here (for the `Allow` header).
    allow: Vec<Method>,
    has_get: bool,
    websocket: Option<WebSocketHandler>,
}

impl PathRoutes {
    fn add(
        &mut self,
        endpoint: MethodRouter,
        method: Option<&Method>,
        websocket: Option<WebSocketHandler>,
    ) {
        self.methods = Some(match self.methods.take() {
            Some(existing) => existing.merge(endpoint),
            None => endpoint,
        });
        self.has_get |= method.is_none_or(|m| m == Method::GET);
        if let Some(method) = method
            && !self.allow.contains(method)
        {
            self.allow.push(method.clone());
        }
        if self.websocket.is_none() {
            self.websocket = websocket;
        }
    }

    /// The method router, with WebSocket upgrades (`GET`) unless a binding uses `GET` itself,
    /// and a JSON 405 whose `Allow` header lists the bindings' methods.
    fn finish(self) -> MethodRouter {
        let methods = self.methods.unwrap_or_default();
        if self.allow.is_empty() {
            return methods.fallback(method_not_allowed_handler);
        }
        let allow: Vec<&str> = self.allow.iter().map(Method::as_str).collect();
        let allow = HeaderValue::from_str(&allow.join(",")).expect("method names are valid");
        let methods = match self.websocket {
            Some(handler) if !self.has_get => {
                methods.merge(websocket_route(handler, allow.clone()))
            }
            _ => methods,
        };
        methods.fallback(move || {
            let allow = allow.clone();
            async move { method_not_allowed_with(allow) }
        })
    }
}

/// The JSON 405 with an explicit `Allow` header.
fn method_not_allowed_with(allow: HeaderValue) -> Response {
    let mut response = method_not_allowed();
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

/// `GET` with a WebSocket upgrade hands the socket to `handler`; a plain `GET` is a 405 naming
/// the methods in `allow`.
fn websocket_route(handler: WebSocketHandler, allow: HeaderValue) -> MethodRouter {
    axum::routing::get(
        move |headers: HeaderMap, upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>| {
            let handler = Arc::clone(&handler);
            let allow = allow.clone();
            async move {
                let Ok(upgrade) = upgrade else {
                    return method_not_allowed_with(allow);
                };
                let (headers, bearer) = websocket::handshake_headers(&headers);
                let upgrade = if bearer {
                    upgrade.protocols([websocket::BEARER_PROTOCOL])
                } else {
                    upgrade
                };
                upgrade.on_upgrade(move |socket| handler(socket, headers))
            }
        },
    )
}

fn method_filter(method: Method) -> MethodFilter {
    MethodFilter::try_from(method).unwrap_or_else(|err| panic!("unsupported route method: {err}"))
}

async fn not_found_handler() -> Response {
    not_found()
}

async fn method_not_allowed_handler() -> Response {
    method_not_allowed()
}

/// `call` on a client built from the transport with `limits`.
fn with_client<C, Req, Out, F>(
    call: F,
    limits: MessageLimits,
) -> impl Fn(GrpcTransport, tonic::Request<Req>) -> Out + Clone
where
    C: ServiceClient,
    F: Fn(C, tonic::Request<Req>) -> Out + Clone,
{
    move |transport, request| call(C::from_transport(transport, limits), request)
}
