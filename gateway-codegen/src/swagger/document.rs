//! One swagger document: a proto file's services, the types they use, and the file's settings.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::{Context as _, Result};
use prost_reflect::{DescriptorPool, FileDescriptor, MessageDescriptor};
use serde_json::{Map, Value};

use super::{
    Context,
    comments::{Comments, titled},
    definitions::{self, ANY, STATUS},
    fqn,
    naming::Names,
    operation::Paths,
    options::SwaggerOption,
    paths::Route,
};
use crate::model::Service;

/// Source-info path of a file's `package` statement.
const PACKAGE_PATH: [i32; 1] = [2];
/// Packages whose names always take part in naming (as protoc-gen-openapiv2 keeps them).
const SHARED_PACKAGES: [&str; 2] = ["google", "grpc"];

/// The document of `file_name`, declaring `services`.
pub(super) fn build(
    pool: &DescriptorPool,
    comments: &Comments,
    file_name: &str,
    services: &[&Service],
) -> Result<Value> {
    let file = pool
        .get_file_by_name(file_name)
        .with_context(|| format!("swagger: {file_name} is not in the descriptor pool"))?;
    let mut routes = Vec::new();
    let mut roots = vec![STATUS.to_owned()];
    let mut tags = Vec::new();
    for service in services {
        tags.push(service_tag(comments, file_name, &service.descriptor));
        for method in &service.methods {
            if method.bindings.is_empty() {
                continue;
            }
            let descriptor = &method.descriptor;
            roots.push(fqn(descriptor.output().full_name()));
            roots.extend(definitions::field_types(&descriptor.input()));
            for (index, binding) in method.bindings.iter().enumerate() {
                let route = Route::new(method, index, binding);
                if route.references_request() {
                    roots.push(fqn(descriptor.input().full_name()));
                }
                routes.push(route);
            }
        }
    }
    let types = definitions::reachable(pool, roots)?;
    let names = Names::new(&naming_scope(&file, &types));
    let ctx = Context {
        comments,
        names: &names,
    };

    let mut definitions = BTreeMap::new();
    let mut paths = Paths::default();
    for route in &routes {
        let operation = route.operation(&ctx, &mut definitions)?;
        paths.insert(route.path(), route.verb(), operation);
    }
    for (name, definition) in &types {
        if definition.is_rendered() {
            let schema = definition.schema(&ctx)?.to_json();
            definitions.insert(names.get(name)?.to_owned(), schema);
        }
    }

    let option = SwaggerOption::of(pool, &file);
    let mut out = Map::new();
    let swagger = option.swagger.clone().unwrap_or_else(|| "2.0".to_owned());
    out.insert("swagger".into(), swagger.into());
    out.insert("info".into(), info(comments, &file, &option));
    let tags = merge_tags(option.tags.clone(), tags);
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Array(tags));
    }
    if let Some(host) = &option.host {
        out.insert("host".into(), host.as_str().into());
    }
    if let Some(base_path) = &option.base_path {
        out.insert("basePath".into(), base_path.as_str().into());
    }
    if !option.schemes.is_empty() {
        out.insert("schemes".into(), option.schemes.clone().into());
    }
    let json = vec!["application/json".to_owned()];
    let or_json = |list: &Vec<String>| {
        if list.is_empty() {
            json.clone()
        } else {
            list.clone()
        }
    };
    out.insert("consumes".into(), or_json(&option.consumes).into());
    out.insert("produces".into(), or_json(&option.produces).into());
    out.insert("paths".into(), paths.to_json());
    out.insert(
        "definitions".into(),
        Value::Object(definitions.into_iter().collect()),
    );
    if let Some(definitions) = option.security_definitions {
        out.insert("securityDefinitions".into(), definitions);
    }
    if let Some(security) = option.security {
        out.insert("security".into(), security);
    }
    if let Some(docs) = option.external_docs {
        out.insert("externalDocs".into(), docs);
    }
    Ok(Value::Object(out))
}

/// The `info` object: the file's title, its package comment, then the option's overrides.
fn info(comments: &Comments, file: &FileDescriptor, option: &SwaggerOption) -> Value {
    let mut out = Map::new();
    out.insert("title".into(), title(file.name()).into());
    let package = titled(&comments.get(file.name(), &PACKAGE_PATH));
    if let Some(title) = package.title {
        out.insert("title".into(), title.into());
    }
    if let Some(description) = package.description {
        out.insert("description".into(), description.into());
    }
    out.insert("version".into(), "version not set".into());
    for (key, value) in &option.info {
        out.insert(key.clone(), value.clone());
    }
    let order = [
        "title",
        "description",
        "termsOfService",
        "version",
        "contact",
        "license",
    ];
    let ordered = order
        .iter()
        .filter_map(|key| {
            out.get(*key)
                .map(|value| ((*key).to_owned(), value.clone()))
        })
        .collect();
    Value::Object(ordered)
}

/// The document title: the file's path inside its project. Include trees that vendor a project
/// under a directory of its own (`etcd/api/etcdserverpb/rpc.proto`) are compiled by the project
/// from that directory, so the first directory is dropped (`api/etcdserverpb/rpc.proto`).
fn title(file_name: &str) -> &str {
    file_name
        .split_once('/')
        .map_or(file_name, |(_, inside)| inside)
}

/// A service's tag: its name, described by the service comment.
fn service_tag(
    comments: &Comments,
    file_name: &str,
    service: &prost_reflect::ServiceDescriptor,
) -> Value {
    let mut tag = Map::new();
    tag.insert("name".into(), service.name().into());
    let description = comments.get(file_name, service.path());
    if !description.is_empty() {
        tag.insert("description".into(), description.into());
    }
    Value::Object(tag)
}

/// The file's own tags, then the service tags (a service tag with the name of a file tag only
/// fills in what the file tag leaves out).
fn merge_tags(mut tags: Vec<Value>, services: Vec<Value>) -> Vec<Value> {
    for service in services {
        let name = service.get("name").cloned();
        let existing = tags.iter_mut().find(|tag| tag.get("name").cloned() == name);
        match (existing, service) {
            (Some(Value::Object(existing)), Value::Object(service)) => {
                for (key, value) in service {
                    existing.entry(key).or_insert(value);
                }
            }
            (_, service) => tags.push(service),
        }
    }
    tags
}

/// The fully qualified names that compete for definition names: every message and enum of the
/// file and its imports, the file's methods and the built-in error types, minus types of other
/// packages the document does not use (`google.*` and `grpc.*` always stay).
fn naming_scope(
    file: &FileDescriptor,
    types: &BTreeMap<String, definitions::Definition>,
) -> BTreeSet<String> {
    let methods: Vec<String> = file
        .services()
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .map(|method| fqn(method.full_name()))
        .collect();
    let mut referenced: HashSet<String> = types.keys().cloned().collect();
    referenced.extend(methods.iter().cloned());
    let mut all: BTreeSet<String> = methods.into_iter().collect();
    all.insert(STATUS.to_owned());
    all.insert(ANY.to_owned());
    for (index, candidate) in with_imports(file).iter().enumerate() {
        let mut messages: Vec<MessageDescriptor> = candidate.messages().collect();
        while let Some(message) = messages.pop() {
            let name = fqn(message.full_name());
            if index == 0 {
                referenced.insert(name.clone());
            }
            all.insert(name);
            all.extend(message.child_enums().map(|e| fqn(e.full_name())));
            messages.extend(message.child_messages());
        }
        all.extend(candidate.enums().map(|e| fqn(e.full_name())));
    }
    let package = file.package_name();
    all.retain(|name| {
        let first = name
            .trim_start_matches('.')
            .split('.')
            .next()
            .unwrap_or_default();
        first == package || SHARED_PACKAGES.contains(&first) || referenced.contains(name)
    });
    all
}

/// `file` followed by everything it imports, transitively.
fn with_imports(file: &FileDescriptor) -> Vec<FileDescriptor> {
    let mut seen = vec![file.clone()];
    let mut index = 0;
    while index < seen.len() {
        let dependencies: Vec<FileDescriptor> = seen[index].dependencies().collect();
        for dependency in dependencies {
            if !seen.contains(&dependency) {
                seen.push(dependency);
            }
        }
        index += 1;
    }
    seen
}
