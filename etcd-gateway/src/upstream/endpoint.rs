//! How one member's connection is set up: the single place that turns a URL into a tonic
//! [`Endpoint`] (transport security plugs in here).

use std::time::Duration;

use anyhow::{Context, Result};
use tonic::transport::Endpoint;

use crate::tls::UpstreamTls;

/// The HTTP/2 flow-control window of one stream: what a stream whose client does not read can
/// hold in the gateway before the member stops sending on it.
pub const STREAM_WINDOW_BYTES: u32 = 1024 * 1024;

/// The connection's flow-control window: the largest HTTP/2 allows, so streams nobody drains
/// (each held to [`STREAM_WINDOW_BYTES`]) cannot exhaust it and stall the other calls on the
/// connection.
pub const CONNECTION_WINDOW_BYTES: u32 = (1 << 31) - 1;

/// What every member's connection is set up with.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// Time allowed to open a connection.
    pub dial_timeout: Duration,
    /// Interval of HTTP/2 keepalive pings.
    pub keepalive_time: Duration,
    /// How long a ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// TLS for `https://` members.
    pub tls: UpstreamTls,
}

/// The endpoint of the member at `url` (`host:port` means `http://host:port`).
pub fn endpoint(url: &str, options: &EndpointOptions) -> Result<Endpoint> {
    let url = url.trim();
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(options.tls.dial_url(&url))
        .with_context(|| format!("invalid endpoint {url:?}: expected http://host:port"))?
        .connect_timeout(options.dial_timeout)
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .http2_keep_alive_interval(options.keepalive_time)
        .keep_alive_timeout(options.keepalive_timeout)
        .keep_alive_while_idle(true);
    options.tls.apply(endpoint)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{EndpointOptions, endpoint};

    fn options() -> EndpointOptions {
        EndpointOptions {
            dial_timeout: Duration::from_secs(1),
            keepalive_time: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(3),
            tls: crate::tls::TlsArgs::default().upstream().unwrap(),
        }
    }

    #[test]
    fn a_bare_address_means_http() {
        let endpoint = endpoint(" 127.0.0.1:2379 ", &options()).unwrap();
        assert_eq!(endpoint.uri().to_string(), "http://127.0.0.1:2379/");
    }

    #[test]
    fn a_malformed_url_is_named() {
        let err = endpoint("http://bad host", &options()).unwrap_err();
        assert!(err.to_string().contains("\"http://bad host\""), "{err}");
    }
}
