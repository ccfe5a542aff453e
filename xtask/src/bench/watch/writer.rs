//! The one writer: puts under the watched prefix at a fixed rate, over direct gRPC.
//!
//! The writer is open-loop: each put is sent on its tick whether or not the previous ones have
//! been answered, so a slow etcd does not lower the rate (and so the number of events).

use std::time::{Duration, Instant};

use etcd_gateway::etcdserverpb::PutRequest;
use etcd_gateway::etcdserverpb::kv_client::KvClient;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use super::event::Stamp;

/// What the writer did.
pub struct Written {
    /// Whether each put (by sequence number) succeeded.
    pub succeeded: Vec<bool>,
    /// Successful puts.
    pub puts: u64,
    /// Failed puts.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Put latencies (send to response), in microseconds: the floor under delivery latency.
    pub latency_us: Histogram<u64>,
}

/// Puts `rate` times a second for `total`, each value stamped with its sequence number and its
/// send time relative to `epoch`, each key `prefix` followed by the sequence number; returns
/// once every put has been answered.
pub async fn run(
    channel: Channel,
    prefix: &[u8],
    rate: u32,
    total: Duration,
    epoch: Instant,
) -> Written {
    let client = KvClient::new(channel);
    let deadline = tokio::time::Instant::now() + total;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut puts = JoinSet::new();
    let mut seq = 0u64;
    while ticks.tick().await < deadline {
        let mut client = client.clone();
        let mut key = prefix.to_vec();
        key.extend_from_slice(format!("{seq:010}").as_bytes());
        puts.spawn(async move {
            let sent = Instant::now();
            let stamp = Stamp {
                seq,
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
            let result = client.put(request).await.map(|_| sent.elapsed());
            (seq, result)
        });
        seq += 1;
    }
    let mut written = Written {
        succeeded: vec![false; usize::try_from(seq).unwrap_or(usize::MAX)],
        puts: 0,
        errors: 0,
        first_error: None,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
    };
    while let Some(put) = puts.join_next().await {
        match put {
            Ok((seq, Ok(latency))) => {
                written.succeeded[seq as usize] = true;
                written.puts += 1;
                let micros = latency.as_micros().try_into().unwrap_or(u64::MAX);
                written.latency_us.saturating_record(micros);
            }
            Ok((_, Err(status))) => written.fail(format!("put failed: {status}")),
            Err(err) => written.fail(format!("put task failed: {err}")),
        }
    }
    written
}

impl Written {
    /// Counts a failed put.
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}
