//! JSON ↔ message conversion for request and response bodies.
//!
//! Decoding follows the behaviour clients of grpc-gateway rely on: only the first JSON value of
//! the body is read, an empty body or a top-level `null` is the default message, and `null`
//! object members mean "unset".

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::Status;

use crate::json;

/// Decodes a request message from a JSON body.
///
/// * Only the first JSON value is read; anything after it is ignored.
/// * An empty or whitespace-only body, or a top-level `null`, yields `T::default()`.
/// * A top-level value that is not an object is rejected.
/// * `null` object members (at any depth) are treated as absent.
///
/// Every failure is [`tonic::Code::InvalidArgument`] with a message naming the field path, what
/// was expected and what was found.
pub fn decode<T>(body: &[u8]) -> Result<T, Status>
where
    T: DeserializeOwned + Default,
{
    let Some(start) = body.iter().position(|b| !is_json_whitespace(*b)) else {
        return Ok(T::default());
    };
    match body[start] {
        b'{' => {}
        b'n' if body[start..].starts_with(b"null") => return Ok(T::default()),
        _ => return Err(not_an_object(body, body[start])),
    }

    // Fast path: straight from the text. Errors are rare; the slow path below parses the body
    // into a tree (resolving duplicate keys as "last one wins" and dropping `null` members) and
    // decodes that, naming the field of any error.
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Ok(message) = T::deserialize(&mut de) {
        return Ok(message);
    }
    decode_value(first_value(body)?)
}

/// Decodes a request message from an already-parsed JSON value (used when path variables and
/// query parameters are merged into the body). Errors are as for [`decode`].
pub fn decode_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, Status> {
    normalize(&mut value);
    json::from_value(value).map_err(|err| Status::invalid_argument(err.to_string()))
}

/// Parses the first JSON value of a body into a tree: empty or `null` is an empty object, and
/// anything but an object is an error (as for [`decode`]).
pub fn parse_object(body: &[u8]) -> Result<serde_json::Value, Status> {
    let Some(start) = body.iter().position(|b| !is_json_whitespace(*b)) else {
        return Ok(serde_json::Value::Object(Default::default()));
    };
    match body[start] {
        b'{' => {}
        b'n' if body[start..].starts_with(b"null") => {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        other => return Err(not_an_object(body, other)),
    }
    first_value(body)
}

/// Parses the first JSON value of a body into a tree; a syntax error names the member it is in
/// and the byte offset.
pub fn first_value(body: &[u8]) -> Result<serde_json::Value, Status> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|err| not_json(body, &err))
}

/// Encodes a response message as compact JSON.
///
/// A serialization failure is reported as [`tonic::Code::Internal`].
pub fn encode<T>(message: &T) -> Result<Bytes, Status>
where
    T: Serialize + ?Sized,
{
    serde_json::to_vec(message)
        .map(Bytes::from)
        .map_err(|err| Status::internal(format!("failed to encode response: {err}")))
}

/// Recursively removes what grpc-gateway treats as absent: object members whose value is `null`
/// (array elements are kept), and a `snake_case` member whose lowerCamelCase spelling is also
/// present (the camelCase one wins, whatever the order, as in etcd's gateway).
/// Returns whether anything was removed.
fn normalize(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let before = map.len();
            map.retain(|_, member| !member.is_null());
            let shadowed: Vec<String> = map
                .keys()
                .filter(|key| key.contains('_'))
                .filter(|key| map.contains_key(&lower_camel(key)))
                .cloned()
                .collect();
            for key in &shadowed {
                map.remove(key);
            }
            let mut removed = map.len() != before;
            for member in map.values_mut() {
                removed |= normalize(member);
            }
            removed
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .fold(false, |removed, item| normalize(item) | removed),
        _ => false,
    }
}

/// The proto JSON name of a field: `range_end` → `rangeEnd`.
fn lower_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The error for a body whose first value is not an object (or is not valid JSON at all).
fn not_an_object(body: &[u8], first: u8) -> Status {
    let mut de = serde_json::Deserializer::from_slice(body);
    if serde::de::IgnoredAny::deserialize(&mut de).is_err() {
        return Status::invalid_argument("request body is not JSON: expected a JSON object");
    }
    let found = match first {
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        _ => "a number",
    };
    Status::invalid_argument(format!(
        "invalid request body: expected a JSON object, found {found}"
    ))
}

/// The error for a body that is not valid JSON: what is wrong, in which member, at which byte.
fn not_json(body: &[u8], err: &serde_path_to_error::Error<serde_json::Error>) -> Status {
    let inner = err.inner();
    let reason = syntax_reason(inner);
    let path = err.path();
    let known = path
        .iter()
        .all(|segment| !matches!(segment, serde_path_to_error::Segment::Unknown));
    let place = match path.to_string().as_str() {
        "." | "" => String::new(),
        shown if known => format!(" in \"{shown}\""),
        _ => String::new(),
    };
    let offset = byte_offset(body, inner.line(), inner.column());
    Status::invalid_argument(format!(
        "request body is not JSON: {reason}{place} at byte {offset}"
    ))
}

/// serde_json's description of a syntax error, reworded and without its line and column.
fn syntax_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let bare = match text.rfind(" at line ") {
        Some(end) => &text[..end],
        None => &text,
    };
    match bare {
        _ if err.is_eof() => "the body ends before the JSON value is complete".to_owned(),
        "expected value" | "expected ident" => "expected a JSON value".to_owned(),
        "key must be a string" => "expected a member name in double quotes".to_owned(),
        "expected `:`" => "expected ':' after a member name".to_owned(),
        "expected `,` or `}`" => "expected ',' or '}' after an object member".to_owned(),
        "expected `,` or `]`" => "expected ',' or ']' after an array element".to_owned(),
        other => other.to_owned(),
    }
}

/// The 1-based byte offset of serde_json's line and column.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = body
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|text| text.len() + 1)
        .sum();
    line_start + column.max(1)
}

fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use tonic::Code;

    #[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
    #[serde(default)]
    struct Message {
        key: String,
        limit: i64,
        inner: Option<Inner>,
        items: Vec<Inner>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
    #[serde(default)]
    struct Inner {
        target: Target,
        flag: bool,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
    enum Target {
        #[default]
        Version,
        Value,
    }

    fn ok(body: &str) -> Message {
        decode::<Message>(body.as_bytes()).unwrap()
    }

    fn err(body: &str) -> String {
        let status = decode::<Message>(body.as_bytes()).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status.message().to_owned()
    }

    fn key(key: &str) -> Message {
        Message {
            key: key.to_owned(),
            ..Message::default()
        }
    }

    #[test]
    fn decodes_an_object() {
        assert_eq!(
            ok(r#"{"key":"a","limit":3}"#),
            Message {
                key: "a".into(),
                limit: 3,
                ..Message::default()
            }
        );
    }

    #[test]
    fn reads_only_the_first_value() {
        assert_eq!(ok(r#"{"key":"a"} garbage"#), key("a"));
        assert_eq!(ok(r#"  {"key":"a"}{"key":"b"}"#), key("a"));
        assert_eq!(ok("\n{\"key\":\"a\"}\n"), key("a"));
    }

    #[test]
    fn empty_whitespace_and_null_are_default() {
        assert_eq!(ok(""), Message::default());
        assert_eq!(ok(" \r\n\t "), Message::default());
        assert_eq!(ok("null"), Message::default());
        assert_eq!(ok(" null trailing"), Message::default());
        assert_eq!(ok("{}"), Message::default());
    }

    #[test]
    fn null_members_are_unset() {
        assert_eq!(ok(r#"{"key":null,"limit":null}"#), Message::default());
        assert_eq!(
            ok(r#"{"key":"a","items":[{"target":null,"flag":true}]}"#),
            Message {
                key: "a".into(),
                items: vec![Inner {
                    target: Target::Version,
                    flag: true
                }],
                ..Message::default()
            }
        );
    }

    #[test]
    fn null_array_elements_are_not_stripped() {
        assert_eq!(
            err(r#"{"key":null,"items":[null]}"#),
            r#"invalid value for "items[0]": expected a JSON object, found null"#
        );
    }

    #[test]
    fn camel_case_spelling_wins_over_snake_case() {
        assert_eq!(super::lower_camel("range_end"), "rangeEnd");
        assert_eq!(super::lower_camel("remaining_TTL"), "remainingTTL");
        let mut value = serde_json::json!({"a_b": 1, "aB": 2, "c_d": {"e_f": null, "x": 3}});
        assert!(super::normalize(&mut value));
        assert_eq!(value, serde_json::json!({"aB": 2, "c_d": {"x": 3}}));
    }

    #[test]
    fn duplicate_keys_last_one_wins() {
        assert_eq!(ok(r#"{"key":"a","key":"b"}"#), key("b"));
        assert_eq!(ok(r#"{"key":"a","key":null}"#), Message::default());
    }

    #[test]
    fn unknown_fields_are_left_to_the_message_type() {
        assert_eq!(ok(r#"{"key":"a","bogus":{"x":1}}"#), key("a"));
    }

    #[test]
    fn type_errors_name_the_path() {
        assert_eq!(
            err(r#"{"key":123}"#),
            r#"invalid value for "key": expected a string, found 123"#
        );
        assert_eq!(
            err(r#"{"items":[{"target":"BOGUS"}]}"#),
            r#"invalid value for "items[0].target": expected one of "Version", "Value" or an enum number, found "BOGUS""#
        );
        assert_eq!(
            err(r#"{"key":null,"limit":"x"}"#),
            r#"invalid value for "limit": expected i64, found "x""#
        );
        assert_eq!(
            err(r#"{"items":{}}"#),
            r#"invalid value for "items": expected an array, found an object"#
        );
    }

    #[test]
    fn syntax_errors_name_the_member_and_byte() {
        assert_eq!(
            err("{\"key\":"),
            r#"request body is not JSON: the body ends before the JSON value is complete in "key" at byte 7"#
        );
        assert_eq!(
            err("{\n  key: 1}"),
            "request body is not JSON: expected a member name in double quotes at byte 5"
        );
        assert_eq!(
            err(r#"{"key":"a" "limit":1}"#),
            "request body is not JSON: expected ',' or '}' after an object member at byte 12"
        );
        assert_eq!(
            err("not json"),
            "request body is not JSON: expected a JSON object"
        );
        assert_eq!(
            err("value="),
            "request body is not JSON: expected a JSON object"
        );
    }

    #[test]
    fn top_level_non_objects_are_rejected() {
        for (body, found) in [
            (r#"["a",1]"#, "an array"),
            (r#""text""#, "a string"),
            ("42", "a number"),
            ("-1", "a number"),
            ("true", "a boolean"),
        ] {
            assert_eq!(
                err(body),
                format!("invalid request body: expected a JSON object, found {found}")
            );
        }
    }

    #[test]
    fn encodes_compact_json() {
        let bytes = encode(&key("a")).unwrap();
        assert_eq!(
            &bytes[..],
            br#"{"key":"a","limit":0,"inner":null,"items":[]}"#
        );
    }

    #[test]
    fn encode_failures_are_internal() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        let status = encode(&map).unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert!(status.message().starts_with("failed to encode response: "));
    }
}
