//! The workload on one disk: the generation map in memory and on the disk,
//! rewriting random blocks (each verified first), and the background sweep
//! that verifies every written block in turn.
//!
//! Order of writes: a batch of data blocks, sync, then their map entries,
//! sync. A stop between the two leaves blocks one generation ahead of their
//! entries; the first check of a block after start accepts that (and
//! corrects the map), every later check wants its exact generation.

use crate::device::{AlignedBlock, Device};
use crate::layout::{decode_map, encode_map, Layout};
use crate::lines::DiskworkStart;
use crate::pattern::{claimed, fill, matches, BLOCK};
use std::collections::BTreeSet;
use std::io;

/// Error lines kept for printing; more errors are only counted.
const MAX_ERROR_LINES: usize = 20;

/// The workload's state.
pub struct Disk {
    dev: Device,
    layout: Layout,
    map: Vec<u32>,
    checked: Vec<bool>,
    dirty: BTreeSet<u64>,
    buf: AlignedBlock,
    rng: u64,
    cursor: u64,
    resumed: bool,
    written_before: u64,
    /// Complete sweeps since start.
    pub sweeps: u64,
    /// Blocks found wrong.
    pub errors: u64,
    /// Blocks written since start.
    pub written: u64,
    /// Error lines not yet printed.
    pub error_lines: Vec<String>,
}

impl Disk {
    /// Opens the disk, loading the map an earlier run left, or starting a
    /// new one.
    pub fn open(dev: Device, seed: u64) -> io::Result<Disk> {
        let layout = Layout::for_size(dev.size()).ok_or_else(|| {
            io::Error::other("the disk is too small (at least 3 blocks of 64 KiB)")
        })?;
        let mut d = Disk {
            map: vec![0; layout.blocks as usize],
            checked: vec![false; layout.blocks as usize],
            dirty: BTreeSet::new(),
            buf: AlignedBlock::new(),
            rng: seed | 1,
            cursor: 0,
            resumed: false,
            written_before: 0,
            sweeps: 0,
            errors: 0,
            written: 0,
            error_lines: Vec::new(),
            dev,
            layout,
        };
        d.dev.read(0, &mut d.buf)?;
        if layout.is_header(d.buf.bytes()) {
            d.resumed = true;
            let per = BLOCK / 4;
            for m in 0..layout.map_blocks {
                d.dev.read(layout.map_offset(m), &mut d.buf)?;
                let from = m as usize * per;
                let to = (from + per).min(d.map.len());
                decode_map(d.buf.bytes(), &mut d.map[from..to]);
            }
            d.written_before = d.map.iter().filter(|g| **g > 0).count() as u64;
        } else {
            d.dirty.extend(0..layout.map_blocks);
            d.flush_map()?;
            layout.header(d.buf.bytes_mut());
            d.dev.write(0, &d.buf)?;
            d.dev.sync()?;
        }
        Ok(d)
    }

    /// The start line.
    pub fn start_line(&self, dev: &str, rate_mib_s: u64) -> DiskworkStart {
        DiskworkStart {
            dev: dev.into(),
            size_mib: self.dev.size() >> 20,
            blocks: self.layout.blocks,
            rate_mib_s,
            resumed: self.resumed,
            written_blocks: self.written_before,
        }
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Reads block `i` and checks it against its map entry.
    fn verify(&mut self, i: u64) -> io::Result<()> {
        let gen = self.map[i as usize];
        if gen == 0 {
            return Ok(());
        }
        self.dev.read(self.layout.data_offset(i), &mut self.buf)?;
        let first = !self.checked[i as usize];
        self.checked[i as usize] = true;
        if matches(self.buf.bytes(), i, gen) {
            return Ok(());
        }
        if first && matches(self.buf.bytes(), i, gen + 1) {
            self.map[i as usize] = gen + 1;
            self.dirty.insert(Layout::map_block_of(i));
            return Ok(());
        }
        self.errors += 1;
        if self.error_lines.len() < MAX_ERROR_LINES {
            let (fb, fg) = claimed(self.buf.bytes());
            self.error_lines.push(format!(
                "diskwork error block={i} expected_gen={gen} found_block={fb} found_gen={fg}"
            ));
        }
        Ok(())
    }

    /// Rewrites `n` random blocks, each verified first.
    pub fn rewrite(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let mut done = Vec::with_capacity(n);
        for _ in 0..n {
            let i = self.next_random() % self.layout.blocks;
            if done.contains(&i) {
                continue;
            }
            self.verify(i)?;
            let gen = self.map[i as usize].wrapping_add(1).max(1);
            fill(self.buf.bytes_mut(), i, gen);
            self.dev.write(self.layout.data_offset(i), &self.buf)?;
            done.push(i);
        }
        self.dev.sync()?;
        for &i in &done {
            self.map[i as usize] = self.map[i as usize].wrapping_add(1).max(1);
            self.checked[i as usize] = true;
            self.dirty.insert(Layout::map_block_of(i));
        }
        self.written += done.len() as u64;
        self.flush_map()
    }

    /// Verifies up to `n` written blocks, continuing where the last call
    /// stopped; a pass that reaches the end counts as a sweep.
    pub fn sweep(&mut self, n: usize) -> io::Result<()> {
        let mut left = n;
        for _ in 0..self.layout.blocks {
            if left == 0 {
                break;
            }
            let i = self.cursor;
            self.cursor += 1;
            if self.map[i as usize] > 0 {
                self.verify(i)?;
                left -= 1;
            }
            if self.cursor == self.layout.blocks {
                self.cursor = 0;
                self.sweeps += 1;
            }
        }
        self.flush_map()
    }

    fn flush_map(&mut self) -> io::Result<()> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let per = BLOCK / 4;
        for m in std::mem::take(&mut self.dirty) {
            let from = m as usize * per;
            let to = (from + per).min(self.map.len());
            encode_map(&self.map[from..to], self.buf.bytes_mut());
            self.dev.write(self.layout.map_offset(m), &self.buf)?;
        }
        self.dev.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_file(mib: u64) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("disk.img");
        std::fs::File::create(&p)
            .unwrap()
            .set_len(mib << 20)
            .unwrap();
        let s = p.display().to_string();
        (dir, s)
    }

    #[test]
    fn a_later_start_verifies_what_an_earlier_one_wrote() {
        let (_dir, path) = disk_file(8);
        let mut d = Disk::open(Device::open(&path, false).unwrap(), 42).unwrap();
        assert!(!d.start_line("x", 1).resumed);
        d.rewrite(50).unwrap();
        d.rewrite(50).unwrap();
        d.sweep(1000).unwrap();
        assert_eq!((d.errors, d.sweeps), (0, 1));
        drop(d);
        let mut d = Disk::open(Device::open(&path, false).unwrap(), 7).unwrap();
        let s = d.start_line("x", 1);
        assert!(s.resumed && s.written_blocks > 40, "{s:?}");
        d.sweep(1000).unwrap();
        assert_eq!((d.errors, d.sweeps), (0, 1));
    }

    #[test]
    fn a_lost_or_misplaced_write_is_an_error() {
        let (_dir, path) = disk_file(8);
        let mut d = Disk::open(Device::open(&path, false).unwrap(), 42).unwrap();
        d.rewrite(20).unwrap();
        d.rewrite(20).unwrap();
        let i = d.map.iter().position(|g| *g > 0).unwrap() as u64;
        let gen = d.map[i as usize];
        let layout = d.layout;
        drop(d);
        // The block goes back one generation, as if its last write was lost.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut b = vec![0u8; BLOCK];
        fill(&mut b, i, gen - 1);
        use std::os::unix::fs::FileExt;
        f.write_all_at(&b, layout.data_offset(i)).unwrap();
        if gen == 1 {
            // Generation 0 has no contents: write another block's instead.
            fill(&mut b, i + 1, 1);
            f.write_all_at(&b, layout.data_offset(i)).unwrap();
        }
        let mut d = Disk::open(Device::open(&path, false).unwrap(), 1).unwrap();
        d.sweep(10_000).unwrap();
        assert_eq!(d.errors, 1);
        assert!(d.error_lines[0].contains(&format!("block={i} expected_gen={gen}")));
    }
}
