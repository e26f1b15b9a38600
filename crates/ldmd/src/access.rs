//! Whether a user could read a file themselves: ldmd runs as root, so a
//! file named by someone else (a local user with the management role, a
//! peer) is checked with that someone's credentials before QEMU, as root,
//! loads it into a guest. Mode bits of the file and of every directory on
//! its path (as given and with symlinks resolved) are checked; ACLs are
//! not consulted, so they can only make the answer stricter.

use std::ffi::{CStr, CString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The uid and gid of `nobody`/`nogroup`, standing for "any local user".
const NOBODY: u32 = 65534;

/// A user's credentials: uid, primary and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    /// User id.
    pub uid: u32,
    /// Group ids.
    pub gids: Vec<u32>,
}

impl Who {
    /// Any local user: what a file must allow to be named by a peer.
    pub fn anyone() -> Who {
        Who {
            uid: NOBODY,
            gids: vec![NOBODY],
        }
    }

    /// The credentials of `uid` from the user database; a uid without an
    /// entry gets no groups.
    pub fn of_uid(uid: u32) -> Who {
        let gids = user_groups(uid).unwrap_or_default();
        Who { uid, gids }
    }
}

/// Whether `who` could open `path` for reading, and it is a regular file.
/// The answer is the same for a file that does not exist and one that is
/// not readable, so it reveals nothing about directories `who` cannot read.
pub fn readable_by(path: &Path, who: &Who) -> bool {
    if !path.is_absolute() {
        return false;
    }
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    if who.uid == 0 {
        return real.is_file();
    }
    let searchable = |p: &Path| {
        p.ancestors()
            .skip(1)
            .all(|dir| std::fs::metadata(dir).is_ok_and(|m| allows(&m, who, 0o1)))
    };
    searchable(path)
        && searchable(&real)
        && std::fs::metadata(&real).is_ok_and(|m| m.is_file() && allows(&m, who, 0o4))
}

/// Whether the mode bits give `who` the permission `bit` (4 read, 1 search).
fn allows(m: &std::fs::Metadata, who: &Who, bit: u32) -> bool {
    let mode = m.mode();
    let class = if m.uid() == who.uid {
        mode >> 6
    } else if who.gids.contains(&m.gid()) {
        mode >> 3
    } else {
        mode
    };
    class & bit != 0
}

/// The primary and supplementary groups of `uid`.
fn user_groups(uid: u32) -> Option<Vec<u32>> {
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: passwd is plain old data; zeroed is a valid value for it.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf outlives pw's
    // string fields, which point into it.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name is a NUL-terminated string inside buf.
    let name: CString = unsafe { CStr::from_ptr(pw.pw_name) }.to_owned();
    let primary = pw.pw_gid;
    let mut groups: Vec<libc::gid_t> = vec![0; 256];
    let mut n: libc::c_int = groups.len() as libc::c_int;
    // SAFETY: name is NUL-terminated; groups has room for n entries.
    let rc = unsafe { libc::getgrouplist(name.as_ptr(), primary, groups.as_mut_ptr(), &mut n) };
    if rc < 0 {
        // More than 256 groups: the primary one is enough to be safe (fewer
        // groups only make the answer stricter).
        return Some(vec![primary]);
    }
    groups.truncate(n.max(0) as usize);
    Some(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn root_only_files_are_not_readable_by_anyone_else() {
        assert!(!readable_by(Path::new("/etc/shadow"), &Who::anyone()));
        assert!(readable_by(Path::new("/etc/passwd"), &Who::anyone()));
        assert!(
            !readable_by(Path::new("/etc"), &Who::anyone()),
            "a directory"
        );
        assert!(
            !readable_by(Path::new("etc/passwd"), &Who::anyone()),
            "relative"
        );
        assert!(readable_by(Path::new("/etc/shadow"), &Who::of_uid(0)));
    }

    #[test]
    fn a_closed_directory_hides_its_files_and_their_existence() {
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        let sub = dir.path().join("private");
        std::fs::create_dir(&sub).unwrap();
        let f = sub.join("vmlinuz");
        std::fs::write(&f, b"k").unwrap();
        mode(&f, 0o644);
        mode(&sub, 0o755);
        assert!(readable_by(&f, &Who::anyone()));
        mode(&sub, 0o700);
        assert!(!readable_by(&f, &Who::anyone()));
        assert_eq!(
            readable_by(&f, &Who::anyone()),
            readable_by(&sub.join("nonexistent"), &Who::anyone())
        );
        // A symlink in an open directory to the hidden file does not help.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(!readable_by(&link, &Who::anyone()));
        // Group permission counts for members only.
        mode(&sub, 0o750);
        let gid = std::fs::metadata(&sub).unwrap().gid();
        let member = Who {
            uid: 4242,
            gids: vec![gid],
        };
        assert!(readable_by(&f, &member));
        assert!(!readable_by(&f, &Who::anyone()));
    }
}
