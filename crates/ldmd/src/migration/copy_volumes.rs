//! The volumes of a storage migration (`--copy-storage`) on the target: the
//! back end each volume name points at here, whether it can be filled
//! (missing: created; holding no data: filled; holding data: only with
//! `--overwrite-storage`), and the refusal of the one case that would
//! destroy the disk: the target's back end *is* the source's storage.

use super::volumes::VolumeOffer;
use crate::daemon::{Daemon, Table};
use ldm_api::storage::{BackendKind, ImageFormat};
use std::path::Path;

/// The target's side of one volume to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyFact {
    /// No vds of that name here.
    NoService,
    /// The vds has no volume of that name.
    NoVolume,
    /// Exported read-only here: the copy must write it.
    ReadOnly,
    /// A domain here already has a disk on it: `(domain, disk)`.
    InUse(String, String),
    /// The back end does not exist; it can be created.
    Create {
        /// Its path.
        path: String,
    },
    /// The back end exists and holds no data.
    Fill {
        /// Its path.
        path: String,
        /// Size, bytes.
        size_bytes: u64,
        /// Format.
        format: ImageFormat,
        /// Its proof as read here (empty when it has none).
        proof: String,
    },
    /// The back end holds data (a block device always counts as such).
    Holds {
        /// Its path.
        path: String,
        /// Size, bytes.
        size_bytes: u64,
        /// Format.
        format: ImageFormat,
        /// Its proof as read here (empty when it has none).
        proof: String,
    },
    /// The back end cannot be created or used.
    Cannot(String),
}

impl CopyFact {
    /// The back end's path and whether ldm creates it, for a volume that
    /// can be filled.
    pub fn destination(&self) -> Option<(&str, bool)> {
        match self {
            CopyFact::Create { path } => Some((path, true)),
            CopyFact::Fill { path, .. } | CopyFact::Holds { path, .. } => Some((path, false)),
            _ => None,
        }
    }
}

/// Whether a missing back end at `path` could be created: an absolute path
/// in a directory this daemon may write.
pub fn creatable(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let dir = p
        .parent()
        .filter(|d| p.is_absolute() && d.is_dir())
        .ok_or_else(|| format!("back end {path} does not exist and its directory does not either: create the directory, or export another path"))?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("back end {path} has a NUL byte in its name"))?;
    // SAFETY: c is a NUL-terminated path alive for the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        return Err(format!(
            "back end {path} does not exist and ldmd may not create files in {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// What the back end of one volume here is, for a copy.
fn fact_of(path: &str, readonly: bool) -> CopyFact {
    if readonly {
        return CopyFact::ReadOnly;
    }
    if std::fs::symlink_metadata(path).is_err() {
        return match creatable(path) {
            Ok(()) => CopyFact::Create { path: path.into() },
            Err(m) => CopyFact::Cannot(m),
        };
    }
    let b = match crate::backend::probe(path, false) {
        Ok(b) => b,
        Err(m) => return CopyFact::Cannot(m),
    };
    let data = match b.kind {
        BackendKind::Block => true,
        BackendKind::File => match crate::imagetool::allocated(path, b.format) {
            Ok(n) => n > 0,
            Err(m) => return CopyFact::Cannot(m),
        },
    };
    let proof = crate::proof::read(path).unwrap_or_default();
    if data {
        CopyFact::Holds {
            path: path.into(),
            size_bytes: b.size_bytes,
            format: b.format,
            proof,
        }
    } else {
        CopyFact::Fill {
            path: path.into(),
            size_bytes: b.size_bytes,
            format: b.format,
            proof,
        }
    }
}

/// The target's facts for each offered volume (reads each back end; the
/// table is not held).
pub fn facts(d: &Daemon, offered: &[VolumeOffer]) -> Vec<CopyFact> {
    let services = d.db.vdss().unwrap_or_default();
    offered
        .iter()
        .map(|v| {
            if !services.contains(&v.service) {
                return CopyFact::NoService;
            }
            match d.db.vdsdev(&v.volume, &v.service) {
                Ok(Some(row)) => fact_of(&row.backend, row.readonly),
                _ => CopyFact::NoVolume,
            }
        })
        .collect()
}

/// Marks the volumes a domain of this host already uses.
pub fn mark_in_use(facts: &mut [CopyFact], offered: &[VolumeOffer], t: &Table) {
    for (f, v) in facts.iter_mut().zip(offered) {
        if let Some((dom, disk, _)) = crate::ops::storage::users(t, &v.volume, &v.service)
            .into_iter()
            .next()
        {
            *f = CopyFact::InUse(dom, disk);
        }
    }
}

/// Every reason the offered volumes cannot be copied into this host's back
/// ends. Pure.
pub fn check(
    offered: &[VolumeOffer],
    facts: &[CopyFact],
    overwrite: bool,
    target: &str,
    source: &str,
) -> Vec<String> {
    let mut f = Vec::new();
    for (v, fact) in offered.iter().zip(facts) {
        let vol = format!("{}@{}", v.volume, v.service);
        let size = |size_bytes: &u64, format: &ImageFormat| {
            (*size_bytes != v.size_bytes || *format != v.format).then(|| format!(
                "Volume {vol} on {target} is {size_bytes} bytes ({}), on {source} {} bytes ({}): a copy needs the same size and format; remove the back end there to let ldm create it, or export one of that size",
                format.as_str(), v.size_bytes, v.format.as_str()
            ))
        };
        let same = |proof: &String| {
            (!proof.is_empty() && *proof == v.proof).then(|| format!(
                "volume {vol} on {target} is the same storage as on {source}: copying a disk onto itself would destroy it; migrate without --copy-storage"
            ))
        };
        let problem = match fact {
            CopyFact::NoService => Some(format!(
                "Virtual disk service {} does not exist on {target}: add it there with `ldm add-vds {} primary` and export the back end to fill as {vol}",
                v.service, v.service
            )),
            CopyFact::NoVolume => Some(format!(
                "Volume {vol} does not exist on {target}: export the back end to fill there with `ldm add-vdsdev BACKEND {vol}`"
            )),
            CopyFact::ReadOnly => Some(format!(
                "Volume {vol} is read-only (options=ro) on {target}, and a storage copy must write it: `ldm set-vdsdev options= {vol}` there"
            )),
            CopyFact::InUse(dom, disk) => Some(format!(
                "Volume {vol} on {target} is already disk {disk} of domain {dom} there: a copy would overwrite its disk"
            )),
            CopyFact::Cannot(m) => Some(format!("Volume {vol} on {target} cannot be filled: {m}")),
            CopyFact::Create { .. } => None,
            CopyFact::Fill {
                size_bytes,
                format,
                proof,
                ..
            } => same(proof).or_else(|| size(size_bytes, format)),
            CopyFact::Holds {
                path,
                size_bytes,
                format,
                proof,
            } => {
                if let Some(m) = same(proof) {
                    Some(m)
                } else if let Some(m) = size(size_bytes, format) {
                    Some(m)
                } else if !overwrite {
                    Some(format!(
                        "Volume {vol} on {target} is backed by {path}, which already holds data: add --overwrite-storage to overwrite it, or export an empty back end"
                    ))
                } else {
                    None
                }
            }
        };
        f.extend(problem);
    }
    if facts.len() != offered.len() {
        f.push("the volume facts do not match the offer".into());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vo(vol: &str) -> VolumeOffer {
        VolumeOffer {
            volume: vol.into(),
            service: "primary-vds0".into(),
            size_bytes: 1 << 30,
            format: ImageFormat::Raw,
            proof: "token:1".into(),
            readonly: false,
            allocated_bytes: 1 << 20,
        }
    }

    fn holds(size: u64, proof: &str) -> CopyFact {
        CopyFact::Holds {
            path: "/srv/t.img".into(),
            size_bytes: size,
            format: ImageFormat::Raw,
            proof: proof.into(),
        }
    }

    #[test]
    fn each_volume_that_cannot_be_filled_is_named() {
        let offered: Vec<_> = (1..=9).map(|i| vo(&format!("vol{i}"))).collect();
        let facts = [
            CopyFact::Create {
                path: "/srv/a".into(),
            },
            CopyFact::Fill {
                path: "/srv/b".into(),
                size_bytes: 1 << 30,
                format: ImageFormat::Raw,
                proof: String::new(),
            },
            holds(1 << 30, "token:1"),
            holds(1 << 30, "token:2"),
            holds(1 << 29, ""),
            CopyFact::ReadOnly,
            CopyFact::NoVolume,
            CopyFact::InUse("ldg9".into(), "d1".into()),
            CopyFact::Cannot("no room".into()),
        ];
        let f = check(&offered, &facts, false, "hostB", "hostA");
        assert_eq!(f.len(), 7, "{f:?}");
        assert!(
            f[0].starts_with("volume vol3@primary-vds0 on hostB is the same storage as on hostA")
        );
        assert!(f[1].contains("vol4@primary-vds0 on hostB is backed by /srv/t.img, which already holds data: add --overwrite-storage"));
        assert!(f[2].contains("vol5@primary-vds0 on hostB is 536870912 bytes"));
        assert!(f[3].contains("vol6@primary-vds0 is read-only"));
        assert!(f[4].contains("Volume vol7@primary-vds0 does not exist on hostB"));
        assert!(f[5].contains("already disk d1 of domain ldg9"));
        assert!(f[6].contains("vol9@primary-vds0 on hostB cannot be filled: no room"));
        // Overwriting is allowed when asked; the same storage never is.
        let f = check(&offered, &facts, true, "hostB", "hostA");
        assert_eq!(f.len(), 6, "{f:?}");
        assert!(f[0].contains("same storage"));
    }

    #[test]
    fn back_ends_are_read_as_missing_empty_or_holding_data() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
        assert_eq!(
            fact_of(&p("new.img"), false),
            CopyFact::Create { path: p("new.img") }
        );
        assert!(
            matches!(fact_of(&p("no/dir.img"), false), CopyFact::Cannot(m) if m.contains("directory"))
        );
        assert_eq!(fact_of(&p("new.img"), true), CopyFact::ReadOnly);
        crate::imagetool::create(&p("e.img"), ImageFormat::Raw, 1 << 20).unwrap();
        assert!(
            matches!(fact_of(&p("e.img"), false), CopyFact::Fill { size_bytes, .. } if size_bytes == 1 << 20)
        );
        std::fs::write(p("d.img"), [1u8; 4096]).unwrap();
        assert!(matches!(
            fact_of(&p("d.img"), false),
            CopyFact::Holds {
                size_bytes: 4096,
                ..
            }
        ));
    }
}
