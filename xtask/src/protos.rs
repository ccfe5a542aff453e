//! `cargo xtask sync-protos [--from DIR]`: copy etcd's protos into `proto/`.
//!
//! The default source is the crates.io package `etcd-client`, whose `proto/` folder holds
//! etcd main's API protos byte-identical to etcd's repository, plus the google/api and
//! protoc-gen-openapiv2 option protos they import. Which files: those listed in
//! `proto/etcd-api-protos.txt` and every proto they import (protobuf's own well-known types
//! excepted: the compiler has them built in).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::regenerate::ETCD_PROTOS_MANIFEST;

/// The registry package the protos come from.
const PACKAGE: &str = "etcd-client";
/// Accepted versions of it.
const VERSION_REQ: &str = "0.21";

/// Imports under this directory come with the proto compiler and are not copied.
const BUILT_IN: &str = "google/protobuf/";

pub fn sync(from: Option<PathBuf>) -> Result<()> {
    let (source, origin) = match from {
        Some(dir) => {
            let origin = format!("the include tree at `{}`", dir.display());
            (dir, origin)
        }
        None => {
            let (dir, version) = registry_package()?;
            (
                dir.join("proto"),
                format!("the crates.io package `{PACKAGE}` {version}, folder `proto/`"),
            )
        }
    };
    let root = crate::root();
    let target = root.join("proto");
    let files = with_imports(&source, &root.join(ETCD_PROTOS_MANIFEST))?;
    for file in &files {
        let from = source.join(file);
        let to = target.join(file);
        fs::create_dir_all(to.parent().expect("file has a parent"))?;
        fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    fs::write(target.join("PROVENANCE.md"), provenance(&origin, &files)?)?;
    eprintln!(
        "copied {} files from {} into proto/",
        files.len(),
        source.display()
    );
    Ok(())
}

/// The files the manifest lists and everything they import from `source`, sorted.
fn with_imports(source: &Path, manifest: &Path) -> Result<Vec<String>> {
    let listed = gateway_codegen::manifest::read(manifest)?;
    let descriptors = gateway_codegen::load::load(&[source], &listed)?;
    let mut files: Vec<String> = descriptors
        .set
        .file
        .iter()
        .map(|file| file.name().to_owned())
        .filter(|name| !name.starts_with(BUILT_IN))
        .collect();
    files.sort();
    Ok(files)
}

/// Finds (fetching if needed) the newest matching `etcd-client` in the cargo registry.
fn registry_package() -> Result<(PathBuf, String)> {
    if let Some(found) = newest_in_registry()? {
        return Ok(found);
    }
    let scratch = std::env::temp_dir().join(format!("xtask-sync-protos-{}", std::process::id()));
    fs::create_dir_all(scratch.join("src"))?;
    fs::write(
        scratch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"fetch-protos\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [dependencies]\n{PACKAGE} = \"{VERSION_REQ}\"\n"
        ),
    )?;
    fs::write(scratch.join("src/lib.rs"), "")?;
    let status = Command::new(env!("CARGO"))
        .args(["fetch", "--manifest-path"])
        .arg(scratch.join("Cargo.toml"))
        .status()?;
    let _ = fs::remove_dir_all(&scratch);
    if !status.success() {
        bail!("could not fetch {PACKAGE} {VERSION_REQ} from the registry");
    }
    newest_in_registry()?.context("fetched, but the package is not in the registry cache")
}

fn newest_in_registry() -> Result<Option<(PathBuf, String)>> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let mut best: Option<(Vec<u64>, PathBuf, String)> = None;
    let Ok(indexes) = fs::read_dir(home.join("registry/src")) else {
        return Ok(None);
    };
    for index in indexes.flatten() {
        for entry in fs::read_dir(index.path())?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix(&format!("{PACKAGE}-")) else {
                continue;
            };
            if !version.starts_with(&format!("{VERSION_REQ}."))
                || !entry.path().join("proto").is_dir()
            {
                continue;
            }
            let key: Vec<u64> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
            if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
                best = Some((key, entry.path(), version.to_owned()));
            }
        }
    }
    Ok(best.map(|(_, path, version)| (path, version)))
}

fn provenance(origin: &str, files: &[String]) -> Result<String> {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let list: String = files.iter().map(|f| format!("- `{f}`\n")).collect();
    Ok(format!(
        "# Provenance of proto/\n\n\
         Input data for the generator; never edited by hand. Refresh with\n\
         `cargo xtask sync-protos [--from DIR]`, then `cargo xtask regenerate`.\n\n\
         - Source: {origin}.\n\
         - Synced: {date}.\n\
         - The `etcd/` files are etcd's API protos from etcd's `main` branch, byte-identical to\n  \
           etcd's repository (`api/` and `server/etcdserver/api/v3{{election,lock}}/`).\n\n\
         ## Licenses\n\n\
         | tree | upstream | license |\n|---|---|---|\n\
         | `etcd/` | etcd (etcd-io/etcd) | Apache-2.0, see `LICENSE-APACHE-2.0` |\n\
         | `google/api/` | googleapis (googleapis/googleapis) | Apache-2.0, see `LICENSE-APACHE-2.0` |\n\
         | `protoc-gen-openapiv2/` | grpc-gateway (grpc-ecosystem/grpc-gateway) | BSD-3-Clause, see `LICENSE-BSD-3-CLAUSE.grpc-gateway` |\n\n\
         ## Files\n\n{list}"
    ))
}
