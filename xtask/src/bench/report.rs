//! Results: the summary of each run, the printed tables and `results.json`.

mod watch;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::load::Tally;
use super::scenario::{Target, Unary};

pub use self::watch::WatchMeasurement;

/// How the benchmark was run.
pub struct Settings {
    /// Workers per run.
    pub concurrency: usize,
    /// Measured time per run.
    pub duration: Duration,
    /// Unmeasured load before each run.
    pub warmup: Duration,
    /// gRPC channels shared by the direct-gRPC workers.
    pub grpc_channels: usize,
    /// Cores of this machine, shared by etcd, the gateway and the load generator.
    pub cores: usize,
    /// Load-generator runtime threads, if not one per core.
    pub threads: Option<usize>,
    /// etcd's `--version` line.
    pub etcd_version: String,
    /// Watch streams per target, if the watch scenario runs.
    pub watchers: Option<usize>,
    /// The watch scenario's puts per second.
    pub watch_rate: u32,
}

/// Every run's summary.
#[derive(Default)]
pub struct Results {
    /// The unary (range, put) runs.
    pub unary: Vec<Measurement>,
    /// The watch runs.
    pub watch: Vec<WatchMeasurement>,
}

impl Results {
    /// Runs with failed requests, streams or missing events.
    pub fn failed(&self) -> usize {
        let unary = self.unary.iter().filter(|m| m.failed()).count();
        unary + self.watch.iter().filter(|m| m.failed()).count()
    }
}

/// The summary of one unary (scenario, target) run.
pub struct Measurement {
    /// The scenario's name.
    scenario: &'static str,
    /// The target's name.
    target: &'static str,
    /// Measured successful requests.
    requests: u64,
    /// Failed requests (warmup included).
    errors: u64,
    /// The first failure.
    first_error: Option<String>,
    /// Successful requests per second.
    rps: f64,
    /// Latency percentiles (50, 90, 99, 99.9, max) in milliseconds.
    latency_ms: [f64; 5],
}

/// The latency percentiles reported, in the order of [`Measurement::latency_ms`].
const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)];

impl Measurement {
    /// Summarises `tally` from a run of `duration`.
    pub fn new(scenario: Unary, target: Target, tally: Tally, duration: Duration) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let hist = &tally.latency;
        let mut latency_ms = [0.0; 5];
        for (slot, (_, p)) in latency_ms.iter_mut().zip(PERCENTILES) {
            *slot = ms(hist.value_at_percentile(p));
        }
        latency_ms[4] = ms(hist.max());
        Measurement {
            scenario: scenario.name(),
            target: target.label(),
            requests: hist.len(),
            errors: tally.errors,
            first_error: tally.first_error,
            rps: hist.len() as f64 / duration.as_secs_f64(),
            latency_ms,
        }
    }

    /// Whether any request failed, which makes the run's numbers suspect.
    pub fn failed(&self) -> bool {
        self.errors > 0
    }

    /// As a JSON object.
    fn to_json(&self) -> Value {
        let mut latency: serde_json::Map<String, Value> = PERCENTILES
            .iter()
            .zip(self.latency_ms)
            .map(|((name, _), ms)| (name.to_string(), json!(round(ms, 3))))
            .collect();
        latency.insert("max".into(), json!(round(self.latency_ms[4], 3)));
        json!({
            "scenario": self.scenario,
            "target": self.target,
            "requests": self.requests,
            "errors": self.errors,
            "first_error": self.first_error,
            "rps": round(self.rps, 1),
            "latency_ms": latency,
        })
    }
}

/// Prints what is about to run and on what.
pub fn print_header(settings: &Settings) {
    let threads = settings.threads.unwrap_or(settings.cores);
    println!(
        "bench: concurrency {}, duration {:?} after {:?} warmup, {}\n\
         {} cores shared by etcd, the gateway and the load generator ({threads} threads)\n\
         HTTP: one keep-alive HTTP/1.1 connection per worker; gRPC: {} workers on {} channel(s)\n",
        settings.concurrency,
        settings.duration,
        settings.warmup,
        settings.etcd_version,
        settings.cores,
        settings.concurrency,
        settings.grpc_channels,
    );
    if let Some(watchers) = settings.watchers {
        println!(
            "watch: {watchers} HTTP/1.1 watch streams per gateway on one prefix, one writer \
             putting {} times a second over direct gRPC\n",
            settings.watch_rate
        );
    }
}

/// Prints the results tables, the ratios and any failures.
pub fn print(results: &Results) {
    if !results.unary.is_empty() {
        print_unary(&results.unary);
    }
    if !results.watch.is_empty() {
        watch::print(&results.watch);
    }
}

/// Prints the unary table, the throughput ratios and any failures.
fn print_unary(measurements: &[Measurement]) {
    println!(
        "\n{:<8} {:<14} {:>10} {:>9} {:>9} {:>8}",
        "scenario", "target", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for m in measurements {
        let flag = if m.failed() { "  FAILED REQUESTS" } else { "" };
        println!(
            "{:<8} {:<14} {:>10.0} {:>9.3} {:>9.3} {:>8}{flag}",
            m.scenario, m.target, m.rps, m.latency_ms[0], m.latency_ms[2], m.errors
        );
    }
    let ratios = ratios(measurements);
    if !ratios.is_empty() {
        println!("\nthroughput of ours relative to:");
        for (scenario, vs_gateway, vs_grpc) in &ratios {
            let show = |r: &Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
            println!(
                "  {scenario:<8} etcd-gateway {:>7}   direct-grpc {:>7}",
                show(vs_gateway),
                show(vs_grpc)
            );
        }
    }
    for m in measurements.iter().filter(|m| m.failed()) {
        let error = m.first_error.as_deref().unwrap_or_default();
        println!(
            "\n{} on {}: {} failed requests, first: {error}",
            m.scenario, m.target, m.errors
        );
    }
}

/// Writes the settings, the measurements and the ratios to `path` as JSON.
pub fn write_json(path: &Path, settings: &Settings, results: &Results) -> Result<()> {
    let measurements = &results.unary;
    let (watch, watch_ratios) = watch::to_json(&results.watch);
    let ratios: Vec<Value> = ratios(measurements)
        .into_iter()
        .map(|(scenario, vs_gateway, vs_grpc)| {
            json!({
                "scenario": scenario,
                "ours_over_etcd_gateway": vs_gateway.map(|r| round(r, 3)),
                "ours_over_direct_grpc": vs_grpc.map(|r| round(r, 3)),
            })
        })
        .collect();
    let document = json!({
        "settings": {
            "concurrency": settings.concurrency,
            "duration_s": settings.duration.as_secs_f64(),
            "warmup_s": settings.warmup.as_secs_f64(),
            "grpc_channels": settings.grpc_channels,
            "cores": settings.cores,
            "threads": settings.threads,
            "etcd_version": settings.etcd_version,
            "watchers": settings.watchers,
            "watch_rate": settings.watch_rate,
        },
        "results": measurements.iter().map(Measurement::to_json).collect::<Vec<_>>(),
        "ratios": ratios,
        "watch": watch,
        "watch_ratios": watch_ratios,
    });
    let dir = path.parent().context("results path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = serde_json::to_string_pretty(&document)? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Per scenario with a run of ours: its req/s over etcd's gateway's and over direct gRPC's.
fn ratios(measurements: &[Measurement]) -> Vec<(&'static str, Option<f64>, Option<f64>)> {
    let rps = |scenario: &str, target: Target| {
        measurements
            .iter()
            .find(|m| m.scenario == scenario && m.target == target.label())
            .map(|m| m.rps)
    };
    let mut out = Vec::new();
    for m in measurements
        .iter()
        .filter(|m| m.target == Target::Ours.label())
    {
        let over = |target| {
            rps(m.scenario, target)
                .filter(|&r| r > 0.0)
                .map(|r| m.rps / r)
        };
        out.push((m.scenario, over(Target::EtcdGateway), over(Target::Grpc)));
    }
    out
}

/// `x` rounded to `digits` decimals, for readable JSON.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
