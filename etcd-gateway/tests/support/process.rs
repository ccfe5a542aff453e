//! Child-process helpers shared by the etcd and gateway launchers.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};

/// Asks the kernel for a free loopback port. The port is released before it is used, so a
/// caller must be ready to retry when another process grabs it in between.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Two distinct free ports.
pub fn free_port_pair() -> (u16, u16) {
    loop {
        let a = free_port();
        let b = free_port();
        if a != b {
            return (a, b);
        }
    }
}

unsafe extern "C" {
    fn prctl(option: std::ffi::c_int, ...) -> std::ffi::c_int;
}

const PR_SET_PDEATHSIG: std::ffi::c_int = 1;
const SIGKILL: std::ffi::c_ulong = 9;

/// Makes the kernel SIGKILL the child when the thread that spawned it goes away, so servers
/// never outlive a test process that was killed before its destructors ran. Children must be
/// spawned from the test's own thread (not from a short-lived helper thread).
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure only calls prctl, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            Ok(())
        })
    }
}

/// Kills and reaps a child we started. Errors (already exited) are ignored.
pub fn kill_child(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// The last `lines` lines of a log file, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("<cannot read {}: {e}>", path.display()),
    }
}
