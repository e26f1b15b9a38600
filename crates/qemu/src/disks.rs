//! A domain's disks on QEMU's command line: one virtio-blk device per disk,
//! its serial the disk's name, backed by a protocol node (file or host
//! device) under a format node (raw or qcow2).
//!
//! Node and device names derive from the disk's position, so the same list
//! gives the same machine on a migration target.

use crate::cmdline::escape_opt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One disk of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskConfig {
    /// The virtio-blk serial the guest sees (the disk's name, ≤ 20 bytes).
    pub serial: String,
    /// Back end path on this host.
    pub path: PathBuf,
    /// A block device (`host_device`) rather than a file.
    pub block_device: bool,
    /// `raw` or `qcow2`.
    pub format: String,
    /// Opened read-only; the guest sees a read-only disk.
    pub read_only: bool,
}

/// The format node of disk `i` (what `query-block` and block jobs name).
pub fn node_name(i: usize) -> String {
    format!("vd{i}")
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// The `-blockdev` and `-device` arguments of `disks`, in their order.
pub fn disk_args(disks: &[DiskConfig]) -> Vec<String> {
    let mut a = Vec::with_capacity(disks.len() * 6);
    for (i, d) in disks.iter().enumerate() {
        let node = node_name(i);
        let ro = on_off(d.read_only);
        let driver = if d.block_device {
            "host_device"
        } else {
            "file"
        };
        a.push("-blockdev".into());
        a.push(format!(
            "driver={driver},node-name={node}-file,filename={},read-only={ro}",
            escape_opt(&d.path.to_string_lossy())
        ));
        let format = if d.format == "qcow2" { "qcow2" } else { "raw" };
        a.push("-blockdev".into());
        a.push(format!(
            "driver={format},node-name={node},file={node}-file,read-only={ro}"
        ));
        a.push("-device".into());
        a.push(format!(
            "virtio-blk-pci,id={node}-dev,drive={node},serial={}",
            escape_opt(&d.serial)
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(serial: &str, path: &str) -> DiskConfig {
        DiskConfig {
            serial: serial.into(),
            path: path.into(),
            block_device: false,
            format: "raw".into(),
            read_only: false,
        }
    }

    #[test]
    fn two_disks_in_order() {
        let mut b = disk("data", "/dev/sdb");
        b.block_device = true;
        b.read_only = true;
        let a = disk_args(&[disk("vdisk1", "/srv/a,b.img"), b]);
        assert_eq!(
            a,
            [
                "-blockdev",
                "driver=file,node-name=vd0-file,filename=/srv/a,,b.img,read-only=off",
                "-blockdev",
                "driver=raw,node-name=vd0,file=vd0-file,read-only=off",
                "-device",
                "virtio-blk-pci,id=vd0-dev,drive=vd0,serial=vdisk1",
                "-blockdev",
                "driver=host_device,node-name=vd1-file,filename=/dev/sdb,read-only=on",
                "-blockdev",
                "driver=raw,node-name=vd1,file=vd1-file,read-only=on",
                "-device",
                "virtio-blk-pci,id=vd1-dev,drive=vd1,serial=data",
            ]
        );
    }

    #[test]
    fn a_format_or_serial_cannot_add_a_property() {
        let mut d = disk("x,drive=vd9", "/i");
        d.format = "raw,file=/etc/shadow".into();
        let a = disk_args(&[d]);
        assert_eq!(a[3], "driver=raw,node-name=vd0,file=vd0-file,read-only=off");
        assert_eq!(
            a[5],
            "virtio-blk-pci,id=vd0-dev,drive=vd0,serial=x,,drive=vd9"
        );
    }
}
