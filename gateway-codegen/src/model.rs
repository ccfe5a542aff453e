//! Stage 2: the API model — every service method and its `google.api.http` bindings, each
//! resolved once against the request and response messages (like grpc-gateway's
//! `descriptor.Binding`). The Rust emitter and the API documents read only this model.

mod query;
mod resolve;

use anyhow::{Context, Result, bail};
use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, MethodDescriptor,
    ServiceDescriptor, Value,
};

use crate::path_template::{PathTemplate, Segment};

/// Full name of the `google.api.http` method option.
const HTTP_RULE_EXTENSION: &str = "google.api.http";

/// One gRPC service of the compiled files.
#[derive(Debug, Clone)]
pub struct Service {
    /// Proto package, e.g. `etcdserverpb`.
    pub package: String,
    /// Proto service name, e.g. `KV`.
    pub name: String,
    /// File the service is declared in, relative to the include root.
    pub file: String,
    /// The service's descriptor.
    pub descriptor: ServiceDescriptor,
    /// Methods in declaration order.
    pub methods: Vec<Method>,
}

/// One RPC method.
#[derive(Debug, Clone)]
pub struct Method {
    /// Proto method name, e.g. `Range`.
    pub name: String,
    /// Fully qualified request message name, e.g. `etcdserverpb.RangeRequest`.
    pub input: String,
    /// Fully qualified response message name.
    pub output: String,
    /// Which sides stream.
    pub streaming: Streaming,
    /// The method's descriptor.
    pub descriptor: MethodDescriptor,
    /// HTTP bindings: the primary rule first, then its `additional_bindings`.
    pub bindings: Vec<Binding>,
}

/// Which sides of a call stream messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    Server,
    /// A stream of requests, one response.
    Client,
    /// Streams both ways.
    Bidi,
}

impl Streaming {
    /// Whether the client sends a stream of requests.
    pub fn client(self) -> bool {
        matches!(self, Self::Client | Self::Bidi)
    }

    /// Whether the server answers with a stream of responses.
    pub fn server(self) -> bool {
        matches!(self, Self::Server | Self::Bidi)
    }
}

/// HTTP verb of a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `get`
    Get,
    /// `put`
    Put,
    /// `post`
    Post,
    /// `delete`
    Delete,
    /// `patch`
    Patch,
}

impl Verb {
    /// The method name in upper case, as HTTP writes it (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Post => "POST",
            Self::Delete => "DELETE",
            Self::Patch => "PATCH",
        }
    }
}

/// A field reached from a message through a dotted path of field names.
#[derive(Debug, Clone)]
pub struct FieldPath {
    /// Field names from the message down to the field, e.g. `["book", "name"]`.
    pub names: Vec<String>,
    /// The field at the end of the path.
    pub field: FieldDescriptor,
}

impl FieldPath {
    /// The path in proto names joined by dots, e.g. `book.name`.
    pub fn dotted(&self) -> String {
        self.names.join(".")
    }
}

/// Which part of the request message the HTTP body carries.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body (`body` absent).
    None,
    /// The whole message (`body: "*"`).
    Whole,
    /// One field (`body: "field"`).
    Field(FieldPath),
}

/// A path variable of a binding, resolved to the request field it sets.
#[derive(Debug, Clone)]
pub struct PathVariable {
    /// The request field.
    pub field: FieldPath,
    /// The segments the value matches; `{name}` means `[Wildcard]`.
    pub pattern: Vec<Segment>,
    /// The pattern was written out in the template (`{name=shelves/*}`).
    pub explicit_pattern: bool,
}

/// JSON kind of a query-settable field: how the text of a parameter becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Strings, bytes, enums, and well-known types written as JSON strings.
    Text,
    /// Integers and floating point numbers.
    Number,
    /// `true` / `false`.
    Bool,
}

/// A request field settable from the query string, as protoc-gen-openapiv2 documents it.
#[derive(Debug, Clone)]
pub struct QueryParameter {
    /// Field names from the request message down to the field (nested messages flattened).
    pub names: Vec<String>,
    /// The same path in lowerCamelCase JSON names, e.g. `filter.titleContains`.
    pub json_path: String,
    /// The field.
    pub field: FieldDescriptor,
    /// JSON kind of one value (of the map value, for a map).
    pub kind: FieldKind,
    /// The field is repeated: every occurrence of the parameter adds an element.
    pub repeated: bool,
    /// For a map field, the JSON type of its key (the parameter is `name[key]`).
    pub map_key: Option<&'static str>,
}

impl QueryParameter {
    /// The path in proto names joined by dots, e.g. `filter.title_contains`.
    pub fn dotted(&self) -> String {
        self.names.join(".")
    }
}

/// One HTTP binding of a method, resolved against its request and response messages.
#[derive(Debug, Clone)]
pub struct Binding {
    /// HTTP verb.
    pub verb: Verb,
    /// Path template as written, e.g. `/v3/kv/range`.
    pub path: String,
    /// The parsed path template.
    pub template: PathTemplate,
    /// Path variables in template order.
    pub variables: Vec<PathVariable>,
    /// Body mapping.
    pub body: BodyRule,
    /// The response field sent instead of the whole response (`response_body`).
    pub response_body: Option<FieldPath>,
    /// Request fields settable from the query string: none for a whole-message body, else
    /// every field not bound to the path or the body.
    pub query: Vec<QueryParameter>,
}

impl Binding {
    /// Whether the binding is a literal path with the whole message as body and response:
    /// nothing to map between HTTP and the messages.
    pub fn is_plain(&self) -> bool {
        matches!(self.body, BodyRule::Whole)
            && self.response_body.is_none()
            && self.template.is_literal()
    }
}

impl Method {
    /// The gRPC method as `package.Service/Method`, e.g. `etcdserverpb.KV/Range`.
    pub fn rpc(&self) -> String {
        format!(
            "{}/{}",
            self.descriptor.parent_service().full_name(),
            self.name
        )
    }

    /// The `operationId` of the binding at `index`, as protoc-gen-openapiv2 names it:
    /// `Service_Method`, with the binding's 1-based position appended after the first.
    pub fn operation_id(&self, index: usize) -> String {
        let service = self.descriptor.parent_service();
        let mut id = format!("{}_{}", service.name(), self.name);
        if index > 0 {
            id.push_str(&(index + 1).to_string());
        }
        id
    }
}

/// Builds the model for every service declared in `files`.
pub fn model(pool: &DescriptorPool, files: &[String]) -> Result<Vec<Service>> {
    let extension = pool.get_extension_by_name(HTTP_RULE_EXTENSION);
    let mut services = Vec::new();
    for file_name in files {
        let Some(file) = pool.get_file_by_name(file_name) else {
            bail!("{file_name} is not in the descriptor pool");
        };
        for service in file.services() {
            let methods = service
                .methods()
                .map(|method| {
                    let bindings = match &extension {
                        Some(extension) => bindings(&method, extension)?,
                        None => Vec::new(),
                    };
                    Ok(Method {
                        name: method.name().to_owned(),
                        input: method.input().full_name().to_owned(),
                        output: method.output().full_name().to_owned(),
                        streaming: streaming(&method),
                        descriptor: method,
                        bindings,
                    })
                })
                .collect::<Result<_>>()?;
            services.push(Service {
                package: file.package_name().to_owned(),
                name: service.name().to_owned(),
                file: file_name.clone(),
                descriptor: service,
                methods,
            });
        }
    }
    Ok(services)
}

fn streaming(method: &MethodDescriptor) -> Streaming {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => Streaming::Unary,
        (false, true) => Streaming::Server,
        (true, false) => Streaming::Client,
        (true, true) => Streaming::Bidi,
    }
}

fn bindings(method: &MethodDescriptor, extension: &ExtensionDescriptor) -> Result<Vec<Binding>> {
    let options = method.options();
    if !options.has_extension(extension) {
        return Ok(Vec::new());
    }
    let rule = options.get_extension(extension);
    let Value::Message(rule) = rule.as_ref() else {
        bail!("{}: google.api.http is not a message", method.full_name());
    };
    let mut out = vec![binding(method, rule)?];
    if let Some(Value::List(extra)) = rule.get_field_by_name("additional_bindings").as_deref() {
        for value in extra {
            let Value::Message(extra_rule) = value else {
                bail!("{}: malformed additional_bindings", method.full_name());
            };
            if extra_rule.has_field_by_name("additional_bindings") {
                bail!(
                    "{}: nested additional_bindings are not allowed by google.api.http",
                    method.full_name()
                );
            }
            out.push(binding(method, extra_rule)?);
        }
    }
    Ok(out)
}

fn binding(method: &MethodDescriptor, rule: &DynamicMessage) -> Result<Binding> {
    let name = method.full_name();
    let verbs = [
        ("get", Verb::Get),
        ("put", Verb::Put),
        ("post", Verb::Post),
        ("delete", Verb::Delete),
        ("patch", Verb::Patch),
    ];
    let (verb, path) = match verbs
        .iter()
        .find(|(field, _)| rule.has_field_by_name(field))
    {
        Some((field, verb)) => (*verb, string_field(rule, field)),
        None if rule.has_field_by_name("custom") => {
            bail!("{name}: HTTP binding form `custom` is not supported by the generator yet")
        }
        None => bail!("{name}: google.api.http rule has no pattern"),
    };
    let template = PathTemplate::parse(&path).map_err(|err| anyhow::anyhow!("{name}: {err}"))?;
    let request = method.input();
    let variables = template
        .variables()
        .map(|(names, pattern, explicit)| {
            let field = resolve::path_variable(&request, names)
                .with_context(|| format!("{name} {path}: path variable {}", names.join(".")))?;
            Ok(PathVariable {
                field,
                pattern: pattern.to_vec(),
                explicit_pattern: explicit,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let body = match string_field(rule, "body").as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        field => BodyRule::Field(
            resolve::field_path(&request, field)
                .with_context(|| format!("{name} {path}: body {field}"))?,
        ),
    };
    let response_body = match string_field(rule, "response_body").as_str() {
        "" => None,
        field => Some(
            resolve::field_path(&method.output(), field)
                .with_context(|| format!("{name} {path}: response_body {field}"))?,
        ),
    };
    let query = match &body {
        BodyRule::Whole => Ok(Vec::new()),
        BodyRule::None => query::parameters(&request, &variables, None),
        BodyRule::Field(body) => query::parameters(&request, &variables, Some(&body.field)),
    }
    .with_context(|| format!("{name} {path}: query parameters"))?;
    Ok(Binding {
        verb,
        path,
        template,
        variables,
        body,
        response_body,
        query,
    })
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::String(text)) => text.clone(),
        _ => String::new(),
    }
}
