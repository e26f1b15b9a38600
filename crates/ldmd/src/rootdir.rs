//! The root directory's ownership and mode. It holds the database (with
//! the password hashes), the TLS key and the domains' sockets: it is
//! created 0700 (0750 with group `ldm` when that group exists, so its
//! members can reach the local socket), an existing one is never
//! chmodded, and one that others could write is refused.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// The group whose members may reach the local socket, if it exists.
pub const GROUP: &str = "ldm";

/// Creates `root` if missing; checks it otherwise.
pub fn prepare(root: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(root) {
        Ok(_) => check(root),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create(root),
        Err(e) => Err(e),
    }
}

fn create(root: &Path) -> io::Result<()> {
    if let Some(parent) = root.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let group = group_id(GROUP);
    let mode = if group.is_some() { 0o750 } else { 0o700 };
    std::fs::DirBuilder::new().mode(mode).create(root)?;
    // The umask may have removed bits; this is the directory just made.
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(root, None, Some(gid))?;
    }
    tracing::info!(root = %root.display(), mode = format!("{mode:04o}"), "created the root directory");
    Ok(())
}

/// Refuses a root that is not a directory, not ours, or writable by
/// others.
fn check(root: &Path) -> io::Result<()> {
    let m = std::fs::symlink_metadata(root)?;
    let refuse = |why: String| Err(io::Error::other(why));
    if !m.is_dir() {
        return refuse(format!(
            "{} is not a directory (a symlink is not accepted either): give ldmd a directory of its own",
            root.display()
        ));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return refuse(format!(
            "{} belongs to uid {}, not to ldmd's uid {me}: use a directory of ldmd's own (`mkdir -m 700 DIR`)",
            root.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return refuse(format!(
            "{} can be written by others (mode {:04o}): ldmd does not change it; remove their write permission (`chmod go-w {}`) or use another directory (`mkdir -m 700 DIR`)",
            root.display(),
            m.mode() & 0o7777,
            root.display()
        ));
    }
    Ok(())
}

/// Creates a directory inside the root 0700, or makes ours 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Inside a root that only ldmd can write, this is ours.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) => Err(e),
    }
}

fn group_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: group is plain old data; zeroed is a valid value for it.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the call.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_root_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/ldm");
        prepare(&root).unwrap();
        let expected = if group_id(GROUP).is_some() {
            0o750
        } else {
            0o700
        };
        assert_eq!(mode_of(&root), expected);
        // A second start accepts it as it is.
        prepare(&root).unwrap();
        assert_eq!(mode_of(&root), expected);
    }

    #[test]
    fn a_root_others_can_write_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o1777, 0o777, 0o775] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let err = prepare(dir.path()).unwrap_err().to_string();
            assert!(err.contains("written by others"), "{err}");
            assert_eq!(mode_of(dir.path()), mode, "ldmd changed the mode");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(dir.path()).unwrap();
        assert_eq!(
            mode_of(dir.path()),
            0o755,
            "an acceptable root is not chmodded"
        );
    }

    #[test]
    fn a_symlink_or_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"").unwrap();
        assert!(prepare(&f).is_err());
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(dir.path(), &l).unwrap();
        assert!(prepare(&l).is_err());
    }
}
