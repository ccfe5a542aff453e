//! Project tasks: `cargo xtask <task>`.

#[cfg(feature = "bench")]
mod bench;
#[cfg(not(feature = "bench"))]
mod bench_launcher;
mod protos;
mod regenerate;
mod test;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Project tasks for etcd-gateway")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Rewrite every generated file from proto/.
    Regenerate {
        /// Only check: fail, naming the files, if the checked-in output differs.
        #[arg(long)]
        check: bool,
    },
    /// Copy etcd's protos into proto/ and record their provenance.
    SyncProtos {
        /// An include tree to copy from (default: the etcd-client crate in the cargo registry).
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Measure throughput and latency: etcd's own gateway vs ours vs direct gRPC.
    #[cfg(feature = "bench")]
    Bench(bench::Args),
    /// Measure throughput and latency: etcd's own gateway vs ours vs direct gRPC.
    #[cfg(not(feature = "bench"))]
    #[command(disable_help_flag = true)]
    Bench {
        /// Options of the benchmark (see `cargo xtask bench --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every check CI runs: format, lints, generated-code drift, and the test suites.
    Test {
        /// Extra arguments for `cargo test` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Regenerate { check } => regenerate::run(check),
        Task::SyncProtos { from } => protos::sync(from),
        Task::Test { args } => test::run(&args),
        #[cfg(feature = "bench")]
        Task::Bench(args) => bench::run(args),
        #[cfg(not(feature = "bench"))]
        Task::Bench { args } => bench_launcher::run(&args),
    }
}

/// The workspace root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command from the workspace root, failing on a non-zero exit.
fn run_cmd(program: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(root())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "`{program} {}` failed: {status}",
        args.join(" ")
    );
    Ok(())
}
