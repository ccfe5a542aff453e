//! Swagger (OpenAPI 2.0) documents, one per proto file with services, in the shape grpc-gateway's
//! `protoc-gen-openapiv2` gives them (proto field names, `json_names_for_fields=false`).

mod comments;
mod definitions;
mod document;
mod json;
mod merge;
mod naming;
mod operation;
mod options;
mod paths;
mod query;
mod schema;

use std::collections::BTreeMap;

use anyhow::{Result, bail};

pub use merge::merge;

use crate::{load::Descriptors, model::Service};

/// `file name → JSON` for every proto file of `api` that declares services: `rpc.proto` gives
/// `rpc.swagger.json`.
pub fn emit(descriptors: &Descriptors, api: &[Service]) -> Result<BTreeMap<String, String>> {
    let comments = comments::Comments::new(&descriptors.set);
    let mut files: Vec<(&str, Vec<&Service>)> = Vec::new();
    for service in api {
        match files.iter_mut().find(|(file, _)| *file == service.file) {
            Some((_, services)) => services.push(service),
            None => files.push((&service.file, vec![service])),
        }
    }
    let mut out = BTreeMap::new();
    for (file, services) in files {
        let document = document::build(&descriptors.pool, &comments, file, &services)?;
        let name = output_name(file);
        if out
            .insert(name.clone(), json::to_string(&document)?)
            .is_some()
        {
            bail!("swagger: two proto files would both be written as {name}");
        }
    }
    Ok(out)
}

/// What the schema and operation renderers share while building one document.
struct Context<'a> {
    /// Comments of every file.
    comments: &'a comments::Comments,
    /// Definition names in the document's scope.
    names: &'a naming::Names,
}

/// `name` as a fully qualified proto name with leading dot.
fn fqn(name: &str) -> String {
    format!(".{name}")
}

/// `text`, unless it is empty.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The document's file name: the proto file's base name with `.swagger.json`.
fn output_name(file: &str) -> String {
    let base = file.rsplit('/').next().unwrap_or(file);
    let stem = base.strip_suffix(".proto").unwrap_or(base);
    format!("{stem}.swagger.json")
}
