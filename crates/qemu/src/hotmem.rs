//! Memory added to and removed from a running machine: one virtio-mem
//! device over a region of guest-physical memory beside the boot memory,
//! of which the guest is asked to use `requested-size`. QEMU migrates the
//! device's state; a migration target starts it with the same region, the
//! same request and the same boot memory.
//!
//! The boot memory of such a machine is [`BOOT_MEMORY_PAD_KIB`] larger
//! than whole MiB, for QEMU 10.0's sake under TCG: see there.

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

/// What the boot memory of a machine with hot-pluggable memory has beyond
/// its whole MiB, KiB.
///
/// QEMU 10.0 under TCG loses a guest's writes during a live migration
/// unless every RAM block the guest writes, but the one at offset 0 of
/// QEMU's RAM address space, has a length that is not a whole multiple of
/// [`FAST_SYNC_KIB`]. After each dirty-bitmap sync QEMU must re-arm TCG's
/// write tracking (`tlb_reset_dirty_range_all`) for the block's range. In
/// `cpu_physical_memory_sync_dirty_bitmap()` (`include/system/ram_addr.h`)
/// the fast path, taken when the block's offset and length are whole
/// multiples of 64 target pages (QEMU aligns every block's offset so),
/// re-arms `start`, the offset within the block, where the slow path
/// re-arms `start + rb->offset`. Only the block at offset 0 is then right;
/// in any other, the pages the guest wrote since the last sync are
/// written again without being marked dirty, and never reach the target.
///
/// The hot-pluggable region's backend is created before the boot memory
/// (QEMU allocates `-object` backends before the board's own RAM) and
/// takes offset 0; the boot memory follows it. With this pad its length
/// is never a multiple of [`FAST_SYNC_KIB`], so it takes the slow path,
/// which is right. The other RAM blocks of such a machine (BIOS, option
/// ROMs, ACPI tables; `-vga none` leaves no video RAM) are read-only to
/// the guest. A multiple of [`RAM_SIZE_STEP_KIB`], so QEMU takes it as it
/// is. Applied under every accelerator (KVM tracks writes itself and is
/// indifferent), so a migration target, whatever its accelerator,
/// rebuilds the machine the source runs.
pub const BOOT_MEMORY_PAD_KIB: u64 = 8;

/// QEMU rounds `-m` up to a multiple of this, KiB.
pub const RAM_SIZE_STEP_KIB: u64 = 8;

/// A RAM block whose length is a whole multiple of this (64 pages of
/// 4 KiB), KiB, takes the fast path of QEMU's dirty-bitmap sync.
pub const FAST_SYNC_KIB: u64 = 256;

/// The most a machine's boot memory may have beyond its whole MiB, KiB
/// (a migration target builds the source's machine, whatever its pad).
pub const MAX_BOOT_PAD_KIB: u64 = FAST_SYNC_KIB - RAM_SIZE_STEP_KIB;

// The pad is a size QEMU takes as it is, and a valid one.
const _: () = assert!(
    BOOT_MEMORY_PAD_KIB > 0
        && BOOT_MEMORY_PAD_KIB <= MAX_BOOT_PAD_KIB
        && BOOT_MEMORY_PAD_KIB.is_multiple_of(RAM_SIZE_STEP_KIB)
);

/// The hot-pluggable memory of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotMemConfig {
    /// Size of the region, MiB (a multiple of [`HOTMEM_BLOCK_MIB`]).
    pub region_mib: u64,
    /// How much of it the guest is asked to use, MiB.
    pub requested_mib: u64,
    /// What the boot memory has beyond its whole MiB, KiB:
    /// [`BOOT_MEMORY_PAD_KIB`] for a machine started now, 0 for one
    /// started before the pad (and rebuilt as it is by a migration).
    #[serde(default)]
    pub boot_pad_kib: u64,
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
        if self.boot_pad_kib > MAX_BOOT_PAD_KIB
            || !self.boot_pad_kib.is_multiple_of(RAM_SIZE_STEP_KIB)
        {
            return Some(format!(
                "a boot memory pad of {} KiB: use a multiple of {RAM_SIZE_STEP_KIB} KiB up to {MAX_BOOT_PAD_KIB} KiB",
                self.boot_pad_kib
            ));
        }
        None
    }

    /// The size of `base_mib` of boot memory with its pad, KiB.
    pub fn boot_kib(&self, base_mib: u64) -> u64 {
        (base_mib << 10) + self.boot_pad_kib
    }

    /// The `-m` value for `base_mib` of boot memory with this region.
    pub fn memory_arg(&self, base_mib: u64) -> String {
        let boot = self.boot_kib(base_mib);
        format!("{boot}K,maxmem={}K", boot + (self.region_mib << 10))
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
        let mut h = HotMemConfig {
            region_mib: 2048,
            requested_mib: 512,
            boot_pad_kib: 0,
        };
        assert_eq!(h.problem(), None);
        // Without a pad: the machine of before, whole MiB.
        assert_eq!(h.memory_arg(1024), "1048576K,maxmem=3145728K");
        h.boot_pad_kib = BOOT_MEMORY_PAD_KIB;
        assert_eq!(h.problem(), None);
        assert_eq!(h.boot_kib(1024), 1048584);
        assert_eq!(h.memory_arg(1024), "1048584K,maxmem=3145736K");
        assert_eq!(
            h.args(),
            [
                "-object",
                "memory-backend-ram,id=vmem0-ram,size=2048M,reserve=off",
                "-device",
                "virtio-mem-pci,id=vmem0,memdev=vmem0-ram,requested-size=512M",
            ]
        );
        for bad in [(0, 0, 0), (2047, 0, 0), (2048, 2050, 0), (2048, 511, 0)] {
            let h = HotMemConfig {
                region_mib: bad.0,
                requested_mib: bad.1,
                boot_pad_kib: bad.2,
            };
            assert!(h.problem().is_some(), "{bad:?}");
        }
        // A pad QEMU would round, or one of a whole fast-path length.
        for pad in [4, 12, 256, 1024] {
            h.boot_pad_kib = pad;
            assert!(h.problem().unwrap().contains("pad"), "{pad}");
        }
        h.boot_pad_kib = MAX_BOOT_PAD_KIB;
        assert_eq!(h.problem(), None);
    }

    #[test]
    fn padded_boot_memory_never_takes_the_fast_sync_path() {
        // Whatever the boot memory, its length is not a whole multiple of
        // the fast path's, and QEMU takes it without rounding.
        let h = HotMemConfig {
            region_mib: 2,
            requested_mib: 0,
            boot_pad_kib: BOOT_MEMORY_PAD_KIB,
        };
        for mib in 16..=64 << 10 {
            let kib = h.boot_kib(mib);
            assert!(!kib.is_multiple_of(FAST_SYNC_KIB), "{mib} MiB");
            assert!(kib.is_multiple_of(RAM_SIZE_STEP_KIB), "{mib} MiB");
        }
        // Without the pad, every whole MiB takes it (4 × 256 KiB).
        let old = HotMemConfig {
            boot_pad_kib: 0,
            ..h
        };
        assert!(old.boot_kib(1024).is_multiple_of(FAST_SYNC_KIB));
    }
}
