//! Watch streams read in the background over any of the gateway's transports (JSON lines,
//! Server-Sent Events, WebSocket), recording every event revision with its arrival time, for
//! continuity checks across member failures.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::http_stream::{Stream, parse};
use super::websocket_client::{Socket, WsEvent, ws_next};

/// How a watch stream reaches the test.
pub enum WatchConn {
    /// `POST /v3/watch`, one JSON object per line.
    Lines(Stream),
    /// `POST /v3/watch` with `Accept: text/event-stream`.
    Sse(Stream),
    /// A WebSocket on `/v3/watch`.
    Ws(Box<Socket>),
}

impl WatchConn {
    /// The next message as JSON; `Ok(None)` when the stream ended, `Err` after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<Value>, String> {
        match self {
            WatchConn::Lines(stream) => Ok(stream
                .next_delimited(b"\n", wait)
                .await?
                .map(|line| parse(&line))),
            WatchConn::Sse(stream) => {
                Ok(stream.next_delimited(b"\n\n", wait).await?.map(|event| {
                    let data = event
                        .trim_end()
                        .strip_prefix("data: ")
                        .unwrap_or_else(|| panic!("not an SSE data event: {event:?}"));
                    parse(data)
                }))
            }
            WatchConn::Ws(socket) => match ws_next(socket, wait).await {
                WsEvent::Text(text) => Ok(Some(parse(&text))),
                WsEvent::Closed => Ok(None),
                WsEvent::Timeout => Err(format!("WebSocket: nothing within {wait:?}")),
                WsEvent::Binary(data) => Err(format!("WebSocket: binary message {data:?}")),
            },
        }
    }
}

/// What one watch stream delivered.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Event revisions in arrival order, with when they arrived.
    pub events: Vec<(i64, Instant)>,
    /// How many `created` messages arrived.
    pub created: usize,
    /// The `watch_id` of every message (`"0"` when absent).
    pub watch_ids: Vec<String>,
    /// Messages that were neither `created` nor events (cancellations, errors, progress).
    pub others: Vec<Value>,
    /// Why reading stopped early, if it did.
    pub failure: Option<String>,
}

/// The `mod_revision`s of a watch message's events.
pub fn event_revisions(message: &Value) -> Vec<i64> {
    message["result"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|event| {
                    event["kv"]["mod_revision"]
                        .as_str()
                        .and_then(|revision| revision.parse().ok())
                        .unwrap_or_else(|| panic!("event without mod_revision: {event}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads `conn` in the background until an event of revision `until` or later arrived (the
/// value is set once the writes are done), the stream ends, or `deadline` passes.
pub fn spawn_reader(
    mut conn: WatchConn,
    mut until: watch::Receiver<Option<i64>>,
    deadline: Instant,
) -> JoinHandle<(Delivered, WatchConn)> {
    tokio::spawn(async move {
        let mut delivered = Delivered::default();
        loop {
            let last = delivered.events.last().map(|(revision, _)| *revision);
            if let (Some(target), Some(last)) = (*until.borrow_and_update(), last)
                && last >= target
            {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                delivered.failure = Some(format!("deadline passed after revision {last:?}"));
                break;
            }
            let message = tokio::select! {
                message = conn.next(left) => message,
                _ = until.changed() => continue,
            };
            match message {
                Ok(Some(message)) => {
                    let result = &message["result"];
                    let id = result["watch_id"].as_str().unwrap_or("0").to_owned();
                    delivered.watch_ids.push(id);
                    let revisions = event_revisions(&message);
                    if result["created"] == true {
                        delivered.created += 1;
                    } else if revisions.is_empty() {
                        delivered.others.push(message.clone());
                    }
                    let now = Instant::now();
                    delivered
                        .events
                        .extend(revisions.into_iter().map(|revision| (revision, now)));
                }
                Ok(None) => {
                    delivered.failure = Some("the stream ended".to_owned());
                    break;
                }
                Err(why) => {
                    delivered.failure = Some(why);
                    break;
                }
            }
        }
        (delivered, conn)
    })
}
