//! Memory added to and removed from a running machine: one virtio-mem
//! device over a region of guest-physical memory beside the boot memory,
//! of which the guest is asked to use `requested-size`. QEMU migrates the
//! device's state; a migration target starts it with the same region and
//! the same request.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::qmp::Qmp;

/// The virtio-mem device's id.
pub const HOTMEM_DEVICE: &str = "vmem0";
/// Its memory backend's id.
pub const HOTMEM_BACKEND: &str = "vmem0-ram";
/// The device's block size (QEMU's default on x86): requests are whole
/// multiples of it.
pub const HOTMEM_BLOCK_MIB: u64 = 2;

/// The hot-pluggable memory of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotMemConfig {
    /// Size of the region, MiB (a multiple of [`HOTMEM_BLOCK_MIB`]).
    pub region_mib: u64,
    /// How much of it the guest is asked to use, MiB.
    pub requested_mib: u64,
}

impl HotMemConfig {
    /// Why the configuration cannot be started, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.region_mib == 0 || !self.region_mib.is_multiple_of(HOTMEM_BLOCK_MIB) {
            return Some(format!(
                "the hot-pluggable memory region is {} MiB; use a positive multiple of {HOTMEM_BLOCK_MIB} MiB",
                self.region_mib
            ));
        }
        if self.requested_mib > self.region_mib
            || !self.requested_mib.is_multiple_of(HOTMEM_BLOCK_MIB)
        {
            return Some(format!(
                "{} MiB of hot-pluggable memory requested: use a multiple of {HOTMEM_BLOCK_MIB} MiB up to {} MiB",
                self.requested_mib, self.region_mib
            ));
        }
        None
    }

    /// The `-m` value for `base_mib` of boot memory with this region.
    pub fn memory_arg(&self, base_mib: u64) -> String {
        format!("{base_mib}M,maxmem={}M", base_mib + self.region_mib)
    }

    /// The backend object and the device.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-object".into(),
            format!(
                "memory-backend-ram,id={HOTMEM_BACKEND},size={}M,reserve=off",
                self.region_mib
            ),
            "-device".into(),
            format!(
                "virtio-mem-pci,id={HOTMEM_DEVICE},memdev={HOTMEM_BACKEND},requested-size={}M",
                self.requested_mib
            ),
        ]
    }
}

const DEVICE_PATH: &str = "/machine/peripheral/vmem0";

impl Qmp {
    /// Asks the guest to use `mib` of the hot-pluggable region.
    pub async fn hotmem_request(&mut self, mib: u64) -> Result<()> {
        self.execute(
            "qom-set",
            Some(json!({"path": DEVICE_PATH, "property": "requested-size", "value": mib << 20})),
        )
        .await
        .map(drop)
    }

    /// How much of the region the guest uses now, MiB.
    pub async fn hotmem_size(&mut self) -> Result<u64> {
        self.qom_u64("size").await.map(|b| b >> 20)
    }

    /// The request in force, MiB.
    pub async fn hotmem_requested(&mut self) -> Result<u64> {
        self.qom_u64("requested-size").await.map(|b| b >> 20)
    }

    async fn qom_u64(&mut self, property: &str) -> Result<u64> {
        let v = self
            .execute(
                "qom-get",
                Some(json!({"path": DEVICE_PATH, "property": property})),
            )
            .await?;
        v.as_u64().ok_or_else(|| Error::QmpDecode {
            command: "qom-get".into(),
            detail: format!(
                "{property}: expected a number, got {}",
                Value::to_string(&v)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_request_make_the_machine() {
        let h = HotMemConfig {
            region_mib: 2048,
            requested_mib: 512,
        };
        assert_eq!(h.problem(), None);
        assert_eq!(h.memory_arg(1024), "1024M,maxmem=3072M");
        assert_eq!(
            h.args(),
            [
                "-object",
                "memory-backend-ram,id=vmem0-ram,size=2048M,reserve=off",
                "-device",
                "virtio-mem-pci,id=vmem0,memdev=vmem0-ram,requested-size=512M",
            ]
        );
        for bad in [(0, 0), (2047, 0), (2048, 2050), (2048, 511)] {
            let h = HotMemConfig {
                region_mib: bad.0,
                requested_mib: bad.1,
            };
            assert!(h.problem().is_some(), "{bad:?}");
        }
    }
}
