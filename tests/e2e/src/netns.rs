//! Network namespaces for the lab (see [`crate::lab`]): creating and
//! deleting them, running commands and opening sockets inside them, and
//! sweeping those left behind by test processes that died.
//!
//! Every lab namespace is named `ldmlab-PID-N-ROLE`, PID being the test
//! process that made it, so a later run can tell stale ones from those of
//! tests running in parallel. All links of a lab live inside its
//! namespaces (the veth pairs are created there), so deleting the
//! namespaces removes every link too.

use crate::procs::{pid_alive, signal, wait_gone};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The first part of every lab namespace's name.
pub const PREFIX: &str = "ldmlab-";

/// A prefix no other lab uses: `ldmlab-PID-N`.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `ip ARGS`; its stderr on failure.
pub fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

/// Runs `ip ARGS` and panics with its message on failure.
#[track_caller]
pub fn ip_ok(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("`ip {}` failed: {e}", args.join(" "));
    }
}

/// Sets the sysctl `key` to `value` inside `ns`; panics on failure.
#[track_caller]
pub fn sysctl_ok(ns: &str, key: &str, value: &str) {
    let kv = format!("{key}={value}");
    if let Err(e) = run("ip", &["netns", "exec", ns, "sysctl", "-qw", &kv]) {
        panic!("cannot set {kv} in {ns}: {e}");
    }
}

/// Runs `tc ARGS` inside `ns`; its stderr on failure.
pub fn tc(ns: &str, args: &[&str]) -> Result<(), String> {
    let mut full = vec!["netns", "exec", ns, "tc"];
    full.extend_from_slice(args);
    run("ip", &full)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Output of `ip ARGS` (empty on failure).
pub fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Creates namespace `name` with its loopback up.
#[track_caller]
pub fn add(name: &str) {
    ip_ok(&["netns", "add", name]);
    ip_ok(&["-n", name, "link", "set", "lo", "up"]);
}

/// Names of all network namespaces of this machine.
pub fn list() -> Vec<String> {
    ip_output(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Pids of the processes in namespace `name`.
pub fn pids(name: &str) -> Vec<u32> {
    ip_output(&["netns", "pids", name])
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills (SIGKILL) every process in `name`, then deletes it and with it
/// its links. Quiet if it is already gone.
pub fn delete(name: &str) {
    let pids = pids(name);
    for &p in &pids {
        signal(p, libc::SIGKILL);
    }
    for &p in &pids {
        wait_gone(p, Duration::from_secs(5));
    }
    if let Err(e) = ip(&["netns", "delete", name]) {
        if list().iter().any(|n| n == name) {
            eprintln!("ldm-e2e lab: cannot delete namespace {name}: {e}");
        }
    }
}

/// The test process that made lab namespace `name`, from its name.
pub fn owner(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Deletes the lab namespaces (and what runs in them) of test processes
/// that no longer run; returns their names.
pub fn sweep_stale() -> Vec<String> {
    let stale: Vec<String> = list()
        .into_iter()
        .filter(|n| owner(n).is_some_and(|pid| !pid_alive(pid)))
        .collect();
    for n in &stale {
        delete(n);
    }
    stale
}

/// A `Command` that runs `program` inside namespace `ns` (`ip netns exec`,
/// which execs: the child's pid is the program's).
pub fn command(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Runs `f` on a thread that entered namespace `ns`: sockets it opens
/// belong to `ns` and stay usable from any thread afterwards.
#[track_caller]
pub fn enter<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on a descriptor we own; it changes the network
            // namespace of this thread only, which ends after `f`.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns({path}): {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_read_from_the_name() {
        assert_eq!(owner("ldmlab-4242-3-wire"), Some(4242));
        assert_eq!(owner("ldmlab-x-3-wire"), None);
        assert_eq!(owner("other-4242-3-wire"), None);
        let p = unique_prefix();
        assert_eq!(owner(&format!("{p}-h0")), Some(std::process::id()));
        assert_ne!(p, unique_prefix());
    }
}
