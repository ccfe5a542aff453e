//! JSON ↔ message conversion for request and response bodies.
//!
//! Decoding follows the behaviour clients of grpc-gateway rely on: only the first JSON value of
//! the body is read, an empty body or a top-level `null` is the default message, and `null`
//! object members mean "unset".

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tonic::Status;

/// Decodes a request message from a JSON body.
///
/// * Only the first JSON value is read; anything after it is ignored.
/// * An empty or whitespace-only body, or a top-level `null`, yields `T::default()`.
/// * A top-level value that is not an object is rejected.
/// * `null` object members (at any depth) are treated as absent.
///
/// Every failure is [`tonic::Code::InvalidArgument`] with a message naming the field path and
/// the reason (and, for syntax errors, the line and column).
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

    // Fast path: no field-path tracking (it allocates per key); errors are rare and are
    // decoded again below to name the field.
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Ok(message) = T::deserialize(&mut de) {
        return Ok(message);
    }
    match decode_lenient(body) {
        Some(result) => result,
        None => {
            let mut de = serde_json::Deserializer::from_slice(body);
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Ok(message) => Ok(message),
                Err(err) => Err(invalid_body(&err)),
            }
        }
    }
}

/// Decodes a request message from an already-parsed JSON value (used when path variables and
/// query parameters are merged into the body). Errors are as for [`decode`].
pub fn decode_value<T: DeserializeOwned>(mut value: serde_json::Value) -> Result<T, Status> {
    normalize(&mut value);
    serde_path_to_error::deserialize(value).map_err(|err| invalid_body(&err))
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
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_json::Value::deserialize(&mut de)
        .map_err(|err| Status::invalid_argument(format!("invalid request body: {err}")))
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

/// Slow path: parses the first value into a tree, normalizes it and decodes again (the tree also
/// resolves duplicate keys as "last one wins").
///
/// Returns `None` when the body is not valid JSON, or when the retry fails and nothing was
/// stripped (the caller's error then carries the line and column).
fn decode_lenient<T: DeserializeOwned>(body: &[u8]) -> Option<Result<T, Status>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut value = serde_json::Value::deserialize(&mut de).ok()?;
    let stripped = normalize(&mut value);
    match serde_path_to_error::deserialize(value) {
        Ok(message) => Some(Ok(message)),
        Err(err) if stripped => Some(Err(invalid_body(&err))),
        Err(_) => None,
    }
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
    if let Err(err) = serde::de::IgnoredAny::deserialize(&mut de) {
        return Status::invalid_argument(format!("invalid request body: {err}"));
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

/// Formats a decode error with its field path.
fn invalid_body(err: &serde_path_to_error::Error<serde_json::Error>) -> Status {
    let path = err.path();
    let known = path
        .iter()
        .any(|segment| !matches!(segment, serde_path_to_error::Segment::Unknown));
    let message = if !known {
        format!("invalid request body: {}", err.inner())
    } else {
        format!("invalid request body: at \"{path}\": {}", err.inner())
    };
    Status::invalid_argument(message)
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
        let message = err(r#"{"key":null,"items":[null]}"#);
        assert!(message.contains(r#"at "items[0]""#), "{message}");
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
            r#"invalid request body: at "key": invalid type: integer `123`, expected a string at line 1 column 10"#
        );
        assert_eq!(
            err(r#"{"items":[{"target":"BOGUS"}]}"#),
            r#"invalid request body: at "items[0].target": unknown variant `BOGUS`, expected `Version` or `Value` at line 1 column 27"#
        );
    }

    #[test]
    fn errors_after_null_stripping_are_reported_from_the_stripped_attempt() {
        assert_eq!(
            err(r#"{"key":null,"limit":"x"}"#),
            r#"invalid request body: at "limit": invalid type: string "x", expected i64"#
        );
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        assert_eq!(
            err("{\"key\":"),
            r#"invalid request body: at "key": EOF while parsing a value at line 1 column 7"#
        );
        assert_eq!(
            err("{\n  key: 1}"),
            "invalid request body: key must be a string at line 2 column 3"
        );
        assert_eq!(
            err("not json"),
            "invalid request body: expected ident at line 1 column 2"
        );
        assert_eq!(
            err("value="),
            "invalid request body: expected value at line 1 column 1"
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
