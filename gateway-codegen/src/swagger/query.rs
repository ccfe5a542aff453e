//! Query parameters: the request fields a binding leaves to the query string.

use anyhow::{Result, bail};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::{
    Context, comments,
    operation::Parameter,
    schema::{self, Schema},
};

/// Query parameters of one request: every field not bound to the path or body, nested messages
/// flattened as `a.b`.
pub(super) struct Query<'a> {
    ctx: &'a Context<'a>,
    excluded: Vec<FieldDescriptor>,
    body: Option<FieldDescriptor>,
}

impl<'a> Query<'a> {
    /// Query parameters skipping the path fields `excluded` and the body field `body`.
    pub(super) fn new(
        ctx: &'a Context<'a>,
        excluded: Vec<FieldDescriptor>,
        body: Option<FieldDescriptor>,
    ) -> Self {
        Self {
            ctx,
            excluded,
            body,
        }
    }

    /// The parameters of `request`, in field order (fields sharing a oneof with the body field
    /// are left out).
    pub(super) fn parameters(&self, request: &MessageDescriptor) -> Result<Vec<Parameter>> {
        let body_oneof = self
            .body
            .as_ref()
            .and_then(FieldDescriptor::containing_oneof);
        let mut out = Vec::new();
        for field in request.fields() {
            if body_oneof.is_some() && field.containing_oneof() == body_oneof {
                continue;
            }
            self.field(&field, "", &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    }

    /// Appends the parameters of `field` (several for a message field) to `out`; `stack`
    /// holds the messages being flattened, to reject recursion.
    fn field(
        &self,
        field: &FieldDescriptor,
        prefix: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<Parameter>,
    ) -> Result<()> {
        if self.excluded.contains(field) || self.body.as_ref() == Some(field) {
            return Ok(());
        }
        let ctx = self.ctx;
        let mut schema = schema::field_schema(ctx, field)?;
        schema.comment(&ctx.comments.get(field.parent_file().name(), field.path()));
        let enumeration = match field.kind() {
            Kind::Enum(descriptor) => Some(descriptor),
            _ => None,
        };
        if schema.kind.is_none() && enumeration.is_none() {
            let Kind::Message(message) = field.kind() else {
                return Ok(());
            };
            let name = message.full_name().to_owned();
            if stack.contains(&name) {
                bail!(
                    "swagger: query parameter {prefix}{} recurses into {name}",
                    field.name()
                );
            }
            stack.push(name);
            let prefix = format!("{prefix}{}.", field.name());
            for nested in message.fields() {
                self.field(&nested, &prefix, stack, out)?;
            }
            stack.pop();
            return Ok(());
        }
        let mut name = format!("{prefix}{}", field.name());
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                bail!("swagger: map field {} has no entry type", field.full_name());
            };
            let key = match entry.map_entry_key_field().kind() {
                Kind::Message(_) | Kind::Enum(_) | Kind::Bytes | Kind::Float | Kind::Double => {
                    bail!("swagger: unsupported map key in query parameter {name}")
                }
                scalar => schema::scalar_type(&scalar).0,
            };
            name = format!("{name}[{key}]");
            schema.kind = schema.additional.as_ref().and_then(|value| value.kind);
        }
        if let Some(items) = &schema.items
            && matches!(items.kind, None | Some("object"))
            && enumeration.is_none()
        {
            return Ok(());
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
        out.push(param);
        Ok(())
    }
}
