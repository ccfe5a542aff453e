//! The one way the embedded backend answers what it does not provide yet: every such method
//! answers `Unimplemented` with `embedded backend does not support <Method> yet` (the
//! method's gRPC name), which the JSON gateway turns into HTTP 501.
//!
//! `unsupported_service!` writes a service's impl with its unsupported methods answering
//! [`unsupported`], next to the methods it does provide. Every service of etcd's HTTP API is
//! provided in full; only the gRPC-only `KV.RangeStream` of etcd's newest API, which etcd 3.5
//! does not have either, is left.

use std::pin::Pin;

use tonic::Status;
use tonic::codegen::tokio_stream::Stream;

/// The status every unsupported method answers; `method` is its gRPC name (e.g. `RangeStream`).
pub fn unsupported(method: &str) -> Status {
    Status::unimplemented(format!("embedded backend does not support {method} yet"))
}

/// A boxed server stream, the stream type of the unsupported streaming methods.
pub type UnsupportedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Implements a tonic service trait: the methods listed under `unary` and `streaming` answer
/// [`unsupported`] with the gRPC name given; the items under `supported` are the methods the
/// service does provide, written as in any `#[tonic::async_trait]` impl.
///
/// ```ignore
/// unsupported_service! {
///     impl Lock for LockService {
///         unary {
///             lock(LockRequest) -> LockResponse = "Lock";
///         }
///         streaming {
///             observe(LeaderRequest) -> ObserveStream<LeaderResponse> = "Observe";
///         }
///         supported {
///             async fn unlock(&self, request: Request<UnlockRequest>) -> ... { ... }
///         }
///     }
/// }
/// ```
macro_rules! unsupported_service {
    (
        impl $service:ident for $implementor:ident {
            unary {
                $($fn_name:ident($request:ty) -> $response:ty = $method:literal;)*
            }
            $(streaming {
                $($stream_fn:ident($stream_request:ty)
                    -> $stream_type:ident<$item:ty> = $stream_method:literal;)*
            })?
            $(supported {
                $($supported:tt)*
            })?
        }
    ) => {
        #[tonic::async_trait]
        impl $service for $implementor {
            $(
                async fn $fn_name(
                    &self,
                    _request: tonic::Request<$request>,
                ) -> Result<tonic::Response<$response>, tonic::Status> {
                    Err($crate::embedded::unsupported::unsupported($method))
                }
            )*
            $($(
                type $stream_type = $crate::embedded::unsupported::UnsupportedStream<$item>;

                async fn $stream_fn(
                    &self,
                    _request: tonic::Request<$stream_request>,
                ) -> Result<tonic::Response<Self::$stream_type>, tonic::Status> {
                    Err($crate::embedded::unsupported::unsupported($stream_method))
                }
            )*)?
            $($($supported)*)?
        }
    };
}

pub(crate) use unsupported_service;
