//! Virtual disks: the virtual disk service (vds), its volumes (vdsdev) and
//! the disks (vdisk) domains get from them.

use serde::{Deserialize, Serialize};

/// Longest disk name: the guest sees it as the virtio-blk serial, which
/// holds 20 bytes.
pub const MAX_DISK_NAME: usize = 20;

/// Most disks a domain may have (PCI slots left on the machine).
pub const MAX_DISKS: usize = 24;

/// One virtual disk of a domain, in the order the domain's definition
/// gives (the guest's device order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdiskSpec {
    /// Disk name; the guest finds it as `/dev/disk/by-id/virtio-NAME`.
    pub name: String,
    /// Volume name within the service.
    pub volume: String,
    /// Virtual disk service.
    pub service: String,
}

impl VdiskSpec {
    /// `VOLUME@SERVICE`.
    pub fn volume_ref(&self) -> String {
        format!("{}@{}", self.volume, self.service)
    }
}

/// Image format of a back end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Plain bytes (a raw file or a block device).
    Raw,
    /// A qcow2 image file.
    Qcow2,
}

impl ImageFormat {
    /// Name as QEMU and the listings write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

/// What kind of object a back end is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A regular file.
    File,
    /// A block device.
    Block,
}

/// One volume of a vds, as `list-services` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeView {
    /// Volume name.
    pub name: String,
    /// Exported read-only.
    pub readonly: bool,
    /// Back end path.
    pub backend: String,
    /// File or block device, if it can be opened now.
    pub kind: Option<BackendKind>,
    /// Format, if it can be read now.
    pub format: Option<ImageFormat>,
    /// Size the guest sees, bytes, if it can be read now.
    pub size_bytes: Option<u64>,
    /// Why the back end cannot be used now, if it cannot.
    pub problem: Option<String>,
    /// The disks using it: `(domain, disk)`.
    pub used_by: Vec<(String, String)>,
}

/// A virtual disk service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VdsView {
    /// Service name, e.g. `primary-vds0`.
    pub name: String,
    /// Service domain (always `primary`).
    pub ldom: String,
    /// Its volumes, by name.
    pub volumes: Vec<VolumeView>,
}

/// One disk of a domain, as `ldm list -o disk` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskView {
    /// Disk name.
    pub name: String,
    /// `VOLUME@SERVICE`.
    pub volume: String,
    /// Position in the domain's device order (0 is the guest's first disk).
    pub id: u32,
    /// Service domain.
    pub server: String,
    /// The back end on this host, if the volume exists.
    pub backend: Option<String>,
    /// Read-only (from the volume's options).
    pub readonly: bool,
}

/// Parses `VOLUME@SERVICE`.
pub fn parse_volume_ref(text: &str) -> Result<(String, String), String> {
    let bad = || format!("'{text}' is not VOLUME@SERVICE: write it as vol1@primary-vds0");
    let (v, s) = text.split_once('@').ok_or_else(bad)?;
    check_name("volume", v)?;
    check_name("service", s)?;
    Ok((v.to_string(), s.to_string()))
}

/// Checks a service, volume or disk name: letters, digits, `-`, `_`, `.`,
/// at most 64 characters (20 for disks), starting with a letter or digit.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let max = if what == "disk" { MAX_DISK_NAME } else { 64 };
    crate::domain::check_label(what, name, max)
}

/// Parses `options=` values of set-vdsdev: `ro` or nothing. Returns
/// whether the volume is read-only.
pub fn parse_vdsdev_options(value: &str) -> Result<bool, String> {
    match parse_add_vdsdev_options(value)? {
        (ro, false) => Ok(ro),
        (_, true) => Err(
            "options=create applies only when a volume is exported (add-vdsdev): use options=ro, or options= to clear"
                .into(),
        ),
    }
}

/// Parses `options=` values of add-vdsdev: `ro`, `create` (a back end
/// that does not exist yet, which a `--copy-storage` migration creates),
/// or nothing. Returns (read-only, create).
pub fn parse_add_vdsdev_options(value: &str) -> Result<(bool, bool), String> {
    let (mut ro, mut create) = (false, false);
    for o in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "create" => create = true,
            other => {
                return Err(format!(
                "'{other}' is not a volume option ldm knows: use options=ro, options=create, or options= to clear"
            ))
            }
        }
    }
    Ok((ro, create))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_refs() {
        assert_eq!(
            parse_volume_ref("vol1@primary-vds0"),
            Ok(("vol1".into(), "primary-vds0".into()))
        );
        assert!(parse_volume_ref("vol1").is_err());
        assert!(parse_volume_ref("@svc").is_err());
        assert!(parse_volume_ref("v@").is_err());
        assert!(parse_volume_ref("v,x@s").is_err());
    }

    #[test]
    fn names_and_options() {
        assert!(check_name("disk", "vdisk1").is_ok());
        assert!(check_name("disk", &"d".repeat(21)).is_err());
        assert!(check_name("volume", &"v".repeat(64)).is_ok());
        assert!(check_name("service", "-x").is_err());
        assert_eq!(parse_vdsdev_options("ro"), Ok(true));
        assert_eq!(parse_vdsdev_options(""), Ok(false));
        assert!(parse_vdsdev_options("slice").is_err());
        assert!(parse_vdsdev_options("create").is_err());
        assert_eq!(parse_add_vdsdev_options("create"), Ok((false, true)));
        assert_eq!(parse_add_vdsdev_options("ro, create"), Ok((true, true)));
    }
}
