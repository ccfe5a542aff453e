//! Stage 2: the API model — every service method and its `google.api.http` bindings.

use anyhow::{Result, bail};
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

use crate::path_template::PathTemplate;

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
    /// The client sends a stream of requests.
    pub client_streaming: bool,
    /// The server answers with a stream of responses.
    pub server_streaming: bool,
    /// HTTP bindings: the primary rule first, then its `additional_bindings`.
    pub bindings: Vec<Binding>,
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

/// Which part of the request message the HTTP body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body (`body` absent).
    None,
    /// The whole message (`body: "*"`).
    Whole,
    /// One field (`body: "field"`).
    Field(String),
}

/// One HTTP binding of a method.
#[derive(Debug, Clone)]
pub struct Binding {
    /// HTTP verb.
    pub verb: Verb,
    /// Path template as written, e.g. `/v3/kv/range`.
    pub path: String,
    /// The parsed path template.
    pub template: PathTemplate,
    /// Body mapping.
    pub body: BodyRule,
    /// `response_body` field, if any.
    pub response_body: Option<String>,
}

impl Method {
    /// The gRPC path `/<package>.<Service>/<Method>`.
    pub fn grpc_path(&self, service: &Service) -> String {
        format!("/{}.{}/{}", service.package, service.name, self.name)
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
                        Some(ext) => bindings(&method, &method.options(), ext)?,
                        None => Vec::new(),
                    };
                    Ok(Method {
                        name: method.name().to_owned(),
                        input: method.input().full_name().to_owned(),
                        output: method.output().full_name().to_owned(),
                        client_streaming: method.is_client_streaming(),
                        server_streaming: method.is_server_streaming(),
                        bindings,
                    })
                })
                .collect::<Result<_>>()?;
            services.push(Service {
                package: file.package_name().to_owned(),
                name: service.name().to_owned(),
                file: file_name.clone(),
                methods,
            });
        }
    }
    Ok(services)
}

fn bindings(
    method: &MethodDescriptor,
    options: &DynamicMessage,
    extension: &prost_reflect::ExtensionDescriptor,
) -> Result<Vec<Binding>> {
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
            if has_field(extra_rule, "additional_bindings") {
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
    let (verb, path) = match verbs.iter().find(|(field, _)| has_field(rule, field)) {
        Some((field, verb)) => (*verb, string_field(rule, field)),
        None if has_field(rule, "custom") => {
            bail!("{name}: HTTP binding form `custom` is not supported by the generator yet")
        }
        None => bail!("{name}: google.api.http rule has no pattern"),
    };
    let body = match string_field(rule, "body").as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        field => BodyRule::Field(field.to_owned()),
    };
    let response_body = Some(string_field(rule, "response_body")).filter(|s| !s.is_empty());
    let template = PathTemplate::parse(&path).map_err(|err| anyhow::anyhow!("{name}: {err}"))?;
    Ok(Binding {
        verb,
        template,
        path,
        body,
        response_body,
    })
}

fn has_field(message: &DynamicMessage, name: &str) -> bool {
    message.has_field_by_name(name)
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}
