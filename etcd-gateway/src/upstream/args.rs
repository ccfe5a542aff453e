//! The upstream's command-line flags.

use std::time::Duration;

use clap::Args;

use crate::config::parse_duration;

/// How the gateway talks to the upstream members (with `--endpoints`).
#[derive(Debug, Clone, Args)]
pub struct UpstreamArgs {
    /// Deadline of a unary call that has none of its own (a shorter `Grpc-Timeout` from the
    /// client wins); retries on other members happen within it. Streams have no default
    /// deadline.
    #[arg(
        long,
        env = "ETCD_GATEWAY_REQUEST_TIMEOUT",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub request_timeout: Duration,

    /// Interval of the HTTP/2 pings that check an upstream connection is alive.
    #[arg(
        long,
        env = "ETCD_GATEWAY_KEEPALIVE_TIME",
        default_value = "2s",
        value_parser = parse_duration
    )]
    pub keepalive_time: Duration,

    /// How long a ping may go unanswered before its connection (and every call on it) is
    /// given up as broken.
    #[arg(
        long,
        env = "ETCD_GATEWAY_KEEPALIVE_TIMEOUT",
        default_value = "3s",
        value_parser = parse_duration
    )]
    pub keepalive_timeout: Duration,

    /// How often every member is probed (`Maintenance.Status`); a member that does not answer
    /// within this interval is taken out of rotation until it answers again.
    #[arg(
        long,
        env = "ETCD_GATEWAY_HEALTH_CHECK_INTERVAL",
        default_value = "1s",
        value_parser = parse_duration
    )]
    pub health_check_interval: Duration,
}

impl Default for UpstreamArgs {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            keepalive_time: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(3),
            health_check_interval: Duration::from_secs(1),
        }
    }
}
