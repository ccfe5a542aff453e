//! The file option `grpc.gateway.protoc_gen_openapiv2.options.openapiv2_swagger`.

use std::collections::BTreeMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FileDescriptor, Kind, MapKey, ReflectMessage, Value as Proto,
};
use serde_json::{Map, Value};

/// Full name of the file option.
const SWAGGER_OPTION: &str = "grpc.gateway.protoc_gen_openapiv2.options.openapiv2_swagger";

/// The document-level settings a file option sets (unset parts are empty).
#[derive(Default)]
pub(super) struct SwaggerOption {
    /// `swagger` version override.
    pub swagger: Option<String>,
    /// `info` fields to overlay: `title`, `description`, `termsOfService`, `version`,
    /// `contact`, `license`.
    pub info: Map<String, Value>,
    /// `host`
    pub host: Option<String>,
    /// `basePath`
    pub base_path: Option<String>,
    /// `schemes`, lowercase.
    pub schemes: Vec<String>,
    /// `consumes` override.
    pub consumes: Vec<String>,
    /// `produces` override.
    pub produces: Vec<String>,
    /// `securityDefinitions`, by name.
    pub security_definitions: Option<Value>,
    /// `security` requirements.
    pub security: Option<Value>,
    /// Tags declared by the file, before the service tags.
    pub tags: Vec<Value>,
    /// `externalDocs`
    pub external_docs: Option<Value>,
}

impl SwaggerOption {
    /// Reads the option of `file`; all empty when the file has none.
    pub(super) fn of(pool: &DescriptorPool, file: &FileDescriptor) -> Self {
        let Some(extension) = pool.get_extension_by_name(SWAGGER_OPTION) else {
            return Self::default();
        };
        let options = file.options();
        if !options.has_extension(&extension) {
            return Self::default();
        }
        let Proto::Message(swagger) = options.get_extension(&extension).into_owned() else {
            return Self::default();
        };
        let mut info = Map::new();
        if let Some(info_option) = message(&swagger, "info") {
            for (key, field) in [
                ("title", "title"),
                ("description", "description"),
                ("termsOfService", "terms_of_service"),
                ("version", "version"),
            ] {
                if let Some(text) = string(&info_option, field) {
                    info.insert(key.into(), text.into());
                }
            }
            if let Some(contact) = message(&info_option, "contact") {
                info.insert(
                    "contact".into(),
                    strings_object(&contact, &["name", "url", "email"]),
                );
            }
            if let Some(license) = message(&info_option, "license") {
                info.insert("license".into(), strings_object(&license, &["name", "url"]));
            }
        }
        Self {
            swagger: string(&swagger, "swagger"),
            info,
            host: string(&swagger, "host"),
            base_path: string(&swagger, "base_path"),
            schemes: enum_names(&swagger, "schemes")
                .into_iter()
                .map(|name| name.to_lowercase())
                .collect(),
            consumes: strings(&swagger, "consumes"),
            produces: strings(&swagger, "produces"),
            security_definitions: message(&swagger, "security_definitions")
                .map(|definitions| security_definitions(&definitions)),
            security: (!list(&swagger, "security").is_empty())
                .then(|| security_requirements(&swagger)),
            tags: list(&swagger, "tags")
                .iter()
                .filter_map(as_message)
                .map(|tag| {
                    let mut out = strings_object(&tag, &["name", "description"]);
                    if let (Value::Object(out), Some(docs)) = (&mut out, external_docs(&tag)) {
                        out.insert("externalDocs".into(), docs);
                    }
                    out
                })
                .collect(),
            external_docs: external_docs(&swagger),
        }
    }
}

/// `securityDefinitions`: each scheme with its type, description, name, location, flow, URLs
/// and scopes.
fn security_definitions(definitions: &DynamicMessage) -> Value {
    let mut out = Map::new();
    for (name, scheme) in map(definitions, "security") {
        let Some(scheme) = as_message(&scheme) else {
            continue;
        };
        let mut object = Map::new();
        let kind = match enum_name(&scheme, "type").as_deref() {
            Some("TYPE_BASIC") => "basic",
            Some("TYPE_API_KEY") => "apiKey",
            Some("TYPE_OAUTH2") => "oauth2",
            _ => "",
        };
        object.insert("type".into(), kind.into());
        for (key, field) in [("description", "description"), ("name", "name")] {
            if let Some(text) = string(&scheme, field) {
                object.insert(key.into(), text.into());
            }
        }
        let location = match enum_name(&scheme, "in").as_deref() {
            Some("IN_QUERY") => Some("query"),
            Some("IN_HEADER") => Some("header"),
            _ => None,
        };
        if let Some(location) = location {
            object.insert("in".into(), location.into());
        }
        let flow = match enum_name(&scheme, "flow").as_deref() {
            Some("FLOW_IMPLICIT") => Some("implicit"),
            Some("FLOW_PASSWORD") => Some("password"),
            Some("FLOW_APPLICATION") => Some("application"),
            Some("FLOW_ACCESS_CODE") => Some("accessCode"),
            _ => None,
        };
        if let Some(flow) = flow {
            object.insert("flow".into(), flow.into());
        }
        for (key, field) in [
            ("authorizationUrl", "authorization_url"),
            ("tokenUrl", "token_url"),
        ] {
            if let Some(text) = string(&scheme, field) {
                object.insert(key.into(), text.into());
            }
        }
        if let Some(scopes) = message(&scheme, "scopes") {
            let scopes: Map<String, Value> = map(&scopes, "scope")
                .into_iter()
                .filter_map(|(key, value)| match value {
                    Proto::String(text) => Some((key, Value::from(text))),
                    _ => None,
                })
                .collect();
            object.insert("scopes".into(), Value::Object(scopes));
        }
        out.insert(name, Value::Object(object));
    }
    Value::Object(out)
}

/// `security`: one object per requirement, scheme name → scopes.
fn security_requirements(swagger: &DynamicMessage) -> Value {
    let requirements = list(swagger, "security")
        .iter()
        .filter_map(as_message)
        .map(|requirement| {
            let object: Map<String, Value> = map(&requirement, "security_requirement")
                .into_iter()
                .map(|(name, value)| {
                    let scopes = as_message(&value)
                        .map(|value| strings(&value, "scope"))
                        .unwrap_or_default();
                    (name, Value::from(scopes))
                })
                .collect();
            Value::Object(object)
        })
        .collect();
    Value::Array(requirements)
}

/// `externalDocs` of a message with an `external_docs` field.
fn external_docs(parent: &DynamicMessage) -> Option<Value> {
    message(parent, "external_docs").map(|docs| strings_object(&docs, &["description", "url"]))
}

/// The non-empty string fields `names` as a JSON object.
fn strings_object(message: &DynamicMessage, names: &[&str]) -> Value {
    let object = names
        .iter()
        .filter_map(|name| string(message, name).map(|text| ((*name).to_owned(), text.into())))
        .collect();
    Value::Object(object)
}

/// A non-empty string field.
fn string(message: &DynamicMessage, name: &str) -> Option<String> {
    match message.get_field_by_name(name)?.as_ref() {
        Proto::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}

/// A set message field.
fn message(parent: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    if !parent.has_field_by_name(name) {
        return None;
    }
    as_message(parent.get_field_by_name(name)?.as_ref())
}

/// `value` if it is a message.
fn as_message(value: &Proto) -> Option<DynamicMessage> {
    match value {
        Proto::Message(message) => Some(message.clone()),
        _ => None,
    }
}

/// The values of a repeated field.
fn list(message: &DynamicMessage, name: &str) -> Vec<Proto> {
    match message.get_field_by_name(name).as_deref() {
        Some(Proto::List(values)) => values.clone(),
        _ => Vec::new(),
    }
}

/// The values of a repeated string field.
fn strings(message: &DynamicMessage, name: &str) -> Vec<String> {
    list(message, name)
        .into_iter()
        .filter_map(|value| match value {
            Proto::String(text) => Some(text),
            _ => None,
        })
        .collect()
}

/// A map field with string keys, in key order.
fn map(message: &DynamicMessage, name: &str) -> BTreeMap<String, Proto> {
    match message.get_field_by_name(name).as_deref() {
        Some(Proto::Map(entries)) => entries
            .iter()
            .filter_map(|(key, value)| match key {
                MapKey::String(key) => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The value name of an enum field.
fn enum_name(message: &DynamicMessage, name: &str) -> Option<String> {
    let field = message.descriptor().get_field_by_name(name)?;
    let Kind::Enum(descriptor) = field.kind() else {
        return None;
    };
    match message.get_field(&field).as_ref() {
        Proto::EnumNumber(number) => descriptor.get_value(*number).map(|v| v.name().to_owned()),
        _ => None,
    }
}

/// The value names of a repeated enum field.
fn enum_names(message: &DynamicMessage, name: &str) -> Vec<String> {
    let Some(field) = message.descriptor().get_field_by_name(name) else {
        return Vec::new();
    };
    let Kind::Enum(descriptor) = field.kind() else {
        return Vec::new();
    };
    list(message, name)
        .into_iter()
        .filter_map(|value| match value {
            Proto::EnumNumber(number) => descriptor.get_value(number).map(|v| v.name().to_owned()),
            _ => None,
        })
        .collect()
}
