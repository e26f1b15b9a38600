//! What `qemu-img` tells about an image and the images ldmd makes: the
//! bytes that hold data, whether an image holds any, a new sparse image.

use ldm_api::storage::ImageFormat;
use std::process::Command;

/// One extent of `qemu-img map --output=json`.
#[derive(serde::Deserialize)]
struct Extent {
    length: u64,
    data: bool,
}

fn qemu_img(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run qemu-img ({e}): install qemu-utils"))?;
    if !out.status.success() {
        return Err(format!(
            "qemu-img {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Bytes of the guest's view of `path` that hold data (allocated, not
/// known to read as zeroes). Read without a lock (`-U`): the image may be
/// in use by a running domain.
pub fn allocated(path: &str, format: ImageFormat) -> Result<u64, String> {
    let out = qemu_img(&["map", "-U", "--output=json", "-f", format.as_str(), path])?;
    let extents: Vec<Extent> = serde_json::from_slice(&out)
        .map_err(|e| format!("cannot read the allocation map of {path}: {e}"))?;
    Ok(extents.iter().filter(|e| e.data).map(|e| e.length).sum())
}

/// Creates a sparse image of `size` bytes at `path`, which must not exist.
pub fn create(path: &str, format: ImageFormat, size: u64) -> Result<(), String> {
    match format {
        ImageFormat::Raw => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| format!("cannot create back end {path}: {e}"))?;
            f.set_len(size)
                .map_err(|e| format!("cannot size back end {path}: {e}"))
        }
        ImageFormat::Qcow2 => {
            if std::path::Path::new(path).exists() {
                return Err(format!("cannot create back end {path}: it exists"));
            }
            let size = size.to_string();
            qemu_img(&["create", "-q", "-f", "qcow2", path, &size]).map(drop)
        }
    }
}

/// Makes the image at `path` read as zeroes again, keeping its size and
/// format: a raw file is emptied and resized (sparse), a qcow2 image made
/// anew.
pub fn empty(path: &str, format: ImageFormat, size: u64) -> Result<(), String> {
    match format {
        ImageFormat::Raw => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("cannot open {path}: {e}"))?;
            f.set_len(0)
                .and_then(|()| f.set_len(size))
                .map_err(|e| format!("cannot empty {path}: {e}"))
        }
        ImageFormat::Qcow2 => {
            let size = size.to_string();
            qemu_img(&["create", "-q", "-f", "qcow2", path, &size]).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_images_hold_nothing_until_written() {
        let dir = tempfile::tempdir().unwrap();
        for format in [ImageFormat::Raw, ImageFormat::Qcow2] {
            let p = dir.path().join(format!("i.{}", format.as_str()));
            let p = p.to_str().unwrap();
            create(p, format, 64 << 20).unwrap();
            assert!(create(p, format, 64 << 20).is_err(), "created twice");
            assert_eq!(allocated(p, format).unwrap(), 0);
            let b = crate::backend::probe(p, false).unwrap();
            assert_eq!((b.format, b.size_bytes), (format, 64 << 20));
        }
        let raw = dir.path().join("i.raw");
        std::fs::write(&raw, vec![7u8; 1 << 20]).unwrap();
        let raw = raw.to_str().unwrap();
        assert_eq!(allocated(raw, ImageFormat::Raw).unwrap(), 1 << 20);
        empty(raw, ImageFormat::Raw, 2 << 20).unwrap();
        assert_eq!(allocated(raw, ImageFormat::Raw).unwrap(), 0);
        assert_eq!(std::fs::metadata(raw).unwrap().len(), 2 << 20);
    }
}
