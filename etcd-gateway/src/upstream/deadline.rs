//! The `grpc-timeout` header: read from the client's request, written on every attempt.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

/// The header's name.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The timeout in `headers` (`<up to 8 digits><H|M|S|m|u|n>`), if there is a valid one.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let count: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(count * 3600),
        "M" => Duration::from_secs(count * 60),
        "S" => Duration::from_secs(count),
        "m" => Duration::from_millis(count),
        "u" => Duration::from_micros(count),
        "n" => Duration::from_nanos(count),
        _ => return None,
    })
}

/// Sets `headers`' timeout to `timeout`, in whole milliseconds (at least one).
pub fn set_grpc_timeout(headers: &mut HeaderMap, timeout: Duration) {
    let millis = timeout.as_millis().clamp(1, 99_999_999);
    headers.insert(
        GRPC_TIMEOUT,
        HeaderValue::from_str(&format!("{millis}m")).expect("digits are a valid header"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_trip() {
        let mut headers = HeaderMap::new();
        assert_eq!(grpc_timeout(&headers), None);
        set_grpc_timeout(&mut headers, Duration::from_millis(1500));
        assert_eq!(headers[GRPC_TIMEOUT], "1500m");
        assert_eq!(grpc_timeout(&headers), Some(Duration::from_millis(1500)));
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("2S"));
        assert_eq!(grpc_timeout(&headers), Some(Duration::from_secs(2)));
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("123456789m"));
        assert_eq!(grpc_timeout(&headers), None);
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("S"));
        assert_eq!(grpc_timeout(&headers), None);
    }
}
