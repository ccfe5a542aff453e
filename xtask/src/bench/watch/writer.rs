//! The one writer: puts under the watched prefix at a fixed rate, over direct gRPC.

use std::time::{Duration, Instant};

use etcd_gateway::etcdserverpb::PutRequest;
use etcd_gateway::etcdserverpb::kv_client::KvClient;
use hdrhistogram::Histogram;
use tokio::time::MissedTickBehavior;
use tonic::transport::Channel;

use super::event::Stamp;

/// What the writer did.
pub struct Written {
    /// Successful puts; their sequence numbers are `0..puts`.
    pub puts: u64,
    /// Failed puts.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Put latencies (send to response), in microseconds: the floor under delivery latency.
    pub latency_us: Histogram<u64>,
}

/// Puts `rate` times a second for `total`, each value stamped with its sequence number and its
/// send time relative to `epoch`, each key `prefix` followed by the sequence number.
pub async fn run(
    channel: Channel,
    prefix: &[u8],
    rate: u32,
    total: Duration,
    epoch: Instant,
) -> Written {
    let mut client = KvClient::new(channel);
    let mut written = Written {
        puts: 0,
        errors: 0,
        first_error: None,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
    };
    let deadline = tokio::time::Instant::now() + total;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if ticks.tick().await >= deadline {
            break;
        }
        let mut key = prefix.to_vec();
        key.extend_from_slice(format!("{:010}", written.puts).as_bytes());
        let sent = Instant::now();
        let stamp = Stamp {
            seq: written.puts,
            sent_nanos: sent
                .duration_since(epoch)
                .as_nanos()
                .try_into()
                .unwrap_or(u64::MAX),
        };
        let request = PutRequest {
            key,
            value: stamp.encode(),
            ..Default::default()
        };
        match client.put(request).await {
            Ok(_) => {
                written.puts += 1;
                let micros = sent.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                written.latency_us.saturating_record(micros);
            }
            Err(status) => {
                written.errors += 1;
                written
                    .first_error
                    .get_or_insert_with(|| format!("put failed: {status}"));
            }
        }
    }
    written
}
