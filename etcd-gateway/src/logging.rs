//! Log setup: plain text (coloured only on a terminal) or JSON lines on stderr, and the one
//! `debug` line written per HTTP request.
//!
//! Nothing logged carries a request's headers or body, so tokens and passwords stay out of the
//! logs at every level; the runtime's own per-request trace (`tower_http`) is silenced unless
//! the filter names it, so that `debug` shows exactly one line per request.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use http::{Method, StatusCode};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (ANSI colours only when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Targets quieted unless the filter names them, with the level they are kept at.
const QUIET_TARGETS: &[(&str, &str)] = &[("tower_http", "off")];

/// The filter of `--log-level` (a level or a tracing directive list), with [`QUIET_TARGETS`]
/// added for the targets it does not name.
pub fn filter(log_level: &str) -> Result<EnvFilter> {
    let mut directives = log_level.trim().to_owned();
    for (target, level) in QUIET_TARGETS {
        if !directives.contains(target) {
            directives.push_str(&format!(",{target}={level}"));
        }
    }
    EnvFilter::try_new(&directives).with_context(|| {
        format!("invalid --log-level {log_level:?}: expected a level (error, warn, info, debug, trace) or a tracing directive list")
    })
}

/// Installs the process-wide subscriber writing to stderr.
pub fn init(log_level: &str, format: LogFormat) -> Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(log_level)?)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|err| anyhow::anyhow!("cannot install the logger: {err}"))
}

/// The request log line, at `debug`: method, route template, status and latency.
pub fn log_request(method: &Method, route: &str, status: StatusCode, latency: Duration) {
    tracing::debug!(
        target: "etcd_gateway::request",
        method = %method,
        route,
        status = status.as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request",
    );
}
