//! Routes: one per HTTP binding, resolved against the request message, and its operation.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use prost_reflect::{
    FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor, ServiceDescriptor,
};
use serde_json::Value;

use super::{
    Context, comments,
    definitions::STATUS,
    fqn, non_empty,
    operation::{Operation, Parameter, Response},
    query::Query,
    schema::{self, Schema},
};
use crate::{
    model::{Binding, BodyRule, Verb},
    path_template::{PathTemplate, Segment},
};

/// One HTTP binding of a method, with its path template parsed and its fields resolved.
pub(super) struct Route<'a> {
    /// The service (its name is the tag).
    service: ServiceDescriptor,
    /// The method.
    method: MethodDescriptor,
    /// Position among the method's bindings (0 for the primary rule).
    index: usize,
    /// The binding as modelled.
    binding: &'a Binding,
    /// The parsed path template.
    template: PathTemplate,
    /// Path variables in template order.
    path_params: Vec<PathParam>,
    /// What the body carries.
    body: Body,
}

/// A path variable and the request field it sets.
struct PathParam {
    /// Field names from the request message down to the field.
    names: Vec<String>,
    /// The field the variable sets.
    field: FieldDescriptor,
}

/// What the HTTP body carries.
enum Body {
    /// No body.
    None,
    /// The whole request message (`body: "*"`).
    Whole,
    /// One top-level field.
    Field(FieldDescriptor),
}

impl<'a> Route<'a> {
    /// Resolves `binding` of `method` against the request message.
    pub(super) fn new(
        service: ServiceDescriptor,
        method: MethodDescriptor,
        index: usize,
        binding: &'a Binding,
    ) -> Result<Self> {
        let request = method.input();
        let template = PathTemplate::parse(&binding.path)
            .with_context(|| format!("swagger: {}", method.full_name()))?;
        let path_params = template
            .variables()
            .map(|(names, _)| {
                let field = resolve_field(&request, names).with_context(|| {
                    let variable = names.join(".");
                    format!("swagger: {}: path variable {variable}", method.full_name())
                })?;
                Ok(PathParam {
                    names: names.to_vec(),
                    field,
                })
            })
            .collect::<Result<_>>()?;
        let body = match &binding.body {
            BodyRule::None => Body::None,
            BodyRule::Whole => Body::Whole,
            BodyRule::Field(name) => Body::Field(
                request
                    .get_field_by_name(name)
                    .with_context(|| format!("swagger: {}: body {name}", method.full_name()))?,
            ),
        };
        Ok(Self {
            service,
            method,
            index,
            binding,
            template,
            path_params,
            body,
        })
    }

    /// Whether the body parameter is a `$ref` to the request message (whole body, no path
    /// variables), which makes the request message a definition.
    pub(super) fn references_request(&self) -> bool {
        matches!(self.body, Body::Whole) && self.path_params.is_empty()
    }

    /// The OpenAPI path: variables reduced to `{field.path}`, a verb appended as `:verb`.
    pub(super) fn path(&self) -> String {
        let segments: Vec<String> = self.template.segments.iter().map(segment_text).collect();
        let verb = self
            .template
            .verb
            .as_ref()
            .map(|verb| format!(":{verb}"))
            .unwrap_or_default();
        format!("/{}{verb}", segments.join("/"))
    }

    /// The ECMA regular expression of each variable written with an explicit pattern
    /// (`{name=shelves/*}` → `shelves/[^/]+`; `*` matches one segment, `**` any rest).
    fn patterns(&self) -> BTreeMap<String, String> {
        self.template
            .variables()
            .filter(|(names, _)| {
                let name = names.join(".");
                self.binding.path.contains(&format!("{{{name}="))
            })
            .map(|(names, pattern)| {
                let regex = pattern
                    .iter()
                    .map(|segment| match segment {
                        Segment::Wildcard => "[^/]+".to_owned(),
                        Segment::DeepWildcard => ".+".to_owned(),
                        other => segment_text(other),
                    })
                    .collect::<Vec<_>>()
                    .join("/");
                (names.join("."), regex)
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
        let mut parameters = self.path_parameters(ctx)?;
        if let Some(body) = self.body_parameter(ctx, definitions)? {
            parameters.push(body);
        }
        parameters.extend(self.query_parameters(ctx)?);
        let file = self.method.parent_file();
        let (summary, description) =
            comments::summary_and_description(&ctx.comments.get(file.name(), self.method.path()));
        let mut id = format!("{}_{}", self.service.name(), self.method.name());
        if self.index > 0 {
            id.push_str(&(self.index + 1).to_string());
        }
        Ok(Operation {
            summary,
            description,
            id,
            success: self.success(ctx)?,
            error: ctx.names.reference(STATUS)?,
            parameters,
            tag: self.service.name().to_owned(),
        })
    }

    /// One `path` parameter per variable, typed from its field, with the variable's pattern.
    fn path_parameters(&self, ctx: &Context) -> Result<Vec<Parameter>> {
        let patterns = self.patterns();
        self.path_params
            .iter()
            .map(|param| {
                let field = &param.field;
                let (kind, format, values) = match field.kind() {
                    Kind::Enum(descriptor) => {
                        ("string", None, Some(schema::enum_names(&descriptor)))
                    }
                    Kind::Message(message) => {
                        let Some(known) = schema::well_known(&fqn(message.full_name())) else {
                            bail!(
                                "swagger: {}: path variable {} must be a scalar, enum or \
                                 well-known type",
                                self.method.full_name(),
                                param.names.join(".")
                            );
                        };
                        if field.is_list() {
                            bail!(
                                "swagger: {}: repeated path variable {} must be a scalar or enum",
                                self.method.full_name(),
                                param.names.join(".")
                            );
                        }
                        (known.kind.unwrap_or_default(), known.format, None)
                    }
                    scalar => {
                        let (kind, format) = schema::scalar_type(&scalar);
                        (kind, format, None)
                    }
                };
                let name = param.names.join(".");
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
                Ok(out)
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
        let request = self.method.input();
        let (name, schema, mut description) = match &self.body {
            Body::None => return Ok(None),
            Body::Whole => {
                let request_name = fqn(request.full_name());
                if let Some(known) = schema::well_known(&request_name) {
                    ("body".to_owned(), known, String::new())
                } else if self.path_params.is_empty() {
                    let description = schema::message_schema(ctx, &request, &[])?
                        .description
                        .unwrap_or_default();
                    let schema = Schema::reference(ctx.names.reference(&request_name)?);
                    ("body".to_owned(), schema, description)
                } else {
                    let exclude: Vec<Vec<String>> =
                        self.path_params.iter().map(|p| p.names.clone()).collect();
                    let body = schema::message_schema(ctx, &request, &exclude)?;
                    let definition =
                        format!("{}Body", ctx.names.get(&fqn(self.method.full_name()))?);
                    definitions.insert(definition.clone(), body.to_json());
                    let schema = Schema::reference(format!("#/definitions/{definition}"));
                    ("body".to_owned(), schema, String::new())
                }
            }
            Body::Field(field) => {
                let nested: Vec<Vec<String>> = self
                    .path_params
                    .iter()
                    .filter(|p| p.names.len() > 1 && p.names[0] == field.name())
                    .map(|p| p.names[1..].to_vec())
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
        if self.method.is_client_streaming() {
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

    /// Query parameters: none for a whole-message body, else every field not bound otherwise.
    fn query_parameters(&self, ctx: &Context) -> Result<Vec<Parameter>> {
        let body = match &self.body {
            Body::Whole => return Ok(Vec::new()),
            Body::Field(field) => Some(field.clone()),
            Body::None => None,
        };
        let excluded = self.path_params.iter().map(|p| p.field.clone()).collect();
        Query::new(ctx, excluded, body).parameters(&self.method.input())
    }

    /// The `200` response.
    fn success(&self, ctx: &Context) -> Result<Response> {
        let response = self.method.output();
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
                let names: Vec<String> = path.split('.').map(str::to_owned).collect();
                let field = resolve_field(&response, &names).with_context(|| {
                    format!("swagger: {}: response_body {path}", self.method.full_name())
                })?;
                let description = ctx.comments.get(field.parent_file().name(), field.path());
                (description, schema::field_schema(ctx, &field)?)
            }
        };
        if self.method.is_server_streaming() {
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

/// Resolves a dotted field path from `message`.
fn resolve_field(message: &MessageDescriptor, names: &[String]) -> Result<FieldDescriptor> {
    let mut message = message.clone();
    let mut field = None;
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            let Some(Kind::Message(next)) = field.as_ref().map(FieldDescriptor::kind) else {
                bail!("{} is not a message field", names[..index].join("."));
            };
            message = next;
        }
        field = Some(
            message
                .get_field_by_name(name)
                .with_context(|| format!("{} has no field {name}", message.full_name()))?,
        );
    }
    field.context("empty field path")
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
