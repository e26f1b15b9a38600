//! Disk back ends on this host: what a path is (file or block device), its
//! image format and the size the guest sees, checked by opening it the way
//! QEMU will.

use ldm_api::storage::{BackendKind, ImageFormat};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The first bytes of a qcow2 image.
const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";
/// Where a qcow2 header keeps the virtual size (big-endian u64).
const QCOW2_SIZE_OFFSET: usize = 24;

/// A back end as probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backend {
    /// File or block device.
    pub kind: BackendKind,
    /// Raw or qcow2.
    pub format: ImageFormat,
    /// Size the guest sees, bytes.
    pub size_bytes: u64,
}

/// Opens `path` for reading, and for writing unless `readonly`, and reads
/// what it is. The error says what to do.
pub fn probe(path: &str, readonly: bool) -> Result<Backend, String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!("back end {path}: give an absolute path"));
    }
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "back end {path} does not exist: create it (e.g. `truncate -s 1G {path}` or `qemu-img create -f qcow2 {path} 1G`) or give an existing file or block device; for the target of a `--copy-storage` migration, export it with options=create"
        ),
        _ => format!("back end {path} cannot be read: {e}"),
    })?;
    let kind = if meta.file_type().is_block_device() {
        BackendKind::Block
    } else if meta.is_file() {
        BackendKind::File
    } else {
        return Err(format!(
            "back end {path} is neither a regular file nor a block device: give an image file or a block device"
        ));
    };
    let mut f = open(path, readonly)?;
    let mut head = [0u8; 32];
    let n =
        read_head(&mut f, &mut head).map_err(|e| format!("back end {path} cannot be read: {e}"))?;
    let (format, size_bytes) = if n >= 32 && head[..4] == QCOW2_MAGIC {
        let mut s = [0u8; 8];
        s.copy_from_slice(&head[QCOW2_SIZE_OFFSET..QCOW2_SIZE_OFFSET + 8]);
        (ImageFormat::Qcow2, u64::from_be_bytes(s))
    } else {
        let size = match kind {
            BackendKind::Block => f
                .seek(SeekFrom::End(0))
                .map_err(|e| format!("back end {path}: cannot read its size: {e}"))?,
            BackendKind::File => meta.len(),
        };
        (ImageFormat::Raw, size)
    };
    if size_bytes == 0 {
        return Err(format!(
            "back end {path} is empty: give it a size first (e.g. `truncate -s 1G {path}`)"
        ));
    }
    Ok(Backend {
        kind,
        format,
        size_bytes,
    })
}

fn open(path: &str, readonly: bool) -> Result<File, String> {
    let r = OpenOptions::new().read(true).write(!readonly).open(path);
    r.map_err(|e| {
        let denied = matches!(
            e.raw_os_error(),
            Some(libc::EACCES) | Some(libc::EROFS) | Some(libc::EPERM)
        );
        if denied && !readonly {
            format!(
                "back end {path} cannot be opened for writing ({e}): export it read-only with options=ro, or let ldmd write it"
            )
        } else {
            format!("back end {path} cannot be opened: {e}")
        }
    })
}

fn read_head(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The same file or device, whatever path names it: `(device, inode)`.
pub fn identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(if m.file_type().is_block_device() {
        (u64::MAX, m.rdev())
    } else {
        (m.dev(), m.ino())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn raw_qcow2_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw.img");
        File::create(&raw).unwrap().set_len(1 << 20).unwrap();
        let b = probe(raw.to_str().unwrap(), false).unwrap();
        assert_eq!(
            (b.kind, b.format, b.size_bytes),
            (BackendKind::File, ImageFormat::Raw, 1 << 20)
        );

        let q = dir.path().join("q.qcow2");
        let mut head = vec![0u8; 512];
        head[..4].copy_from_slice(&QCOW2_MAGIC);
        head[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        File::create(&q).unwrap().write_all(&head).unwrap();
        let b = probe(q.to_str().unwrap(), true).unwrap();
        assert_eq!((b.format, b.size_bytes), (ImageFormat::Qcow2, 1 << 30));

        let missing = dir.path().join("none.img");
        let e = probe(missing.to_str().unwrap(), false).unwrap_err();
        assert!(
            e.contains("does not exist") && e.contains("truncate"),
            "{e}"
        );
        let e = probe(dir.path().to_str().unwrap(), false).unwrap_err();
        assert!(e.contains("neither"), "{e}");
        let empty = dir.path().join("empty.img");
        File::create(&empty).unwrap();
        assert!(probe(empty.to_str().unwrap(), false)
            .unwrap_err()
            .contains("empty"));
        assert!(probe("rel.img", false).unwrap_err().contains("absolute"));
    }
}
