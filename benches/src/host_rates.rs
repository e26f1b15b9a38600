//! How fast this host writes memory, in one thread: into fresh memory
//! (every page faulted in and cleared by the kernel first, as on a
//! migration target), with 4 KiB pages (as ldm's incoming QEMU has them)
//! and with transparent huge pages, and into memory already touched.
//! Each figure of the benchmark is to be read against these. The
//! mapping is `ldm_qemu::first_touch`'s, which a migration target also
//! uses to report its first-touch rate.

use std::path::Path;

use ldm_qemu::first_touch::Mapping;

/// Memory written per measurement, MiB.
const SIZE_MIB: usize = 512;

/// The rates, MiB/s.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub first_touch_4k: f64,
    pub first_touch_thp: f64,
    pub warm: f64,
    /// The smallest free block, as a page order, this host hands back to
    /// a hypervisor beneath it (free page reporting), if it does.
    pub reporting_order: Option<u32>,
}

impl std::fmt::Display for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host memory write rate, 1 thread, {SIZE_MIB} MiB: first touch {:.0} MiB/s (4 KiB pages), {:.0} MiB/s (huge pages); warm {:.0} MiB/s",
            self.first_touch_4k, self.first_touch_thp, self.warm
        )?;
        match self.reporting_order {
            Some(order) => {
                let kib = 4u64 << order;
                let size = if kib >= 1024 && kib.is_multiple_of(1024) {
                    format!("{} MiB", kib / 1024)
                } else {
                    format!("{kib} KiB")
                };
                write!(
                    f,
                    "; free blocks of {size} and up go back to the hypervisor beneath (fresh again once handed back)"
                )
            }
            None => write!(f, "; no free page reporting"),
        }
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
        reporting_order: reporting_order(Path::new("/sys")),
    })
}

/// Whether a virtio balloon under `sys` reports free pages (feature bit
/// 5, `VIRTIO_BALLOON_F_REPORTING`) and from which page order.
fn reporting_order(sys: &Path) -> Option<u32> {
    let drivers = sys.join("bus/virtio/drivers/virtio_balloon");
    let reports = std::fs::read_dir(drivers).ok()?.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("features"))
            .is_ok_and(|bits| bits.as_bytes().get(5) == Some(&b'1'))
    });
    if !reports {
        return None;
    }
    let order = sys.join("module/page_reporting/parameters/page_reporting_order");
    std::fs::read_to_string(order).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys_with(features: &str, order: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("bus/virtio/drivers/virtio_balloon/virtio0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("features"), features).unwrap();
        if let Some(order) = order {
            let params = dir.path().join("module/page_reporting/parameters");
            std::fs::create_dir_all(&params).unwrap();
            std::fs::write(params.join("page_reporting_order"), order).unwrap();
        }
        dir
    }

    #[test]
    fn a_reporting_balloon_gives_its_order() {
        let sys = sys_with("0110010100000000\n", Some("9\n"));
        assert_eq!(reporting_order(sys.path()), Some(9));
        let text = Rates {
            first_touch_4k: 900.0,
            first_touch_thp: 500.0,
            warm: 18000.0,
            reporting_order: Some(9),
        }
        .to_string();
        assert!(text.ends_with("free blocks of 2 MiB and up go back to the hypervisor beneath (fresh again once handed back)"), "{text}");
    }

    #[test]
    fn no_balloon_or_no_reporting_bit_means_none() {
        let sys = sys_with("0110000100000000\n", Some("9\n"));
        assert_eq!(reporting_order(sys.path()), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(reporting_order(empty.path()), None);
    }
}
