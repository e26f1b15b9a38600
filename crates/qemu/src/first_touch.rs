//! How fast this host writes into fresh memory: every page faulted in
//! and cleared by the kernel before the write lands, as on a migration
//! target, whose incoming QEMU receives the guest's RAM into memory it
//! never touched. Measured in one thread over an anonymous mapping, with
//! 4 KiB pages (as ldm's incoming TCG QEMU has them) or with transparent
//! huge pages, and, once written, warm.

use std::time::Instant;

/// A fresh anonymous mapping of `len` bytes.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes, advised to use transparent huge pages or not.
    pub fn new(len: usize, huge: bool) -> std::io::Result<Mapping> {
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
    pub fn fill(&mut self, byte: u8) -> f64 {
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

/// The best of `tries` first-touch measurements of `mib` MiB each,
/// MiB/s: another process that takes the CPU during one slice makes it
/// read low (never high), so the fastest slice is the nearest to what
/// the host can do.
///
/// Every slice stays mapped until the last is measured. Memory just
/// freed is warm: a host that is itself a virtual machine hands free
/// 2 MiB blocks back to its hypervisor only a couple of seconds after
/// they were freed (free page reporting), so a slice that reused the
/// one before read 8–10 GiB/s where fresh huge pages cost 450–900
/// (docs/benchmarks.md).
pub fn best_first_touch_mib_s(mib: usize, tries: usize, huge: bool) -> std::io::Result<f64> {
    Ok(slices(mib, tries, huge)?
        .iter()
        .map(|(_, rate)| *rate)
        .fold(0.0, f64::max))
}

/// `tries` fresh mappings of `mib` MiB, each written once while the
/// ones before it are still mapped, with the rate of that write.
fn slices(mib: usize, tries: usize, huge: bool) -> std::io::Result<Vec<(Mapping, f64)>> {
    let mut held = Vec::with_capacity(tries.max(1));
    for _ in 0..tries.max(1) {
        let mut m = Mapping::new(mib << 20, huge)?;
        let rate = m.fill(1);
        held.push((m, rate));
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_mapping_is_written_and_measured() {
        let mut m = Mapping::new(1 << 20, false).unwrap();
        assert!(m.fill(1) > 0.0);
        assert!(m.fill(2) > 0.0);
        // SAFETY: the mapping is 1 MiB long and owned by `m`.
        let last = unsafe { *m.ptr.add((1 << 20) - 1) };
        assert_eq!(last, 2);
        assert!(best_first_touch_mib_s(1, 3, false).unwrap() > 0.0);
    }

    #[test]
    fn no_slice_reuses_the_memory_of_the_one_before() {
        // mmap hands a freed range straight back; held slices cannot share it.
        let held = slices(1, 3, true).unwrap();
        let mut ranges: Vec<(usize, usize)> = held
            .iter()
            .map(|(m, _)| (m.ptr as usize, m.ptr as usize + m.len))
            .collect();
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "slices overlap: {ranges:x?}");
        }
        assert!(held.iter().all(|(_, rate)| *rate > 0.0));
    }
}
