//! Whether this host can receive a post-copy: QEMU's incoming side needs
//! userfaultfd (it registers the guest's RAM and fetches each page the
//! guest touches first). The target checks it in phase 1 and tells the
//! source (`Checked::postcopy_unavailable`): `--postcopy=always` is then
//! refused, `auto` runs multifd pre-copy.
//!
//! The check is the one QEMU makes (`uffd_open`): `/dev/userfaultfd`
//! (Linux 6.1; access by the file's permissions) or the `userfaultfd`
//! system call without `UFFD_USER_MODE_ONLY` (allowed when
//! `vm.unprivileged_userfaultfd` is 1 or the caller has CAP_SYS_PTRACE).
//! QEMU runs as ldmd's user, so what ldmd may, QEMU may.
//!
//! Test only: with `LDMD_TEST_NO_USERFAULTFD=1` in ldmd's environment
//! the check reports userfaultfd unavailable (for the tests of the
//! refusal and the fallback; never set it on a real host).

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The test override (see the module's documentation).
pub const TEST_ENV: &str = "LDMD_TEST_NO_USERFAULTFD";

/// `USERFAULTFD_IOC_NEW`: `_IO(0xAA, 0x00)`.
const USERFAULTFD_IOC_NEW: libc::c_ulong = 0xAA00;

/// Why post-copy cannot be received here; `None` when it can.
pub fn unavailable() -> Option<String> {
    if std::env::var(TEST_ENV).is_ok_and(|v| v == "1") {
        return Some(format!("userfaultfd is unavailable ({TEST_ENV} is set)"));
    }
    let dev = match from_device() {
        Ok(_) => return None,
        Err(e) => e,
    };
    let sys = match from_syscall() {
        Ok(_) => return None,
        Err(e) => e,
    };
    let sysctl = std::fs::read_to_string("/proc/sys/vm/unprivileged_userfaultfd")
        .map(|v| format!("vm.unprivileged_userfaultfd is {}", v.trim()))
        .unwrap_or_else(|_| "vm.unprivileged_userfaultfd cannot be read".into());
    Some(format!(
        "userfaultfd, which QEMU needs to receive a post-copy, is not available to ldmd here (the system call: {sys}; /dev/userfaultfd: {dev}; {sysctl}): set vm.unprivileged_userfaultfd=1, run ldmd with CAP_SYS_PTRACE, or give its user read and write access to /dev/userfaultfd"
    ))
}

fn from_syscall() -> io::Result<OwnedFd> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: userfaultfd takes one integer of flags and returns a new
    // file descriptor or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the system call just returned this descriptor, owned by
    // nothing else; OwnedFd closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn from_device() -> io::Result<OwnedFd> {
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/userfaultfd")?;
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: USERFAULTFD_IOC_NEW takes an integer of flags (no pointer)
    // on a descriptor we hold open, and returns a new descriptor or -1.
    let fd = unsafe { libc::ioctl(dev.as_raw_fd(), USERFAULTFD_IOC_NEW as _, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl just returned this descriptor, owned by nothing
    // else; OwnedFd closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
