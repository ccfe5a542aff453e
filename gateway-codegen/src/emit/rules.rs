//! Static `gateway_runtime::rule::HttpRule`s for bindings beyond `POST` + `body: "*"`: path
//! variables, query parameters, a body bound to one field or none, `response_body`.

use anyhow::{Result, bail};
use proc_macro2::TokenStream;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use quote::{format_ident, quote};

use super::routes::verb;
use crate::{
    model::{Binding, BodyRule, Method},
    path_template::Segment,
};

/// How deep nested message fields are offered as query parameters (`a.b.c`).
const MAX_QUERY_DEPTH: usize = 3;

/// Whether a binding needs a rule (anything but a literal path with the whole message as body).
pub fn needs_rule(binding: &Binding) -> bool {
    binding.body != BodyRule::Whole
        || binding.response_body.is_some()
        || binding.template.verb.is_some()
        || binding
            .template
            .segments
            .iter()
            .any(|s| !matches!(s, Segment::Literal(_)))
}

/// The `static` item `name` describing `binding` of `method`.
pub fn rule(
    pool: &DescriptorPool,
    method: &Method,
    binding: &Binding,
    name: &syn::Ident,
) -> Result<TokenStream> {
    let Some(input) = pool.get_message_by_name(&method.input) else {
        bail!("{}: request type {} not found", method.name, method.input);
    };
    let (route, variables, verb_capture) = route(binding)?;
    let verb_capture = match verb_capture {
        Some((capture, suffix)) => quote!(Some((#capture, #suffix))),
        None => quote!(None),
    };
    for (field, _) in &variables {
        field_at(&input, field)
            .map_err(|e| anyhow::anyhow!("{} {}: {e}", method.name, binding.path))?;
    }
    let variables = variables.iter().map(|(field, parts)| {
        let parts = parts.iter().map(|part| match part {
            Part::Literal(text) => quote!(gateway_runtime::rule::PathPart::Literal(#text)),
            Part::Capture(name) => quote!(gateway_runtime::rule::PathPart::Capture(#name)),
        });
        quote!(gateway_runtime::rule::PathVariable { field: #field, parts: &[#(#parts),*] })
    });
    let body = match &binding.body {
        BodyRule::Whole => quote!(gateway_runtime::rule::BodyRule::Whole),
        BodyRule::None => quote!(gateway_runtime::rule::BodyRule::Empty),
        BodyRule::Field(field) => {
            field_at(&input, field).map_err(|e| anyhow::anyhow!("{} body: {e}", method.name))?;
            quote!(gateway_runtime::rule::BodyRule::Field(#field))
        }
    };
    let response_body = match &binding.response_body {
        Some(field) => quote!(Some(#field)),
        None => quote!(None),
    };
    let mut query = Vec::new();
    if binding.body != BodyRule::Whole {
        let skip = match &binding.body {
            BodyRule::Field(field) => Some(field.as_str()),
            _ => None,
        };
        query_fields(&input, "", "", skip, 0, &mut query);
    }
    let query = query.iter().map(|q| {
        let (path, json, repeated) = (&q.path, &q.json_path, q.repeated);
        let kind = match q.kind {
            QueryKind::Text => quote!(Text),
            QueryKind::Number => quote!(Number),
            QueryKind::Bool => quote!(Bool),
        };
        quote!(gateway_runtime::rule::QueryField {
            path: #path,
            json_path: #json,
            kind: gateway_runtime::rule::FieldKind::#kind,
            repeated: #repeated,
        })
    });
    let verb = verb(binding.verb);
    Ok(quote! {
        static #name: gateway_runtime::rule::HttpRule = gateway_runtime::rule::HttpRule {
            method: #verb,
            route: #route,
            variables: &[#(#variables),*],
            body: #body,
            response_body: #response_body,
            query_fields: &[#(#query),*],
            verb_capture: #verb_capture,
        };
    })
}

enum Part {
    Literal(String),
    Capture(String),
}

/// A path variable: the dotted field path and the pieces of its value.
type Variable = (String, Vec<Part>);

/// A custom verb carried by a capture: `(capture name, ":verb")`.
type VerbCapture = Option<(String, String)>;

/// The router path (one named capture per wildcard), each variable's field and parts, and the
/// capture that carries a custom verb (the router matches whole segments only).
fn route(binding: &Binding) -> Result<(String, Vec<Variable>, VerbCapture)> {
    let mut route = String::new();
    let mut variables = Vec::new();
    let mut captures = 0;
    let mut capture = |deep: bool, route: &mut String| {
        let name = format!("v{captures}");
        captures += 1;
        route.push_str(&if deep {
            format!("{{*{name}}}")
        } else {
            format!("{{{name}}}")
        });
        name
    };
    for segment in &binding.template.segments {
        route.push('/');
        match segment {
            Segment::Literal(text) => route.push_str(text),
            Segment::Wildcard => {
                capture(false, &mut route);
            }
            Segment::DeepWildcard => {
                capture(true, &mut route);
            }
            Segment::Variable { field, pattern } => {
                let mut parts = Vec::new();
                for (i, piece) in pattern.iter().enumerate() {
                    if i > 0 {
                        route.push('/');
                        parts.push(Part::Literal("/".to_owned()));
                    }
                    match piece {
                        Segment::Literal(text) => {
                            route.push_str(text);
                            parts.push(Part::Literal(text.clone()));
                        }
                        Segment::Wildcard => parts.push(Part::Capture(capture(false, &mut route))),
                        Segment::DeepWildcard => {
                            parts.push(Part::Capture(capture(true, &mut route)))
                        }
                        Segment::Variable { .. } => bail!("{}: nested variable", binding.path),
                    }
                }
                variables.push((field.join("."), merge_literals(parts)));
            }
        }
    }
    let mut verb_capture = None;
    if let Some(verb) = &binding.template.verb {
        if route.ends_with('}') {
            let name = route
                .rsplit('{')
                .next()
                .map(|tail| {
                    tail.trim_start_matches('*')
                        .trim_end_matches('}')
                        .to_owned()
                })
                .unwrap_or_default();
            verb_capture = Some((name, format!(":{verb}")));
        } else {
            route.push(':');
            route.push_str(verb);
        }
    }
    Ok((route, variables, verb_capture))
}

fn merge_literals(parts: Vec<Part>) -> Vec<Part> {
    let mut merged: Vec<Part> = Vec::new();
    for part in parts {
        match (merged.last_mut(), part) {
            (Some(Part::Literal(text)), Part::Literal(more)) => text.push_str(&more),
            (_, part) => merged.push(part),
        }
    }
    merged
}

/// The field at a dotted path, checking that each step exists.
fn field_at(message: &MessageDescriptor, path: &str) -> Result<FieldDescriptor> {
    let mut current = message.clone();
    let mut steps = path.split('.').peekable();
    while let Some(step) = steps.next() {
        let Some(field) = current.get_field_by_name(step) else {
            bail!(
                "{} has no field {step:?} (in {path:?})",
                current.full_name()
            );
        };
        if steps.peek().is_none() {
            return Ok(field);
        }
        let Kind::Message(next) = field.kind() else {
            bail!("{step:?} in {path:?} is not a message field");
        };
        current = next;
    }
    bail!("empty field path")
}

#[derive(Clone, Copy)]
enum QueryKind {
    Text,
    Number,
    Bool,
}

struct QueryField {
    path: String,
    json_path: String,
    kind: QueryKind,
    repeated: bool,
}

/// Every scalar, enum or bytes field reachable through singular message fields.
fn query_fields(
    message: &MessageDescriptor,
    prefix: &str,
    json_prefix: &str,
    skip: Option<&str>,
    depth: usize,
    out: &mut Vec<QueryField>,
) {
    for field in message.fields() {
        let path = format!("{prefix}{}", field.name());
        if skip == Some(path.as_str()) {
            continue;
        }
        let json_path = format!("{json_prefix}{}", field.json_name());
        let kind = match field.kind() {
            Kind::Message(inner) => {
                if !field.is_list() && !field.is_map() && depth + 1 < MAX_QUERY_DEPTH {
                    query_fields(
                        &inner,
                        &format!("{path}."),
                        &format!("{json_path}."),
                        skip,
                        depth + 1,
                        out,
                    );
                }
                continue;
            }
            Kind::Bool => QueryKind::Bool,
            Kind::String | Kind::Bytes | Kind::Enum(_) => QueryKind::Text,
            _ => QueryKind::Number,
        };
        if field.is_map() {
            continue;
        }
        out.push(QueryField {
            path,
            json_path,
            kind,
            repeated: field.is_list(),
        });
    }
}

/// The identifier of a binding's rule.
pub fn rule_name(service: &str, method: &str, index: usize) -> syn::Ident {
    format_ident!(
        "RULE_{}_{}_{}",
        service.to_ascii_uppercase(),
        method.to_ascii_uppercase(),
        index
    )
}
