//! Schemas of messages, enums and fields.

use anyhow::{Result, bail};
use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use super::{
    Context,
    comments::{self, Titled},
    fqn,
};
use crate::well_known::{self, EMPTY, LIST_VALUE};

/// A JSON schema object, serialised with its keys in protoc-gen-openapiv2's order.
#[derive(Debug, Clone, Default)]
pub(super) struct Schema {
    /// `type`
    pub kind: Option<&'static str>,
    /// `format`
    pub format: Option<&'static str>,
    /// `$ref`
    pub reference: Option<String>,
    /// `items` of an array.
    pub items: Option<Box<Schema>>,
    /// `enum`: the value names.
    pub values: Option<Vec<String>>,
    /// `default`
    pub default: Option<String>,
    /// `properties`, in field order.
    pub properties: Option<Vec<(String, Schema)>>,
    /// `additionalProperties`
    pub additional: Option<Box<Schema>>,
    /// `description`
    pub description: Option<String>,
    /// `title`
    pub title: Option<String>,
    /// `readOnly`
    pub read_only: bool,
}

impl Schema {
    /// A schema of one `type` (and `format`).
    pub(super) fn typed(kind: &'static str, format: Option<&'static str>) -> Self {
        Self {
            kind: Some(kind),
            format,
            ..Self::default()
        }
    }

    /// A `$ref` schema.
    pub(super) fn reference(reference: String) -> Self {
        Self {
            reference: Some(reference),
            ..Self::default()
        }
    }

    /// The JSON object.
    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(kind) = self.kind {
            out.insert("type".into(), kind.into());
        }
        if let Some(format) = self.format {
            out.insert("format".into(), format.into());
        }
        if let Some(reference) = &self.reference {
            out.insert("$ref".into(), reference.as_str().into());
        }
        if let Some(items) = &self.items {
            out.insert("items".into(), items.to_json());
        }
        if let Some(values) = &self.values {
            out.insert("enum".into(), values.clone().into());
        }
        if let Some(default) = &self.default {
            out.insert("default".into(), default.as_str().into());
        }
        if let Some(properties) = &self.properties {
            let properties = properties
                .iter()
                .map(|(name, schema)| (name.clone(), schema.to_json()))
                .collect();
            out.insert("properties".into(), Value::Object(properties));
        }
        if let Some(additional) = &self.additional {
            out.insert("additionalProperties".into(), additional.to_json());
        }
        if let Some(description) = &self.description {
            out.insert("description".into(), description.as_str().into());
        }
        if let Some(title) = &self.title {
            out.insert("title".into(), title.as_str().into());
        }
        if self.read_only {
            out.insert("readOnly".into(), true.into());
        }
        Value::Object(out)
    }

    /// Applies a proto comment: title and description where still unset, `readOnly` for
    /// "Output only." elements.
    pub(super) fn comment(&mut self, comment: &str) {
        if comment.is_empty() {
            return;
        }
        self.read_only |= comments::is_output_only(comment);
        let Titled { title, description } = comments::titled(comment);
        if self.title.is_none() {
            self.title = title;
        }
        if self.description.is_none() {
            self.description = description;
        }
    }
}

/// The schema of a message: its comment, and one property per field except the single-field
/// paths in `exclude`; fields that only contain excluded paths are inlined without them.
pub(super) fn message_schema(
    ctx: &Context,
    message: &MessageDescriptor,
    exclude: &[Vec<String>],
) -> Result<Schema> {
    let file = message.parent_file();
    let mut schema = Schema::typed("object", None);
    schema.comment(&ctx.comments.get(file.name(), message.path()));
    let mut properties = Vec::new();
    for field in message.fields() {
        if exclude
            .iter()
            .any(|path| path.len() == 1 && path[0] == field.name())
        {
            continue;
        }
        let nested: Vec<Vec<String>> = exclude
            .iter()
            .filter(|path| path.len() > 1 && path[0] == field.name())
            .map(|path| path[1..].to_vec())
            .collect();
        let mut property = if nested.is_empty() {
            field_schema(ctx, &field)?
        } else {
            inlined_field(ctx, &field, &nested)?
        };
        property.comment(&ctx.comments.get(file.name(), field.path()));
        properties.push((field.name().to_owned(), property));
    }
    if !properties.is_empty() {
        schema.properties = Some(properties);
    }
    Ok(schema)
}

/// A message-typed field rendered inline (without the `exclude` paths), titled by the field's
/// comment rather than the message's.
pub(super) fn inlined_field(
    ctx: &Context,
    field: &FieldDescriptor,
    exclude: &[Vec<String>],
) -> Result<Schema> {
    let Kind::Message(message) = field.kind() else {
        bail!("swagger: {} is not a message field", field.full_name());
    };
    let mut schema = message_schema(ctx, &message, exclude)?;
    let comment = ctx.comments.get(field.parent_file().name(), field.path());
    if !comment.is_empty() {
        let (first, rest) = comment.split_once("\n\n").unwrap_or((&comment, ""));
        let first = first.trim();
        if first.contains('\n') {
            schema.description = Some(comment.trim().to_owned());
        } else {
            schema.title = Some(first.to_owned());
            schema.description = Some(rest.trim().to_owned()).filter(|s| !s.is_empty());
        }
    }
    Ok(schema)
}

/// The schema of an enum: its value names, the zero value as default, and its comment followed
/// by the commented values.
pub(super) fn enum_schema(ctx: &Context, descriptor: &EnumDescriptor) -> Schema {
    let comment = ctx
        .comments
        .get(descriptor.parent_file().name(), descriptor.path());
    let comment = comments::with_enum_values(&comment, &ctx.comments.enum_values(descriptor));
    let mut schema = Schema {
        values: Some(enum_names(descriptor)),
        default: enum_default(descriptor),
        ..Schema::typed("string", None)
    };
    schema.comment(&comment);
    schema
}

/// The value names of an enum, in declaration order.
pub(super) fn enum_names(descriptor: &EnumDescriptor) -> Vec<String> {
    descriptor.values().map(|v| v.name().to_owned()).collect()
}

/// The name of an enum's zero value.
pub(super) fn enum_default(descriptor: &EnumDescriptor) -> Option<String> {
    descriptor
        .values()
        .find(|value| value.number() == 0)
        .map(|value| value.name().to_owned())
}

/// The schema of a field without its comment: scalar type, `$ref`, array or map.
pub(super) fn field_schema(ctx: &Context, field: &FieldDescriptor) -> Result<Schema> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            bail!("swagger: map field {} has no entry type", field.full_name());
        };
        let value = kind_schema(ctx, &entry.map_entry_value_field().kind())?;
        return Ok(Schema {
            additional: Some(Box::new(value)),
            ..Schema::typed("object", None)
        });
    }
    let mut core = kind_schema(ctx, &field.kind())?;
    if !field.is_list() {
        return Ok(core);
    }
    if let Kind::Message(message) = field.kind() {
        if well_known(&fqn(message.full_name())).is_none() {
            core.kind = Some("object");
        }
        core.properties = None;
    }
    Ok(Schema {
        items: Some(Box::new(core)),
        ..Schema::typed("array", None)
    })
}

/// The schema of one value of a type: scalar, inlined well-known type, or `$ref`.
fn kind_schema(ctx: &Context, kind: &Kind) -> Result<Schema> {
    let name = match kind {
        Kind::Message(message) => fqn(message.full_name()),
        Kind::Enum(descriptor) => fqn(descriptor.full_name()),
        scalar => {
            let (kind, format) = scalar_type(scalar);
            return Ok(Schema::typed(kind, format));
        }
    };
    match well_known(&name) {
        Some(schema) => Ok(schema),
        None => Ok(Schema::reference(ctx.names.reference(&name)?)),
    }
}

/// JSON type and format of a scalar proto type (64-bit integers are strings in proto JSON).
pub(super) fn scalar_type(kind: &Kind) -> (&'static str, Option<&'static str>) {
    match kind {
        Kind::Double => ("number", Some("double")),
        Kind::Float => ("number", Some("float")),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => ("string", Some("int64")),
        Kind::Uint64 | Kind::Fixed64 => ("string", Some("uint64")),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => ("integer", Some("int32")),
        Kind::Uint32 | Kind::Fixed32 => ("integer", Some("int64")),
        Kind::Bool => ("boolean", None),
        Kind::String => ("string", None),
        Kind::Bytes => ("string", Some("byte")),
        Kind::Message(_) | Kind::Enum(_) => ("object", None),
    }
}

/// The inline schema of a well-known type, as its proto JSON form.
pub(super) fn well_known(fqn: &str) -> Option<Schema> {
    let form = well_known::json_form(fqn)?;
    let mut schema = Schema {
        kind: form.kind,
        format: form.format,
        ..Schema::default()
    };
    match fqn {
        EMPTY => schema.properties = Some(Vec::new()),
        LIST_VALUE => schema.items = Some(Box::new(Schema::typed("object", None))),
        _ => {}
    }
    Some(schema)
}
