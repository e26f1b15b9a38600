//! A network namespace of the test's own, for daemons that make bridges
//! and taps: created with `ip netns add`, deleted (with every link in it)
//! when dropped, also when the test fails.

use ldmd::net::links::Link;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A namespace `ldmd-test-PID-N`.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// Creates a fresh namespace.
    pub fn new() -> Netns {
        let name = format!(
            "ldmd-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let n = Netns { name };
        n.ip(&["netns", "add", &n.name]);
        n
    }

    /// Its file, for `Config::netns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("ip runs");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `ip -n NS ARGS…`.
    pub fn run(&self, args: &[&str]) {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        self.ip(&a);
    }

    /// The namespace's links, as the kernel reports them.
    pub async fn links(&self) -> Vec<Link> {
        let net = ldmd::net::Net::start(
            ldmd::net::names::Owner("observer".into()),
            Some(self.path()),
        );
        net.links().await.expect("links of the test namespace")
    }

    /// One link by name.
    pub async fn link(&self, name: &str) -> Option<Link> {
        self.links().await.into_iter().find(|l| l.name == name)
    }

    /// The names of the links any ldmd made (`ldmb-…`, `ldmt-…`).
    pub async fn ldm_links(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .links()
            .await
            .into_iter()
            .map(|l| l.name)
            .filter(|n| ldmd::net::names::is_ldm_name(n))
            .collect();
        v.sort();
        v
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
