//! A running QEMU's RAM blocks and memory backends: the size of the
//! boot memory (`query-memdev`), and which blocks QEMU 10.0 under TCG
//! stops tracking during a live migration (`x-query-ramblock`; see
//! [`crate::BOOT_MEMORY_PAD_KIB`] for the defect).

use serde::Deserialize;

use crate::commands::decode;
use crate::error::{Error, Result};
use crate::hotmem::FAST_SYNC_KIB;
use crate::qmp::Qmp;

/// The id of the boot memory's backend (the `pc` machines' default
/// memdev, also its RAM block's name).
pub const BOOT_MEMORY_BACKEND: &str = "pc.ram";

/// One RAM block, as `x-query-ramblock` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamBlock {
    /// Its id (empty for a backend no device uses).
    pub name: String,
    /// Where it starts in QEMU's RAM address space, bytes.
    pub offset: u64,
    /// Its length in use, bytes.
    pub used: u64,
    /// Whether the guest can write it (QEMU's `RO` column says `rw`).
    pub writable: bool,
}

impl RamBlock {
    /// Whether QEMU 10.0's dirty-bitmap sync takes its fast path for this
    /// block: offset and length whole multiples of 64 target pages.
    pub fn fast_sync(&self) -> bool {
        let unit = FAST_SYNC_KIB << 10;
        self.offset.is_multiple_of(unit) && self.used.is_multiple_of(unit)
    }

    /// Whether, under TCG, QEMU 10.0 loses the guest's writes to this
    /// block after a migration's first dirty-bitmap sync: a block the
    /// guest writes, synced by the fast path, elsewhere than at offset 0.
    pub fn loses_tcg_writes(&self) -> bool {
        self.writable && self.offset != 0 && self.fast_sync()
    }
}

/// The blocks of `x-query-ramblock`'s text: a header line, then one line
/// per block, `NAME PSIZE OFFSET USED TOTAL HVA RO` with the page size
/// in two words (`4 KiB`) and the name possibly empty. Read from the
/// right. Pure.
pub fn parse_ramblocks(text: &str) -> std::result::Result<Vec<RamBlock>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    if !header.contains("Offset") || !header.trim_end().ends_with("RO") {
        return Err(format!("unexpected header {header:?}"));
    }
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
    };
    let mut blocks = Vec::new();
    for line in lines {
        let w: Vec<&str> = line.split_whitespace().collect();
        let n = w.len();
        let parsed = (n >= 7)
            .then(|| {
                let ro = match w[n - 1] {
                    "rw" => false,
                    "ro" => true,
                    _ => return None,
                };
                Some(RamBlock {
                    name: w[..n - 7].join(" "),
                    offset: hex(w[n - 5])?,
                    used: hex(w[n - 4])?,
                    writable: !ro,
                })
            })
            .flatten();
        blocks.push(parsed.ok_or_else(|| format!("unexpected line {line:?}"))?);
    }
    if blocks.is_empty() {
        return Err("no RAM block listed".into());
    }
    Ok(blocks)
}

#[derive(Deserialize)]
struct Memdev {
    id: Option<String>,
    size: u64,
}

#[derive(Deserialize)]
struct Text {
    #[serde(rename = "human-readable-text")]
    text: String,
}

impl Qmp {
    /// `x-query-ramblock`: every RAM block.
    pub async fn ram_blocks(&mut self) -> Result<Vec<RamBlock>> {
        let v = self.execute("x-query-ramblock", None).await?;
        let t: Text = decode("x-query-ramblock", v)?;
        parse_ramblocks(&t.text).map_err(|detail| Error::QmpDecode {
            command: "x-query-ramblock".into(),
            detail,
        })
    }

    /// `query-memdev`: the size of backend `id`, bytes, if there is one.
    pub async fn memdev_size(&mut self, id: &str) -> Result<Option<u64>> {
        let v = self.execute("query-memdev", None).await?;
        let all: Vec<Memdev> = decode("query-memdev", v)?;
        Ok(all
            .into_iter()
            .find(|m| m.id.as_deref() == Some(id))
            .map(|m| m.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU 10.0.2's answer for a machine of 1 GiB of boot memory and a
    /// 1 GiB hot-pluggable region, as ldm built it before the pad.
    const WHOLE_MIB: &str = "              Block Name    PSize              Offset               Used              Total                HVA  RO
  0000:00:02.0/vmem0-ram    4 KiB  0x0000000000000000 0x0000000040000000 0x0000000040000000 0x00007f2c77e00000  rw
                  pc.ram    4 KiB  0x0000000040000000 0x0000000040000000 0x0000000040000000 0x00007f2c2fe00000  rw
    /rom@etc/acpi/tables    4 KiB  0x0000000080080000 0x0000000000020000 0x0000000000200000 0x00007f2cfde00000  ro
                 pc.bios    4 KiB  0x0000000080000000 0x0000000000040000 0x0000000000040000 0x00007f2cfe400000  ro
                  pc.rom    4 KiB  0x0000000080040000 0x0000000000020000 0x0000000000020000 0x00007f2cfe200000  ro
   /rom@etc/table-loader    4 KiB  0x0000000080280000 0x0000000000001000 0x0000000000010000 0x00007f2cfdc00000  ro
      /rom@etc/acpi/rsdp    4 KiB  0x00000000802c0000 0x0000000000001000 0x0000000000001000 0x00007f2cfda00000  ro
";

    /// The same machine with the boot memory padded by 8 KiB, its
    /// backend used by no device (the block has no name).
    const PADDED: &str = "              Block Name    PSize              Offset               Used              Total                HVA  RO
                  pc.ram    4 KiB  0x0000000040000000 0x0000000040002000 0x0000000040002000 0x00007f5387e00000  rw
                            4 KiB  0x0000000000000000 0x0000000040000000 0x0000000040000000 0x00007f53cfe00000  rw
                 pc.bios    4 KiB  0x0000000080040000 0x0000000000040000 0x0000000000040000 0x00007f5455400000  ro
";

    #[test]
    fn whole_mib_boot_memory_after_the_region_loses_writes() {
        let b = parse_ramblocks(WHOLE_MIB).unwrap();
        assert_eq!(b.len(), 7);
        assert_eq!(
            b[1],
            RamBlock {
                name: "pc.ram".into(),
                offset: 1 << 30,
                used: 1 << 30,
                writable: true,
            }
        );
        let lost: Vec<&str> = b
            .iter()
            .filter(|b| b.loses_tcg_writes())
            .map(|b| b.name.as_str())
            .collect();
        // The region at offset 0 is right; the BIOS is on the fast path
        // too, but the guest cannot write it.
        assert_eq!(lost, ["pc.ram"]);
        assert!(b[0].fast_sync() && !b[0].loses_tcg_writes());
        assert!(b[3].fast_sync() && !b[3].writable);
    }

    #[test]
    fn padded_boot_memory_takes_the_slow_path() {
        let b = parse_ramblocks(PADDED).unwrap();
        assert_eq!(b[0].used, (1 << 30) + 8192);
        assert_eq!(b[1].name, "");
        assert!(!b[0].fast_sync());
        assert!(!b.iter().any(RamBlock::loses_tcg_writes));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "Block Name PSize Offset Used Total\n",
            "              Block Name    PSize              Offset               Used              Total                HVA  RO\n",
            "              Block Name    PSize              Offset               Used              Total                HVA  RO\npc.ram 4 KiB 0x0 0x40000000 0x40000000 0x7f00 xx\n",
            "              Block Name    PSize              Offset               Used              Total                HVA  RO\npc.ram 4 KiB 0x0 40000000 0x40000000 0x7f00 rw\n",
            "              Block Name    PSize              Offset               Used              Total                HVA  RO\n0x0 0x1 rw\n",
        ] {
            assert!(parse_ramblocks(bad).is_err(), "{bad:?}");
        }
    }
}
