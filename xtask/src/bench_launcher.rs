//! `cargo xtask bench` without the `bench` feature: builds the optimised benchmark (with the
//! gateway's generated clients) and hands over to it with the same arguments.

use std::{os::unix::process::CommandExt, path::PathBuf, process::Command};

use anyhow::{Context, Result};

pub fn run(args: &[String]) -> Result<()> {
    crate::run_cmd(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "etcd-gateway",
            "-p",
            "xtask",
            "--features",
            "xtask/bench",
        ],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::root().join("target"));
    let exe = target.join("release").join("xtask");
    let err = Command::new(&exe).arg("bench").args(args).exec();
    Err(err).with_context(|| format!("cannot run {}", exe.display()))
}
