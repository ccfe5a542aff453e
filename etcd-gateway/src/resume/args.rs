//! The command-line settings of resumed streams.

use std::time::Duration;

use clap::Args;

use crate::config::parse_duration;

/// How long watch and keepalive streams try to reach the cluster again.
#[derive(Debug, Clone, Copy, Args)]
pub struct ResumeArgs {
    /// How long a watch or lease keepalive stream whose upstream member was lost tries other
    /// members before it ends with a 503 (code 14) error line (`500ms`, `30s`, `2m`).
    #[arg(
        long,
        env = "ETCD_GATEWAY_STREAM_RESUME_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub stream_resume_timeout: Duration,
}

impl Default for ResumeArgs {
    fn default() -> Self {
        Self {
            stream_resume_timeout: Duration::from_secs(30),
        }
    }
}
