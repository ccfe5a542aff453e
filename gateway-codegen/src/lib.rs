//! Generates an HTTP/JSON gateway for gRPC services from their `.proto` files.
//!
//! The pipeline has four stages, each in its own module:
//! 1. [`load`]: compile the protos to descriptors in pure Rust (no `protoc`).
//! 2. [`model`]: read every method's `google.api.http` rule and resolve each binding once
//!    against the request and response messages: verb, parsed path template, path variables,
//!    body, response body, query-settable fields, streaming kind.
//! 3. `emit`: write Rust from the model — message types, tonic clients and servers, serde impls,
//!    and a route module holding one static `gateway_runtime::binding::Binding` per HTTP binding
//!    and registering each on a `gateway_runtime::GatewayRouter`.
//! 4. documents ([`swagger`], [`openapi`]): from the model, one Swagger 2.0 document per proto
//!    file with services and, when asked for, the merged swagger and an OpenAPI 3.1 document.
//!
//! ```no_run
//! let output = gateway_codegen::Generator::new("proto")
//!     .file("etcd/api/etcdserverpb/rpc.proto")
//!     .merged_swagger("etcd API")
//!     .generate()?;
//! output.write_to("src/generated")?;
//! gateway_codegen::write_dir("api".as_ref(), &output.documents())?;
//! # anyhow::Ok(())
//! ```
#![deny(missing_docs)]

mod emit;
mod format;
pub mod load;
pub mod manifest;
pub mod model;
pub mod openapi;
pub mod path_template;
pub mod swagger;
mod well_known;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

pub use format::HEADER;
pub use openapi::OpenApiOptions;

/// File name of the merged swagger document in [`Output::documents`].
pub const MERGED_SWAGGER_FILE: &str = "swagger.json";
/// File name of the OpenAPI 3.1 document in [`Output::documents`].
pub const OPENAPI_FILE: &str = "openapi.json";

/// Configures and runs the generator.
#[derive(Debug, Clone)]
pub struct Generator {
    includes: Vec<PathBuf>,
    files: Vec<String>,
    merged_swagger: Option<String>,
    openapi: Option<OpenApiOptions>,
}

impl Generator {
    /// A generator reading protos from the include tree at `include_root`.
    pub fn new(include_root: impl Into<PathBuf>) -> Self {
        Self {
            includes: vec![include_root.into()],
            files: Vec::new(),
            merged_swagger: None,
            openapi: None,
        }
    }

    /// Adds another include tree, searched after the earlier ones (like `protoc -I`).
    pub fn include(mut self, dir: impl Into<PathBuf>) -> Self {
        self.includes.push(dir.into());
        self
    }

    /// Adds a proto file (relative to the include root) to generate code for. Its imports are
    /// loaded too, but code is generated only for the packages of added files.
    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.files.push(file.into());
        self
    }

    /// Adds several proto files, as [`Generator::file`].
    pub fn files<I, S>(self, files: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        files.into_iter().fold(self, Self::file)
    }

    /// Also produces one swagger document of every service, titled `title`
    /// ([`Output::merged_swagger`]).
    pub fn merged_swagger(mut self, title: impl Into<String>) -> Self {
        self.merged_swagger = Some(title.into());
        self
    }

    /// Also produces an OpenAPI 3.1 document of what `gateway-runtime` serves
    /// ([`Output::openapi`]).
    pub fn openapi(mut self, options: OpenApiOptions) -> Self {
        self.openapi = Some(options);
        self
    }

    /// Runs all stages and returns the generated files, in memory.
    pub fn generate(&self) -> Result<Output> {
        let descriptors = load::load(&self.includes, &self.files)?;
        let api = model::model(&descriptors.pool, &self.files)?;
        let mut packages: Vec<String> = Vec::new();
        for file in &self.files {
            let package = descriptors
                .pool
                .get_file_by_name(file)
                .with_context(|| format!("{file} was not loaded"))?
                .package_name()
                .to_owned();
            if !packages.contains(&package) {
                packages.push(package);
            }
        }
        let files = emit::rust_files(&descriptors, &packages, &api)?
            .into_iter()
            .map(|(name, code)| Ok((name.clone(), format::format(&name, code)?)))
            .collect::<Result<_>>()?;
        let swagger = swagger::emit(&descriptors, &api)?;
        let (merged_swagger, openapi) = self.combined_documents(&api, &swagger)?;
        Ok(Output {
            files,
            swagger,
            merged_swagger,
            openapi,
            api,
        })
    }

    /// The merged swagger and the OpenAPI document, as configured (none without swagger).
    fn combined_documents(
        &self,
        api: &[model::Service],
        swagger: &BTreeMap<String, String>,
    ) -> Result<(Option<String>, Option<String>)> {
        if swagger.is_empty() || (self.merged_swagger.is_none() && self.openapi.is_none()) {
            return Ok((None, None));
        }
        let parsed = swagger
            .iter()
            .map(|(name, text)| {
                serde_json::from_str(text).with_context(|| format!("parsing {name}"))
            })
            .collect::<Result<Vec<serde_json::Value>>>()?;
        let merged = self
            .merged_swagger
            .as_ref()
            .map(|title| format!("{:#}\n", swagger::merge(&parsed, title)));
        let openapi = match &self.openapi {
            Some(options) => Some(format!("{:#}\n", openapi::openapi(api, &parsed, options)?)),
            None => None,
        };
        Ok((merged, openapi))
    }
}

/// The generator's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// `file name → content` of every generated Rust file.
    pub files: BTreeMap<String, String>,
    /// `file name → content` of the swagger (OpenAPI 2.0) documents, one per proto file with
    /// services (`rpc.swagger.json` for `rpc.proto`).
    pub swagger: BTreeMap<String, String>,
    /// The swagger documents merged into one, when [`Generator::merged_swagger`] asked for it.
    pub merged_swagger: Option<String>,
    /// The OpenAPI 3.1 document, when [`Generator::openapi`] asked for it.
    pub openapi: Option<String>,
    /// The API model everything was generated from.
    pub api: Vec<model::Service>,
}

impl Output {
    /// Writes every Rust file into `dir`, as [`write_dir`].
    pub fn write_to(&self, dir: impl AsRef<Path>) -> Result<()> {
        write_dir(dir.as_ref(), &self.files)
    }

    /// Paths under `dir` that differ from the Rust files, as [`dir_drift`].
    pub fn drift(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        dir_drift(dir.as_ref(), &self.files)
    }

    /// `file name → content` of every API document: the per-file swagger documents, plus
    /// [`MERGED_SWAGGER_FILE`] and [`OPENAPI_FILE`] when they were asked for.
    pub fn documents(&self) -> BTreeMap<String, String> {
        let mut documents = self.swagger.clone();
        if let Some(merged) = &self.merged_swagger {
            documents.insert(MERGED_SWAGGER_FILE.to_owned(), merged.clone());
        }
        if let Some(openapi) = &self.openapi {
            documents.insert(OPENAPI_FILE.to_owned(), openapi.clone());
        }
        documents
    }
}

/// Writes `files` (`name → content`) into `dir` (created if missing) and removes files there
/// that are not in `files`: the directory belongs to the generator.
pub fn write_dir(dir: &Path, files: &BTreeMap<String, String>) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for stale in stale_files(dir, files)? {
        fs::remove_file(&stale).with_context(|| format!("removing {}", stale.display()))?;
    }
    for (name, content) in files {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Paths under `dir` that differ from `files`: changed, missing or stale files.
pub fn dir_drift(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<PathBuf>> {
    let mut drift = stale_files(dir, files)?;
    for (name, content) in files {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            drift.push(path);
        }
    }
    drift.sort();
    Ok(drift)
}

fn stale_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<Vec<PathBuf>> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_file() && !files.contains_key(&name) {
            stale.push(entry.path());
        }
    }
    Ok(stale)
}
