//! Command-line configuration, with flag names like etcd's.

use std::net::SocketAddr;

use clap::Parser;

/// HTTP/JSON gateway for etcd's gRPC API.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Comma-separated gRPC URLs of the upstream etcd cluster (e.g. http://127.0.0.1:2379).
    #[arg(
        long,
        env = "ETCD_GATEWAY_ENDPOINTS",
        value_delimiter = ',',
        required = true
    )]
    pub endpoints: Vec<String>,

    /// Address the HTTP gateway listens on (port 0 picks a free port).
    #[arg(
        long,
        env = "ETCD_GATEWAY_LISTEN_ADDR",
        default_value = "127.0.0.1:2379"
    )]
    pub listen_addr: SocketAddr,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(long, env = "ETCD_GATEWAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_request_body_bytes: usize,

    /// Time allowed to open a connection to an upstream member.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub dial_timeout: std::time::Duration,
}

/// Parses `500ms`, `5s`, `2m`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "s" | "" => Ok(std::time::Duration::from_secs(n)),
        "m" => Ok(std::time::Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {s:?} (use ms, s or m)")),
    }
}
