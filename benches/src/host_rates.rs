//! How fast this host writes memory, in one thread: into fresh memory
//! (every page faulted in and cleared by the kernel first, as on a
//! migration target), with 4 KiB pages (as ldm's incoming QEMU has them)
//! and with transparent huge pages, and into memory already touched.
//! Each figure of the benchmark is to be read against these.

use std::time::Instant;

/// Memory written per measurement, MiB.
const SIZE_MIB: usize = 512;

/// The rates, MiB/s.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub first_touch_4k: f64,
    pub first_touch_thp: f64,
    pub warm: f64,
}

impl std::fmt::Display for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host memory write rate, 1 thread, {SIZE_MIB} MiB: first touch {:.0} MiB/s (4 KiB pages), {:.0} MiB/s (huge pages); warm {:.0} MiB/s",
            self.first_touch_4k, self.first_touch_thp, self.warm
        )
    }
}

/// A fresh anonymous mapping of `len` bytes.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize, huge: bool) -> std::io::Result<Mapping> {
        // SAFETY: an anonymous private mapping, checked for failure; it is
        // only accessed through `fill` within its length and unmapped once.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let advice = if huge {
            libc::MADV_HUGEPAGE
        } else {
            libc::MADV_NOHUGEPAGE
        };
        // SAFETY: `ptr`/`len` are the mapping just made; advice only.
        unsafe { libc::madvise(ptr, len, advice) };
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Writes every byte; returns MiB/s.
    fn fill(&mut self, byte: u8) -> f64 {
        let t = Instant::now();
        // SAFETY: within the mapping, which this value owns.
        unsafe { std::ptr::write_bytes(self.ptr, byte, self.len) };
        std::hint::black_box(self.ptr);
        (self.len as f64 / (1024.0 * 1024.0)) / t.elapsed().as_secs_f64().max(1e-9)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Measures the rates (about a second of work).
pub fn measure() -> std::io::Result<Rates> {
    let len = SIZE_MIB << 20;
    let mut small = Mapping::new(len, false)?;
    let first_touch_4k = small.fill(1);
    let warm = small.fill(2);
    drop(small);
    let mut huge = Mapping::new(len, true)?;
    let first_touch_thp = huge.fill(1);
    Ok(Rates {
        first_touch_4k,
        first_touch_thp,
        warm,
    })
}
