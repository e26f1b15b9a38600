//! The disk's layout: a header block, the generation map (one u32 per data
//! block), then the data blocks. The map lives on the disk itself, so a
//! later boot (or the domain after a migration) verifies what an earlier
//! one wrote. A map entry is written only after its block's data was
//! synced, so the map never claims more than the disk holds; a block may be
//! one generation ahead of its entry if the writer was stopped between the
//! two (see [`Layout`] users).

use crate::pattern::BLOCK;

/// The header's first bytes.
pub const MAGIC: &[u8; 8] = b"DISKWRK1";

/// Where everything is on a disk of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Data blocks.
    pub blocks: u64,
    /// Blocks of the generation map.
    pub map_blocks: u64,
}

impl Layout {
    /// The layout of a disk of `size` bytes; `None` if it is too small.
    pub fn for_size(size: u64) -> Option<Layout> {
        let total = size / BLOCK as u64;
        let per_map_block = (BLOCK / 4) as u64;
        // header + map + data <= total, map covering data.
        let blocks = (total.checked_sub(1)? * per_map_block) / (per_map_block + 1);
        let map_blocks = blocks.div_ceil(per_map_block);
        (blocks > 0 && 1 + map_blocks + blocks <= total).then_some(Layout { blocks, map_blocks })
    }

    /// Byte offset of data block `i`.
    pub fn data_offset(&self, i: u64) -> u64 {
        (1 + self.map_blocks + i) * BLOCK as u64
    }

    /// Byte offset of map block `m`.
    pub fn map_offset(&self, m: u64) -> u64 {
        (1 + m) * BLOCK as u64
    }

    /// The map block holding the entry of data block `i`.
    pub fn map_block_of(i: u64) -> u64 {
        i / (BLOCK / 4) as u64
    }

    /// The header block of this layout.
    pub fn header(&self, buf: &mut [u8]) {
        buf.fill(0);
        buf[..8].copy_from_slice(MAGIC);
        buf[8..16].copy_from_slice(&self.blocks.to_le_bytes());
        buf[16..24].copy_from_slice(&self.map_blocks.to_le_bytes());
        buf[24..32].copy_from_slice(&(BLOCK as u64).to_le_bytes());
    }

    /// Whether `buf` is the header of this very layout.
    pub fn is_header(&self, buf: &[u8]) -> bool {
        let mut want = vec![0u8; buf.len()];
        self.header(&mut want);
        buf[..32] == want[..32]
    }
}

/// Reads map entries from one map block.
pub fn decode_map(buf: &[u8], out: &mut [u32]) {
    for (e, c) in out.iter_mut().zip(buf.chunks_exact(4)) {
        *e = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// Writes map entries into one map block.
pub fn encode_map(entries: &[u32], buf: &mut [u8]) {
    buf.fill(0);
    for (e, c) in entries.iter().zip(buf.chunks_exact_mut(4)) {
        c.copy_from_slice(&e.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_gib_fits_with_its_map() {
        let l = Layout::for_size(1 << 30).unwrap();
        assert_eq!(l.map_blocks, 1);
        assert_eq!(l.blocks, 16382);
        assert!(l.data_offset(l.blocks - 1) + BLOCK as u64 <= 1 << 30);
        assert!(Layout::for_size(BLOCK as u64).is_none());
        let mut h = vec![0u8; BLOCK];
        l.header(&mut h);
        assert!(l.is_header(&h));
        assert!(!Layout::for_size(1 << 29).unwrap().is_header(&h));
    }

    #[test]
    fn map_round_trips() {
        let mut buf = vec![0u8; BLOCK];
        encode_map(&[1, 2, u32::MAX], &mut buf);
        let mut out = [0u32; 3];
        decode_map(&buf, &mut out);
        assert_eq!(out, [1, 2, u32::MAX]);
    }
}
