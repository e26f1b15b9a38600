//! A fleet for `ldm evacuate` tests: one host with six bound domains
//! (five small, one bigger than any target) and three targets of
//! different sizes, each with an `admin` account and trusted by the
//! source.

use super::{Host, Size, PASSWORD};
use ldm::evacuate::{parse_targets, Options};
use ldm_api::migration::Auth;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Request};
use std::collections::BTreeMap;

/// The small domains.
pub const SMALL: [&str; 5] = ["d1", "d2", "d3", "d4", "d5"];

/// The source and its targets.
pub struct Fleet {
    /// The host to empty.
    pub src: Host,
    /// Targets with room for 2, 3 and 1 small domain(s).
    pub targets: Vec<Host>,
}

/// Starts the fleet.
pub async fn fleet() -> Fleet {
    let src = Host::start_sized(
        "src",
        Size {
            vcpus: 16,
            memory_mib: 16384,
        },
    )
    .await;
    let mut targets = Vec::new();
    for (name, mib) in [("t1", 2048), ("t2", 3072), ("t3", 1024)] {
        let t = Host::start_sized(
            name,
            Size {
                vcpus: 4,
                memory_mib: mib,
            },
        )
        .await;
        t.add_user("admin", UserRole::Management).await;
        src.ok(Request::AddTrust {
            host: t.peer_addr.ip().to_string(),
            port: t.peer_addr.port(),
            fingerprint: Some(t.fingerprint().await),
            source: false,
        })
        .await;
        targets.push(t);
    }
    for d in SMALL {
        src.add_domain(d, 1, 1024, true).await;
    }
    // Bigger than any target's memory: fits nowhere.
    src.add_domain("huge", 2, 6144, true).await;
    Fleet { src, targets }
}

impl Fleet {
    /// `--targets` for all three.
    pub fn targets_arg(&self) -> String {
        let t: Vec<String> = self
            .targets
            .iter()
            .map(|t| t.peer_addr.to_string())
            .collect();
        t.join(",")
    }

    /// What `evacuate` is asked, as the library takes it.
    pub fn options(&self, max_parallel: usize) -> Options {
        Options {
            targets: parse_targets(&self.targets_arg()).unwrap(),
            user: "admin".into(),
            auth: Auth::Password(PASSWORD.into()),
            max_parallel,
        }
    }

    /// Runs `ldm evacuate ARGS --targets … -p FILE admin@` against the
    /// source, as a user would; returns its exit code.
    pub async fn ldm(&self, args: &[&str]) -> i32 {
        let pw = self.src.root().join("pw");
        std::fs::write(&pw, PASSWORD).unwrap();
        std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let mut argv: Vec<String> = vec!["ldm".into(), "--root".into()];
        argv.push(self.src.root().display().to_string());
        argv.push("evacuate".into());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--targets".into(), self.targets_arg(), "-p".into()]);
        argv.push(pw.display().to_string());
        argv.push("admin@".into());
        tokio::task::spawn_blocking(move || ldm::main_with_args(argv.into_iter().map(Into::into)))
            .await
            .unwrap()
    }

    /// Every host's domains with their states: the source first.
    pub async fn where_all(&self) -> Vec<BTreeMap<String, DomainState>> {
        let mut out = vec![self.src.list().await];
        for t in &self.targets {
            out.push(t.list().await);
        }
        out.into_iter()
            .map(|l| {
                l.into_iter()
                    .filter(|d| d.name != "primary")
                    .map(|d| (d.name, d.state))
                    .collect()
            })
            .collect()
    }
}
