//! The test guest: its image, defining and booting domains, their consoles.

use crate::bins::workspace_root;
use crate::host::Host;
use crate::memwork::{last_memwork, MemworkLine};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a booting guest may take to print its first memwork line (TCG
/// boots in 3–6 s, but the machine may be loaded).
pub const FIRST_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The guest's kernel and initramfs, built (or reused) by `guest/build` once
/// per test process.
#[track_caller]
pub fn guest_image() -> (PathBuf, PathBuf) {
    static IMAGE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let script = workspace_root().join("guest/build");
            let out = Command::new(&script)
                .current_dir(workspace_root())
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{} failed ({}):\n{}\n{}",
                script.display(),
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<&str> = stdout.lines().collect();
            let get = |key: &str| -> PathBuf {
                lines
                    .iter()
                    .rev()
                    .take(2)
                    .find_map(|l| l.strip_prefix(key))
                    .map(PathBuf::from)
                    .unwrap_or_else(|| panic!("guest/build printed no {key} line:\n{stdout}"))
            };
            let (k, i) = (get("KERNEL="), get("INITRD="));
            assert!(k.is_file() && i.is_file(), "{k:?} or {i:?} missing");
            (k, i)
        })
        .clone()
}

/// Held while a test boots guests: tests holding it run one at a time, across
/// threads and processes (an exclusive `flock` on a file in the temp directory).
pub struct GuestLock {
    _file: File,
}

/// Takes the guest lock, waiting as long as another test holds it.
pub fn guest_lock() -> GuestLock {
    let path = std::env::temp_dir().join("ldm-e2e-guest.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "ldm-e2e: waiting for another guest test to finish ({} holds {})",
            lock_holder(&file).unwrap_or_else(|| "another process".into()),
            path.display()
        );
        // SAFETY: as above.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock {}", path.display());
    }
    let prefix = std::env::temp_dir().join("ldm-e2e-");
    let swept = crate::procs::sweep_orphans(&prefix.to_string_lossy());
    if !swept.is_empty() {
        eprintln!("ldm-e2e: killed processes an interrupted test left behind: {swept:?}");
    }
    GuestLock { _file: file }
}

/// Who holds the lock on `file`: the pid and command line of the process
/// that `/proc/locks` names (the first line for the file's inode that is
/// not a waiter's `->` line). A process that inherited the locked
/// descriptor holds it too, so a stale holder can be found and stopped.
fn lock_holder(file: &File) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let inode = file.metadata().ok()?.ino();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = holder_pid(&locks, inode)?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
    Some(format!("pid {pid} `{}`", cmd.trim()))
}

/// The pid holding a lock on `inode` in the text of `/proc/locks`.
fn holder_pid(locks: &str, inode: u64) -> Option<u32> {
    locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"; waiters
        // have "->" after the number.
        if f.get(1) == Some(&"->") {
            return None;
        }
        let ino: u64 = f.get(5)?.rsplit(':').next()?.parse().ok()?;
        (ino == inode).then(|| f.get(4)?.parse().ok())?
    })
}

/// Defines a domain as an administrator would: add-domain, set-vcpu,
/// set-memory, set-var with the guest image and
/// `boot-args="console=ttyS0 memwork=MEMWORK"`.
#[track_caller]
pub fn define_domain(host: &Host, name: &str, vcpus: u32, mem: &str, memwork: &str) {
    let (kernel, initrd) = guest_image();
    host.ldm(&["add-domain", name]).ok();
    host.ldm(&["set-vcpu", &vcpus.to_string(), name]).ok();
    host.ldm(&["set-memory", mem, name]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", kernel.display()),
        &format!("initrd={}", initrd.display()),
        &format!("boot-args=console=ttyS0 memwork={memwork}"),
        name,
    ])
    .ok();
}

/// Defines, binds and starts a domain; returns when `start-domain` returned.
#[track_caller]
pub fn boot_domain(host: &Host, name: &str, vcpus: u32, mem: &str, memwork: &str) -> Instant {
    define_domain(host, name, vcpus, mem, memwork);
    host.ldm(&["bind-domain", name]).ok();
    host.ldm(&["start-domain", name]).ok();
    Instant::now()
}

/// What the domain's console printed recently (`ldm console --dump`).
#[track_caller]
pub fn console_dump(host: &Host, name: &str) -> String {
    let out = host.ldm(&["console", "--dump", name]);
    out.ok();
    out.stdout
}

/// Polls the console until a memwork status line with `seq >= min_seq`
/// appears; panics with the console's tail after `timeout`.
#[track_caller]
pub fn wait_for_memwork(host: &Host, name: &str, min_seq: u64, timeout: Duration) -> MemworkLine {
    wait_for_memwork_after(host, name, min_seq, timeout).0
}

/// Like [`wait_for_memwork`], also returning when the line was first seen.
#[track_caller]
pub fn wait_for_memwork_after(
    host: &Host,
    name: &str,
    min_seq: u64,
    timeout: Duration,
) -> (MemworkLine, Instant) {
    let end = Instant::now() + timeout;
    loop {
        let text = console_dump(host, name);
        if let Some(l) = last_memwork(&text).filter(|l| l.seq >= min_seq) {
            return (l, Instant::now());
        }
        if Instant::now() > end {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "no memwork line with seq >= {min_seq} from {name} within {timeout:?}.\n`ldm list`:\n{}\nconsole tail:\n{}",
                host.ldm(&["list"]).stdout,
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The memwork lines of the boot that followed `previous` (a line printed
/// before the domain was stopped or its QEMU died): everything after the last
/// kernel banner that comes after `previous` in the console output.
pub fn lines_of_next_boot(text: &str, previous: &MemworkLine) -> Option<Vec<MemworkLine>> {
    let from = text.rfind(&previous.to_line()).unwrap_or(0);
    let banner = from + text[from..].rfind("Linux version ")?;
    Some(crate::memwork::memwork_lines(&text[banner..]))
}

/// Waits for the first memwork line of the boot after `previous` (see
/// [`lines_of_next_boot`]).
#[track_caller]
pub fn wait_for_next_boot(
    host: &Host,
    name: &str,
    previous: &MemworkLine,
    timeout: Duration,
) -> MemworkLine {
    let end = Instant::now() + timeout;
    loop {
        let text = console_dump(host, name);
        if let Some(l) = lines_of_next_boot(&text, previous).and_then(|v| v.last().cloned()) {
            return l;
        }
        if Instant::now() > end {
            panic!(
                "{name} printed no memwork line of a new boot within {timeout:?}; console:\n{}",
                crate::tail_lines(&text, 60)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A kernel and initramfs that exist but do not boot (files in the host's
/// root), for tests that define and bind domains without starting them.
pub fn fake_image(host: &Host) -> (PathBuf, PathBuf) {
    let k = host.root().join("fake-vmlinuz");
    let i = host.root().join("fake-initrd.img");
    std::fs::write(&k, b"not a kernel").expect("write fake kernel");
    std::fs::write(&i, b"not an initramfs").expect("write fake initrd");
    (k, i)
}

#[cfg(test)]
mod tests {
    use super::holder_pid;

    #[test]
    fn the_holder_is_not_a_waiter() {
        let locks = "3: POSIX  ADVISORY  WRITE 900 fe:00:77 0 EOF\n\
                     10: FLOCK  ADVISORY  WRITE 23025 fe:00:10010636 0 EOF\n\
                     10: -> FLOCK  ADVISORY  WRITE 8812 fe:00:10010636 0 EOF\n";
        assert_eq!(holder_pid(locks, 10010636), Some(23025));
        assert_eq!(holder_pid(locks, 77), Some(900));
        assert_eq!(holder_pid(locks, 5), None);
        let waiting_only = "10: -> FLOCK  ADVISORY  WRITE 8812 fe:00:10010636 0 EOF\n";
        assert_eq!(holder_pid(waiting_only, 10010636), None);
    }
}
