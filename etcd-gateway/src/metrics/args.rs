//! The metrics and log flags.

use crate::logging::LogFormat;

/// Where metrics are served and how logs are written.
#[derive(Debug, Clone, clap::Args)]
pub struct ObservabilityArgs {
    /// Comma-separated URLs (`http://<ip>:<port>`) of extra listeners serving only `/metrics`
    /// and `/health`, as etcd's flag does (`/metrics` is also served on --listen-addr).
    #[arg(long, env = "ETCD_GATEWAY_LISTEN_METRICS_URLS", value_delimiter = ',')]
    pub listen_metrics_urls: Vec<String>,

    /// Log line format: `text` (coloured only on a terminal) or `json`.
    #[arg(
        long,
        env = "ETCD_GATEWAY_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}
