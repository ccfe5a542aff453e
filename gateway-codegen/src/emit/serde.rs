//! serde impls (proto JSON mapping) for the message types, via pbjson-build.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use prost::Message;
use prost_types::FileDescriptorSet;

/// Generates serde impls for every message and enum of `packages`.
///
/// Output uses proto field names exactly as written (`range_end`, `ID`, `dbSize`) and input
/// ignores unknown fields, as etcd's gateway does.
pub fn emit(set: &FileDescriptorSet, packages: &[String]) -> Result<BTreeMap<String, String>> {
    let prefixes: Vec<String> = packages.iter().map(|p| format!(".{p}")).collect();
    let mut builder = pbjson_build::Builder::new();
    builder
        .register_descriptors(&set.encode_to_vec())
        .context("registering descriptors for serde generation")?
        .preserve_proto_field_names()
        .ignore_unknown_fields();
    let written = builder
        .generate(&prefixes, |_| Ok(Vec::<u8>::new()))
        .context("generating serde impls")?;
    written
        .into_iter()
        .map(|(package, bytes)| {
            let code = String::from_utf8(bytes).context("serde output is not UTF-8")?;
            Ok((package.to_string(), code))
        })
        .collect()
}
