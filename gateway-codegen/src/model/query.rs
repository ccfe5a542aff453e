//! The request fields a binding leaves to the query string: every field not bound to the path
//! or the body, nested messages flattened as `a.b`, exactly the parameters protoc-gen-openapiv2
//! documents (so the documented and the accepted parameters are one list).

use anyhow::{Result, bail};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::{FieldKind, PathVariable, QueryParameter};
use crate::well_known::{self, LIST_VALUE};

/// The query parameters of `request`, in field order, skipping the fields of `variables` and
/// `body` (and the fields sharing a oneof with the body field).
pub(super) fn parameters(
    request: &MessageDescriptor,
    variables: &[PathVariable],
    body: Option<&FieldDescriptor>,
) -> Result<Vec<QueryParameter>> {
    let mut excluded: Vec<&FieldDescriptor> = variables.iter().map(|v| &v.field.field).collect();
    excluded.extend(body);
    let walk = Walk { excluded };
    let body_oneof = body.and_then(FieldDescriptor::containing_oneof);
    let mut out = Vec::new();
    for field in request.fields() {
        if body_oneof.is_some() && field.containing_oneof() == body_oneof {
            continue;
        }
        walk.field(&field, &Prefix::default(), &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// Proto and JSON names of the messages above a nested field.
#[derive(Default)]
struct Prefix {
    names: Vec<String>,
    json: String,
}

/// What a field contributes to the query string.
enum Shape {
    /// One parameter.
    Parameter {
        kind: FieldKind,
        repeated: bool,
        map_key: Option<&'static str>,
    },
    /// The parameters of the message's fields.
    Nested(MessageDescriptor),
    /// Nothing (repeated messages and other values without a text form).
    Skipped,
}

struct Walk<'a> {
    excluded: Vec<&'a FieldDescriptor>,
}

impl Walk<'_> {
    /// Appends the parameters of `field` to `out`; `stack` holds the messages being flattened,
    /// to reject recursion.
    fn field(
        &self,
        field: &FieldDescriptor,
        prefix: &Prefix,
        stack: &mut Vec<String>,
        out: &mut Vec<QueryParameter>,
    ) -> Result<()> {
        if self.excluded.contains(&field) {
            return Ok(());
        }
        let mut names = prefix.names.clone();
        names.push(field.name().to_owned());
        let json_path = format!("{}{}", prefix.json, field.json_name());
        match shape(field, &names)? {
            Shape::Skipped => {}
            Shape::Parameter {
                kind,
                repeated,
                map_key,
            } => out.push(QueryParameter {
                names,
                json_path,
                field: field.clone(),
                kind,
                repeated,
                map_key,
            }),
            Shape::Nested(message) => {
                let name = message.full_name().to_owned();
                if stack.contains(&name) {
                    bail!("query parameter {} recurses into {name}", names.join("."));
                }
                stack.push(name);
                let inner = Prefix {
                    names,
                    json: format!("{json_path}."),
                };
                for nested in message.fields() {
                    self.field(&nested, &inner, stack, out)?;
                }
                stack.pop();
            }
        }
        Ok(())
    }
}

/// How `field` (at `names`) appears in the query string.
fn shape(field: &FieldDescriptor, names: &[String]) -> Result<Shape> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            bail!("map field {} has no entry type", field.full_name());
        };
        let key = match entry.map_entry_key_field().kind() {
            Kind::Bool => "boolean",
            Kind::String => "string",
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => "string",
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => "integer",
            _ => bail!("unsupported map key in query parameter {}", names.join(".")),
        };
        return Ok(Shape::Parameter {
            kind: value_kind(&entry.map_entry_value_field().kind()),
            repeated: false,
            map_key: Some(key),
        });
    }
    let kind = field.kind();
    let message = match &kind {
        Kind::Message(message) => message.clone(),
        _ => {
            return Ok(Shape::Parameter {
                kind: scalar_kind(&kind),
                repeated: field.is_list(),
                map_key: None,
            });
        }
    };
    let fqn = format!(".{}", message.full_name());
    let form = well_known::json_form(&fqn);
    let text_form = form.and_then(|form| form.kind);
    Ok(match (field.is_list(), text_form) {
        // Any other message, and `google.protobuf.Value` (any JSON), are flattened; repeated,
        // they are left out.
        (false, None) => Shape::Nested(message),
        (true, None) | (true, Some("object")) => Shape::Skipped,
        // A single `ListValue` is an array of objects.
        (false, Some(_)) if fqn == LIST_VALUE => Shape::Skipped,
        (repeated, Some(json)) => Shape::Parameter {
            kind: json_kind(json),
            repeated,
            map_key: None,
        },
    })
}

/// The JSON kind of a map value: its scalar kind, its well-known type's JSON type, or text.
fn value_kind(kind: &Kind) -> FieldKind {
    match kind {
        Kind::Message(message) => well_known::json_form(&format!(".{}", message.full_name()))
            .and_then(|form| form.kind)
            .map_or(FieldKind::Text, json_kind),
        scalar => scalar_kind(scalar),
    }
}

/// The JSON kind of a scalar or enum field.
fn scalar_kind(kind: &Kind) -> FieldKind {
    match kind {
        Kind::Bool => FieldKind::Bool,
        Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Message(_) => FieldKind::Text,
        _ => FieldKind::Number,
    }
}

/// The kind of a well-known type's JSON `type`.
fn json_kind(json_type: &str) -> FieldKind {
    match json_type {
        "boolean" => FieldKind::Bool,
        "integer" | "number" => FieldKind::Number,
        _ => FieldKind::Text,
    }
}
