//! A received message over the size limit is etcd's `ResourceExhausted`.
//!
//! tonic refuses such a message with `OutOfRange` (`Error, decoded message length too large:
//! found N bytes, the limit is: M bytes`); grpc-go, and so etcd 3.5.1, with `ResourceExhausted`
//! `grpc: received message larger than max (N vs. M)` (HTTP 429 through the gateway). This
//! rewrites the first into the second on the (trailers-only) response of a refused call.

use http::Response;
use tonic::{Code, Status};

/// The start of tonic's message for a received message over the limit.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large: found ";

/// `response` with tonic's over-the-limit `OutOfRange` status replaced by etcd's
/// `ResourceExhausted` one; any other response unchanged.
pub fn as_resource_exhausted<B>(mut response: Response<B>) -> Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if let Some(replaced) = etcd_status(&status) {
        // The rewritten message is ASCII, so it always fits in a header.
        let _ = replaced.add_header(response.headers_mut());
    }
    response
}

/// etcd's status for tonic's `status`, if that is an over-the-limit refusal.
fn etcd_status(status: &Status) -> Option<Status> {
    if status.code() != Code::OutOfRange {
        return None;
    }
    let rest = status.message().strip_prefix(TONIC_TOO_LARGE)?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    Some(Status::resource_exhausted(format!(
        "grpc: received message larger than max ({found} vs. {limit})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonics_refusal_becomes_etcds() {
        let tonic = Status::out_of_range(
            "Error, decoded message length too large: found 2500008 bytes, the limit is: \
             2097152 bytes",
        );
        let response = as_resource_exhausted(tonic.into_http::<()>());
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (2500008 vs. 2097152)"
        );
    }

    #[test]
    fn other_statuses_are_unchanged() {
        let compacted = Status::out_of_range("mvcc: required revision has been compacted");
        let response = as_resource_exhausted(compacted.into_http::<()>());
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::OutOfRange);
        let ok = as_resource_exhausted(Response::new(()));
        assert!(Status::from_header_map(ok.headers()).is_none());
    }
}
