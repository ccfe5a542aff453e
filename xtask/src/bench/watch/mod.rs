//! The watch fan-out scenario: many HTTP watch streams on one key prefix, one paced writer.
//!
//! Every stream is opened, and its watch created, before the writer starts. The writer puts
//! under the prefix at a fixed rate over direct gRPC, stamping each value with its send time;
//! every watcher records, per event, the time from that stamp to the line's arrival. Events
//! sent during the warmup are delivered and counted but not timed. After the writer stops,
//! the watchers get until every stream has every event (or [`DRAIN_TIMEOUT`]) before they stop.

mod event;
mod stream;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use self::stream::{Stream, Watching};
use super::procfs::{self, RssSampler};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

/// The watched prefix; the writer puts `bench/watch/<sequence number>`.
const PREFIX: &[u8] = b"bench/watch/";

/// Streams being opened at once, so the servers' listen backlogs do not overflow.
const OPEN_CONCURRENCY: usize = 32;

/// How long opening one stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the watchers may take, after the last put, to receive every event.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors allowed for besides the streams' connections, per process.
pub const FD_HEADROOM: u64 = 256;

/// The watch load: how many streams, how many puts, for how long.
pub struct WatchLoad {
    /// Concurrent watch streams, one HTTP/1.1 connection each.
    pub watchers: usize,
    /// Puts per second.
    pub rate: u32,
    /// Puts whose delivery is counted but not timed.
    pub warmup: Duration,
    /// Puts whose delivery is timed.
    pub duration: Duration,
}

/// The processes whose memory is sampled while the streams are open.
pub struct Pids {
    /// The process serving the JSON gateway (etcd itself for etcd's built-in gateway).
    pub gateway: u32,
    /// etcd.
    pub etcd: u32,
}

/// Resident memory of one process: before the streams opened, and the peak from their opening
/// to the end of the run.
#[derive(Clone, Copy)]
pub struct Rss {
    /// KiB before the streams were opened.
    pub before_kib: u64,
    /// Peak KiB while the streams were open.
    pub peak_kib: u64,
}

/// What one run saw.
pub struct WatchTally {
    /// Streams asked for.
    pub watchers: usize,
    /// Streams that failed to open.
    pub failed_to_open: usize,
    /// Successful puts, each of which every stream should deliver.
    pub puts: u64,
    /// Distinct events delivered, over all streams.
    pub delivered: u64,
    /// Events some stream never delivered (all of them for a stream that failed to open).
    pub missing: u64,
    /// Events delivered twice to the same stream.
    pub duplicates: u64,
    /// Streams or puts that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Delivery latencies of the measured events, in microseconds.
    pub latency_us: Histogram<u64>,
    /// The writer's put latencies, in microseconds.
    pub put_latency_us: Histogram<u64>,
    /// The process serving the JSON gateway.
    pub gateway_rss: Rss,
    /// etcd.
    pub etcd_rss: Rss,
}

/// The `POST /v3/watch` body every stream sends: a watch on the whole of [`PREFIX`].
fn create_request() -> Bytes {
    let mut range_end = PREFIX.to_vec();
    *range_end.last_mut().expect("non-empty prefix") += 1;
    Bytes::from(format!(
        r#"{{"create_request":{{"key":"{}","range_end":"{}"}}}}"#,
        BASE64.encode(PREFIX),
        BASE64.encode(&range_end)
    ))
}

/// Runs the watch load against the JSON gateway at `addr`, writing over `channel`.
pub async fn measure(
    addr: SocketAddr,
    channel: &Channel,
    pids: Pids,
    load: &WatchLoad,
) -> Result<WatchTally> {
    let before = [procfs::rss_kib(pids.gateway)?, procfs::rss_kib(pids.etcd)?];
    let sampler = RssSampler::start(vec![pids.gateway, pids.etcd]);
    let (streams, open_errors) = open_all(addr, load.watchers).await;

    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let watching = Watching {
        epoch,
        measure_from_nanos: load.warmup.as_nanos().try_into()?,
        delivered: delivered.clone(),
        stop: stop_rx,
    };
    let opened = streams.len();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(stream.run(watching.clone())))
        .collect();
    let total = load.warmup + load.duration;
    let written = writer::run(channel.clone(), PREFIX, load.rate, total, epoch).await;

    let expected = written.puts * opened as u64;
    let drain_until = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while delivered.load(Ordering::Relaxed) < expected && tokio::time::Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peaks = sampler.finish().await?;
    stop.send_replace(true);

    let mut tally = WatchTally {
        watchers: load.watchers,
        failed_to_open: open_errors.len(),
        puts: written.puts,
        delivered: 0,
        missing: written.puts * open_errors.len() as u64,
        duplicates: 0,
        errors: written.errors + open_errors.len() as u64,
        first_error: written
            .first_error
            .clone()
            .or(open_errors.into_iter().next()),
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        put_latency_us: written.latency_us,
        gateway_rss: Rss {
            before_kib: before[0],
            peak_kib: peaks[0],
        },
        etcd_rss: Rss {
            before_kib: before[1],
            peak_kib: peaks[1],
        },
    };
    for reader in readers {
        let seen = reader.await?;
        let missing = seen.missing(&written.succeeded);
        tally.missing += missing;
        tally.delivered += written.puts - missing;
        tally.duplicates += seen.duplicates;
        for &latency in &seen.latency_us {
            tally.latency_us.saturating_record(latency);
        }
        if let Some(error) = seen.error {
            tally.errors += 1;
            tally.first_error.get_or_insert(error);
        }
    }
    Ok(tally)
}

/// Opens `watchers` streams to `addr`, [`OPEN_CONCURRENCY`] at a time: the open ones, and
/// why the others failed.
async fn open_all(addr: SocketAddr, watchers: usize) -> (Vec<Stream>, Vec<String>) {
    let body = create_request();
    let permits = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut opening = JoinSet::new();
    for _ in 0..watchers {
        let (body, permits) = (body.clone(), permits.clone());
        opening.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            tokio::time::timeout(OPEN_TIMEOUT, Stream::open(addr, body)).await?
        });
    }
    let (mut streams, mut errors) = (Vec::new(), Vec::new());
    while let Some(opened) = opening.join_next().await {
        match opened
            .map_err(anyhow::Error::from)
            .and_then(|opened| opened)
        {
            Ok(stream) => streams.push(stream),
            Err(err) => errors.push(format!("opening a watch stream: {err:#}")),
        }
    }
    (streams, errors)
}
