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

    /// Comma-separated client URLs of the gateway, answered as every member's `clientURLs` in
    /// the Cluster service's responses (`MemberList`...), so that clients discovering the
    /// cluster keep talking to the gateway [default: the URL it listens on, `https://` with
    /// --cert-file].
    #[arg(
        long,
        env = "ETCD_GATEWAY_ADVERTISE_CLIENT_URLS",
        value_delimiter = ','
    )]
    pub advertise_client_urls: Vec<String>,

    /// Upstream: `advertised` answers the members' client URLs as --advertise-client-urls;
    /// `passthrough` answers the members' own URLs (clients that discover the cluster then
    /// bypass the gateway).
    #[arg(
        long,
        env = "ETCD_GATEWAY_MEMBER_CLIENT_URLS",
        value_enum,
        default_value = "advertised"
    )]
    pub member_client_urls: MemberClientUrls,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(long, env = "ETCD_GATEWAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Embedded store: the database size at which writes fail and the NOSPACE alarm is
    /// raised, as etcd's flag (0: etcd's default, 2 GiB; negative: no quota).
    #[arg(
        long,
        env = "ETCD_GATEWAY_QUOTA_BACKEND_BYTES",
        default_value_t = 0,
        allow_negative_numbers = true,
        conflicts_with = "endpoints"
    )]
    pub quota_backend_bytes: i64,

    /// Time allowed to open a connection to an upstream member.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub dial_timeout: std::time::Duration,

    /// Upstream deadlines, keepalive and health checks.
    #[command(flatten)]
    pub upstream: crate::upstream::UpstreamArgs,

    /// Watch and keepalive streams resumed on another member.
    #[command(flatten)]
    pub resume: crate::resume::ResumeArgs,

    /// Metrics listeners and log format.
    #[command(flatten)]
    pub observability: crate::metrics::ObservabilityArgs,

    /// TLS to the cluster and for clients.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,

    /// Request and connection limits, shutdown.
    #[command(flatten)]
    pub serve: crate::serve::ServeArgs,

    /// Auth of the embedded store: token type, token TTL, bcrypt cost.
    #[command(flatten)]
    pub auth: crate::embedded::auth::AuthArgs,

    /// A one-off command instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Which client URLs the Cluster service's responses list for the upstream members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemberClientUrls {
    /// The gateway's advertised URLs.
    Advertised,
    /// The members' own URLs, as the upstream answers them.
    Passthrough,
}

/// The commands run instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copy the embedded store of a data directory into a real etcd cluster, then verify the
    /// copy (the gateway must not be running on that directory).
    Migrate(crate::migrate::MigrateArgs),

    /// Snapshots of the embedded store.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// `etcd-gateway snapshot ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SnapshotCommand {
    /// Makes a new data directory from a snapshot file: what `etcdctl snapshot save` (or the
    /// blobs of `/v3/maintenance/snapshot`, concatenated) wrote from the embedded store. The
    /// SHA-256 at the end of the file is checked; the member and cluster get new ids.
    Restore {
        /// The snapshot file.
        file: PathBuf,
        /// The data directory to create (it must not hold a database yet).
        #[arg(long)]
        data_dir: PathBuf,
        /// Accept a file without the checksum (e.g. a copy of a data directory's `db`).
        #[arg(long)]
        skip_hash_check: bool,
    },
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

    /// The gateway's client URLs: --advertise-client-urls (blank entries dropped), or the URL
    /// of `listen_addr` (the address actually bound), `https://` when serving TLS.
    pub fn advertised_client_urls(&self, listen_addr: SocketAddr) -> Vec<String> {
        let given: Vec<String> = self
            .advertise_client_urls
            .iter()
            .map(|url| url.trim())
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        if !given.is_empty() {
            return given;
        }
        let scheme = if self.tls.cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        if listen_addr.ip().is_unspecified() {
            tracing::warn!(
                %listen_addr,
                "listening on a wildcard address: members are listed with client URL \
                 {scheme}://{listen_addr}, which clients cannot reach; set --advertise-client-urls"
            );
        }
        vec![format!("{scheme}://{listen_addr}")]
    }

    /// The embedded store's directory: --data-dir, or `<name>.etcd` as etcd defaults it.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.etcd", self.name)))
    }
}

/// Parses a duration flag: `500ms`, `5s`, `2m` (a bare number is seconds), above zero.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration like 500ms, 5s or 2m, found {text:?}"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(count),
        "s" | "" => Duration::from_secs(count),
        "m" => Duration::from_secs(count * 60),
        _ => return Err(format!("expected the unit ms, s or m, found {text:?}")),
    };
    if duration.is_zero() {
        return Err(format!("expected a duration above zero, found {text:?}"));
    }
    Ok(duration)
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

    #[test]
    fn advertised_client_urls_default_to_the_listen_url() {
        let addr = "127.0.0.1:4001".parse().unwrap();
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.advertised_client_urls(addr),
            ["http://127.0.0.1:4001"]
        );
        assert_eq!(
            config.member_client_urls,
            super::MemberClientUrls::Advertised
        );
        let config = parse(&[
            "--advertise-client-urls",
            "https://gw-a:2379, https://gw-b:2379,",
            "--member-client-urls",
            "passthrough",
        ])
        .unwrap();
        assert_eq!(
            config.advertised_client_urls(addr),
            ["https://gw-a:2379", "https://gw-b:2379"]
        );
        assert_eq!(
            config.member_client_urls,
            super::MemberClientUrls::Passthrough
        );
    }

    #[test]
    fn durations_take_ms_s_and_m_above_zero() {
        use super::parse_duration;
        use std::time::Duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_duration("0s"),
            Err("expected a duration above zero, found \"0s\"".to_owned())
        );
        assert_eq!(
            parse_duration("5h"),
            Err("expected the unit ms, s or m, found \"5h\"".to_owned())
        );
        assert!(parse_duration("s").is_err());
    }
}
