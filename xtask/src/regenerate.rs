//! `cargo xtask regenerate [--check]`: the generated code of the etcd gateway.

use anyhow::{Result, bail};

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

pub fn run(check: bool) -> Result<()> {
    let root = crate::root();
    let output = gateway_codegen::Generator::new(root.join("proto"))
        .files(ETCD_PROTOS.iter().copied())
        .generate()?;
    let dir = root.join(GENERATED_DIR);
    if check {
        let drift = output.drift(&dir)?;
        if !drift.is_empty() {
            let names: Vec<String> = drift.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "generated files are out of date (run `cargo xtask regenerate`):\n  {}",
                names.join("\n  ")
            );
        }
        eprintln!(
            "generated files are up to date ({} files)",
            output.files.len()
        );
    } else {
        output.write_to(&dir)?;
        let routes: usize = output
            .api
            .iter()
            .flat_map(|s| &s.methods)
            .map(|m| m.bindings.len())
            .sum();
        eprintln!(
            "wrote {} files to {GENERATED_DIR} ({routes} HTTP bindings)",
            output.files.len()
        );
    }
    Ok(())
}
