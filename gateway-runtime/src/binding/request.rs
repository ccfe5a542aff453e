//! The request message of a general binding: path captures, query string and body merged
//! into one JSON object, which is decoded into the request message like any JSON body; and the
//! response body (`response_body`).

use bytes::Bytes;
use serde_json::{Map, Value};
use tonic::Status;

use super::{
    BodyRule, Cardinality, FieldKind, QueryField, Segment,
    template::{BindingRoute, PathPart},
};
use crate::codec;

/// The text of a route's captures, by name (percent-decoded).
pub(crate) type Captures = Vec<(String, String)>;

impl BindingRoute {
    /// Whether requests need no path, query or body mapping: a literal path without a custom
    /// verb, the whole message as body and as response.
    pub(crate) fn is_whole_body(&self) -> bool {
        let binding = self.binding;
        binding.body == BodyRule::Whole
            && binding.response_body.is_none()
            && binding.template.verb.is_none()
            && binding
                .template
                .segments
                .iter()
                .all(|segment| matches!(segment, Segment::Literal(_)))
    }

    /// Builds the request message from the path captures, query string and body.
    pub(crate) fn request_json(
        &self,
        captures: &Captures,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Value, Status> {
        let mut message = match self.binding.body {
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
        if self.binding.body != BodyRule::Whole
            && let Some(query) = query
        {
            self.apply_query(&mut message, query)?;
        }
        for variable in &self.variables {
            let mut text = String::new();
            for part in &variable.parts {
                match part {
                    PathPart::Literal(literal) => text.push_str(literal),
                    PathPart::Capture(name) => text.push_str(self.capture(captures, name)?),
                }
            }
            set(&mut message, variable.field, Value::String(text));
        }
        Ok(message)
    }

    /// The text of a route capture, without the custom verb it may carry.
    fn capture<'a>(&self, captures: &'a Captures, name: &str) -> Result<&'a str, Status> {
        let value = captures
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str());
        match &self.verb_capture {
            Some(verb) if verb.capture == name => value
                .strip_suffix(verb.suffix.as_str())
                .ok_or_else(|| Status::not_found("Not Found")),
            _ => Ok(value),
        }
    }

    /// Whether a request's path carries this route's custom verb (always, without one).
    pub(crate) fn matches_verb(&self, captures: &Captures) -> bool {
        match &self.verb_capture {
            Some(verb) => captures
                .iter()
                .any(|(key, value)| *key == verb.capture && value.ends_with(verb.suffix.as_str())),
            None => true,
        }
    }

    fn apply_query(&self, message: &mut Value, query: &str) -> Result<(), Status> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|err| Status::invalid_argument(format!("invalid query string: {err}")))?;
        for (key, text) in pairs {
            let Some((field, map_key)) = self.query_field(&key) else {
                continue;
            };
            if field.cardinality == Cardinality::Map && map_key.is_none() {
                return Err(Status::invalid_argument(format!(
                    "invalid query parameter {key}={text}: {} is a map, set its entries as \
                     {}[KEY]=VALUE",
                    field.path, field.path
                )));
            }
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
            match field.cardinality {
                Cardinality::Single => set(message, field.path, value),
                Cardinality::Repeated => match entry(message, field.path) {
                    Value::Array(items) => items.push(value),
                    other => *other = Value::Array(vec![value]),
                },
                Cardinality::Map => {
                    let map_key = map_key.unwrap_or_default().to_owned();
                    match entry(message, field.path) {
                        Value::Object(entries) => {
                            entries.insert(map_key, value);
                        }
                        other => *other = Value::Object(Map::from_iter([(map_key, value)])),
                    }
                }
            }
        }
        Ok(())
    }

    /// The query field a parameter name sets (by proto or JSON path), with the map key of a
    /// `field[key]` name.
    fn query_field<'k>(&self, name: &'k str) -> Option<(&'static QueryField, Option<&'k str>)> {
        let (path, map_key) = match name.strip_suffix(']').and_then(|n| n.split_once('[')) {
            Some((path, map_key)) => (path, Some(map_key)),
            None => (name, None),
        };
        self.binding
            .query_fields
            .iter()
            .find(|field| field.path == path || field.json_path == path)
            .filter(|field| map_key.is_none() || field.cardinality == Cardinality::Map)
            .map(|field| (field, map_key))
    }

    /// The HTTP body of a response: the whole message, or its `response_body` field.
    pub(crate) fn response_json<T: serde::Serialize>(&self, response: &T) -> Result<Bytes, Status> {
        let Some(field) = self.binding.response_body else {
            return codec::encode(response);
        };
        let mut value = serde_json::to_value(response)
            .map_err(|err| Status::internal(format!("failed to encode response: {err}")))?;
        let selected = value.get_mut(field).map(Value::take).unwrap_or(Value::Null);
        codec::encode(&selected)
    }
}

/// The first JSON value of a body, `None` when the body is empty.
fn first_value(body: &[u8]) -> Result<Option<Value>, Status> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    codec::first_value(body).map(Some)
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
    use http::Method;

    use super::*;
    use crate::binding::{Binding, PathTemplate, fixtures};

    static BINDING: Binding = Binding {
        rpc: "test.Books/UpdateBook",
        method: Method::PATCH,
        template: PathTemplate {
            segments: fixtures::BOOK_NAME,
            verb: None,
        },
        body: BodyRule::Field("book"),
        response_body: None,
        query_fields: &[
            QueryField {
                path: "update_mask",
                json_path: "updateMask",
                kind: FieldKind::Text,
                cardinality: Cardinality::Repeated,
            },
            QueryField {
                path: "book.read",
                json_path: "book.read",
                kind: FieldKind::Bool,
                cardinality: Cardinality::Single,
            },
            QueryField {
                path: "book.pages",
                json_path: "book.pages",
                kind: FieldKind::Number,
                cardinality: Cardinality::Single,
            },
            QueryField {
                path: "book.labels",
                json_path: "book.labels",
                kind: FieldKind::Text,
                cardinality: Cardinality::Map,
            },
        ],
    };

    #[test]
    fn merges_body_query_and_path() {
        let route = BindingRoute::compile(&BINDING);
        let captures = vec![
            ("v0".to_owned(), "1".to_owned()),
            ("v1".to_owned(), "2".to_owned()),
        ];
        let message = route
            .request_json(
                &captures,
                Some("updateMask=title&update_mask=pages&book.read=true&book.pages=12&other=1"),
                br#"{"title": "T", "name": "ignored"}"#,
            )
            .unwrap();
        assert_eq!(
            message,
            serde_json::json!({
                "book": {"title": "T", "name": "shelves/1/books/2", "read": true, "pages": "12"},
                "update_mask": ["title", "pages"]
            })
        );
    }

    #[test]
    fn map_entries_come_from_bracketed_names() {
        let route = BindingRoute::compile(&BINDING);
        let mut message = Value::Object(Map::new());
        route
            .apply_query(
                &mut message,
                "book.labels%5Benv%5D=prod&book.labels[tier]=web&book.labels[env]=dev&book.pages[x]=1",
            )
            .unwrap();
        assert_eq!(
            message,
            serde_json::json!({"book": {"labels": {"env": "dev", "tier": "web"}}})
        );
    }

    #[test]
    fn a_map_without_a_key_is_a_clear_error() {
        let route = BindingRoute::compile(&BINDING);
        let mut message = Value::Object(Map::new());
        let err = route
            .apply_query(&mut message, "book.labels=prod")
            .unwrap_err();
        assert_eq!(
            err.message(),
            "invalid query parameter book.labels=prod: book.labels is a map, set its entries as \
             book.labels[KEY]=VALUE"
        );
    }

    #[test]
    fn bad_bool_is_a_clear_error() {
        let route = BindingRoute::compile(&BINDING);
        let mut message = Value::Object(Map::new());
        let err = route
            .apply_query(&mut message, "book.read=yes")
            .unwrap_err();
        assert_eq!(
            err.message(),
            "invalid query parameter book.read=yes: expected true or false"
        );
    }
}
