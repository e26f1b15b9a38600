//! How fast this host writes memory, in one thread: into fresh memory
//! (every page faulted in and cleared by the kernel first, as on a
//! migration target), with 4 KiB pages (as ldm's incoming QEMU has them)
//! and with transparent huge pages, and into memory already touched.
//! Each figure of the benchmark is to be read against these. The
//! mapping is `ldm_qemu::first_touch`'s, which a migration target also
//! uses to report its first-touch rate.

use ldm_qemu::first_touch::Mapping;

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

/// Measures the rates (about a second of work).
pub fn measure() -> std::io::Result<Rates> {
    let len = SIZE_MIB << 20;
    let mut small = Mapping::new(len, false)?;
    let first_touch_4k = small.fill(1);
    let warm = small.fill(2);
    // `small` stays mapped: huge pages made of memory freed a moment ago
    // are warm (see `ldm_qemu::first_touch::best_first_touch_mib_s`).
    let mut huge = Mapping::new(len, true)?;
    let first_touch_thp = huge.fill(1);
    drop((small, huge));
    Ok(Rates {
        first_touch_4k,
        first_touch_thp,
        warm,
    })
}
