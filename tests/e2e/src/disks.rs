//! Disks for guest tests: a sparse raw image exported as a volume and given
//! to a domain, and waiting on the lines the guest's diskwork prints (read
//! with the diskwork crate's own parser).

use crate::guest::console_dump;
use crate::host::Host;
pub use diskwork::lines::{
    diskwork_lines, diskwork_starts, last_diskwork, DiskworkLine, DiskworkStart,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// Creates a sparse raw image of `mib` MiB at `path`.
pub fn sparse_image(path: &Path, mib: u64) {
    std::fs::File::create(path)
        .and_then(|f| f.set_len(mib << 20))
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
}

/// `add-vds primary-vds0` (once per host), `add-vdsdev IMAGE VOL@primary-vds0`
/// and `add-vdisk DISK VOL@primary-vds0 DOMAIN`.
#[track_caller]
pub fn give_disk(host: &Host, image: &Path, volume: &str, disk: &str, domain: &str) {
    let vds = host.ldm(&["list-services", "-p"]);
    if !vds.stdout.contains("VDS|name=primary-vds0|") {
        host.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    }
    let vol = format!("{volume}@primary-vds0");
    host.ldm(&["add-vdsdev", &image.display().to_string(), &vol])
        .ok();
    host.ldm(&["add-vdisk", disk, &vol, domain]).ok();
}

/// Polls the console until `pred` holds for the text; returns the text.
#[track_caller]
pub fn wait_console(
    host: &Host,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + timeout;
    loop {
        let text = console_dump(host, name);
        if pred(&text) {
            return text;
        }
        if Instant::now() > end {
            panic!(
                "{name}: {what} not within {timeout:?}; console:\n{}",
                crate::tail_lines(&text, 60)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits for a diskwork status line with `seq >= min_seq`.
#[track_caller]
pub fn wait_for_diskwork(host: &Host, name: &str, min_seq: u64, timeout: Duration) -> DiskworkLine {
    let text = wait_console(
        host,
        name,
        &format!("diskwork seq>={min_seq}"),
        timeout,
        |t| last_diskwork(t).is_some_and(|l| l.seq >= min_seq),
    );
    last_diskwork(&text).expect("checked above")
}
