//! The `etcd-gateway` binary.

use anyhow::{Context, Result};
use clap::Parser;
use etcd_gateway::config::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<()> {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log_level).context("invalid --log-level")?)
        .with_writer(std::io::stderr)
        .init();

    let transport = etcd_gateway::upstream::connect(&config.endpoints, config.dial_timeout)?;
    let app = etcd_gateway::app(transport, config.max_request_body_bytes);
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    let addr = listener.local_addr()?;
    println!("etcd-gateway listening on http://{addr}");
    tracing::info!(%addr, endpoints = ?config.endpoints, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
