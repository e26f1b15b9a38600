//! Background sampling of each running domain's CPU use (the UTIL column).

use crate::daemon::Daemon;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sampling period.
pub const PERIOD: Duration = Duration::from_secs(2);

/// Samples forever; spawn it and abort it on shutdown.
pub async fn run(d: Arc<Daemon>) {
    let hz = ldm_qemu::process::clock_ticks_per_second() as f64;
    loop {
        tokio::time::sleep(PERIOD).await;
        let mut t = d.table();
        for dom in t.values_mut() {
            let vcpus = dom.rec.spec.vcpus.max(1) as f64;
            let Some(rt) = dom.rt.as_mut() else { continue };
            if dom.claim.is_none() && !ldm_qemu::pid_alive(rt.pid) {
                // QEMU died under us (crash, kill): the domain is bound again.
                tracing::warn!(domain = %dom.rec.spec.name, pid = rt.pid, "QEMU exited: domain is bound");
                let died = ldm_api::state::Transition::Died;
                if let Err(e) = crate::lifecycle::transition(&d.db, dom, died, |_| {}) {
                    tracing::error!(domain = %dom.rec.spec.name, "cannot record the domain as bound: {e}");
                }
                continue;
            }
            let Some(ticks) = ldm_qemu::cpu_time_ticks(rt.pid) else {
                continue;
            };
            let now = Instant::now();
            if let Some((then, prev)) = rt.last_sample {
                let secs = now.duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    let used = ticks.saturating_sub(prev) as f64 / hz;
                    rt.util = (used / secs / vcpus * 100.0).clamp(0.0, 100.0);
                }
            }
            rt.last_sample = Some((now, ticks));
        }
    }
}
