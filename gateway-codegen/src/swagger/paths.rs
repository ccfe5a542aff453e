//! Routes: one per HTTP binding of the model, and its operation.

use std::collections::BTreeMap;

use anyhow::Result;
use prost_reflect::Kind;
use serde_json::Value;

use super::{
    Context, comments,
    definitions::STATUS,
    fqn, non_empty,
    operation::{Operation, Parameter, Response},
    query,
    schema::{self, Schema},
};
use crate::{
    model::{Binding, BodyRule, Method, Verb},
    path_template::Segment,
};

/// One HTTP binding of a method, as the model resolved it.
pub(super) struct Route<'a> {
    /// The method.
    method: &'a Method,
    /// Position among the method's bindings (0 for the primary rule).
    index: usize,
    /// The binding.
    binding: &'a Binding,
}

impl<'a> Route<'a> {
    /// The route of `binding`, the binding at `index` of `method`.
    pub(super) fn new(method: &'a Method, index: usize, binding: &'a Binding) -> Self {
        Self {
            method,
            index,
            binding,
        }
    }

    /// Whether the body parameter is a `$ref` to the request message (whole body, no path
    /// variables), which makes the request message a definition.
    pub(super) fn references_request(&self) -> bool {
        matches!(self.binding.body, BodyRule::Whole) && self.binding.variables.is_empty()
    }

    /// The OpenAPI path: variables reduced to `{field.path}`, a verb appended as `:verb`.
    pub(super) fn path(&self) -> String {
        let template = &self.binding.template;
        let segments: Vec<String> = template.segments.iter().map(segment_text).collect();
        let verb = template
            .verb
            .as_ref()
            .map(|verb| format!(":{verb}"))
            .unwrap_or_default();
        format!("/{}{verb}", segments.join("/"))
    }

    /// The ECMA regular expression of each variable written with an explicit pattern
    /// (`{name=shelves/*}` → `shelves/[^/]+`; `*` matches one segment, `**` any rest).
    fn patterns(&self) -> BTreeMap<String, String> {
        self.binding
            .variables
            .iter()
            .filter(|variable| variable.explicit_pattern)
            .map(|variable| {
                let regex = variable
                    .pattern
                    .iter()
                    .map(|segment| match segment {
                        Segment::Wildcard => "[^/]+".to_owned(),
                        Segment::DeepWildcard => ".+".to_owned(),
                        other => segment_text(other),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (variable.field.dotted(), regex)
            })
            .collect()
    }

    /// The binding's HTTP verb.
    pub(super) fn verb(&self) -> Verb {
        self.binding.verb
    }

    /// The operation object; a whole-message body with path variables adds the definition
    /// `<method>Body` to `definitions`.
    pub(super) fn operation(
        &self,
        ctx: &Context,
        definitions: &mut BTreeMap<String, Value>,
    ) -> Result<Operation> {
        let mut parameters = self.path_parameters(ctx);
        if let Some(body) = self.body_parameter(ctx, definitions)? {
            parameters.push(body);
        }
        parameters.extend(self.query_parameters(ctx)?);
        let descriptor = &self.method.descriptor;
        let file = descriptor.parent_file();
        let (summary, description) =
            comments::summary_and_description(&ctx.comments.get(file.name(), descriptor.path()));
        Ok(Operation {
            summary,
            description,
            id: self.method.operation_id(self.index),
            success: self.success(ctx)?,
            error: ctx.names.reference(STATUS)?,
            parameters,
            tag: descriptor.parent_service().name().to_owned(),
        })
    }

    /// One `path` parameter per variable, typed from its field, with the variable's pattern.
    fn path_parameters(&self, ctx: &Context) -> Vec<Parameter> {
        let patterns = self.patterns();
        self.binding
            .variables
            .iter()
            .map(|variable| {
                let field = &variable.field.field;
                let (kind, format, values) = match field.kind() {
                    Kind::Enum(descriptor) => {
                        ("string", None, Some(schema::enum_names(&descriptor)))
                    }
                    Kind::Message(message) => {
                        // The model admits only well-known types here.
                        let known =
                            schema::well_known(&fqn(message.full_name())).unwrap_or_default();
                        (known.kind.unwrap_or_default(), known.format, None)
                    }
                    scalar => {
                        let (kind, format) = schema::scalar_type(&scalar);
                        (kind, format, None)
                    }
                };
                let name = variable.field.dotted();
                let mut out = Parameter {
                    description: non_empty(
                        ctx.comments.get(field.parent_file().name(), field.path()),
                    ),
                    location: "path",
                    required: true,
                    kind: Some(kind),
                    format,
                    values,
                    pattern: patterns.get(&name).cloned(),
                    name,
                    ..Parameter::default()
                };
                if field.is_list() {
                    out.items = Some(Schema {
                        values: out.values.take(),
                        ..Schema::typed(kind, out.format.take())
                    });
                    out.kind = Some("array");
                    out.collection_format = Some("csv");
                    out.min_items = Some(1);
                }
                out
            })
            .collect()
    }

    /// The `body` parameter: a `$ref` to the request, a `<method>Body` definition without the
    /// path fields, or the body field's schema.
    fn body_parameter(
        &self,
        ctx: &Context,
        definitions: &mut BTreeMap<String, Value>,
    ) -> Result<Option<Parameter>> {
        let request = self.method.descriptor.input();
        let variables = &self.binding.variables;
        let (name, schema, mut description) = match &self.binding.body {
            BodyRule::None => return Ok(None),
            BodyRule::Whole => {
                let request_name = fqn(request.full_name());
                if let Some(known) = schema::well_known(&request_name) {
                    ("body".to_owned(), known, String::new())
                } else if variables.is_empty() {
                    let description = schema::message_schema(ctx, &request, &[])?
                        .description
                        .unwrap_or_default();
                    let schema = Schema::reference(ctx.names.reference(&request_name)?);
                    ("body".to_owned(), schema, description)
                } else {
                    let exclude: Vec<Vec<String>> =
                        variables.iter().map(|v| v.field.names.clone()).collect();
                    let body = schema::message_schema(ctx, &request, &exclude)?;
                    let definition = format!(
                        "{}Body",
                        ctx.names.get(&fqn(self.method.descriptor.full_name()))?
                    );
                    definitions.insert(definition.clone(), body.to_json());
                    let schema = Schema::reference(format!("#/definitions/{definition}"));
                    ("body".to_owned(), schema, String::new())
                }
            }
            BodyRule::Field(body) => {
                let field = &body.field;
                let nested: Vec<Vec<String>> = variables
                    .iter()
                    .map(|v| &v.field.names)
                    .filter(|names| names.len() > 1 && names[0] == field.name())
                    .map(|names| names[1..].to_vec())
                    .collect();
                let schema = if nested.is_empty() {
                    schema::field_schema(ctx, field)?
                } else {
                    schema::inlined_field(ctx, field, &nested)?
                };
                let description = match &schema.title {
                    Some(title) => comments::merged(Some(title), schema.description.as_deref())
                        .unwrap_or_default(),
                    None => ctx.comments.get(field.parent_file().name(), field.path()),
                };
                (field.name().to_owned(), schema, description)
            }
        };
        if self.method.streaming.client() {
            description.push_str(" (streaming inputs)");
        }
        Ok(Some(Parameter {
            name,
            description: non_empty(description),
            location: "body",
            required: true,
            schema: Some(schema),
            ..Parameter::default()
        }))
    }

    /// Query parameters: the model's query-settable fields.
    fn query_parameters(&self, ctx: &Context) -> Result<Vec<Parameter>> {
        self.binding
            .query
            .iter()
            .map(|parameter| query::parameter(ctx, parameter))
            .collect()
    }

    /// The `200` response.
    fn success(&self, ctx: &Context) -> Result<Response> {
        let response = self.method.descriptor.output();
        let response_name = fqn(response.full_name());
        let (mut description, mut schema) = match &self.binding.response_body {
            None => {
                let schema = match schema::well_known(&response_name) {
                    Some(known) => known,
                    None => Schema::reference(ctx.names.reference(&response_name)?),
                };
                ("A successful response.".to_owned(), schema)
            }
            Some(path) => {
                let field = &path.field;
                let description = ctx.comments.get(field.parent_file().name(), field.path());
                (description, schema::field_schema(ctx, field)?)
            }
        };
        if self.method.streaming.server() {
            description.push_str("(streaming responses)");
            let result = Schema {
                reference: schema.reference.take(),
                ..Schema::default()
            };
            let error = Schema::reference(ctx.names.reference(STATUS)?);
            schema.kind = Some("object");
            schema.title = Some(format!(
                "Stream result of {}",
                ctx.names.get(&response_name)?
            ));
            schema.properties = Some(vec![
                ("result".to_owned(), result),
                ("error".to_owned(), error),
            ]);
        }
        Ok(Response {
            description,
            schema,
        })
    }
}

/// A template segment as written (`*`, `**`, a literal, `{field.path}`).
fn segment_text(segment: &Segment) -> String {
    match segment {
        Segment::Literal(text) => text.clone(),
        Segment::Wildcard => "*".to_owned(),
        Segment::DeepWildcard => "**".to_owned(),
        Segment::Variable { field, .. } => format!("{{{}}}", field.join(".")),
    }
}
