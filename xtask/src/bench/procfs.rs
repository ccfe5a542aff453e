//! What `/proc` tells about processes and the machine: resident memory, the open-files limit
//! and the load average.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How often [`RssSampler`] samples.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// The resident set size (`VmRSS`) of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}

/// The 1-, 5- and 15-minute load averages, if `/proc/loadavg` can be read: other work on this
/// machine makes the numbers noisy.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// This process's soft limit on open files (children inherit it), and the hard limit;
/// `None` for unlimited.
pub fn open_files_limit() -> Result<(Option<u64>, Option<u64>)> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .context("no open-files limit in /proc/self/limits")?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut limit = || match fields.next() {
        Some("unlimited") => Ok(None),
        Some(n) => Ok(Some(n.parse()?)),
        None => anyhow::bail!("malformed limits line {line:?}"),
    };
    Ok((limit()?, limit()?))
}

/// Samples the RSS of some processes in the background, keeping each one's peak.
pub struct RssSampler {
    /// Stops the sampling task.
    stop: oneshot::Sender<()>,
    /// The sampling task, returning the peaks in KiB.
    task: JoinHandle<Result<Vec<u64>>>,
}

impl RssSampler {
    /// Starts sampling `pids` every [`SAMPLE_EVERY`], the first time right away.
    pub fn start(pids: Vec<u32>) -> RssSampler {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut peaks = vec![0; pids.len()];
            let mut ticks = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                for (peak, &pid) in peaks.iter_mut().zip(&pids) {
                    *peak = rss_kib(pid)?.max(*peak);
                }
            }
            Ok(peaks)
        });
        RssSampler { stop, task }
    }

    /// Stops sampling and returns the peaks, in KiB, in the order of the pids.
    pub async fn finish(self) -> Result<Vec<u64>> {
        let _ = self.stop.send(());
        self.task.await?
    }
}
