//! The route table builder.

use std::{collections::BTreeMap, future::Future, sync::Arc};

use axum::{
    Router,
    extract::{
        Request, State,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::Response,
    routing::{MethodFilter, MethodRouter},
};
use futures_util::{Stream, future::BoxFuture};
use http::{HeaderValue, Method, StatusCode, header, request::Parts};
use serde::{Serialize, de::DeserializeOwned};
use tonic::{Code, Status};

use crate::{
    GrpcTransport,
    binding::Binding,
    body::DEFAULT_MAX_BODY_BYTES,
    client::{MessageLimits, ServiceClient},
    context::{BEARER_PROTOCOL, RequestContext},
    cors,
    endpoint::{
        BidiStream, BindingEndpoint, Endpoint, Handshake, HttpExchange, ServerStream, Unary,
        WebSocketSession, captures,
    },
    error::{error_body, json_response, method_not_allowed, not_found},
    session::{SessionHook, SessionKind},
    shutdown::ShutdownListener,
    state::GatewayState,
    stream::RequestStream,
};

/// Serves one accepted WebSocket of a binding.
type WebSocketHandler = Arc<dyn Fn(WebSocketSession) -> BoxFuture<'static, ()> + Send + Sync>;

/// One registered route.
struct Route {
    path: String,
    /// The HTTP method of a binding; `None` for custom routes.
    method: Option<Method>,
    http: MethodRouter<GatewayState>,
    websocket: Option<WebSocketHandler>,
}

/// Builder for the gateway's HTTP router.
///
/// Routes and settings may be given in any order; everything is assembled by
/// [`GatewayRouter::into_router`].
pub struct GatewayRouter {
    state: GatewayState,
    aliases: Vec<(String, Vec<String>)>,
    routes: Vec<Route>,
}

impl GatewayRouter {
    /// Starts an empty router whose calls go through `transport`.
    pub fn new(transport: GrpcTransport) -> Self {
        Self {
            state: GatewayState {
                transport,
                limits: MessageLimits::default(),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                shutdown: ShutdownListener::never(),
            },
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

    /// Maximum request body size in bytes (default 16 MiB; for bidirectional streams, of each
    /// request message). Larger bodies get a 413 JSON error.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.state.max_body_bytes = limit;
        self
    }

    /// Ends every open stream and WebSocket session with a final `Unavailable` error when
    /// `listener`'s shutdown begins (default: never).
    pub fn shutdown(mut self, listener: ShutdownListener) -> Self {
        self.state.shutdown = listener;
        self
    }

    /// Message size limits of every generated client (default: none).
    pub fn message_limits(mut self, limits: MessageLimits) -> Self {
        self.state.limits = limits;
        self
    }

    /// Registers a unary RPC binding of any `google.api.http` form: a literal path with the
    /// whole message as body takes the fast path; path variables, query parameters, a body
    /// bound to one field or none, and `response_body` are merged as [`crate::binding`]
    /// describes, over HTTP and WebSocket alike.
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
        self.endpoint(BindingEndpoint::<Unary, _, _, _>::new(binding, call))
    }

    /// Registers a server-streaming RPC binding: the body is the request message, and every
    /// response message is streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If the binding's method is not one of the standard HTTP methods.
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
        self.endpoint(BindingEndpoint::<ServerStream, _, _, _>::new(binding, call))
    }

    /// Registers a bidirectional-streaming RPC binding: the body is a sequence of JSON request
    /// messages, each sent upstream as soon as it has arrived, and every response message is
    /// streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If the binding's method is not one of the standard HTTP methods.
    pub fn bidi_streaming<C, Req, Resp, S, F, Fut>(self, binding: &'static Binding, call: F) -> Self
    where
        C: ServiceClient,
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: Fn(C, tonic::Request<RequestStream<Req>>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
    {
        self.endpoint(BindingEndpoint::<BidiStream, _, _, _>::new(binding, call))
    }

    /// Registers a client-streaming binding, which is not served: it answers 501 with the JSON
    /// error shape, gRPC code `Unimplemented` and a message naming `binding.rpc`.
    ///
    /// # Panics
    ///
    /// If the binding's method is not one of the standard HTTP methods.
    pub fn unsupported(mut self, binding: &'static Binding) -> Self {
        let route = crate::binding::template::BindingRoute::compile(binding);
        let body = error_body(
            Code::Unimplemented,
            &format!(
                "streaming method {} is not supported by this gateway yet",
                binding.rpc
            ),
        );
        let http = axum::routing::on(method_filter(&binding.method), move || {
            let body = body.clone();
            async move { json_response(StatusCode::NOT_IMPLEMENTED, body) }
        });
        self.routes.push(Route {
            path: route.path,
            method: Some(binding.method.clone()),
            http,
            websocket: None,
        });
        self
    }

    /// Adds a non-generated route (e.g. `/version`, `/health`), served with the
    /// [`GatewayState`] (handlers may also extract `State<GrpcTransport>`).
    ///
    /// Its unmatched methods get the JSON 405 like every other route, so `method_router`
    /// should not set a fallback of its own.
    pub fn route(mut self, path: &str, method_router: MethodRouter<GatewayState>) -> Self {
        self.routes.push(Route {
            path: path.to_owned(),
            method: None,
            http: method_router,
            websocket: None,
        });
        self
    }

    /// Registers a binding's endpoint: its HTTP method on its path, and WebSocket upgrades of
    /// that path.
    fn endpoint<Kind, C, Req, F>(mut self, endpoint: BindingEndpoint<Kind, C, Req, F>) -> Self
    where
        BindingEndpoint<Kind, C, Req, F>: Endpoint,
    {
        let path = endpoint.route().path.clone();
        let method = endpoint.route().binding.method.clone();
        let endpoint = Arc::new(endpoint);
        let http = {
            let endpoint = Arc::clone(&endpoint);
            axum::routing::on(
                method_filter(&method),
                move |State(state): State<GatewayState>,
                      context: RequestContext,
                      request: Request| {
                    let (parts, body) = request.into_parts();
                    let exchange = HttpExchange {
                        state,
                        context,
                        parts,
                        body,
                    };
                    Arc::clone(&endpoint).serve_http(exchange)
                },
            )
        };
        let websocket: WebSocketHandler =
            Arc::new(move |session| Box::pin(Arc::clone(&endpoint).serve_websocket(session)));
        self.routes.push(Route {
            path,
            method: Some(method),
            http,
            websocket: Some(websocket),
        });
        self
    }

    /// Finishes: an [`axum::Router`] with CORS headers on every response, `OPTIONS` on any path
    /// → 200 with an empty body, an unknown path → 404 JSON error, a known path with a wrong
    /// method → 405 JSON error with an `Allow` header; every request traced.
    ///
    /// # Panics
    ///
    /// If two registrations (including alias expansions) serve the same method on the same
    /// path, or a path is not a valid axum route path.
    pub fn into_router(self) -> Router {
        let mut by_path: BTreeMap<String, PathRoutes> = BTreeMap::new();
        for route in self.routes {
            let mut paths = vec![route.path.clone()];
            for (canonical, aliases) in &self.aliases {
                if let Some(rest) = route.path.strip_prefix(canonical.as_str()) {
                    paths.extend(aliases.iter().map(|alias| format!("{alias}{rest}")));
                }
            }
            for path in paths {
                by_path.entry(path).or_default().add(&route);
            }
        }

        let router = by_path
            .into_iter()
            .fold(Router::new(), |router, (path, routes)| {
                router.route(&path, routes.finish())
            })
            .fallback(|| async { not_found() })
            .with_state(self.state);
        cors::layer(router).layer(tower_http::trace::TraceLayer::new_for_http())
    }
}

/// Everything served at one path.
#[derive(Default)]
struct PathRoutes {
    methods: Option<MethodRouter<GatewayState>>,
    /// Methods of the bindings served here (for the `Allow` header).
    allow: Vec<Method>,
    has_get: bool,
    websocket: Option<WebSocketHandler>,
}

impl PathRoutes {
    fn add(&mut self, route: &Route) {
        self.methods = Some(match self.methods.take() {
            Some(existing) => existing.merge(route.http.clone()),
            None => route.http.clone(),
        });
        self.has_get |= route
            .method
            .as_ref()
            .is_none_or(|method| method == Method::GET);
        if let Some(method) = &route.method
            && !self.allow.contains(method)
        {
            self.allow.push(method.clone());
        }
        if self.websocket.is_none() {
            self.websocket.clone_from(&route.websocket);
        }
    }

    /// The method router, with WebSocket upgrades (`GET`) unless a binding uses `GET` itself,
    /// and a JSON 405 whose `Allow` header lists the bindings' methods.
    fn finish(self) -> MethodRouter<GatewayState> {
        let methods = self.methods.unwrap_or_default();
        if self.allow.is_empty() {
            return methods.fallback(|| async { method_not_allowed() });
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

/// `GET` with a WebSocket upgrade hands the socket to `handler`, with the handshake's context,
/// captures and query; a plain `GET` is a 405 naming the methods in `allow`.
fn websocket_route(handler: WebSocketHandler, allow: HeaderValue) -> MethodRouter<GatewayState> {
    axum::routing::get(
        move |State(state): State<GatewayState>,
              mut parts: Parts,
              upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>| {
            let handler = Arc::clone(&handler);
            let allow = allow.clone();
            async move {
                let Ok(upgrade) = upgrade else {
                    return method_not_allowed_with(allow);
                };
                let upgrade = upgrade
                    .max_message_size(state.max_body_bytes)
                    .max_frame_size(state.max_body_bytes);
                let hook = parts.extensions.get::<SessionHook>().cloned();
                let (handshake, bearer) = handshake(&mut parts).await;
                let upgrade = if bearer {
                    upgrade.protocols([BEARER_PROTOCOL])
                } else {
                    upgrade
                };
                upgrade.on_upgrade(move |socket| async move {
                    let _session = hook.map(|hook| hook.open(SessionKind::WebSocket));
                    handler(WebSocketSession {
                        state,
                        handshake,
                        socket,
                    })
                    .await;
                })
            }
        },
    )
}

/// What a WebSocket session takes from its handshake request, and whether the client offered
/// the `Bearer` subprotocol.
async fn handshake(parts: &mut Parts) -> (Handshake, bool) {
    let (context, bearer) = RequestContext::from_handshake(&parts.headers);
    let (context, captures) = match captures(parts).await {
        Ok(captures) => (context, captures),
        Err(status) => (Err(status), Vec::new()),
    };
    let query = parts.uri.query().map(str::to_owned);
    (
        Handshake {
            context,
            captures,
            query,
        },
        bearer,
    )
}

/// The router's filter for a binding's method.
fn method_filter(method: &Method) -> MethodFilter {
    MethodFilter::try_from(method.clone())
        .unwrap_or_else(|err| panic!("unsupported route method: {err}"))
}
