//! `cargo xtask regenerate [--check]`: the generated code and API documents of the gateway.

use anyhow::{Result, bail};
use gateway_codegen::OpenApiOptions;

/// The manifest of etcd's API protos the gateway is generated from, relative to the workspace
/// root (one path per line, relative to `proto/`).
pub const ETCD_PROTOS_MANIFEST: &str = "proto/etcd-api-protos.txt";

/// Where the generated Rust lives, relative to the workspace root.
pub const GENERATED_DIR: &str = "etcd-gateway/src/generated";
/// Where the published API documents live (swagger per proto file, OpenAPI 3.1).
pub const API_DIR: &str = "etcd-gateway/api";
/// The generator's own test fixture (every binding form), compiled and served by its tests.
pub const FIXTURE_PROTO_DIR: &str = "gateway-codegen/tests/fixtures/bookstore";
/// Where the fixture's generated Rust lives.
pub const FIXTURE_GENERATED_DIR: &str = "gateway-codegen/tests/bookstore/generated";

pub fn run(check: bool) -> Result<()> {
    let root = crate::root();
    let protos = gateway_codegen::manifest::read(&root.join(ETCD_PROTOS_MANIFEST))?;
    let output = gateway_codegen::Generator::new(root.join("proto"))
        .files(protos)
        .merged_swagger("etcd HTTP/JSON gateway (all services)")
        .openapi(openapi_options())
        .generate()?;
    let api_files = output.documents();
    let fixture = gateway_codegen::Generator::new(root.join(FIXTURE_PROTO_DIR))
        .include(root.join("proto"))
        .file("bookstore.proto")
        .generate()?;
    let targets = [
        (GENERATED_DIR, &output.files),
        (API_DIR, &api_files),
        (FIXTURE_GENERATED_DIR, &fixture.files),
    ];
    if check {
        let mut drift = Vec::new();
        for (dir, files) in targets {
            drift.extend(gateway_codegen::dir_drift(&root.join(dir), files)?);
        }
        if !drift.is_empty() {
            let names: Vec<String> = drift.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "generated files are out of date (run `cargo xtask regenerate`):\n  {}",
                names.join("\n  ")
            );
        }
        eprintln!("generated files are up to date");
    } else {
        for (dir, files) in targets {
            gateway_codegen::write_dir(&root.join(dir), files)?;
            eprintln!("wrote {} files to {dir}", files.len());
        }
        let routes: usize = output
            .api
            .iter()
            .flat_map(|s| &s.methods)
            .map(|m| m.bindings.len())
            .sum();
        eprintln!("{routes} HTTP bindings");
    }
    Ok(())
}

/// Settings of the gateway's OpenAPI 3.1 document.
fn openapi_options() -> OpenApiOptions {
    OpenApiOptions {
        title: "etcd HTTP/JSON gateway".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        description: include_str!("openapi-description.md").to_owned(),
        path_prefix: "/v3".to_owned(),
        servers: vec![
            (
                "/v3".to_owned(),
                "the API prefix of etcd 3.4 and later".to_owned(),
            ),
            (
                "/v3beta".to_owned(),
                "etcd 3.3's prefix, still served".to_owned(),
            ),
            (
                "/v3alpha".to_owned(),
                "etcd 3.2's prefix, still served".to_owned(),
            ),
        ],
    }
}
