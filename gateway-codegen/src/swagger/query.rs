//! Query parameters: the request fields the model leaves to the query string, as parameters.

use anyhow::Result;
use prost_reflect::Kind;

use super::{
    Context, comments,
    operation::Parameter,
    schema::{self, Schema},
};
use crate::model::QueryParameter;

/// The `query` parameter of one query-settable field (`name[key]` for a map).
pub(super) fn parameter(ctx: &Context, query: &QueryParameter) -> Result<Parameter> {
    let field = &query.field;
    let mut schema = schema::field_schema(ctx, field)?;
    schema.comment(&ctx.comments.get(field.parent_file().name(), field.path()));
    let enumeration = match field.kind() {
        Kind::Enum(descriptor) => Some(descriptor),
        _ => None,
    };
    let mut name = query.dotted();
    if let Some(key) = query.map_key {
        name = format!("{name}[{key}]");
        schema.kind = schema.additional.as_ref().and_then(|value| value.kind);
    }
    let mut param = Parameter {
        description: comments::merged(schema.title.as_deref(), schema.description.as_deref()),
        location: "query",
        kind: schema.kind,
        format: schema.format,
        items: schema.items.map(|items| *items),
        values: schema.values,
        default: schema.default,
        name,
        ..Parameter::default()
    };
    if param.kind == Some("array") {
        param.collection_format = Some("multi");
    }
    if let Some(descriptor) = enumeration {
        if param.items.is_some() {
            param.items = Some(Schema {
                values: Some(schema::enum_names(&descriptor)),
                ..Schema::typed("string", None)
            });
        } else {
            param.kind = Some("string");
            param.values = Some(schema::enum_names(&descriptor));
            param.default = schema::enum_default(&descriptor);
        }
        let values = ctx.comments.enum_values(&descriptor);
        if !values.is_empty() {
            let description = param.description.take().unwrap_or_default();
            param.description = Some(comments::with_enum_values(&description, &values));
        }
    }
    Ok(param)
}
