//! Stage 1: compile `.proto` files to descriptors in pure Rust.

use std::path::Path;

use anyhow::{Context, Result};
use prost_reflect::DescriptorPool;

/// Everything later stages need from the compiled protos.
pub struct Descriptors {
    /// Reflection pool (keeps extension options such as `google.api.http`).
    pub pool: DescriptorPool,
    /// The same files as a `FileDescriptorSet`, with source info (comments).
    pub set: prost_types::FileDescriptorSet,
}

/// Compiles `files` (paths relative to one of `includes`) and everything they import.
pub fn load<P: AsRef<Path>>(includes: &[P], files: &[String]) -> Result<Descriptors> {
    let shown: Vec<String> = includes
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    let shown = shown.join(", ");
    let mut compiler = protox::Compiler::new(includes.iter().map(AsRef::as_ref))
        .with_context(|| format!("cannot use {shown} as proto include roots"))?;
    compiler.include_imports(true).include_source_info(true);
    compiler
        .open_files(files)
        .map_err(|e| anyhow::anyhow!("compiling protos under {shown}: {e}"))?;
    Ok(Descriptors {
        pool: compiler.descriptor_pool(),
        set: compiler.file_descriptor_set(),
    })
}
