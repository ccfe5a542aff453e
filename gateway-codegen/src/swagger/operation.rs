//! The JSON objects of the `paths` section: operations, parameters and responses.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::schema::Schema;
use crate::model::Verb;

/// An operation object.
pub(super) struct Operation {
    /// `summary`: the first paragraph of the method comment.
    pub summary: Option<String>,
    /// `description`: the rest of the method comment.
    pub description: Option<String>,
    /// `operationId`
    pub id: String,
    /// The `200` response.
    pub success: Response,
    /// `$ref` of the error status (the `default` response).
    pub error: String,
    /// Path, body and query parameters, in that order.
    pub parameters: Vec<Parameter>,
    /// The service's tag.
    pub tag: String,
}

impl Operation {
    /// The JSON object.
    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(summary) = &self.summary {
            out.insert("summary".into(), summary.as_str().into());
        }
        if let Some(description) = &self.description {
            out.insert("description".into(), description.as_str().into());
        }
        out.insert("operationId".into(), self.id.as_str().into());
        let mut responses = Map::new();
        responses.insert("200".into(), self.success.to_json());
        let error = Response {
            description: "An unexpected error response.".to_owned(),
            schema: Schema::reference(self.error.clone()),
        };
        responses.insert("default".into(), error.to_json());
        out.insert("responses".into(), Value::Object(responses));
        if !self.parameters.is_empty() {
            let parameters = self.parameters.iter().map(Parameter::to_json).collect();
            out.insert("parameters".into(), Value::Array(parameters));
        }
        out.insert("tags".into(), vec![self.tag.as_str()].into());
        Value::Object(out)
    }
}

/// A response object.
pub(super) struct Response {
    /// `description`
    pub description: String,
    /// `schema`
    pub schema: Schema,
}

impl Response {
    /// The JSON object.
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("description".into(), self.description.as_str().into());
        out.insert("schema".into(), self.schema.to_json());
        Value::Object(out)
    }
}

/// A parameter object.
#[derive(Default)]
pub(super) struct Parameter {
    /// `name`
    pub name: String,
    /// `description`
    pub description: Option<String>,
    /// `in`: `path`, `body` or `query`.
    pub location: &'static str,
    /// `required`
    pub required: bool,
    /// `type`
    pub kind: Option<&'static str>,
    /// `format`
    pub format: Option<&'static str>,
    /// `items` of an array.
    pub items: Option<Schema>,
    /// `enum`
    pub values: Option<Vec<String>>,
    /// `collectionFormat` of an array.
    pub collection_format: Option<&'static str>,
    /// `default`
    pub default: Option<String>,
    /// `minItems`
    pub min_items: Option<u64>,
    /// `pattern` of a path variable.
    pub pattern: Option<String>,
    /// `schema` of the body.
    pub schema: Option<Schema>,
}

impl Parameter {
    /// The JSON object.
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.as_str().into());
        if let Some(description) = &self.description {
            out.insert("description".into(), description.as_str().into());
        }
        out.insert("in".into(), self.location.into());
        out.insert("required".into(), self.required.into());
        if let Some(kind) = self.kind {
            out.insert("type".into(), kind.into());
        }
        if let Some(format) = self.format {
            out.insert("format".into(), format.into());
        }
        if let Some(items) = &self.items {
            out.insert("items".into(), items.to_json());
        }
        if let Some(values) = &self.values {
            out.insert("enum".into(), values.clone().into());
        }
        if let Some(format) = self.collection_format {
            out.insert("collectionFormat".into(), format.into());
        }
        if let Some(default) = &self.default {
            out.insert("default".into(), default.as_str().into());
        }
        if let Some(min_items) = self.min_items {
            out.insert("minItems".into(), min_items.into());
        }
        if let Some(pattern) = &self.pattern {
            out.insert("pattern".into(), pattern.as_str().into());
        }
        if let Some(schema) = &self.schema {
            out.insert("schema".into(), schema.to_json());
        }
        Value::Object(out)
    }
}

/// The `paths` object: operations by path and verb, paths in byte order.
#[derive(Default)]
pub(super) struct Paths {
    items: BTreeMap<String, [Option<Operation>; 5]>,
}

impl Paths {
    /// Adds `operation` at `path`; when the path already has an operation for `verb`, the first
    /// path parameter is renamed `<name>_<n>` until the path is free (as protoc-gen-openapiv2).
    pub(super) fn insert(&mut self, mut path: String, verb: Verb, mut operation: Operation) {
        let slot = verb_slot(verb);
        let taken = |paths: &Self, path: &str| {
            paths
                .items
                .get(path)
                .is_some_and(|item| item[slot].is_some())
        };
        if taken(self, &path) {
            let first_path_param = operation
                .parameters
                .iter_mut()
                .find(|p| p.location == "path")
                .filter(|p| path.contains(&format!("{{{}}}", p.name)));
            if let Some(param) = first_path_param {
                let original = param.name.clone();
                let mut count = 0;
                let mut renamed = path.clone();
                while taken(self, &renamed) {
                    count += 1;
                    renamed = path.replace(
                        &format!("{{{original}}}"),
                        &format!("{{{original}_{count}}}"),
                    );
                }
                param.name = format!("{original}_{count}");
                path = renamed;
            }
        }
        self.items.entry(path).or_default()[slot] = Some(operation);
    }

    /// The JSON object.
    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        for (path, operations) in &self.items {
            let mut item = Map::new();
            for (key, operation) in VERB_KEYS.iter().zip(operations) {
                if let Some(operation) = operation {
                    item.insert((*key).into(), operation.to_json());
                }
            }
            out.insert(path.clone(), Value::Object(item));
        }
        Value::Object(out)
    }
}

/// Path item keys, in the order they are written.
const VERB_KEYS: [&str; 5] = ["get", "delete", "post", "put", "patch"];

/// Index of `verb` in [`VERB_KEYS`].
fn verb_slot(verb: Verb) -> usize {
    match verb {
        Verb::Get => 0,
        Verb::Delete => 1,
        Verb::Post => 2,
        Verb::Put => 3,
        Verb::Patch => 4,
    }
}
