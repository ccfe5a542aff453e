//! The proto JSON form of protobuf's well-known types, shared by the model (which of them are
//! query parameters) and the swagger schemas.

/// JSON `type` and `format` of a well-known type's proto JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonForm {
    /// `type`: `string`, `integer`, `number`, `boolean`, `object`, `array`; `None` for
    /// `google.protobuf.Value`, which is any JSON value.
    pub kind: Option<&'static str>,
    /// `format`, e.g. `int64` or `date-time`.
    pub format: Option<&'static str>,
}

/// Fully qualified name of `google.protobuf.Empty` (with the leading dot).
pub(crate) const EMPTY: &str = ".google.protobuf.Empty";
/// Fully qualified name of `google.protobuf.ListValue` (with the leading dot).
pub(crate) const LIST_VALUE: &str = ".google.protobuf.ListValue";

/// The JSON form of the well-known type `fqn` (fully qualified, with the leading dot), or `None`
/// for any other message.
pub(crate) fn json_form(fqn: &str) -> Option<JsonForm> {
    let form = |kind, format| {
        Some(JsonForm {
            kind: Some(kind),
            format,
        })
    };
    match fqn {
        ".google.protobuf.Timestamp" => form("string", Some("date-time")),
        ".google.protobuf.FieldMask"
        | ".google.protobuf.Duration"
        | ".google.protobuf.StringValue"
        | ".google.protobuf.NullValue" => form("string", None),
        ".google.protobuf.BytesValue" => form("string", Some("byte")),
        ".google.protobuf.Int32Value" => form("integer", Some("int32")),
        ".google.protobuf.UInt32Value" => form("integer", Some("int64")),
        ".google.protobuf.Int64Value" => form("string", Some("int64")),
        ".google.protobuf.UInt64Value" => form("string", Some("uint64")),
        ".google.protobuf.FloatValue" => form("number", Some("float")),
        ".google.protobuf.DoubleValue" => form("number", Some("double")),
        ".google.protobuf.BoolValue" => form("boolean", None),
        EMPTY | ".google.protobuf.Struct" => form("object", None),
        LIST_VALUE => form("array", None),
        ".google.protobuf.Value" => Some(JsonForm {
            kind: None,
            format: None,
        }),
        _ => None,
    }
}
