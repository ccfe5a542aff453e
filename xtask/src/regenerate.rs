//! `cargo xtask regenerate [--check]`: the generated code and API documents of the gateway.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use gateway_codegen::openapi::{OpenApiOptions, openapi};

/// etcd's API protos the gateway is generated from, relative to `proto/`.
pub const ETCD_PROTOS: &[&str] = &[
    "etcd/api/etcdserverpb/rpc.proto",
    "etcd/api/mvccpb/kv.proto",
    "etcd/api/authpb/auth.proto",
    "etcd/api/versionpb/version.proto",
    "etcd/server/etcdserver/api/v3election/v3electionpb/v3election.proto",
    "etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock.proto",
];

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
    let output = gateway_codegen::Generator::new(root.join("proto"))
        .files(ETCD_PROTOS.iter().copied())
        .generate()?;
    let api_files = api_documents(&output.swagger)?;
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

/// The swagger documents as etcd publishes them, plus one OpenAPI 3.1 document of the gateway.
fn api_documents(swagger: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut files = swagger.clone();
    if swagger.is_empty() {
        return Ok(files);
    }
    let parsed = swagger
        .values()
        .map(|text| serde_json::from_str(text).map_err(Into::into))
        .collect::<Result<Vec<serde_json::Value>>>()?;
    let options = OpenApiOptions {
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
    };
    let document = openapi(&parsed, &options)?;
    files.insert("openapi.json".to_owned(), format!("{document:#}\n"));
    files.insert(
        "swagger.json".to_owned(),
        format!("{:#}\n", merged_swagger(&parsed)),
    );
    Ok(files)
}

/// All swagger documents in one (as `GET /swagger.json` serves it): the first document's
/// header, every path, definition, tag and security definition.
fn merged_swagger(documents: &[serde_json::Value]) -> serde_json::Value {
    let mut merged = documents[0].clone();
    merged["info"]["title"] = "etcd HTTP/JSON gateway (all services)".into();
    for document in &documents[1..] {
        for key in ["paths", "definitions", "securityDefinitions"] {
            if let Some(entries) = document.get(key).and_then(|v| v.as_object()) {
                let target = merged[key].as_object_mut();
                if let Some(target) = target {
                    for (name, value) in entries {
                        target.entry(name.clone()).or_insert_with(|| value.clone());
                    }
                }
            }
        }
        if let (Some(tags), Some(more)) = (
            merged["tags"].as_array().cloned(),
            document["tags"].as_array(),
        ) {
            let mut tags = tags;
            tags.extend(
                more.iter()
                    .filter(|t| !tags_contains(&tags, t))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            merged["tags"] = tags.into();
        }
    }
    merged
}

fn tags_contains(tags: &[serde_json::Value], tag: &serde_json::Value) -> bool {
    tags.iter().any(|t| t["name"] == tag["name"])
}
