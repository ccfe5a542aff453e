//! Command-line configuration, with flag names like etcd's.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// HTTP/JSON gateway for etcd's gRPC API.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Comma-separated gRPC URLs of the upstream etcd cluster (e.g. http://127.0.0.1:2379).
    /// Without it, the embedded single-member store in --data-dir serves the requests, and
    /// etcd's gRPC API is served on --listen-addr too.
    #[arg(long, env = "ETCD_GATEWAY_ENDPOINTS", value_delimiter = ',')]
    pub endpoints: Vec<String>,

    /// Directory of the embedded store (without --endpoints) [default: <name>.etcd].
    #[arg(long, env = "ETCD_GATEWAY_DATA_DIR", conflicts_with = "endpoints")]
    pub data_dir: Option<PathBuf>,

    /// Human-readable name of the embedded member (without --endpoints).
    #[arg(
        long,
        env = "ETCD_GATEWAY_NAME",
        default_value = "default",
        conflicts_with = "endpoints"
    )]
    pub name: String,

    /// Address the HTTP gateway (and, without --endpoints, the gRPC API) listens on (port 0
    /// picks a free port).
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

    /// TLS to the cluster and for clients.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

impl Config {
    /// The upstream endpoints given (blank entries dropped); empty means the embedded backend.
    pub fn upstream_endpoints(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|url| url.trim())
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The embedded store's directory: --data-dir, or `<name>.etcd` as etcd defaults it.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)))
    }
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::Config;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("etcd-gateway").chain(args.iter().copied()))
    }

    #[test]
    fn no_endpoints_means_the_embedded_store_in_name_dot_etcd() {
        let config = parse(&[]).unwrap();
        assert!(config.upstream_endpoints().is_empty());
        assert_eq!(config.name, "default");
        assert_eq!(config.data_dir(), PathBuf::from("default.etcd"));

        let config = parse(&["--name", "infra1"]).unwrap();
        assert_eq!(config.data_dir(), PathBuf::from("infra1.etcd"));
        let config = parse(&["--name", "infra1", "--data-dir", "/var/lib/x"]).unwrap();
        assert_eq!(config.data_dir(), PathBuf::from("/var/lib/x"));
    }

    #[test]
    fn endpoints_select_the_upstream() {
        let config = parse(&["--endpoints", "http://a:2379, b:2379,"]).unwrap();
        assert_eq!(config.upstream_endpoints(), ["http://a:2379", "b:2379"]);
        for flag in ["--data-dir", "--name"] {
            let err = parse(&["--endpoints", "http://a:2379", flag, "x"]).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{flag}"
            );
        }
    }
}
