//! The faults a lab injects: a link cut or slowed, an ldmd frozen or
//! killed, a QEMU killed.

use super::{port, Lab};
use crate::netns::{self, ip_ok};
use crate::procs::{signal, wait_gone};
use std::time::Duration;

/// The shaping of a slowed link: `tc tbf` at this many kbit/s each way.
pub const SLOW_KBIT: u32 = 8_000;

impl Lab {
    /// Cuts host `i` off the wire: its port leaves the bridge, so packets
    /// to and from it vanish while both ends keep their link up.
    #[track_caller]
    pub fn cut(&self, i: usize) {
        ip_ok(&["-n", &self.wire_ns(), "link", "set", &port(i), "nomaster"]);
    }

    /// Plugs host `i` back into the wire.
    #[track_caller]
    pub fn restore(&self, i: usize) {
        ip_ok(&[
            "-n",
            &self.wire_ns(),
            "link",
            "set",
            &port(i),
            "master",
            "br0",
        ]);
    }

    /// Slows host `i`'s link to `kbit` kbit/s each way (`tc tbf`; this
    /// kernel has no netem).
    #[track_caller]
    pub fn slow(&self, i: usize, kbit: u32) {
        let rate = format!("{kbit}kbit");
        for (ns, dev) in self.link_ends(i) {
            let args = [
                "qdisc", "replace", "dev", &dev, "root", "tbf", "rate", &rate, "burst", "32kb",
                "latency", "500ms",
            ];
            if let Err(e) = netns::tc(&ns, &args) {
                panic!("cannot slow {dev} in {ns}: {e}");
            }
        }
    }

    /// Removes the shaping of host `i`'s link.
    #[track_caller]
    pub fn unslow(&self, i: usize) {
        for (ns, dev) in self.link_ends(i) {
            if let Err(e) = netns::tc(&ns, &["qdisc", "del", "dev", &dev, "root"]) {
                panic!("cannot unslow {dev} in {ns}: {e}");
            }
        }
    }

    /// What `tc qdisc show` says about host `i`'s end of its link.
    pub fn qdisc(&self, i: usize) -> String {
        netns::ip_output(&[
            "netns",
            "exec",
            &self.host_ns(i),
            "tc",
            "qdisc",
            "show",
            "dev",
            "eth0",
        ])
    }

    /// Both ends of host `i`'s link: (namespace, device).
    fn link_ends(&self, i: usize) -> [(String, String); 2] {
        [
            (self.host_ns(i), "eth0".to_string()),
            (self.wire_ns(), port(i)),
        ]
    }

    /// The pid of host `i`'s ldmd; panics if it does not run.
    #[track_caller]
    pub fn ldmd_pid(&mut self, i: usize) -> u32 {
        self.hosts[i]
            .daemon_pid()
            .unwrap_or_else(|| panic!("host {i}'s ldmd does not run"))
    }

    /// Freezes host `i`'s ldmd (SIGSTOP).
    #[track_caller]
    pub fn freeze(&mut self, i: usize) {
        let pid = self.ldmd_pid(i);
        assert!(signal(pid, libc::SIGSTOP), "cannot stop ldmd {pid}");
    }

    /// Thaws host `i`'s ldmd (SIGCONT).
    #[track_caller]
    pub fn thaw(&mut self, i: usize) {
        let pid = self.ldmd_pid(i);
        assert!(signal(pid, libc::SIGCONT), "cannot continue ldmd {pid}");
    }

    /// Kills host `i`'s ldmd with SIGKILL (its domains keep running).
    pub fn kill_ldmd(&mut self, i: usize) {
        self.hosts[i].kill9();
    }

    /// Starts host `i`'s ldmd again (same root, options and environment).
    #[track_caller]
    pub fn start_ldmd(&mut self, i: usize) {
        self.hosts[i].start_daemon();
    }

    /// Kills every QEMU of host `i` with SIGKILL, found through its pid
    /// files (so it works while ldmd is frozen or dead); returns their pids.
    pub fn kill_qemus(&self, i: usize) -> Vec<u32> {
        let pids = self.hosts[i].qemu_pids();
        for &p in &pids {
            signal(p, libc::SIGKILL);
        }
        for &p in &pids {
            wait_gone(p, Duration::from_secs(10));
        }
        pids
    }
}
