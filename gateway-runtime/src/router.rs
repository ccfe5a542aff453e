//! The route table builder.

use std::{collections::BTreeMap, future::Future, marker::PhantomData, sync::Arc};

use axum::{
    Router,
    extract::Request,
    response::Response,
    routing::{MethodFilter, MethodRouter},
};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use tonic::{Code, Status};

use futures_util::Stream;

use crate::{
    GrpcTransport,
    stream::{self, RequestStream},
    body::{DEFAULT_MAX_BODY_BYTES, read_body},
    cors::cors,
    error::{error_body, json_response, method_not_allowed, not_found},
    unary::call_unary,
};

/// Settings fixed when the router is built.
#[derive(Clone)]
struct Build {
    transport: GrpcTransport,
    max_body_bytes: usize,
}

/// Creates a route's endpoint once the final settings are known.
type MakeEndpoint = Box<dyn FnOnce(&Build) -> MethodRouter + Send>;

/// One registered route.
struct Route {
    path: String,
    make: MakeEndpoint,
}

/// Builder for the gateway's HTTP router.
///
/// Routes and settings may be given in any order; everything is assembled by
/// [`GatewayRouter::into_router`].
pub struct GatewayRouter {
    transport: GrpcTransport,
    max_body_bytes: usize,
    aliases: Vec<(String, Vec<String>)>,
    routes: Vec<Route>,
}

impl GatewayRouter {
    /// Starts an empty router whose calls go through `transport`.
    pub fn new(transport: GrpcTransport) -> Self {
        Self {
            transport,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
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

    /// Registers a unary RPC binding whose HTTP body is the whole request message
    /// (`body: "*"`). Query strings are ignored.
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn unary<Req, Resp, F, Fut>(mut self, method: Method, path: &'static str, call: F) -> Self
    where
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        F: Fn(GrpcTransport, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
    {
        let filter = method_filter(method);
        let make: MakeEndpoint = Box::new(move |build: &Build| {
            let endpoint = Arc::new(UnaryEndpoint {
                transport: build.transport.clone(),
                max_body_bytes: build.max_body_bytes,
                call,
                _types: PhantomData,
            });
            axum::routing::on(filter, move |request: Request| {
                let endpoint = Arc::clone(&endpoint);
                async move { endpoint.serve(request).await }
            })
        });
        self.routes.push(Route {
            path: path.to_owned(),
            make,
        });
        self
    }

    /// Registers a server-streaming RPC binding: the body is the request message, and every
    /// response message is streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn server_streaming<Req, Resp, S, F, Fut>(
        self,
        method: Method,
        path: &'static str,
        call: F,
    ) -> Self
    where
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: Fn(GrpcTransport, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
    {
        self.endpoint(method, path, move |build, request: Request| {
            let transport = build.transport.clone();
            let limit = build.max_body_bytes;
            let call = call.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = match read_body(body, limit).await {
                    Ok(body) => body,
                    Err(response) => return response,
                };
                stream::server_streaming(&parts.headers, &body, |request| call(transport, request))
                    .await
            }
        })
    }

    /// Registers a bidirectional-streaming RPC binding: the body is a sequence of JSON request
    /// messages, each sent upstream as soon as it has arrived, and every response message is
    /// streamed to the client as it arrives (see [`crate::stream`]).
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn bidi_streaming<Req, Resp, S, F, Fut>(
        self,
        method: Method,
        path: &'static str,
        call: F,
    ) -> Self
    where
        Req: DeserializeOwned + Default + Send + 'static,
        Resp: Serialize + Send + 'static,
        S: Stream<Item = Result<Resp, Status>> + Send + 'static,
        F: Fn(GrpcTransport, tonic::Request<RequestStream<Req>>) -> Fut
            + Clone
            + Send
            + Sync
            + 'static,
        Fut: Future<Output = Result<tonic::Response<S>, Status>> + Send + 'static,
    {
        self.endpoint(method, path, move |build, request: Request| {
            let transport = build.transport.clone();
            let limit = build.max_body_bytes;
            let call = call.clone();
            async move {
                let (parts, body) = request.into_parts();
                stream::bidi_streaming(&parts.headers, body, limit, |request| {
                    call(transport, request)
                })
                .await
            }
        })
    }

    /// Registers `serve` for `method` on `path`; it is given the final settings per request.
    fn endpoint<H, Fut>(mut self, method: Method, path: &'static str, serve: H) -> Self
    where
        H: Fn(&Build, Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let filter = method_filter(method);
        let make: MakeEndpoint = Box::new(move |build: &Build| {
            let build = Arc::new(build.clone());
            axum::routing::on(filter, move |request: Request| {
                let build = Arc::clone(&build);
                let serve = serve.clone();
                async move { serve(&build, request).await }
            })
        });
        self.routes.push(Route {
            path: path.to_owned(),
            make,
        });
        self
    }

    /// Registers a streaming binding that is not served yet: it answers 501 with the JSON error
    /// shape, gRPC code `Unimplemented` and a message naming `rpc`.
    ///
    /// # Panics
    ///
    /// If `method` is not one of the standard HTTP methods.
    pub fn unimplemented_stream(
        mut self,
        method: Method,
        path: &'static str,
        rpc: &'static str,
    ) -> Self {
        let filter = method_filter(method);
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
            path: path.to_owned(),
            make,
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
            make,
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
        };

        let mut by_path: BTreeMap<String, MethodRouter> = BTreeMap::new();
        for route in self.routes {
            let endpoint = (route.make)(&build);
            for (canonical, aliases) in &self.aliases {
                let Some(rest) = route.path.strip_prefix(canonical.as_str()) else {
                    continue;
                };
                for alias in aliases {
                    add(&mut by_path, format!("{alias}{rest}"), endpoint.clone());
                }
            }
            add(&mut by_path, route.path, endpoint);
        }

        by_path
            .into_iter()
            .fold(Router::new(), |router, (path, endpoint)| {
                router.route(&path, endpoint.fallback(method_not_allowed_handler))
            })
            .fallback(not_found_handler)
            .layer(axum::middleware::from_fn(cors))
    }
}

/// Merges `endpoint` into the methods already served at `path`.
fn add(by_path: &mut BTreeMap<String, MethodRouter>, path: String, endpoint: MethodRouter) {
    let merged = match by_path.remove(&path) {
        Some(existing) => existing.merge(endpoint),
        None => endpoint,
    };
    by_path.insert(path, merged);
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

/// A unary binding, shared by all requests to its route.
struct UnaryEndpoint<Req, Resp, F> {
    transport: GrpcTransport,
    max_body_bytes: usize,
    call: F,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp, F, Fut> UnaryEndpoint<Req, Resp, F>
where
    Req: DeserializeOwned + Default + Send + 'static,
    Resp: Serialize + Send + 'static,
    F: Fn(GrpcTransport, tonic::Request<Req>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<Resp>, Status>> + Send + 'static,
{
    async fn serve(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let body: Bytes = match read_body(body, self.max_body_bytes).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        call_unary(self.transport.clone(), &parts.headers, &body, &self.call).await
    }
}
