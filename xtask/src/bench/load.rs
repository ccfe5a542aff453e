//! The one load generator behind every target: closed-loop workers, like wrk's connections.
//!
//! Each worker sends a request, waits for the whole response, records the latency and sends
//! the next one, until the deadline. Only requests that start after the warmup and finish
//! before the deadline are measured; failures are counted during warmup too.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::procfs;

/// Pause after a failed request, so that a refusing target is not hammered in a tight loop.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// The highest latency the histogram tells apart, in microseconds (larger ones count as this).
const MAX_LATENCY_US: u64 = 60_000_000;

/// How much load to apply, and for how long.
pub struct Load {
    /// Workers, each with one request in flight at a time.
    pub concurrency: usize,
    /// Load applied before measuring.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Processes whose CPU time over the measured window is recorded ([`Tally::cpu`]).
    pub cpu_of: Vec<u32>,
}

/// One worker's way of sending a request and reading its whole response.
pub trait Caller: Send + 'static {
    /// Sends one request; an error if it failed or was answered with an error.
    fn call(&mut self) -> impl Future<Output = Result<()>> + Send;
}

/// What the workers saw.
pub struct Tally {
    /// Latencies of the measured successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Failed requests.
    pub errors: u64,
    /// The first failure, to show what went wrong.
    pub first_error: Option<String>,
    /// The CPU time each process of [`Load::cpu_of`] used over the measured window, in that
    /// order (`None` where `/proc` could not be read).
    pub cpu: Vec<Option<Duration>>,
}

impl Tally {
    /// An empty tally.
    fn new() -> Self {
        Tally {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid bounds"),
            errors: 0,
            first_error: None,
            cpu: Vec::new(),
        }
    }

    /// The tally of a run that could not start, for `reason`.
    pub fn failed(reason: String) -> Self {
        let mut tally = Tally::new();
        tally.errors = 1;
        tally.first_error = Some(reason);
        tally
    }

    /// Adds another worker's tally.
    fn merge(&mut self, other: Tally) -> Result<()> {
        self.latency.add(&other.latency)?;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }

    /// Counts a failure.
    fn fail(&mut self, err: anyhow::Error) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| format!("{err:#}"));
    }
}

/// Runs one worker per caller for `load.warmup + load.duration` and merges their tallies.
pub async fn drive<C: Caller>(callers: Vec<C>, load: &Load) -> Result<Tally> {
    let measure_from = Instant::now() + load.warmup;
    let deadline = measure_from + load.duration;
    let workers: Vec<_> = callers
        .into_iter()
        .map(|caller| tokio::spawn(worker(caller, measure_from, deadline)))
        .collect();
    let cpu = tokio::spawn(cpu_over(load.cpu_of.clone(), measure_from, deadline));
    let mut total = Tally::new();
    for worker in workers {
        total.merge(worker.await?)?;
    }
    total.cpu = cpu.await?;
    Ok(total)
}

/// The CPU time each of `pids` uses from `from` to `until`.
async fn cpu_over(pids: Vec<u32>, from: Instant, until: Instant) -> Vec<Option<Duration>> {
    tokio::time::sleep_until(from).await;
    let before: Vec<_> = pids.iter().map(|&pid| procfs::cpu_time(pid).ok()).collect();
    tokio::time::sleep_until(until).await;
    pids.iter()
        .zip(before)
        .map(|(&pid, before)| Some(procfs::cpu_time(pid).ok()?.saturating_sub(before?)))
        .collect()
}

/// Sends requests back to back until `deadline`, cutting off the one in flight then.
async fn worker<C: Caller>(mut caller: C, measure_from: Instant, deadline: Instant) -> Tally {
    let mut tally = Tally::new();
    loop {
        let start = Instant::now();
        if start >= deadline {
            break;
        }
        let Ok(result) = tokio::time::timeout_at(deadline, caller.call()).await else {
            break;
        };
        match result {
            Ok(()) if start >= measure_from => {
                let micros = start.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                tally.latency.saturating_record(micros);
            }
            Ok(()) => {}
            Err(err) => {
                tally.fail(err);
                tokio::time::sleep_until(deadline.min(Instant::now() + ERROR_PAUSE)).await;
            }
        }
    }
    tally
}
