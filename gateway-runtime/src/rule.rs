//! General `google.api.http` bindings: path variables, query parameters, a body bound to one
//! field or none, and `response_body`.
//!
//! The generator resolves each binding into a static [`HttpRule`]; at request time the path
//! captures, the query string and the body are merged into one JSON object, which is decoded
//! into the request message like any JSON body.

use axum::extract::RawPathParams;
use bytes::Bytes;
use http::{Method, request::Parts};
use serde::Deserialize;
use serde_json::{Map, Value};
use tonic::Status;

use crate::codec;

/// One HTTP binding, resolved by the generator.
#[derive(Debug)]
pub struct HttpRule {
    /// HTTP method.
    pub method: Method,
    /// The route as the router matches it, with one named capture per bound wildcard
    /// (`/v1/shelves/{v0}/books/{v1}`).
    pub route: &'static str,
    /// Path variables: which request field gets which captures.
    pub variables: &'static [PathVariable],
    /// What the HTTP body carries.
    pub body: BodyRule,
    /// The response field sent as the HTTP body instead of the whole response.
    pub response_body: Option<&'static str>,
    /// Request fields settable from query parameters (when the body is not the whole message).
    pub query_fields: &'static [QueryField],
    /// A custom verb after a variable (`/v1/{name=shelves/*}:merge`): the route capture whose
    /// text must end with the suffix (`":merge"`), which is removed from the value.
    pub verb_capture: Option<(&'static str, &'static str)>,
}

/// A request field bound to part of the path.
#[derive(Debug)]
pub struct PathVariable {
    /// Dotted proto field path, e.g. `book.name`.
    pub field: &'static str,
    /// The value: literal text and captures, concatenated (`shelves/` + `{v0}`).
    pub parts: &'static [PathPart],
}

/// A piece of a path variable's value.
#[derive(Debug)]
pub enum PathPart {
    /// Fixed text of the pattern, e.g. `shelves/`.
    Literal(&'static str),
    /// The text of the named route capture.
    Capture(&'static str),
}

/// What the HTTP body of a binding carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRule {
    /// The whole request message (`body: "*"`).
    Whole,
    /// Nothing (`body` absent): fields come from the path and the query string.
    Empty,
    /// One field (`body: "shelf"`), given as its proto name.
    Field(&'static str),
}

/// A request field reachable from the query string.
#[derive(Debug)]
pub struct QueryField {
    /// Dotted proto field path, e.g. `filter.author`.
    pub path: &'static str,
    /// The same path in lowerCamelCase JSON names, also accepted, e.g. `filter.author`.
    pub json_path: &'static str,
    /// How the text of a parameter becomes JSON.
    pub kind: FieldKind,
    /// The field is repeated: every occurrence adds an element.
    pub repeated: bool,
}

/// JSON type of a query-settable field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Strings, bytes (base64 text) and enums (names or numbers).
    Text,
    /// Integers and floating point numbers (sent as JSON strings, which the decoder accepts).
    Number,
    /// `true` / `false`.
    Bool,
}

impl HttpRule {
    /// Builds the request message from the path captures, query string and body.
    pub fn request_json(
        &self,
        parts: &Parts,
        path: &RawPathParams,
        body: &[u8],
    ) -> Result<Value, Status> {
        let mut message = match self.body {
            BodyRule::Whole => codec::parse_object(body)?,
            BodyRule::Empty => Value::Object(Map::new()),
            BodyRule::Field(field) => {
                let mut message = Value::Object(Map::new());
                if let Some(value) = first_value(body)? {
                    set(&mut message, field, value);
                }
                message
            }
        };
        if self.body != BodyRule::Whole
            && let Some(query) = parts.uri.query()
        {
            self.apply_query(&mut message, query)?;
        }
        for variable in self.variables {
            let mut text = String::new();
            for part in variable.parts {
                match part {
                    PathPart::Literal(literal) => text.push_str(literal),
                    PathPart::Capture(name) => text.push_str(self.capture(path, name)?),
                }
            }
            set(&mut message, variable.field, Value::String(text));
        }
        Ok(message)
    }

    /// The text of a route capture, without the custom verb it may carry.
    fn capture<'a>(&self, path: &'a RawPathParams, name: &str) -> Result<&'a str, Status> {
        let value = path
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value);
        match self.verb_capture {
            Some((capture, suffix)) if capture == name => value
                .strip_suffix(suffix)
                .ok_or_else(|| Status::not_found("Not Found")),
            _ => Ok(value),
        }
    }

    /// Whether a request's path carries this rule's custom verb (always, without one).
    pub fn matches_verb(&self, path: &RawPathParams) -> bool {
        match self.verb_capture {
            Some((capture, suffix)) => path
                .iter()
                .any(|(key, value)| key == capture && value.ends_with(suffix)),
            None => true,
        }
    }

    fn apply_query(&self, message: &mut Value, query: &str) -> Result<(), Status> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|err| Status::invalid_argument(format!("invalid query string: {err}")))?;
        for (key, text) in pairs {
            let Some(field) = self
                .query_fields
                .iter()
                .find(|f| f.path == key || f.json_path == key)
            else {
                continue;
            };
            let value = match field.kind {
                FieldKind::Text | FieldKind::Number => Value::String(text),
                FieldKind::Bool => match text.as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => {
                        return Err(Status::invalid_argument(format!(
                            "invalid query parameter {key}={text}: expected true or false"
                        )));
                    }
                },
            };
            if field.repeated {
                let slot = entry(message, field.path);
                match slot {
                    Value::Array(items) => items.push(value),
                    other => *other = Value::Array(vec![value]),
                }
            } else {
                set(message, field.path, value);
            }
        }
        Ok(())
    }

    /// The HTTP body of a response: the whole message, or its `response_body` field.
    pub fn response_json<T: serde::Serialize>(&self, response: &T) -> Result<Bytes, Status> {
        let Some(field) = self.response_body else {
            return codec::encode(response);
        };
        let mut value = serde_json::to_value(response)
            .map_err(|err| Status::internal(format!("failed to encode response: {err}")))?;
        let selected = value.get_mut(field).map(Value::take).unwrap_or(Value::Null);
        codec::encode(&selected)
    }

    /// Whether requests need no path, query or body mapping beyond `body: "*"`.
    pub fn is_whole_body(&self) -> bool {
        self.body == BodyRule::Whole && self.variables.is_empty() && self.response_body.is_none()
    }
}

/// The first JSON value of a body, `None` when the body is empty.
fn first_value(body: &[u8]) -> Result<Option<Value>, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    Value::deserialize(&mut de)
        .map(Some)
        .map_err(|err| Status::invalid_argument(format!("invalid request body: {err}")))
}

/// The value at a dotted path, created (as objects) on the way.
fn entry<'a>(message: &'a mut Value, path: &str) -> &'a mut Value {
    let mut current = message;
    for key in path.split('.') {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()
            .expect("made an object above")
            .entry(key.to_owned())
            .or_insert(Value::Null);
    }
    current
}

fn set(message: &mut Value, path: &str, value: Value) {
    *entry(message, path) = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    static RULE: HttpRule = HttpRule {
        method: Method::PATCH,
        route: "/v1/shelves/{v0}/books/{v1}",
        variables: &[PathVariable {
            field: "book.name",
            parts: &[
                PathPart::Literal("shelves/"),
                PathPart::Capture("v0"),
                PathPart::Literal("/books/"),
                PathPart::Capture("v1"),
            ],
        }],
        body: BodyRule::Field("book"),
        response_body: None,
        verb_capture: None,
        query_fields: &[
            QueryField {
                path: "update_mask",
                json_path: "updateMask",
                kind: FieldKind::Text,
                repeated: true,
            },
            QueryField {
                path: "book.read",
                json_path: "book.read",
                kind: FieldKind::Bool,
                repeated: false,
            },
            QueryField {
                path: "book.pages",
                json_path: "book.pages",
                kind: FieldKind::Number,
                repeated: false,
            },
        ],
    };

    #[test]
    fn merges_body_query_and_path() {
        let mut message = Value::Object(Map::new());
        set(
            &mut message,
            "book",
            serde_json::json!({"title": "T", "name": "ignored"}),
        );
        RULE.apply_query(
            &mut message,
            "updateMask=title&update_mask=pages&book.read=true&book.pages=12&other=1",
        )
        .unwrap();
        set(
            &mut message,
            "book.name",
            Value::String("shelves/1/books/2".into()),
        );
        assert_eq!(
            message,
            serde_json::json!({
                "book": {"title": "T", "name": "shelves/1/books/2", "read": true, "pages": "12"},
                "update_mask": ["title", "pages"]
            })
        );
    }

    #[test]
    fn bad_bool_is_a_clear_error() {
        let mut message = Value::Object(Map::new());
        let err = RULE.apply_query(&mut message, "book.read=yes").unwrap_err();
        assert_eq!(
            err.message(),
            "invalid query parameter book.read=yes: expected true or false"
        );
    }
}
