//! ldmd's own cost during one migration: its resident memory, sampled
//! while the move runs (before, peak), and the CPU time it spent, on both
//! hosts. The guest's memory is QEMU's, not ldmd's: a relay that buffers
//! nothing in proportion to the guest keeps ldmd's peak flat from a 1 GiB
//! to a 2 GiB guest.

use std::time::Duration;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ldm_qemu::process::{clock_ticks_per_second, cpu_time_ticks, rss_kib};

/// How often the resident size is read.
const EVERY: Duration = Duration::from_millis(20);

/// One ldmd during one move.
#[derive(Debug, Clone)]
pub struct Usage {
    /// Resident size when the move started, KiB.
    pub rss_before_kib: u64,
    /// The largest resident size seen during the move, KiB.
    pub rss_peak_kib: u64,
    /// User and system CPU time spent during the move, ms.
    pub cpu_ms: u64,
    /// The move's wall time, ms.
    pub wall_ms: u64,
}

impl Usage {
    /// CPU time as a share of one core over the move, percent.
    pub fn cpu_percent(&self) -> f64 {
        if self.wall_ms == 0 {
            return 0.0;
        }
        self.cpu_ms as f64 * 100.0 / self.wall_ms as f64
    }

    pub fn to_json(&self) -> Value {
        json!({
            "rss_before_kib": self.rss_before_kib,
            "rss_peak_kib": self.rss_peak_kib,
            "cpu_ms": self.cpu_ms,
            "wall_ms": self.wall_ms,
            "cpu_percent": self.cpu_percent(),
        })
    }

    /// One phrase for the report.
    pub fn text(&self) -> String {
        format!(
            "RSS {:.1} MiB before, peak {:.1} MiB (+{:.1}); CPU {:.2} s = {:.0}% of a core",
            self.rss_before_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
            self.rss_peak_kib.saturating_sub(self.rss_before_kib) as f64 / 1024.0,
            self.cpu_ms as f64 / 1000.0,
            self.cpu_percent()
        )
    }
}

/// Both ldmds of a move.
#[derive(Debug, Clone)]
pub struct Daemons {
    pub source: Usage,
    pub target: Usage,
}

impl Daemons {
    pub fn to_json(&self) -> Value {
        json!({ "source": self.source.to_json(), "target": self.target.to_json() })
    }
}

/// Samples one process on a thread of its own (the bench's runtime may be
/// blocked by the `ldm` command it waits for) until stopped.
struct Sampler {
    pid: u32,
    before_kib: u64,
    cpu_ticks: u64,
    thread: JoinHandle<u64>,
}

impl Sampler {
    fn start(pid: u32, stop: Arc<AtomicBool>) -> Option<Sampler> {
        let before_kib = rss_kib(pid)?;
        let cpu_ticks = cpu_time_ticks(pid)?;
        let thread = std::thread::spawn(move || peak(pid, before_kib, &stop));
        Some(Sampler {
            pid,
            before_kib,
            cpu_ticks,
            thread,
        })
    }

    fn finish(self, wall: Duration) -> Option<Usage> {
        let peak = self.thread.join().ok()?;
        let ticks = cpu_time_ticks(self.pid)?.saturating_sub(self.cpu_ticks);
        Some(Usage {
            rss_before_kib: self.before_kib,
            rss_peak_kib: peak,
            cpu_ms: ticks * 1000 / clock_ticks_per_second(),
            wall_ms: wall.as_millis() as u64,
        })
    }
}

fn peak(pid: u32, mut most: u64, stop: &AtomicBool) -> u64 {
    while !stop.load(Ordering::Relaxed) {
        match rss_kib(pid) {
            Some(kib) => most = most.max(kib),
            None => return most,
        }
        std::thread::sleep(EVERY);
    }
    most.max(rss_kib(pid).unwrap_or(0))
}

/// Watches the source's and the target's ldmd from now until [`Watch::finish`].
pub struct Watch {
    started: Instant,
    stop: Arc<AtomicBool>,
    source: Option<Sampler>,
    target: Option<Sampler>,
}

impl Watch {
    /// Starts sampling; a pid that cannot be read gives no figure.
    pub fn start(source_pid: Option<u32>, target_pid: Option<u32>) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        Watch {
            started: Instant::now(),
            source: source_pid.and_then(|p| Sampler::start(p, stop.clone())),
            target: target_pid.and_then(|p| Sampler::start(p, stop.clone())),
            stop,
        }
    }

    /// Stops sampling; both figures, or none.
    pub fn finish(self) -> Option<Daemons> {
        let wall = self.started.elapsed();
        self.stop.store(true, Ordering::Relaxed);
        let source = self.source.and_then(|s| s.finish(wall));
        let target = self.target.and_then(|s| s.finish(wall));
        Some(Daemons {
            source: source?,
            target: target?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share() {
        let u = Usage {
            rss_before_kib: 10240,
            rss_peak_kib: 12288,
            cpu_ms: 500,
            wall_ms: 2000,
        };
        assert_eq!(u.cpu_percent(), 25.0);
        assert!(u.text().contains("peak 12.0 MiB (+2.0)"), "{}", u.text());
    }

    #[test]
    fn this_process_is_watched() {
        let me = Some(std::process::id());
        let w = Watch::start(me, me);
        let d = w.finish().expect("both figures");
        assert!(d.source.rss_peak_kib >= d.source.rss_before_kib);
        assert!(d.source.rss_before_kib > 0);
    }
}
