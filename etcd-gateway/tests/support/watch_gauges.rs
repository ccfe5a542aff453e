//! etcd's watch gauges from `/metrics`: how many watchers and watch streams the server holds.

use std::time::{Duration, Instant};

use super::gateway::Server;
use super::http;

/// `(etcd_debugging_mvcc_watcher_total, etcd_debugging_mvcc_watch_stream_total)`.
pub async fn watch_gauges(etcd: &impl Server) -> (u64, u64) {
    let reply = http::get(&etcd.addr(), "/metrics").await;
    assert_eq!(reply.status, 200, "GET /metrics: {}", reply.status);
    let text = reply.text();
    let gauge = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("/metrics has no {name}")) as u64
    };
    (
        gauge("etcd_debugging_mvcc_watcher_total"),
        gauge("etcd_debugging_mvcc_watch_stream_total"),
    )
}

/// Polls the watch gauges until they equal `want`; panics after `wait` with the last value.
pub async fn await_watch_gauges(etcd: &impl Server, want: (u64, u64), wait: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = watch_gauges(etcd).await;
        if got == want {
            return start.elapsed();
        }
        if start.elapsed() > wait {
            panic!(
                "{}: (watchers, watch streams) stayed {got:?}, expected {want:?} within {wait:?}",
                etcd.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
