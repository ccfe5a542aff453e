//! One watcher: an HTTP/1.1 connection carrying one `POST /v3/watch` response stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::event::{self, Message};

/// An open watch stream whose watch etcd has created.
pub struct Stream {
    /// The response body: one JSON message per line.
    body: Incoming,
    /// Bytes received after the last complete line.
    pending: BytesMut,
    /// The connection's request side, kept so that nothing closes the connection early.
    _sender: SendRequest<Full<Bytes>>,
    /// The task driving the connection, aborted when the stream is done.
    connection: JoinHandle<()>,
}

/// What one watcher saw after its watch was created.
pub struct StreamTally {
    /// Whether each put (by sequence number) was delivered.
    seen: Vec<bool>,
    /// Events delivered more than once.
    pub duplicates: u64,
    /// Delivery latencies of the measured events, in microseconds.
    pub latency_us: Vec<u64>,
    /// Why the stream failed, if it did.
    pub error: Option<String>,
}

impl StreamTally {
    /// Of the puts that succeeded (by sequence number), how many this watcher never received.
    pub fn missing(&self, succeeded: &[bool]) -> u64 {
        let seen = |seq: usize| self.seen.get(seq).copied().unwrap_or(false);
        let missing = succeeded
            .iter()
            .enumerate()
            .filter(|&(seq, &ok)| ok && !seen(seq))
            .count();
        missing as u64
    }
}

/// When delivery latencies count, and how the watchers report progress and are stopped.
#[derive(Clone)]
pub struct Watching {
    /// The run's epoch, which the writer's stamps count from.
    pub epoch: Instant,
    /// Events sent before this many nanoseconds after the epoch are warmup.
    pub measure_from_nanos: u64,
    /// Distinct events delivered, over all watchers.
    pub delivered: Arc<AtomicU64>,
    /// Becomes `true` when the watchers should stop reading.
    pub stop: watch::Receiver<bool>,
}

impl Stream {
    /// Connects to `addr`, posts the watch `body` and reads until the watch is created.
    pub async fn open(addr: SocketAddr, body: Bytes) -> Result<Stream> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        tcp.set_nodelay(true)?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::builder()
            .method(Method::POST)
            .uri("/v3/watch")
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body();
        if status != StatusCode::OK {
            let text = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text[..text.len().min(200)]).into_owned();
            connection.abort();
            anyhow::bail!("HTTP {status}: {text}");
        }
        let mut stream = Stream {
            body,
            pending: BytesMut::new(),
            _sender: sender,
            connection,
        };
        loop {
            match stream.next_line().await? {
                Some(line) if event::parse_line(&line)? == Message::Created => return Ok(stream),
                Some(_) => {}
                None => anyhow::bail!("the watch stream ended before the watch was created"),
            }
        }
    }

    /// Records every event until told to stop, or until the stream fails.
    pub async fn run(mut self, mut watching: Watching) -> StreamTally {
        let mut tally = StreamTally {
            seen: Vec::new(),
            duplicates: 0,
            latency_us: Vec::new(),
            error: None,
        };
        let result = loop {
            let line = tokio::select! {
                biased;
                _ = watching.stop.wait_for(|&stop| stop) => break Ok(()),
                line = self.next_line() => line,
            };
            match line {
                Ok(Some(line)) => {
                    if let Err(err) = record(&line, &watching, &mut tally) {
                        break Err(err);
                    }
                }
                Ok(None) => break Err(anyhow::anyhow!("the watch stream ended")),
                Err(err) => break Err(err),
            }
        };
        tally.error = result.err().map(|err| format!("{err:#}"));
        self.connection.abort();
        tally
    }

    /// The next complete line (without its newline), or `None` at the end of the body.
    async fn next_line(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line = self.pending.split_to(end).freeze();
                self.pending.advance(1);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(line));
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame.context("watch stream failed")?.into_data() {
                        self.pending.extend_from_slice(&data);
                    }
                }
                None => return Ok(None),
            }
        }
    }
}

/// Parses one line and records the events it carries.
fn record(line: &[u8], watching: &Watching, tally: &mut StreamTally) -> Result<()> {
    let Message::Events(stamps) = event::parse_line(line)? else {
        return Ok(());
    };
    let received_nanos = watching.epoch.elapsed().as_nanos();
    for stamp in stamps {
        let seq = usize::try_from(stamp.seq)?;
        if tally.seen.len() <= seq {
            tally.seen.resize(seq + 1, false);
        }
        if std::mem::replace(&mut tally.seen[seq], true) {
            tally.duplicates += 1;
            continue;
        }
        watching.delivered.fetch_add(1, Ordering::Relaxed);
        if stamp.sent_nanos >= watching.measure_from_nanos {
            let latency = received_nanos.saturating_sub(u128::from(stamp.sent_nanos)) / 1000;
            tally
                .latency_us
                .push(latency.try_into().unwrap_or(u64::MAX));
        }
    }
    Ok(())
}
