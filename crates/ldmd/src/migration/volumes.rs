//! The disks of a migrating domain: what the source offers for each volume
//! (size, format, the proof of its storage) and the target's check that it
//! has each volume under the same name, the same size, on the same storage.

use crate::daemon::Daemon;
use ldm_api::storage::{ImageFormat, VdiskSpec};
use serde::{Deserialize, Serialize};

/// One volume as the source offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeOffer {
    /// Volume name.
    pub volume: String,
    /// Service name.
    pub service: String,
    /// Size the guest sees, bytes.
    pub size_bytes: u64,
    /// Image format.
    pub format: ImageFormat,
    /// What the target's back end must show (see `proof.rs`).
    pub proof: String,
    /// Exported read-only on the source (`options=ro`).
    #[serde(default)]
    pub readonly: bool,
    /// Bytes allocated in the back end (what a storage copy moves; 0 from
    /// older sources).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub allocated_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The target's side of one offered volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeFact {
    /// No vds of that name here.
    NoService,
    /// The vds has no volume of that name.
    NoVolume,
    /// The back end cannot be used here.
    Unusable(String),
    /// A domain here already has a disk on the volume: `(domain, disk)`.
    InUse(String, String),
    /// The back end here.
    Present {
        /// Size, bytes.
        size_bytes: u64,
        /// Format.
        format: ImageFormat,
        /// Its proof as read here.
        proof: String,
        /// Exported read-only here.
        readonly: bool,
    },
}

/// The source's offer for each disk; failures name each volume that
/// cannot be offered. For a storage copy (`copy`) the offer also carries
/// the bytes each volume holds, and a back end that cannot carry the
/// proof goes without it (the target then only fills back ends that hold
/// no data, or that it is told to overwrite).
pub fn offer(d: &Daemon, disks: &[VdiskSpec], copy: bool) -> (Vec<VolumeOffer>, Vec<String>) {
    let (mut out, mut failures) = (Vec::new(), Vec::new());
    for k in disks {
        let vol = k.volume_ref();
        let row = match d.db.vdsdev(&k.volume, &k.service) {
            Ok(Some(r)) => r,
            _ => {
                failures.push(format!(
                    "Volume {vol} of disk {} does not exist on this host",
                    k.name
                ));
                continue;
            }
        };
        let b = crate::backend::probe(&row.backend, row.readonly);
        let stamped = b.and_then(|b| match crate::proof::stamp(&row.backend) {
            Ok(p) => Ok((b, p)),
            Err(_) if copy => Ok((b, String::new())),
            Err(m) => Err(m),
        });
        let counted = stamped.and_then(|(b, proof)| {
            let allocated = match (copy, b.kind) {
                (false, _) => 0,
                (true, ldm_api::storage::BackendKind::Block) => b.size_bytes,
                (true, _) => crate::imagetool::allocated(&row.backend, b.format)?,
            };
            Ok((b, proof, allocated))
        });
        match counted {
            Ok((b, proof, allocated_bytes)) => out.push(VolumeOffer {
                volume: k.volume.clone(),
                service: k.service.clone(),
                size_bytes: b.size_bytes,
                format: b.format,
                proof,
                readonly: row.readonly,
                allocated_bytes,
            }),
            Err(m) => failures.push(format!("Volume {vol}: {m}")),
        }
    }
    (out, failures)
}

/// The target's facts for each offered volume (reads each back end).
pub fn facts(d: &Daemon, offered: &[VolumeOffer]) -> Vec<VolumeFact> {
    let services = d.db.vdss().unwrap_or_default();
    offered
        .iter()
        .map(|v| {
            if !services.contains(&v.service) {
                return VolumeFact::NoService;
            }
            let Ok(Some(row)) = d.db.vdsdev(&v.volume, &v.service) else {
                return VolumeFact::NoVolume;
            };
            let probed = crate::backend::probe(&row.backend, row.readonly)
                .and_then(|b| crate::proof::read(&row.backend).map(|p| (b, p)));
            match probed {
                Ok((b, proof)) => VolumeFact::Present {
                    size_bytes: b.size_bytes,
                    format: b.format,
                    proof,
                    readonly: row.readonly,
                },
                Err(m) => VolumeFact::Unusable(m),
            }
        })
        .collect()
}

/// Marks the volumes a domain of this host already uses (`t` is the
/// table, taken by the caller after [`facts`] read the back ends).
pub fn mark_in_use(facts: &mut [VolumeFact], offered: &[VolumeOffer], t: &crate::daemon::Table) {
    for (f, v) in facts.iter_mut().zip(offered) {
        if let Some((dom, disk, _)) = crate::ops::storage::users(t, &v.volume, &v.service)
            .into_iter()
            .next()
        {
            *f = VolumeFact::InUse(dom, disk);
        }
    }
}

/// Every failure of the offered volumes against the target's facts. Pure.
pub fn check(
    offered: &[VolumeOffer],
    facts: &[VolumeFact],
    target: &str,
    source: &str,
) -> Vec<String> {
    let mut f = Vec::new();
    for (v, fact) in offered.iter().zip(facts) {
        let vol = format!("{}@{}", v.volume, v.service);
        match fact {
            VolumeFact::NoService => f.push(format!(
                "Virtual disk service {} does not exist on {target}: add it there with `ldm add-vds {} primary` and export volume {vol}",
                v.service, v.service
            )),
            VolumeFact::NoVolume => f.push(format!(
                "Volume {vol} does not exist on {target}: export the same storage there with `ldm add-vdsdev BACKEND {vol}`"
            )),
            VolumeFact::Unusable(m) => f.push(format!("Volume {vol} on {target} cannot be used: {m}")),
            VolumeFact::InUse(dom, disk) => f.push(format!(
                "Volume {vol} on {target} is already disk {disk} of domain {dom} there: two domains must not write one disk"
            )),
            VolumeFact::Present {
                size_bytes,
                format,
                proof,
                readonly,
            } => {
                if *size_bytes != v.size_bytes || *format != v.format {
                    f.push(format!(
                        "Volume {vol} on {target} is {} bytes ({}), on {source} {} bytes ({}): they must be the same storage",
                        size_bytes,
                        format.as_str(),
                        v.size_bytes,
                        v.format.as_str()
                    ));
                } else if *readonly != v.readonly {
                    let ro = |b: bool| if b { "read-only (options=ro)" } else { "writable" };
                    f.push(format!(
                        "Volume {vol} is {} on {target} but {} on {source}: set the same options with `ldm set-vdsdev` there",
                        ro(*readonly),
                        ro(v.readonly)
                    ));
                } else if *proof != v.proof {
                    f.push(format!(
                        "volume {vol} on {target} is backed by different storage than on {source}"
                    ));
                }
            }
        }
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
            allocated_bytes: 0,
        }
    }

    fn present(size: u64, proof: &str) -> VolumeFact {
        VolumeFact::Present {
            size_bytes: size,
            format: ImageFormat::Raw,
            proof: proof.into(),
            readonly: false,
        }
    }

    #[test]
    fn each_missing_or_different_volume_is_named() {
        let offered = [
            vo("vol1"),
            vo("vol2"),
            vo("vol3"),
            vo("vol4"),
            vo("vol5"),
            vo("vol6"),
            vo("vol7"),
        ];
        let facts = [
            present(1 << 30, "token:1"),
            VolumeFact::NoService,
            VolumeFact::NoVolume,
            present(1 << 29, "token:1"),
            present(1 << 30, "token:2"),
            VolumeFact::InUse("ldg9".into(), "d1".into()),
            VolumeFact::Present {
                size_bytes: 1 << 30,
                format: ImageFormat::Raw,
                proof: "token:1".into(),
                readonly: true,
            },
        ];
        let f = check(&offered, &facts, "hostB", "hostA");
        assert_eq!(f.len(), 6, "{f:?}");
        assert!(
            f[5].contains(
                "vol7@primary-vds0 is read-only (options=ro) on hostB but writable on hostA"
            ),
            "{f:?}"
        );
        assert!(f[4].contains("already disk d1 of domain ldg9"), "{f:?}");
        assert!(
            f[0].contains("primary-vds0 does not exist on hostB")
                && f[0].contains("vol2@primary-vds0")
        );
        assert!(f[1].contains("Volume vol3@primary-vds0 does not exist on hostB"));
        assert!(f[2].contains("vol4@primary-vds0 on hostB is 536870912 bytes"));
        assert_eq!(
            f[3],
            "volume vol5@primary-vds0 on hostB is backed by different storage than on hostA"
        );
    }
}
