//! The watch section of the results: delivery latency, completeness and gateway memory.

use serde_json::{Value, json};

use super::super::scenario::Target;
use super::super::watch::{Rss, WatchTally};
use super::round;

/// The summary of one watch run on one target.
pub struct WatchMeasurement {
    /// The target's name.
    target: &'static str,
    /// Whether the gateway runs inside etcd (etcd's built-in one), sharing its memory.
    gateway_in_etcd: bool,
    /// Streams asked for.
    watchers: usize,
    /// Streams that failed to open.
    failed_to_open: usize,
    /// Puts made, each of which every stream should deliver.
    puts: u64,
    /// Distinct events delivered over all streams.
    delivered: u64,
    /// Events some stream never delivered.
    missing: u64,
    /// Events delivered twice to one stream.
    duplicates: u64,
    /// Failed streams and puts.
    errors: u64,
    /// The first failure.
    first_error: Option<String>,
    /// Measured events' delivery latency percentiles (50, 90, 99, max) in milliseconds.
    latency_ms: [f64; 4],
    /// The writer's put latency (50, 99) in milliseconds.
    put_latency_ms: [f64; 2],
    /// Events whose delivery latency was measured (the rest were warmup).
    timed: u64,
    /// The gateway's process memory.
    gateway_rss: Rss,
    /// etcd's memory.
    etcd_rss: Rss,
}

impl WatchMeasurement {
    /// Summarises `tally`, a watch run on `target`.
    pub fn new(target: Target, tally: WatchTally) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let hist = &tally.latency_us;
        let puts = &tally.put_latency_us;
        WatchMeasurement {
            target: target.label(),
            gateway_in_etcd: target == Target::EtcdGateway,
            watchers: tally.watchers,
            failed_to_open: tally.failed_to_open,
            puts: tally.puts,
            delivered: tally.delivered,
            missing: tally.missing,
            duplicates: tally.duplicates,
            errors: tally.errors,
            first_error: tally.first_error,
            latency_ms: [50.0, 90.0, 99.0, 100.0].map(|p| ms(hist.value_at_percentile(p))),
            put_latency_ms: [50.0, 99.0].map(|p| ms(puts.value_at_percentile(p))),
            timed: hist.len(),
            gateway_rss: tally.gateway_rss,
            etcd_rss: tally.etcd_rss,
        }
    }

    /// Whether a stream or put failed or an event went missing, which makes the run suspect.
    pub fn failed(&self) -> bool {
        self.errors > 0 || self.missing > 0 || self.duplicates > 0
    }

    /// As a JSON object; memory in KiB.
    fn to_json(&self) -> Value {
        let rss = |rss: Rss| {
            json!({
                "before_kib": rss.before_kib,
                "peak_kib": rss.peak_kib,
                "growth_kib": rss.peak_kib as i64 - rss.before_kib as i64,
            })
        };
        let [p50, p90, p99, max] = self.latency_ms.map(|ms| round(ms, 3));
        json!({
            "target": self.target,
            "watchers": self.watchers,
            "failed_to_open": self.failed_to_open,
            "puts": self.puts,
            "events_expected": self.puts * self.watchers as u64,
            "events_delivered": self.delivered,
            "events_missing": self.missing,
            "events_duplicated": self.duplicates,
            "events_timed": self.timed,
            "errors": self.errors,
            "first_error": self.first_error,
            "latency_ms": { "p50": p50, "p90": p90, "p99": p99, "max": max },
            "put_latency_ms": {
                "p50": round(self.put_latency_ms[0], 3),
                "p99": round(self.put_latency_ms[1], 3),
            },
            "gateway_in_etcd_process": self.gateway_in_etcd,
            "gateway_rss": rss(self.gateway_rss),
            "etcd_rss": rss(self.etcd_rss),
        })
    }
}

/// Prints the watch table, the latency ratios and any failures.
pub fn print(measurements: &[WatchMeasurement]) {
    println!(
        "\n{:<8} {:<14} {:>7} {:>9} {:>7} {:>8} {:>8} {:>8} {:>18} {:>18}",
        "watch",
        "target",
        "streams",
        "events",
        "missing",
        "p50 ms",
        "p99 ms",
        "max ms",
        "gateway RSS MiB",
        "etcd RSS MiB"
    );
    for m in measurements {
        let flag = if m.failed() { "  FAILED" } else { "" };
        let gateway = match m.gateway_in_etcd {
            true => "(in etcd) ->".to_owned(),
            false => show_rss(m.gateway_rss),
        };
        println!(
            "{:<8} {:<14} {:>7} {:>9} {:>7} {:>8.3} {:>8.3} {:>8.3} {gateway:>18} {:>18}{flag}",
            "",
            m.target,
            m.watchers,
            m.delivered,
            m.missing,
            m.latency_ms[0],
            m.latency_ms[2],
            m.latency_ms[3],
            show_rss(m.etcd_rss)
        );
    }
    println!(
        "  events: delivered over all streams; latency: put sent -> event line received\n  \
         RSS: peak while the streams were open (growth over just before); etcd's gateway \
         runs inside etcd,\n  \
         whose growth in a later run is understated (Go keeps the heap earlier runs grew)"
    );
    for m in measurements {
        println!(
            "  {}: {} puts, writer's put latency p50 {:.3} ms p99 {:.3} ms",
            m.target, m.puts, m.put_latency_ms[0], m.put_latency_ms[1]
        );
    }
    if let Some((p50, p99)) = ratios(measurements) {
        println!(
            "\nwatch delivery latency of ours relative to etcd-gateway (lower is better):\n  \
             p50 {p50:.2}x   p99 {p99:.2}x"
        );
    }
    for m in measurements.iter().filter(|m| m.failed()) {
        println!(
            "\nwatch on {}: {} missing, {} duplicated events, {} failed streams or puts \
             ({} streams never opened), first: {}",
            m.target,
            m.missing,
            m.duplicates,
            m.errors,
            m.failed_to_open,
            m.first_error.as_deref().unwrap_or("-")
        );
    }
}

/// The watch results and the ratios, as JSON.
pub fn to_json(measurements: &[WatchMeasurement]) -> (Value, Value) {
    let results = measurements.iter().map(WatchMeasurement::to_json).collect();
    let ratios = ratios(measurements).map(|(p50, p99)| {
        json!({
            "ours_over_etcd_gateway_latency_p50": round(p50, 3),
            "ours_over_etcd_gateway_latency_p99": round(p99, 3),
        })
    });
    (Value::Array(results), ratios.unwrap_or(Value::Null))
}

/// Ours' delivery latency p50 and p99 over etcd's gateway's, if both ran.
fn ratios(measurements: &[WatchMeasurement]) -> Option<(f64, f64)> {
    let find = |target: Target| measurements.iter().find(|m| m.target == target.label());
    let (ours, theirs) = (find(Target::Ours)?, find(Target::EtcdGateway)?);
    let over = |i: usize| ours.latency_ms[i] / theirs.latency_ms[i];
    (theirs.latency_ms[0] > 0.0 && theirs.latency_ms[2] > 0.0).then(|| (over(0), over(2)))
}

/// `peak (+growth)` in MiB.
fn show_rss(rss: Rss) -> String {
    let mib = |kib: i64| kib as f64 / 1024.0;
    let growth = rss.peak_kib as i64 - rss.before_kib as i64;
    format!("{:.1} ({:+.1})", mib(rss.peak_kib as i64), mib(growth))
}
