//! The command-line settings of resumed streams.

use std::time::Duration;

use clap::Args;

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

/// Parses `500ms`, `30s` or `2m` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("expected a duration like 500ms, 30s or 2m, found {text:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(amount)),
        "s" | "" => Ok(Duration::from_secs(amount)),
        "m" => Ok(Duration::from_secs(amount * 60)),
        _ => Err(format!(
            "expected a duration unit ms, s or m, found {unit:?} in {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_milliseconds_seconds_and_minutes() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2h").unwrap_err().contains("\"h\""));
        assert!(parse_duration("s").is_err());
    }
}
