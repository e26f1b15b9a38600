//! A small network lab on this machine: hosts in network namespaces on one
//! wire, each running its own ldmd, and a client namespace.
//!
//! ```text
//!   ns PREFIX-h0 (10.77.0.11)   ns PREFIX-h1 (10.77.0.12)   ns PREFIX-client (10.77.0.2)
//!     eth0      uplink0           eth0      uplink0            eth0
//!      │ veth    │ veth            │ veth    │ veth             │ veth
//!     h0        u0 ────────┬───── h1        u1 ──────┬───────── c
//!      └──────────────────┴─ br0 (ns PREFIX-wire) ───┘
//! ```
//!
//! Each host also has `uplink0` ([`UPLINK`]), a second port on the wire
//! without an address: what a virtual switch takes as its `net-dev`, so a
//! guest's tap, bridged to it, reaches the wire and the client. Guests use
//! addresses from [`guest_addr`]. [`Lab::tap_on_wire`] makes such a
//! bridge and tap by hand, for tests that run QEMU directly
//! ([`Lab::launch_qemu`]); [`probe`] measures from the client what a guest
//! answers.
//!
//! Each host is a [`Host`] whose ldmd (and every `ldm` aimed at it) runs
//! under `ip netns exec`, listening for peers on its lab address, port
//! 8101; its consoles are on 127.0.0.1 of its own namespace
//! ([`Host::console_client`] connects there). All addresses exist only
//! inside the lab's namespaces. Faults: [`Lab::cut`] detaches a host's port
//! from the bridge (packets vanish, no side sees a link change),
//! [`Lab::slow`] shapes it with `tc tbf`, [`Lab::freeze`] stops its ldmd
//! (SIGSTOP), [`Lab::kill_ldmd`] and [`Lab::kill_qemus`] kill with SIGKILL.
//! Hold points of ldmd (`LDMD_TEST_HOLD`) are set with [`LabOpts::hold`].
//!
//! Dropping the lab kills its daemons and QEMUs and deletes its
//! namespaces; [`Lab::start`] first sweeps namespaces left by test
//! processes that died (see [`crate::netns`]). Needs root.

mod faults;
mod holds;
mod net;
pub mod probe;

pub use faults::SLOW_KBIT;
pub use net::{guest_addr, guest_mac, launch_in, LAB_BRIDGE, UPLINK};

use crate::host::{Host, HostOpts};
use crate::netns::{self, ip_ok};
use crate::output::Output;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use tempfile::TempDir;

/// The peer port every lab host listens on (ldm's default).
pub const PEER_PORT: u16 = 8101;
/// The client namespace's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The password of the `admin` account on every lab host.
pub const PASSWORD: &str = "lab-s3cret";

/// The lab address of host `i`.
pub fn host_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 11 + i as u8)
}

/// What a lab looks like.
#[derive(Debug, Clone)]
pub struct LabOpts {
    /// How many hosts.
    pub hosts: usize,
    /// `LDMD_TEST_DEADLINE_SECS` for every ldmd: caps every migration
    /// deadline, so faults "longer than any deadline" take seconds.
    pub deadline_secs: Option<u64>,
    /// Hold points per host (`LDMD_TEST_HOLD`).
    pub holds: Vec<(usize, String)>,
    /// Extra environment per host.
    pub env: Vec<(usize, String, String)>,
}

impl LabOpts {
    /// `n` hosts, nothing else.
    pub fn hosts(n: usize) -> LabOpts {
        LabOpts {
            hosts: n,
            deadline_secs: None,
            holds: Vec::new(),
            env: Vec::new(),
        }
    }
    /// Caps every migration deadline of every ldmd at `secs`.
    pub fn deadline_secs(mut self, secs: u64) -> Self {
        self.deadline_secs = Some(secs);
        self
    }
    /// Host `i`'s ldmd holds at `point` until the test releases it.
    pub fn hold(mut self, i: usize, point: &str) -> Self {
        self.holds.push((i, point.into()));
        self
    }
    /// An environment variable for host `i`'s ldmd.
    pub fn env(mut self, i: usize, key: &str, value: &str) -> Self {
        self.env.push((i, key.into(), value.into()));
        self
    }
}

/// A running lab; see the module's documentation.
pub struct Lab {
    prefix: String,
    dir: TempDir,
    hosts: Vec<Host>,
    namespaces: Vec<String>,
}

impl Lab {
    /// Builds the wire, the client and the hosts, starts each ldmd and
    /// gives every host an `admin` account ([`PASSWORD`]) and trust in
    /// every other host's certificate.
    #[track_caller]
    pub fn start(opts: LabOpts) -> Lab {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(euid, 0, "the lab needs root (network namespaces)");
        netns::sweep_stale();
        let mut lab = Lab {
            prefix: netns::unique_prefix(),
            dir: tempfile::Builder::new()
                .prefix("ldm-lab-")
                .tempdir()
                .expect("create the lab directory"),
            hosts: Vec::new(),
            namespaces: Vec::new(),
        };
        lab.build_wire();
        lab.plug(&lab.client_ns(), "c", CLIENT_ADDR);
        for i in 0..opts.hosts {
            lab.plug(&lab.host_ns(i), &port(i), host_addr(i));
            lab.plug_uplink(i);
            let host = Host::start(lab.host_opts(&opts, i));
            lab.hosts.push(host);
        }
        lab.add_accounts();
        lab
    }

    fn wire_ns(&self) -> String {
        format!("{}-wire", self.prefix)
    }

    /// The client's namespace.
    pub fn client_ns(&self) -> String {
        format!("{}-client", self.prefix)
    }

    /// Host `i`'s namespace.
    pub fn host_ns(&self, i: usize) -> String {
        format!("{}-h{i}", self.prefix)
    }

    /// Creates a namespace, remembered for the teardown before it exists.
    fn add_ns(&mut self, ns: &str) {
        self.namespaces.push(ns.to_string());
        netns::add(ns);
    }

    fn build_wire(&mut self) {
        let wire = self.wire_ns();
        self.add_ns(&wire);
        ip_ok(&["-n", &wire, "link", "add", "br0", "type", "bridge"]);
        ip_ok(&["-n", &wire, "link", "set", "br0", "up"]);
    }

    /// Creates namespace `ns` joined to the wire by a veth pair: `eth0`
    /// with `addr` inside, `wire_port` on the bridge.
    fn plug(&mut self, ns: &str, wire_port: &str, addr: Ipv4Addr) {
        let wire = self.wire_ns();
        self.add_ns(ns);
        ip_ok(&[
            "-n", &wire, "link", "add", wire_port, "type", "veth", "peer", "name", "eth0", "netns",
            ns,
        ]);
        ip_ok(&["-n", &wire, "link", "set", wire_port, "master", "br0", "up"]);
        ip_ok(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ]);
        ip_ok(&["-n", ns, "link", "set", "eth0", "up"]);
    }

    fn hold_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("holds-h{i}"))
    }

    fn host_opts(&self, opts: &LabOpts, i: usize) -> HostOpts {
        let mut o = HostOpts::default()
            .netns(&self.host_ns(i))
            .listen(&format!("{}:{PEER_PORT}", host_addr(i)))
            .hostname(&format!("host{}", (b'A' + i as u8) as char));
        if let Some(s) = opts.deadline_secs {
            o = o.env("LDMD_TEST_DEADLINE_SECS", &s.to_string());
        }
        let points: Vec<&str> = opts
            .holds
            .iter()
            .filter(|(h, _)| *h == i)
            .map(|(_, p)| p.as_str())
            .collect();
        if !points.is_empty() {
            let d = self.hold_dir(i);
            std::fs::create_dir_all(&d).expect("create the hold directory");
            o = o
                .env("LDMD_TEST_HOLD", &points.join(","))
                .env("LDMD_TEST_HOLD_DIR", d.to_str().expect("UTF-8 path"));
        }
        for (_, k, v) in opts.env.iter().filter(|(h, _, _)| *h == i) {
            o = o.env(k, v);
        }
        o
    }

    #[track_caller]
    fn add_accounts(&self) {
        let pw = self.password_file();
        std::fs::write(&pw, format!("{PASSWORD}\n")).expect("write the password file");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the password file");
        for (i, h) in self.hosts.iter().enumerate() {
            h.ldm(&["add-user", "-p", pw.to_str().unwrap(), "admin"])
                .ok();
            for j in (0..self.hosts.len()).filter(|&j| j != i) {
                h.ldm(&["add-trust", &format!("{}:{PEER_PORT}", host_addr(j))])
                    .ok();
            }
        }
    }

    /// The file holding [`PASSWORD`] (mode 0600), for `migrate-domain -p`.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("password")
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// Host `i`, to restart or kill its ldmd.
    pub fn host_mut(&mut self, i: usize) -> &mut Host {
        &mut self.hosts[i]
    }

    /// `admin@ADDR` of host `i`, as `migrate-domain` takes it.
    pub fn target(&self, i: usize) -> String {
        format!("admin@{}", host_addr(i))
    }

    /// `ldm migrate-domain -p PASSWORD [EXTRA] NAME admin@HOST-TO` on host
    /// `from`.
    #[track_caller]
    pub fn migrate(&self, from: usize, to: usize, name: &str, extra: &[&str]) -> Output {
        let mut c = self.migrate_command(from, to, name, extra);
        c.stdin(Stdio::null());
        crate::output::run(c, None, crate::host::LDM_TIMEOUT)
    }

    /// The same, started in the background (stdout and stderr piped; finish
    /// it with [`crate::output::finish`]).
    #[track_caller]
    pub fn spawn_migrate(&self, from: usize, to: usize, name: &str, extra: &[&str]) -> Child {
        self.migrate_command(from, to, name, extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ldm migrate-domain")
    }

    fn migrate_command(
        &self,
        from: usize,
        to: usize,
        name: &str,
        extra: &[&str],
    ) -> std::process::Command {
        let mut c = self.hosts[from].ldm_command();
        c.args(["migrate-domain", "-p"])
            .arg(self.password_file())
            .args(extra)
            .args([name, &self.target(to)]);
        c
    }

    /// Runs `f` on a thread inside the client's namespace.
    pub fn in_client<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        netns::enter(&self.client_ns(), f)
    }
}

/// The bridge port of host `i` in the wire namespace.
fn port(i: usize) -> String {
    format!("h{i}")
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The hosts first (ldmd and its QEMUs, with their logs on a
        // panic), then the namespaces with whatever still runs in them.
        self.hosts.clear();
        for ns in self.namespaces.iter().rev() {
            netns::delete(ns);
        }
    }
}
