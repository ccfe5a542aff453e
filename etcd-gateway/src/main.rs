//! The `etcd-gateway` binary.

use anyhow::{Context, Result};
use clap::Parser;
use etcd_gateway::backend::Backend;
use etcd_gateway::config::{Command, Config};
use etcd_gateway::metrics::listener;
use gateway_runtime::shutdown::Shutdown;

#[tokio::main]
async fn main() -> Result<()> {
    let config = Config::parse();
    etcd_gateway::logging::init(&config.log_level, config.observability.log_format)?;
    if let Some(command) = config.command.clone() {
        return run_command(command).await;
    }

    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
    let addr = listener.local_addr()?;
    let server_tls = config.tls.server()?;
    let backend = Backend::from_config(&config, addr)?;
    if let Backend::Embedded(embedded) = &backend {
        etcd_gateway::metrics::embedded::register(embedded)
            .context("cannot register the embedded store's metrics")?;
    }
    let metrics_listeners = listener::bind(&config.observability.listen_metrics_urls).await?;
    let shutdown = Shutdown::new();
    let app = etcd_gateway::serve::app(
        &backend,
        config.serve.max_request_bytes,
        shutdown.listener(),
    );
    let scheme = if server_tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("etcd-gateway listening on {scheme}://{addr}");
    for metrics_listener in &metrics_listeners {
        println!(
            "etcd-gateway metrics on http://{}",
            metrics_listener.local_addr()?
        );
    }
    listener::serve(metrics_listeners, &listener::router(backend.transport()));
    match &backend {
        Backend::Upstream { endpoints, .. } => {
            config
                .tls
                .upstream()?
                .spawn_probe(endpoints, config.dial_timeout);
            tracing::info!(%addr, backend = "upstream", ?endpoints, "serving");
        }
        Backend::Embedded(embedded) => {
            tracing::info!(
                %addr,
                backend = "embedded",
                data_dir = %embedded.data_dir().display(),
                member_id = %format_args!("{:x}", embedded.store().member_id()),
                revision = embedded.store().current_revision(),
                "serving the JSON gateway and etcd's gRPC API",
            );
        }
    }
    let signal = shutdown_signal();
    etcd_gateway::serve::run(listener, app, server_tls, &config.serve, shutdown, signal).await?;
    // Closes the embedded store, releasing its data directory for the next process.
    drop(backend);
    tracing::info!("stopped");
    Ok(())
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

/// Runs a one-off command instead of serving.
async fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Migrate(args) => etcd_gateway::migrate::run(args).await,
        Command::Snapshot(snapshot) => etcd_gateway::embedded::snapshot::run(snapshot),
    }
}
