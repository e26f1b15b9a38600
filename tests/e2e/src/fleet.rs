//! A fleet for `ldm evacuate`: a source host and targets on 127.0.0.1,
//! 127.0.0.2, …, each target with an `admin` account that the source
//! trusts; and readers of what `ldm evacuate` prints (the plan, the final
//! table).

use crate::host::{Host, HostOpts};
use crate::output::Output;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The password of `admin` on every target.
pub const PASSWORD: &str = "fleet-s3cret";

/// The source (127.0.0.1) and its targets (127.0.0.2, …).
pub struct Fleet {
    /// The host to empty.
    pub src: Host,
    /// The targets, in the order of `--targets`.
    pub targets: Vec<Host>,
    pw: PathBuf,
}

impl Fleet {
    /// Starts the source with `src` and one target per entry of `targets`,
    /// each listening on its own loopback address.
    #[track_caller]
    pub fn start(src: HostOpts, targets: Vec<HostOpts>) -> Fleet {
        let src = Host::start(src.listen("127.0.0.1").hostname("hostA"));
        let pw = src.root().join("pw");
        std::fs::write(&pw, format!("{PASSWORD}\n")).expect("write the password file");
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the password file");
        let targets: Vec<Host> = targets
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let t = Host::start(
                    o.listen(&format!("127.0.0.{}", i + 2))
                        .hostname(&format!("host{}", (b'B' + i as u8) as char)),
                );
                t.ldm(&["add-user", "-p", pw.to_str().unwrap(), "admin"])
                    .ok();
                src.ldm(&["add-trust", t.listen_addr().unwrap()]).ok();
                t
            })
            .collect();
        Fleet { src, targets, pw }
    }

    /// `--targets` naming every target.
    pub fn targets_arg(&self) -> String {
        let t: Vec<&str> = self
            .targets
            .iter()
            .map(|t| t.listen_addr().unwrap())
            .collect();
        t.join(",")
    }

    /// `ldm evacuate -p PWFILE --targets … EXTRA admin@` on the source.
    pub fn evacuate_command(&self, extra: &[&str]) -> Command {
        let mut c = self.src.ldm_command();
        c.args(["evacuate", "-p"])
            .arg(&self.pw)
            .args(["--targets", &self.targets_arg()])
            .args(extra)
            .arg("admin@")
            .stdin(Stdio::null());
        c
    }

    /// Runs `ldm evacuate … EXTRA` to its end.
    #[track_caller]
    pub fn evacuate(&self, extra: &[&str]) -> Output {
        crate::output::run(
            self.evacuate_command(extra),
            None,
            std::time::Duration::from_secs(600),
        )
    }

    /// Starts `ldm evacuate … EXTRA` in the background, output piped
    /// (finish it with [`crate::output::finish`]).
    #[track_caller]
    pub fn spawn_evacuate(&self, extra: &[&str]) -> Child {
        self.evacuate_command(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ldm evacuate")
    }

    /// The target holding domain `name`, if one does.
    #[track_caller]
    pub fn holder(&self, name: &str) -> Option<usize> {
        self.targets
            .iter()
            .position(|t| crate::listing::domains(t).contains_key(name))
    }

    /// The index of the target whose `--targets` entry is `addr`.
    pub fn target_index(&self, addr: &str) -> Option<usize> {
        self.targets
            .iter()
            .position(|t| t.listen_addr() == Some(addr))
    }
}

/// One line of the plan `ldm evacuate` prints (DOMAIN VCPU MEMORY TARGET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// Domain.
    pub name: String,
    /// `HOST:PORT`, or `None` for a domain that fits nowhere.
    pub target: Option<String>,
}

/// The plan's rows: the lines after its header whose MEMORY is `…MiB`.
pub fn parse_plan(stdout: &str) -> Vec<PlanRow> {
    let mut lines = stdout
        .lines()
        .skip_while(|l| !(l.starts_with("DOMAIN") && l.trim_end().ends_with("TARGET")));
    lines.next();
    lines
        .take_while(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() >= 4 && f[2].ends_with("MiB")
        })
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            PlanRow {
                name: f[0].into(),
                target: (!l.contains("(fits nowhere")).then(|| f[3].to_string()),
            }
        })
        .collect()
}

/// One row of the final table (DOMAIN TARGET OUTCOME TIME DOWNTIME).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// Domain.
    pub name: String,
    /// `HOST:PORT` or `-`.
    pub target: String,
    /// moved, failed, cancelled or not-started.
    pub outcome: String,
    /// Seconds, e.g. `2.1s`, or `-`.
    pub time: String,
    /// Milliseconds, e.g. `35ms`, or `-`.
    pub downtime: String,
}

/// The final table's rows.
pub fn parse_table(stdout: &str) -> Vec<TableRow> {
    let mut lines = stdout
        .lines()
        .skip_while(|l| !(l.starts_with("DOMAIN") && l.contains("OUTCOME")));
    lines.next();
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .take_while(|f| f.len() == 5)
        .map(|f| TableRow {
            name: f[0].into(),
            target: f[1].into(),
            outcome: f[2].into(),
            time: f[3].into(),
            downtime: f[4].into(),
        })
        .collect()
}
