//! Request headers → gRPC metadata and deadline; gRPC response metadata → response headers.
//!
//! Forwarded request headers (everything else is dropped):
//! * `Authorization: <token>` → `authorization: <token>`, with a leading `Bearer ` stripped
//!   (case-insensitive), because gRPC servers commonly expect the bare token;
//! * `Grpc-Metadata-<Key>: <value>` → `<key>: <value>`; keys or values that are not valid
//!   gRPC metadata, and reserved or connection-specific keys, are skipped;
//! * `Grpc-Timeout: <digits><H|M|S|m|u|n>` → the call deadline.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use tonic::{Status, metadata::MetadataMap};

/// Prefix of request and response headers that carry gRPC metadata (lowercase).
pub(crate) const METADATA_HEADER_PREFIX: &str = "grpc-metadata-";

/// The request header carrying a gRPC deadline.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The longest deadline passed on; tonic cannot encode anything longer.
const MAX_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);

/// The gRPC metadata forwarded from an incoming request's headers: `authorization` and the
/// `Grpc-Metadata-*` entries (the deadline is read separately, by [`grpc_timeout`]).
pub(crate) fn forwarded_metadata(headers: &HeaderMap) -> MetadataMap {
    let mut forwarded = HeaderMap::new();

    for value in headers.get_all(header::AUTHORIZATION) {
        if let Some(token) = authorization_token(value) {
            forwarded.append(header::AUTHORIZATION, token);
        }
    }

    for (name, value) in headers {
        let Some(key) = name.as_str().strip_prefix(METADATA_HEADER_PREFIX) else {
            continue;
        };
        if !is_forwardable_key(key) || !is_valid_value(key, value.as_bytes()) {
            continue;
        }
        if let Ok(key) = HeaderName::from_bytes(key.as_bytes()) {
            forwarded.append(key, value.clone());
        }
    }
    MetadataMap::from_headers(forwarded)
}

/// Reads the `Grpc-Timeout` header: `Ok(None)` when absent, an
/// [`tonic::Code::InvalidArgument`] status when malformed.
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Result<Option<Duration>, Status> {
    let Some(value) = headers.get(GRPC_TIMEOUT) else {
        return Ok(None);
    };
    match parse_grpc_timeout(value.as_bytes()) {
        Some(timeout) => Ok(Some(timeout)),
        None => Err(Status::invalid_argument(format!(
            "invalid grpc-timeout: {}",
            String::from_utf8_lossy(value.as_bytes())
        ))),
    }
}

/// Parses a gRPC timeout value: ASCII digits followed by one unit of `H` (hours), `M`
/// (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds).
///
/// Returns `None` when malformed. Values too large to forward are capped.
pub(crate) fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount = digits.iter().try_fold(0u64, |acc, digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    let timeout = match unit {
        b'H' => amount.checked_mul(3600).map(Duration::from_secs),
        b'M' => amount.checked_mul(60).map(Duration::from_secs),
        b'S' => Some(Duration::from_secs(amount)),
        b'm' => Some(Duration::from_millis(amount)),
        b'u' => Some(Duration::from_micros(amount)),
        b'n' => Some(Duration::from_nanos(amount)),
        _ => return None,
    };
    Some(timeout.map_or(MAX_TIMEOUT, |timeout| timeout.min(MAX_TIMEOUT)))
}

/// Adds gRPC response metadata to HTTP response headers as `Grpc-Metadata-<key>`.
///
/// Binary (`-bin`) entries and reserved `grpc-*` entries (status trailers) are skipped.
pub(crate) fn forward_response_metadata(metadata: MetadataMap, headers: &mut HeaderMap) {
    let metadata = metadata.into_headers();
    for (key, value) in &metadata {
        let key = key.as_str();
        if key.ends_with("-bin") || key.starts_with("grpc-") {
            continue;
        }
        if let Some(name) = response_header_name(key) {
            headers.append(name, value.clone());
        }
    }
}

/// `grpc-metadata-<key>`, without allocating for the common `content-type` entry.
fn response_header_name(key: &str) -> Option<HeaderName> {
    if key == "content-type" {
        return Some(HeaderName::from_static("grpc-metadata-content-type"));
    }
    let mut name = String::with_capacity(METADATA_HEADER_PREFIX.len() + key.len());
    name.push_str(METADATA_HEADER_PREFIX);
    name.push_str(key);
    HeaderName::try_from(name).ok()
}

/// The `Authorization` value to forward: the token without a `Bearer ` prefix.
fn authorization_token(value: &HeaderValue) -> Option<HeaderValue> {
    const BEARER: &[u8] = b"bearer ";
    let bytes = value.as_bytes();
    let token = if bytes.len() >= BEARER.len() && bytes[..BEARER.len()].eq_ignore_ascii_case(BEARER)
    {
        let rest = &bytes[BEARER.len()..];
        let start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
        HeaderValue::from_bytes(&rest[start..]).ok()?
    } else {
        value.clone()
    };
    is_ascii_value(token.as_bytes()).then_some(token)
}

/// Whether a `Grpc-Metadata-` suffix may be sent upstream as a metadata key.
fn is_forwardable_key(key: &str) -> bool {
    const RESERVED: [&str; 8] = [
        "te",
        "content-type",
        "user-agent",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
    ];
    !key.is_empty()
        && key.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !key.starts_with("grpc-")
        && key != "upgrade"
        && !RESERVED.contains(&key)
}

/// Whether `value` is valid for metadata `key` (base64 for `-bin` keys, printable ASCII else).
fn is_valid_value(key: &str, value: &[u8]) -> bool {
    if key.ends_with("-bin") {
        value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    } else {
        is_ascii_value(value)
    }
}

/// Printable ASCII, as gRPC requires for ASCII metadata values.
fn is_ascii_value(value: &[u8]) -> bool {
    value.iter().all(|b| (0x20..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::RequestContext;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn forwarded(pairs: &[(&str, &[u8])]) -> Vec<(String, String)> {
        let metadata = forwarded_metadata(&headers(pairs)).into_headers();
        let mut entries: Vec<_> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        entries.sort();
        entries
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn authorization_is_forwarded_without_bearer() {
        assert_eq!(
            forwarded(&[("authorization", b"tok.1")]),
            pairs(&[("authorization", "tok.1")])
        );
        for value in [&b"Bearer tok.1"[..], b"bearer tok.1", b"BEARER  tok.1"] {
            assert_eq!(
                forwarded(&[("authorization", value)]),
                pairs(&[("authorization", "tok.1")])
            );
        }
        assert_eq!(
            forwarded(&[("authorization", b"Bearertok")]),
            pairs(&[("authorization", "Bearertok")])
        );
    }

    #[test]
    fn grpc_metadata_headers_are_forwarded_lowercased() {
        assert_eq!(
            forwarded(&[
                ("Grpc-Metadata-Token", b"abc"),
                ("grpc-metadata-hasleader", b"true"),
                ("grpc-metadata-multi", b"1"),
                ("grpc-metadata-multi", b"2"),
                ("grpc-metadata-data-bin", b"AAEC/w=="),
            ]),
            pairs(&[
                ("data-bin", "AAEC/w=="),
                ("hasleader", "true"),
                ("multi", "1"),
                ("multi", "2"),
                ("token", "abc"),
            ])
        );
    }

    #[test]
    fn other_and_invalid_headers_are_dropped() {
        assert_eq!(
            forwarded(&[
                ("content-type", b"application/json"),
                ("accept", b"*/*"),
                ("user-agent", b"curl"),
                ("x-custom", b"1"),
                ("grpc-metadata-", b"empty key"),
                ("grpc-metadata-a!b", b"bad key"),
                ("grpc-metadata-grpc-status", b"0"),
                ("grpc-metadata-connection", b"close"),
                ("grpc-metadata-te", b"trailers"),
                ("grpc-metadata-content-type", b"application/grpc"),
                ("grpc-metadata-utf8", "é".as_bytes()),
                ("grpc-metadata-tab", b"a\tb"),
                ("grpc-metadata-raw-bin", b"not base64!"),
                ("authorization", "é".as_bytes()),
            ]),
            pairs(&[])
        );
    }

    #[test]
    fn timeout_is_parsed_and_forwarded() {
        let map = headers(&[("grpc-timeout", b"1500m")]);
        assert_eq!(
            grpc_timeout(&map).unwrap(),
            Some(Duration::from_millis(1500))
        );
        let context = RequestContext::from_headers(&map).unwrap();
        let request = context.unary_request(());
        // What is forwarded is the time left, counted from the request's arrival.
        let forwarded = request.metadata().get("grpc-timeout").unwrap();
        let left = parse_grpc_timeout(forwarded.as_bytes()).unwrap();
        assert!(left <= Duration::from_millis(1500), "{forwarded:?}");
        assert!(left > Duration::from_millis(1000), "{forwarded:?}");
        assert_eq!(grpc_timeout(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn timeout_units() {
        let cases: [(&[u8], Duration); 7] = [
            (b"2H", Duration::from_secs(7200)),
            (b"3M", Duration::from_secs(180)),
            (b"1S", Duration::from_secs(1)),
            (b"100m", Duration::from_millis(100)),
            (b"7u", Duration::from_micros(7)),
            (b"1n", Duration::from_nanos(1)),
            (b"0S", Duration::ZERO),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_grpc_timeout(value), Some(expected), "{value:?}");
        }
        assert_eq!(parse_grpc_timeout(b"99999999999999H"), Some(MAX_TIMEOUT));
    }

    #[test]
    fn malformed_timeouts_are_rejected() {
        for value in [
            &b""[..],
            b"S",
            b"10",
            b"10s",
            b"-1S",
            b"+1S",
            b"1.5S",
            b" 1S",
            b"bogus",
            b"99999999999999999999999S",
        ] {
            assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
        }
        let status =
            RequestContext::from_headers(&headers(&[("grpc-timeout", b"bogus")])).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "invalid grpc-timeout: bogus");
    }

    #[test]
    fn response_metadata_becomes_headers() {
        let mut metadata = MetadataMap::new();
        metadata.insert("content-type", "application/grpc".parse().unwrap());
        metadata.insert("x-trace", "abc".parse().unwrap());
        metadata.insert("grpc-status", "0".parse().unwrap());
        metadata.insert_bin(
            "blob-bin",
            tonic::metadata::MetadataValue::from_bytes(b"\x00\x01"),
        );
        let mut out = HeaderMap::new();
        forward_response_metadata(metadata, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out["grpc-metadata-content-type"], "application/grpc");
        assert_eq!(out["grpc-metadata-x-trace"], "abc");
    }
}
