//! The running machine's RAM, read from its QEMU in phase 1: the size of
//! the boot memory of a domain with hot-pluggable memory, which the
//! target must rebuild exactly (the offer carries it), and, under TCG,
//! whether QEMU 10.0 would lose the guest's writes to one of its RAM
//! blocks during a live copy (`ldm_qemu::BOOT_MEMORY_PAD_KIB` explains
//! the defect and the pad that avoids it).
//!
//! Both are facts of the QEMU that runs, not of the definition: a domain
//! started before ldm padded the boot memory runs without the pad until
//! it restarts, and its QEMU says so.

use crate::ops::machine::QmpGuard;
use ldm_qemu::{Qmp, RamBlock, BOOT_MEMORY_BACKEND};
use std::path::Path;
use std::sync::Arc;

/// The size of the running machine's boot memory, KiB; the failure to
/// report if QEMU cannot say.
pub(crate) async fn boot_memory_kib(
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: &Path,
) -> Result<u64, String> {
    let mut g = QmpGuard::lock(qmp, socket)
        .await
        .map_err(|e| format!("Domain {name}: its QEMU does not answer: {e}"))?;
    match g.q().memdev_size(BOOT_MEMORY_BACKEND).await {
        Ok(Some(bytes)) => Ok(bytes >> 10),
        Ok(None) => Err(format!(
            "Domain {name}: its QEMU has no boot memory backend {BOOT_MEMORY_BACKEND}"
        )),
        Err(e) => Err(format!(
            "Domain {name}: cannot read its QEMU's memory backends: {e}"
        )),
    }
}

/// Under TCG: the failure to report if QEMU would lose the guest's
/// writes to one of its RAM blocks during a live migration.
pub(crate) async fn check_write_tracking(
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: &Path,
) -> Option<String> {
    let mut g = match QmpGuard::lock(qmp, socket).await {
        Ok(g) => g,
        Err(e) => return Some(format!("Domain {name}: its QEMU does not answer: {e}")),
    };
    match g.q().ram_blocks().await {
        Ok(blocks) => lost_writes_message(name, &blocks),
        Err(e) => Some(format!(
            "Domain {name}: cannot read its QEMU's RAM blocks: {e}"
        )),
    }
}

/// The failure for a TCG QEMU with these RAM blocks, if one of them
/// would lose the guest's writes. Pure.
fn lost_writes_message(name: &str, blocks: &[RamBlock]) -> Option<String> {
    let lost: Vec<&str> = blocks
        .iter()
        .filter(|b| b.loses_tcg_writes())
        .map(|b| {
            if b.name.is_empty() {
                "(unnamed)"
            } else {
                b.name.as_str()
            }
        })
        .collect();
    if lost.is_empty() {
        return None;
    }
    if lost == [BOOT_MEMORY_BACKEND] {
        return Some(format!(
            "Domain {name} runs in a QEMU started before ldm padded the boot memory of domains with hot-pluggable memory: under TCG that QEMU would lose the guest's writes to its boot memory (RAM block pc.ram) during a live migration (a QEMU 10.0 defect; the guest would arrive corrupted). Restart the domain to migrate it live (`ldm stop-domain {name}`, `ldm start-domain {name}`), or stop it and migrate it stopped"
        ));
    }
    Some(format!(
        "Domain {name} runs in a QEMU that, under TCG, would lose the guest's writes to RAM block(s) {} during a live migration (a QEMU 10.0 defect; the guest would arrive corrupted): stop it and migrate it stopped",
        lost.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::lost_writes_message;
    use ldm_qemu::parse_ramblocks;

    const HEADER: &str = "              Block Name    PSize              Offset               Used              Total                HVA  RO\n";

    fn blocks(rows: &[&str]) -> Vec<ldm_qemu::RamBlock> {
        parse_ramblocks(&format!("{HEADER}{}\n", rows.join("\n"))).unwrap()
    }

    const REGION: &str = "  0000:00:02.0/vmem0-ram    4 KiB  0x0000000000000000 0x0000000040000000 0x0000000040000000 0x00007f2c77e00000  rw";
    const BIOS: &str = "                 pc.bios    4 KiB  0x0000000080000000 0x0000000000040000 0x0000000000040000 0x00007f2cfe400000  ro";

    #[test]
    fn boot_memory_of_whole_mib_after_the_region_is_refused_with_what_to_do() {
        let old = blocks(&[
            REGION,
            "                  pc.ram    4 KiB  0x0000000040000000 0x0000000040000000 0x0000000040000000 0x00007f2c2fe00000  rw",
            BIOS,
        ]);
        let m = lost_writes_message("ldg1", &old).expect("a failure");
        assert!(
            m.contains("started before ldm padded the boot memory"),
            "{m}"
        );
        assert!(m.contains("boot memory (RAM block pc.ram)"), "{m}");
        assert!(m.contains("Restart the domain to migrate it live"), "{m}");
        assert!(
            m.contains("`ldm stop-domain ldg1`, `ldm start-domain ldg1`"),
            "{m}"
        );
        assert!(m.contains("migrate it stopped"), "{m}");
    }

    #[test]
    fn padded_boot_memory_and_plain_machines_pass() {
        let padded = blocks(&[
            "                  pc.ram    4 KiB  0x0000000040000000 0x0000000040002000 0x0000000040002000 0x00007f5387e00000  rw",
            REGION,
            BIOS,
        ]);
        assert_eq!(lost_writes_message("ldg1", &padded), None);
        // Without hot-pluggable memory the boot memory is at offset 0.
        let plain = blocks(&[
            "                  pc.ram    4 KiB  0x0000000000000000 0x0000000020000000 0x0000000020000000 0x00007f2c2fe00000  rw",
            "                 pc.bios    4 KiB  0x0000000020000000 0x0000000000040000 0x0000000000040000 0x00007f2cfe400000  ro",
        ]);
        assert_eq!(lost_writes_message("ldg1", &plain), None);
    }

    #[test]
    fn any_other_writable_block_on_the_fast_path_is_named() {
        let vram = blocks(&[
            "                  pc.ram    4 KiB  0x0000000000000000 0x0000000020000000 0x0000000020000000 0x00007f2c2fe00000  rw",
            "       0000:00:02.0/vga.vram    4 KiB  0x0000000020000000 0x0000000001000000 0x0000000001000000 0x00007f2c2fe00000  rw",
        ]);
        let m = lost_writes_message("ldg1", &vram).expect("a failure");
        assert!(m.contains("RAM block(s) 0000:00:02.0/vga.vram"), "{m}");
        assert!(m.ends_with("stop it and migrate it stopped"), "{m}");
    }
}
