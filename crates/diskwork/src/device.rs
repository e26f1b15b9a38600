//! The disk as diskwork uses it: block-aligned reads and writes through
//! `O_DIRECT` (the guest's page cache never answers for the disk) and
//! `fdatasync`.

use crate::pattern::BLOCK;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// Alignment `O_DIRECT` needs (a page covers every logical block size).
const ALIGN: usize = 4096;

/// One block of memory aligned for `O_DIRECT`.
pub struct AlignedBlock {
    ptr: *mut u8,
}

impl AlignedBlock {
    fn layout() -> Layout {
        Layout::from_size_align(BLOCK, ALIGN).expect("BLOCK and ALIGN are valid")
    }

    /// A zeroed block.
    pub fn new() -> AlignedBlock {
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(Self::layout()) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(Self::layout());
        }
        AlignedBlock { ptr }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr points to BLOCK initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, BLOCK) }
    }

    /// The bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in bytes(), and &mut self makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, BLOCK) }
    }
}

impl Default for AlignedBlock {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for AlignedBlock {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with the same layout, freed once.
        unsafe { dealloc(self.ptr, Self::layout()) }
    }
}

/// An open disk.
pub struct Device {
    file: File,
    size: u64,
}

impl Device {
    /// Opens `path` for reading and writing; with `direct`, bypassing the
    /// page cache (tests on files in tmpfs cannot).
    pub fn open(path: &str, direct: bool) -> io::Result<Device> {
        let mut o = OpenOptions::new();
        o.read(true).write(true);
        if direct {
            o.custom_flags(libc::O_DIRECT);
        }
        let mut file = o.open(path)?;
        let size = file.seek(SeekFrom::End(0))?;
        Ok(Device { file, size })
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the block at byte offset `off`.
    pub fn read(&self, off: u64, buf: &mut AlignedBlock) -> io::Result<()> {
        self.file.read_exact_at(buf.bytes_mut(), off)
    }

    /// Writes the block at byte offset `off`.
    pub fn write(&self, off: u64, buf: &AlignedBlock) -> io::Result<()> {
        self.file.write_all_at(buf.bytes(), off)
    }

    /// Makes what was written durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}
