//! What travels through a watch: the writer's stamped values and the gateways' JSON lines.

use anyhow::{Context, Result};
use serde_json::Value;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

/// Size of every value the writer puts, like the unary put scenario's.
const VALUE_LEN: usize = 100;

/// Digits of the sequence number at the start of a value.
const SEQ_DIGITS: usize = 10;

/// Digits of the send time that follows it.
const NANOS_DIGITS: usize = 20;

/// What the writer embeds in each value: which put it was and when it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The put's position in the writer's sequence, from 0.
    pub seq: u64,
    /// When the put was sent, in nanoseconds since the run's epoch.
    pub sent_nanos: u64,
}

impl Stamp {
    /// The value carrying this stamp: ASCII digits padded to [`VALUE_LEN`] bytes.
    pub fn encode(self) -> Vec<u8> {
        let mut value = format!(
            "{:0SEQ_DIGITS$} {:0NANOS_DIGITS$} ",
            self.seq, self.sent_nanos
        )
        .into_bytes();
        value.resize(VALUE_LEN, b'v');
        value
    }

    /// The stamp in `value`, if it carries one.
    pub fn decode(value: &[u8]) -> Option<Stamp> {
        let digits = |range: std::ops::Range<usize>| {
            std::str::from_utf8(value.get(range)?).ok()?.parse().ok()
        };
        Some(Stamp {
            seq: digits(0..SEQ_DIGITS)?,
            sent_nanos: digits(SEQ_DIGITS + 1..SEQ_DIGITS + 1 + NANOS_DIGITS)?,
        })
    }
}

/// One message of a watch response stream, as far as the benchmark cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// The watch was created.
    Created,
    /// Events, as the stamps in their values.
    Events(Vec<Stamp>),
    /// Anything else (e.g. a progress notification).
    Other,
}

/// Parses one line of a watch response stream: `{"result":{...}}` or `{"error":{...}}`.
pub fn parse_line(line: &[u8]) -> Result<Message> {
    let message: Value = serde_json::from_slice(line).with_context(|| {
        format!(
            "malformed watch message {:?}",
            String::from_utf8_lossy(&line[..line.len().min(200)])
        )
    })?;
    if let Some(error) = message.get("error") {
        anyhow::bail!("watch stream error: {error}");
    }
    let result = message
        .get("result")
        .context("watch message without result")?;
    if result["canceled"] == true {
        anyhow::bail!("watch canceled: {}", result["cancel_reason"]);
    }
    if result["created"] == true {
        return Ok(Message::Created);
    }
    let Some(events) = result.get("events").and_then(Value::as_array) else {
        return Ok(Message::Other);
    };
    events
        .iter()
        .map(|event| {
            let value = event["kv"]["value"].as_str().unwrap_or_default();
            BASE64
                .decode(value)
                .ok()
                .as_deref()
                .and_then(Stamp::decode)
                .with_context(|| format!("event without a stamped value: {event}"))
        })
        .collect::<Result<_>>()
        .map(Message::Events)
}

#[cfg(test)]
mod tests {
    use super::{Message, Stamp, parse_line};
    use base64::{Engine, engine::general_purpose::STANDARD as BASE64};

    #[test]
    fn stamps_round_trip_through_fixed_size_values() {
        let stamp = Stamp {
            seq: 42,
            sent_nanos: 1_234_567_890_123,
        };
        let value = stamp.encode();
        assert_eq!(value.len(), 100);
        assert_eq!(Stamp::decode(&value), Some(stamp));
        assert_eq!(Stamp::decode(b"not a stamp"), None);
    }

    #[test]
    fn parses_created_events_and_errors() {
        let created = br#"{"result":{"header":{"revision":"1"},"created":true}}"#;
        assert_eq!(parse_line(created).unwrap(), Message::Created);
        let stamp = Stamp {
            seq: 7,
            sent_nanos: 99,
        };
        let value = BASE64.encode(stamp.encode());
        let events = format!(
            r#"{{"result":{{"header":{{}},"events":[{{"kv":{{"key":"eA==","value":"{value}"}}}}]}}}}"#
        );
        assert_eq!(
            parse_line(events.as_bytes()).unwrap(),
            Message::Events(vec![stamp])
        );
        assert_eq!(
            parse_line(br#"{"result":{"header":{}}}"#).unwrap(),
            Message::Other
        );
        assert!(parse_line(br#"{"error":{"grpc_code":14}}"#).is_err());
        assert!(parse_line(br#"{"result":{"canceled":true}}"#).is_err());
        assert!(parse_line(b"{").is_err());
    }
}
