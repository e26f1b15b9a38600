//! diskwork: writes a disk at a set rate and verifies it (see the library
//! for the layout and the lines). Reads `diskwork=DEVICE,RATE_MIB_S` from
//! the kernel command line (or its first argument), prints a start line,
//! then a status line once a second.

use diskwork::device::Device;
use diskwork::lines::{status, DiskworkLine};
use diskwork::pattern::BLOCK;
use diskwork::work::Disk;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Work is done in slices of this length.
const TICK: Duration = Duration::from_millis(50);
/// The sweep verifies at this rate, MiB/s.
const SWEEP_MIB_S: f64 = 16.0;

fn config() -> Result<diskwork::args::Config, String> {
    if let Some(a) = std::env::args().nth(1) {
        return diskwork::args::parse_value(&a);
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    diskwork::args::parse_cmdline(&cmdline)
        .unwrap_or_else(|| Err("no diskwork= on the kernel command line".into()))
}

/// Blocks afforded by a byte credit that never exceeds one second's worth.
struct Credit {
    per_sec: f64,
    bytes: f64,
}

impl Credit {
    fn accrue(&mut self, dt: Duration) {
        self.bytes = (self.bytes + self.per_sec * dt.as_secs_f64()).min(self.per_sec);
    }
    fn take(&mut self, max: usize) -> usize {
        let n = ((self.bytes / BLOCK as f64) as usize).min(max);
        self.bytes -= (n * BLOCK) as f64;
        n
    }
}

fn main() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("diskwork: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ (u64::from(std::process::id()) << 32);
    let disk = Device::open(&cfg.device, true).and_then(|dev| Disk::open(dev, seed));
    let mut disk = match disk {
        Ok(d) => d,
        Err(e) => {
            eprintln!("diskwork: {}: {e}", cfg.device);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", disk.start_line(&cfg.device, cfg.rate_mib_s));
    let mut rewrite = Credit {
        per_sec: (cfg.rate_mib_s << 20) as f64,
        bytes: 0.0,
    };
    let mut sweep = Credit {
        per_sec: SWEEP_MIB_S * (1 << 20) as f64,
        bytes: 0.0,
    };
    let (mut seq, mut last) = (0u64, Instant::now());
    let mut next_report = last + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        rewrite.accrue(now - last);
        sweep.accrue(now - last);
        last = now;
        let r = disk
            .rewrite(rewrite.take(64))
            .and_then(|_| disk.sweep(sweep.take(64)));
        if let Err(e) = r {
            eprintln!("diskwork: {}: {e}", cfg.device);
            return ExitCode::FAILURE;
        }
        for l in disk.error_lines.drain(..) {
            println!("{l}");
        }
        if Instant::now() >= next_report {
            seq += 1;
            let l = DiskworkLine {
                seq,
                written_mib: (disk.written * BLOCK as u64) >> 20,
                errors: disk.errors,
                status: status(disk.errors).into(),
                sweeps: disk.sweeps,
            };
            println!("{l}");
            next_report += Duration::from_secs(1);
            if next_report <= Instant::now() {
                next_report = Instant::now() + Duration::from_secs(1);
            }
        }
        let wake = (now + TICK).min(next_report);
        if let Some(d) = wake.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
}
