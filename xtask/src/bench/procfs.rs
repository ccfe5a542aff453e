//! What `/proc` tells about processes and the machine: resident memory, CPU time, the
//! open-files limit and the load average.

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

/// The unit of `utime` and `stime` in `/proc/<pid>/stat`: USER_HZ, fixed at 100 per second for
/// user space on Linux whatever the kernel's own tick rate.
const USER_HZ: u64 = 100;

/// The CPU time (user + system, all threads) process `pid` has used so far, at USER_HZ
/// resolution (10 ms).
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let ticks = cpu_ticks(&stat).with_context(|| format!("no CPU times in {path}: {stat}"))?;
    Ok(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// `utime + stime` of a `/proc/<pid>/stat` line. The command name, field 2, is in parentheses
/// and may hold spaces and parentheses; after its last `)` come the state (field 3) ...
/// `utime` (field 14) and `stime` (field 15).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_of_a_stat_line() {
        // A real line's shape (proc(5)), with a command name holding a space and a ')'.
        let stat = "4242 (etcd gw) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 375 81 0 0 20 0 9 0 \
                    100 2000000 5000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(375 + 81));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn own_cpu_time_is_readable() {
        assert!(cpu_time(std::process::id()).is_ok());
    }
}
