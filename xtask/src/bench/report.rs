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
    /// The load averages (1, 5, 15 minutes) when the benchmark started.
    pub load_before: Option<[f64; 3]>,
}

/// Every run's summary.
#[derive(Default)]
pub struct Results {
    /// The unary (range, put, put-serial) runs.
    pub unary: Vec<Measurement>,
    /// The watch runs.
    pub watch: Vec<WatchMeasurement>,
    /// The load averages (1, 5, 15 minutes) when the last run ended.
    pub load_after: Option<[f64; 3]>,
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
    /// Workers, each with one request in flight.
    concurrency: usize,
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
    /// CPU microseconds the gateway process (ours or the embedded store) spent per measured
    /// request.
    gateway_cpu_us: Option<f64>,
    /// CPU microseconds etcd spent per measured request.
    etcd_cpu_us: Option<f64>,
}

/// The latency percentiles reported, in the order of [`Measurement::latency_ms`].
const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)];

impl Measurement {
    /// Summarises `tally` from a run of `duration` by `concurrency` workers.
    pub fn new(
        scenario: Unary,
        target: Target,
        concurrency: usize,
        tally: Tally,
        duration: Duration,
    ) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let hist = &tally.latency;
        let mut latency_ms = [0.0; 5];
        for (slot, (_, p)) in latency_ms.iter_mut().zip(PERCENTILES) {
            *slot = ms(hist.value_at_percentile(p));
        }
        latency_ms[4] = ms(hist.max());
        let requests = hist.len();
        let per_request = |cpu: &Option<Duration>| {
            cpu.filter(|_| requests > 0)
                .map(|cpu| cpu.as_secs_f64() * 1e6 / requests as f64)
        };
        // The order of `Load::cpu_of` for each target.
        let (gateway_cpu_us, etcd_cpu_us) = match (target, tally.cpu.as_slice()) {
            (Target::Ours, [gateway, etcd]) => (per_request(gateway), per_request(etcd)),
            (Target::Embedded, [gateway]) => (per_request(gateway), None),
            (Target::EtcdGateway | Target::Grpc, [etcd]) => (None, per_request(etcd)),
            _ => (None, None),
        };
        Measurement {
            scenario: scenario.name(),
            target: target.label(),
            concurrency,
            requests: hist.len(),
            errors: tally.errors,
            first_error: tally.first_error,
            rps: hist.len() as f64 / duration.as_secs_f64(),
            latency_ms,
            gateway_cpu_us,
            etcd_cpu_us,
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
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "first_error": self.first_error,
            "rps": round(self.rps, 1),
            "latency_ms": latency,
            "gateway_cpu_us_per_request": self.gateway_cpu_us.map(|us| round(us, 1)),
            "etcd_cpu_us_per_request": self.etcd_cpu_us.map(|us| round(us, 1)),
        })
    }
}

/// Prints what is about to run and on what.
pub fn print_header(settings: &Settings) {
    let threads = settings.threads.unwrap_or(settings.cores);
    println!(
        "bench: concurrency {}, duration {:?} after {:?} warmup, {}\n\
         {} cores shared by etcd, the gateway and the load generator ({threads} threads)\n\
         HTTP: one keep-alive HTTP/1.1 connection per worker; gRPC: {} workers on {} channel(s)\n\
         load average before: {}\n",
        settings.concurrency,
        settings.duration,
        settings.warmup,
        settings.etcd_version,
        settings.cores,
        settings.concurrency,
        settings.grpc_channels,
        show_load(settings.load_before),
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
    println!("\nload average after: {}", show_load(results.load_after));
}

/// `1.20 0.90 0.75` (1, 5 and 15 minutes), or `unknown`.
fn show_load(load: Option<[f64; 3]>) -> String {
    load.map_or_else(
        || "unknown".to_owned(),
        |[a, b, c]| format!("{a:.2} {b:.2} {c:.2} (1, 5, 15 min)"),
    )
}

/// Prints the unary table, the throughput ratios and any failures.
fn print_unary(measurements: &[Measurement]) {
    println!(
        "\n{:<10} {:<14} {:>7} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "scenario", "target", "workers", "req/s", "p50 ms", "p99 ms", "errors", "gw µs", "etcd µs"
    );
    let us = |cpu: Option<f64>| cpu.map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"));
    for m in measurements {
        let flag = if m.failed() { "  FAILED REQUESTS" } else { "" };
        println!(
            "{:<10} {:<14} {:>7} {:>10.0} {:>9.3} {:>9.3} {:>8} {:>9} {:>9}{flag}",
            m.scenario,
            m.target,
            m.concurrency,
            m.rps,
            m.latency_ms[0],
            m.latency_ms[2],
            m.errors,
            us(m.gateway_cpu_us),
            us(m.etcd_cpu_us),
        );
    }
    let ratios = ratios(measurements);
    if !ratios.is_empty() {
        println!("\nthroughput of ours relative to:");
        for (scenario, vs_gateway, vs_grpc) in &ratios {
            let show = |r: &Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
            println!(
                "  {scenario:<10} etcd-gateway {:>7}   direct-grpc {:>7}",
                show(vs_gateway),
                show(vs_grpc)
            );
        }
    }
    let embedded = embedded_ratios(measurements);
    if !embedded.is_empty() {
        println!("\nthroughput of embedded relative to etcd-gateway:");
        for (scenario, ratio) in &embedded {
            println!("  {scenario:<10} {ratio:>7.2}x");
        }
    }
    let auth = auth_costs(measurements);
    if !auth.is_empty() {
        println!("\npermission checks: throughput with authentication relative to without:");
        let show = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        for cost in &auth {
            println!(
                "  {:<10} etcd-gateway {:>7}   embedded {:>7}   embedded/etcd {:>7}",
                cost.scenario,
                show(cost.etcd),
                show(cost.embedded),
                show(cost.embedded_over_etcd()),
            );
        }
    }
    let cpu = cpu_costs(measurements);
    if !cpu.is_empty() {
        println!("\nCPU per request (process CPU time over the measured window / requests, µs):");
        let show = |us: Option<f64>| us.map_or_else(|| "-".to_owned(), |us| format!("{us:.1}"));
        for cost in &cpu {
            println!(
                "  {:<10} ours {:>7}   etcd-gateway's extra etcd CPU vs direct gRPC {:>7}   ours/extra {:>6}",
                cost.scenario,
                show(cost.ours),
                show(cost.etcd_gateway_extra),
                cost.ours_over_extra()
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
            );
        }
    }
    let batching = group_commit(measurements);
    if !batching.is_empty() {
        println!("\ndurable puts, concurrent (commits shared) vs serial (one fsync per put):");
        for g in &batching {
            println!(
                "  {:<14} put {:>8.0} req/s   put-serial {:>8.0} req/s (p50 {:.3} ms)   {:>6.1}x",
                g.target,
                g.put_rps,
                g.serial_rps,
                g.serial_p50_ms,
                g.put_rps / g.serial_rps
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
    let embedded_ratios: Vec<Value> = embedded_ratios(measurements)
        .into_iter()
        .map(|(scenario, ratio)| {
            json!({
                "scenario": scenario,
                "embedded_over_etcd_gateway": round(ratio, 3),
            })
        })
        .collect();
    let auth_costs: Vec<Value> = auth_costs(measurements)
        .into_iter()
        .map(|cost| {
            json!({
                "scenario": cost.scenario,
                "etcd_gateway_auth_over_plain": cost.etcd.map(|r| round(r, 3)),
                "embedded_auth_over_plain": cost.embedded.map(|r| round(r, 3)),
                "embedded_over_etcd": cost.embedded_over_etcd().map(|r| round(r, 3)),
            })
        })
        .collect();
    let cpu_costs: Vec<Value> = cpu_costs(measurements)
        .into_iter()
        .map(|cost| {
            json!({
                "scenario": cost.scenario,
                "ours_gateway_cpu_us": cost.ours.map(|us| round(us, 1)),
                "etcd_gateway_extra_etcd_cpu_us": cost.etcd_gateway_extra.map(|us| round(us, 1)),
                "ours_over_etcd_gateway_extra": cost.ours_over_extra().map(|r| round(r, 3)),
            })
        })
        .collect();
    let group_commit: Vec<Value> = group_commit(measurements)
        .into_iter()
        .map(|g| {
            json!({
                "target": g.target,
                "put_rps": round(g.put_rps, 1),
                "put_serial_rps": round(g.serial_rps, 1),
                "put_over_put_serial": round(g.put_rps / g.serial_rps, 3),
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
            "load_average_before": settings.load_before,
            "load_average_after": results.load_after,
        },
        "results": measurements.iter().map(Measurement::to_json).collect::<Vec<_>>(),
        "ratios": ratios,
        "embedded_ratios": embedded_ratios,
        "group_commit": group_commit,
        "auth_costs": auth_costs,
        "cpu_costs": cpu_costs,
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
    let rps = |scenario: &str, target: Target| find(measurements, scenario, target).map(|m| m.rps);
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

/// Per scenario run on both (with requests served): the embedded store's req/s over etcd's
/// gateway's.
fn embedded_ratios(measurements: &[Measurement]) -> Vec<(&'static str, f64)> {
    measurements
        .iter()
        .filter(|m| m.target == Target::Embedded.label() && m.rps > 0.0)
        .filter_map(|m| {
            let theirs = find(measurements, m.scenario, Target::EtcdGateway)?;
            (theirs.rps > 0.0).then(|| (m.scenario, m.rps / theirs.rps))
        })
        .collect()
}

/// What authentication costs in one scenario: each store's throughput with it relative to
/// without it.
struct AuthCost {
    /// The scenario without authentication (`range`, `put`).
    scenario: &'static str,
    /// etcd's gateway: req/s with authentication over req/s without.
    etcd: Option<f64>,
    /// The embedded store: req/s with authentication over req/s without.
    embedded: Option<f64>,
}

impl AuthCost {
    /// How much of its throughput the embedded store keeps relative to how much etcd keeps.
    fn embedded_over_etcd(&self) -> Option<f64> {
        Some(self.embedded? / self.etcd.filter(|&r| r > 0.0)?)
    }
}

/// Per scenario run with authentication: the cost on each target measured both ways (with
/// requests served).
/// The CPU a JSON request costs, per scenario: our gateway process's CPU per request, and the
/// extra CPU etcd spends per request through its own gateway compared with direct gRPC (its
/// gateway runs inside etcd). A figure that does not depend on the number of cores.
struct CpuCost {
    scenario: &'static str,
    /// Our gateway's CPU µs per request (in front of etcd).
    ours: Option<f64>,
    /// etcd's CPU µs per request through its gateway minus per direct gRPC request.
    etcd_gateway_extra: Option<f64>,
}

impl CpuCost {
    /// Ours relative to etcd's gateway's extra CPU (the goal is at most a third).
    fn ours_over_extra(&self) -> Option<f64> {
        Some(self.ours? / self.etcd_gateway_extra.filter(|extra| *extra > 0.0)?)
    }
}

/// The [`CpuCost`] of each scenario measured on ours or on etcd's gateway and direct gRPC.
fn cpu_costs(measurements: &[Measurement]) -> Vec<CpuCost> {
    let find = |scenario: &str, target: Target| {
        measurements
            .iter()
            .find(|m| m.scenario == scenario && m.target == target.label())
    };
    let mut scenarios: Vec<&'static str> = measurements.iter().map(|m| m.scenario).collect();
    scenarios.dedup();
    scenarios
        .into_iter()
        .filter_map(|scenario| {
            let ours = find(scenario, Target::Ours).and_then(|m| m.gateway_cpu_us);
            let through_gateway = find(scenario, Target::EtcdGateway).and_then(|m| m.etcd_cpu_us);
            let direct = find(scenario, Target::Grpc).and_then(|m| m.etcd_cpu_us);
            let etcd_gateway_extra = through_gateway
                .zip(direct)
                .map(|(through, direct)| through - direct);
            (ours.is_some() || etcd_gateway_extra.is_some()).then_some(CpuCost {
                scenario,
                ours,
                etcd_gateway_extra,
            })
        })
        .collect()
}

fn auth_costs(measurements: &[Measurement]) -> Vec<AuthCost> {
    let mut out: Vec<AuthCost> = Vec::new();
    for unary in [Unary::RangeAuth, Unary::PutAuth] {
        let plain = unary.without_auth().name();
        let kept = |target: Target| {
            let with = find(measurements, unary.name(), target).filter(|m| m.rps > 0.0)?;
            let without = find(measurements, plain, target).filter(|m| m.rps > 0.0)?;
            Some(with.rps / without.rps)
        };
        let cost = AuthCost {
            scenario: plain,
            etcd: kept(Target::EtcdGateway),
            embedded: kept(Target::Embedded),
        };
        if cost.etcd.is_some() || cost.embedded.is_some() {
            out.push(cost);
        }
    }
    out
}

/// One target's concurrent and serial put rates.
struct GroupCommit {
    /// The target's name.
    target: &'static str,
    /// req/s of the concurrent put.
    put_rps: f64,
    /// req/s of the serial put.
    serial_rps: f64,
    /// The serial put's median latency: about one commit (fsync) each.
    serial_p50_ms: f64,
}

/// Per target with both a put and a (successful) put-serial run: both rates.
fn group_commit(measurements: &[Measurement]) -> Vec<GroupCommit> {
    let (put, serial) = (Unary::Put.name(), Unary::PutSerial.name());
    measurements
        .iter()
        .filter(|m| m.scenario == serial && m.rps > 0.0)
        .filter_map(|m| {
            let concurrent = measurements
                .iter()
                .find(|c| c.scenario == put && c.target == m.target)?;
            Some(GroupCommit {
                target: m.target,
                put_rps: concurrent.rps,
                serial_rps: m.rps,
                serial_p50_ms: m.latency_ms[0],
            })
        })
        .collect()
}

/// The run of `scenario` on `target`, if any.
fn find<'a>(
    measurements: &'a [Measurement],
    scenario: &str,
    target: Target,
) -> Option<&'a Measurement> {
    measurements
        .iter()
        .find(|m| m.scenario == scenario && m.target == target.label())
}

/// `x` rounded to `digits` decimals, for readable JSON.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
