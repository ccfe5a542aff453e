//! The `--listen-metrics-urls` listeners: `/metrics` and `/health` only, each a small server
//! of its own next to the gateway's listener.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use axum::routing::get;
use gateway_runtime::GrpcTransport;
use tokio::net::TcpListener;

/// The address of a metrics URL: `http://<ip>:<port>` (a trailing `/` allowed).
pub fn parse_url(url: &str) -> Result<SocketAddr> {
    let url = url.trim();
    let Some(authority) = url.strip_prefix("http://") else {
        bail!("invalid --listen-metrics-urls entry {url:?}: expected http://<ip>:<port>");
    };
    authority.trim_end_matches('/').parse().with_context(|| {
        format!("invalid --listen-metrics-urls entry {url:?}: expected http://<ip>:<port>")
    })
}

/// The metrics listener's routes; `/health` asks `transport` as the gateway's does.
pub fn router(transport: GrpcTransport) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(super::serve_metrics))
        .route("/health", get(crate::status::health))
        .with_state(transport)
}

/// Binds every URL of `urls` (blank entries skipped).
pub async fn bind(urls: &[String]) -> Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(urls.len());
    for url in urls.iter().filter(|url| !url.trim().is_empty()) {
        let addr = parse_url(url)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {url} (--listen-metrics-urls)"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves `router` on each of `listeners` in the background, for the life of the process.
pub fn serve(listeners: Vec<TcpListener>, router: &axum::Router) {
    for listener in listeners {
        let router = router.clone();
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router.into_make_service()).await {
                tracing::error!(%err, "metrics listener failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn metrics_urls_are_http_ip_and_port() {
        assert_eq!(
            parse_url("http://127.0.0.1:2381/").unwrap().to_string(),
            "127.0.0.1:2381"
        );
        for bad in [
            "https://127.0.0.1:2381",
            "127.0.0.1:2381",
            "http://host:2381",
        ] {
            let err = parse_url(bad).unwrap_err().to_string();
            assert!(err.contains("expected http://<ip>:<port>"), "{bad}: {err}");
        }
    }
}
