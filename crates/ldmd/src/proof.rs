//! The proof that a volume on two hosts is the same storage (see
//! docs/storage.md).
//!
//! Files: for each migration the source writes a fresh random token into an
//! extended attribute of its back end (`user.ldm.volume-proof`); the target
//! reads the attribute of its own back end for that volume. Only the same
//! file, reached through shared storage, shows the token just written: a
//! copy, however exact, was made before the token existed.
//!
//! Block devices: the identity the storage gives the device (WWN/WWID,
//! device-mapper UUID or serial, from sysfs), compared as read on each host;
//! a loop device without one is proven by its backing file's token.

use ldm_api::storage::BackendKind;
use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// The extended attribute that carries a file's token.
pub const XATTR: &str = "user.ldm.volume-proof";
/// Longest proof a peer may send.
pub const MAX_PROOF_LEN: usize = 256;

fn cpath(path: &str) -> Result<CString, String> {
    CString::new(path).map_err(|_| format!("back end {path} has a NUL byte in its name"))
}

/// Marks the back end at `path` for one migration and returns the proof the
/// target must find on its own back end.
pub fn stamp(path: &str) -> Result<String, String> {
    if kind(path)? == BackendKind::Block {
        return match loop_backing_file(path) {
            Some(f) if sysfs_identity(path).is_none() => stamp(&f),
            _ => device_identity(path),
        };
    }
    let token = format!("token:{:032x}", rand::random::<u128>());
    let p = cpath(path)?;
    let name = CString::new(XATTR).expect("no NUL");
    // SAFETY: p and name are NUL-terminated; the value pointer and length
    // describe token's bytes, alive for the call.
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            name.as_ptr(),
            token.as_ptr().cast(),
            token.len(),
            0,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(format!(
            "cannot mark back end {path} for the storage check ({e}): its file system must keep user extended attributes"
        ));
    }
    Ok(token)
}

/// What the back end at `path` shows as its proof on this host.
pub fn read(path: &str) -> Result<String, String> {
    if kind(path)? == BackendKind::Block {
        return match loop_backing_file(path) {
            Some(f) if sysfs_identity(path).is_none() => read(&f),
            _ => device_identity(path),
        };
    }
    let p = cpath(path)?;
    let name = CString::new(XATTR).expect("no NUL");
    let mut buf = [0u8; MAX_PROOF_LEN];
    // SAFETY: p and name are NUL-terminated; buf is writable for its length.
    let n = unsafe {
        libc::getxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Ok(String::new());
    }
    Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

fn kind(path: &str) -> Result<BackendKind, String> {
    let m = std::fs::metadata(path).map_err(|e| format!("back end {path}: {e}"))?;
    Ok(if m.file_type().is_block_device() {
        BackendKind::Block
    } else {
        BackendKind::File
    })
}

fn sysfs_dir(path: &str) -> Option<String> {
    let m = std::fs::metadata(path).ok()?;
    let (maj, min) = (libc::major(m.rdev()), libc::minor(m.rdev()));
    Some(format!("/sys/dev/block/{maj}:{min}"))
}

/// The file behind a loop device: the proof is then that file's token.
fn loop_backing_file(path: &str) -> Option<String> {
    let f = std::fs::read_to_string(format!("{}/loop/backing_file", sysfs_dir(path)?)).ok()?;
    let f = f.trim();
    (!f.is_empty() && !f.ends_with("(deleted)")).then(|| f.to_string())
}

fn device_identity(path: &str) -> Result<String, String> {
    sysfs_identity(path).ok_or_else(|| format!(
        "block device {path} has no WWID, device-mapper UUID or serial: ldm cannot prove another host sees the same device"
    ))
}

/// A block device's identity from sysfs: WWID, device-mapper UUID, or
/// serial, whichever the device has first.
fn sysfs_identity(path: &str) -> Option<String> {
    let base = sysfs_dir(path)?;
    for (what, f) in [
        ("wwid", "wwid"),
        ("wwid", "device/wwid"),
        ("dm-uuid", "dm/uuid"),
        ("serial", "serial"),
        ("serial", "device/serial"),
    ] {
        if let Ok(v) = std::fs::read_to_string(format!("{base}/{f}")) {
            let v = v.trim();
            if !v.is_empty() {
                return Some(format!("{what}:{v}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_file_shows_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.img");
        let b = dir.path().join("b.img");
        std::fs::write(&a, b"data").unwrap();
        std::fs::copy(&a, &b).unwrap();
        let (a, b) = (a.display().to_string(), b.display().to_string());
        assert_eq!(read(&a).unwrap(), "");
        let t = stamp(&a).unwrap();
        assert!(t.starts_with("token:"));
        assert_eq!(read(&a).unwrap(), t);
        assert_ne!(read(&b).unwrap(), t, "a copy");
        assert_ne!(stamp(&a).unwrap(), t, "a fresh token each time");
    }
}
