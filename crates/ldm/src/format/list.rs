//! `ldm list`: the table, `-l`, `-p`, `-o FORMAT`.

use ldm_api::migration::Role;
use ldm_api::uptime::format_uptime;
use ldm_api::{format_mib, DomainView};
use std::fmt::Write;

/// Version printed on the first line of parseable output.
pub const PARSEABLE_VERSION: &str = "VERSION 1.6";

const HEADER: &str =
    "NAME             STATE      FLAGS   CONS    VCPU  MEMORY    UTIL   NORM  UPTIME";

fn util(v: &DomainView) -> String {
    v.util.map(|u| format!("{u:.1}%")).unwrap_or_default()
}

fn norm(v: &DomainView) -> String {
    v.norm.map(|u| format!("{u:.1}%")).unwrap_or_default()
}

fn uptime(v: &DomainView) -> String {
    v.uptime_secs.map(format_uptime).unwrap_or_default()
}

fn row(v: &DomainView) -> String {
    format!(
        "{:<16} {:<10} {:<7} {:<7} {:<5} {:<8} {:>6} {:>6} {}",
        v.name,
        v.state.as_str(),
        v.flags.short(),
        v.cons.clone().unwrap_or_default(),
        v.vcpus,
        format_mib(v.memory_mib),
        util(v),
        norm(v),
        uptime(v)
    )
    .trim_end()
    .to_string()
}

/// The plain table.
pub fn table(views: &[DomainView]) -> String {
    let mut s = String::from(HEADER);
    s.push('\n');
    for v in views {
        s.push_str(&row(v));
        s.push('\n');
    }
    s
}

fn parseable_line(v: &DomainView, long: bool) -> String {
    format!(
        "DOMAIN|name={}|state={}|flags={}|cons={}|ncpu={}|mem={}|util={}|uptime={}|norm_util={}",
        v.name,
        v.state.as_str(),
        if long {
            v.flags.long()
        } else {
            v.flags.short()
        },
        v.cons.clone().unwrap_or_default(),
        v.vcpus,
        v.memory_mib * 1024 * 1024,
        v.util.map(|u| format!("{u:.1}")).unwrap_or_default(),
        v.uptime_secs.map(|u| u.to_string()).unwrap_or_default(),
        v.norm.map(|u| format!("{u:.1}")).unwrap_or_default()
    )
}

fn status_section(v: &DomainView, out: &mut String, parseable: bool) {
    if let Some(op) = &v.operation {
        let (col, _) = match op.role {
            Role::Source => ("TARGET", "target"),
            Role::Target => ("SOURCE", "source"),
        };
        if parseable {
            let _ = writeln!(
                out,
                "STATUS|op={}|progress={}|phase={}|{}={}",
                op.kind,
                op.progress,
                op.phase,
                col.to_lowercase(),
                op.peer
            );
        } else {
            let _ = writeln!(out, "STATUS");
            let _ = writeln!(out, "    OPERATION    PROGRESS    PHASE       {col}");
            let _ = writeln!(
                out,
                "    {:<12} {:<11} {:<11} {}",
                op.kind,
                format!("{}%", op.progress),
                op.phase.as_str(),
                op.peer
            );
        }
    } else if let Some(note) = &v.note {
        if parseable {
            let _ = writeln!(out, "STATUS|op=migration|status=error|note={note}");
        } else {
            let _ = writeln!(out, "STATUS");
            let _ = writeln!(out, "    OPERATION    STATUS");
            let _ = writeln!(out, "    migration    error");
        }
    }
    // With no operation, Oracle prints no STATUS section at all: scripts
    // poll `ldm list -o status NAME` until `STATUS` is gone.
}

/// The changes waiting for the domain's next start, if any.
fn reconf_section(v: &DomainView, out: &mut String, parseable: bool) {
    if v.pending.is_empty() {
        return;
    }
    if parseable {
        let _ = writeln!(out, "DELAYED-RECONF|{}", v.pending.join("|"));
    } else {
        let _ = writeln!(out, "DELAYED RECONFIGURATION (applied at the next start)");
        for p in &v.pending {
            let _ = writeln!(out, "    {p}");
        }
        out.push('\n');
    }
}

fn note_section(v: &DomainView, out: &mut String) {
    if let Some(note) = &v.note {
        let _ = writeln!(out, "\nATTENTION");
        for line in note.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
}

fn section(v: &DomainView, which: &str, out: &mut String, parseable: bool) -> Result<(), String> {
    match which {
        "status" => status_section(v, out, parseable),
        "console" => {
            let c = v.cons.clone().unwrap_or_default();
            if parseable {
                let _ = writeln!(out, "VCONS|port={c}");
            } else {
                let _ = writeln!(out, "VCONS\n    PORT\n    {c}");
            }
        }
        "cpu" => {
            if parseable {
                let _ = writeln!(out, "VCPU|count={}|util={}", v.vcpus, util(v));
            } else {
                let _ = writeln!(out, "VCPU\n    COUNT  UTIL\n    {:<6} {}", v.vcpus, util(v));
            }
        }
        "memory" => {
            if parseable {
                let _ = writeln!(out, "MEMORY|size={}", v.memory_mib * 1024 * 1024);
            } else {
                let _ = writeln!(out, "MEMORY\n    SIZE\n    {}", format_mib(v.memory_mib));
            }
        }
        "variables" => {
            if parseable {
                for (k, val) in v.vars.pairs() {
                    let _ = writeln!(out, "VARIABLES|{k}={val}");
                }
            } else {
                let _ = writeln!(out, "VARIABLES");
                for (k, val) in v.vars.pairs() {
                    let _ = writeln!(out, "    {k}={val}");
                }
            }
        }
        "uuid" => {
            if parseable {
                let _ = writeln!(out, "UUID|uuid={}", v.uuid);
            } else {
                let _ = writeln!(out, "UUID\n    {}", v.uuid);
            }
        }
        "domain" => {
            if parseable {
                let _ = writeln!(out, "{}", parseable_line(v, true));
            } else {
                let _ = writeln!(out, "{}\n{}", HEADER, row(v));
            }
        }
        "control" => {
            if parseable {
                let _ = write!(out, "CONTROL|cpu-arch={}", v.cpu_arch);
                if let Some(m) = &v.machine {
                    let _ = write!(out, "|machine={}|cpu={}|accel={}", m.machine_type, m.cpu_model, m.accel);
                }
                if let Some(m) = v.max_vcpus {
                    let _ = write!(out, "|max-vcpus={m}");
                }
                if let Some(m) = v.max_memory_mib {
                    let _ = write!(out, "|max-memory={}", ldm_api::format_mib(m));
                }
                let _ = writeln!(out);
            } else {
                let _ = writeln!(out, "CONTROL\n    cpu-arch={}", v.cpu_arch);
                if let Some(m) = &v.machine {
                    let _ = writeln!(
                        out,
                        "    machine={} cpu={} accel={}{}",
                        m.machine_type,
                        m.cpu_model,
                        m.accel,
                        m.pid.map(|p| format!(" pid={p}")).unwrap_or_default()
                    );
                }
                if let Some(m) = v.max_vcpus {
                    let _ = writeln!(out, "    max-vcpus={m}");
                }
                if let Some(m) = v.max_memory_mib {
                    let _ = writeln!(out, "    max-memory={}", ldm_api::format_mib(m));
                }
            }
        }
        "disk" => super::storage::disk_section(&v.disks, out, parseable),
        "network" => super::network::network_section(&v.networks, out, parseable),
        other => {
            return Err(format!(
                "'{other}' is not a format: use status, console, cpu, memory, variables, uuid, control, disk, network or domain"
            ))
        }
    }
    Ok(())
}

/// `-o FORMAT[,FORMAT…]`
pub fn sections(views: &[DomainView], formats: &str, parseable: bool) -> Result<String, String> {
    let mut out = String::new();
    if parseable {
        let _ = writeln!(out, "{PARSEABLE_VERSION}");
    }
    for (i, v) in views.iter().enumerate() {
        if parseable {
            let _ = writeln!(out, "DOMAIN|name={}", v.name);
        } else {
            if i > 0 {
                let _ = writeln!(out, "------------------------------------------------------------------------------");
            }
            let _ = writeln!(out, "NAME\n{}\n", v.name);
        }
        for f in formats.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let before = out.len();
            section(v, f, &mut out, parseable)?;
            // A section with nothing to show (STATUS with no operation)
            // leaves no blank line either.
            if !parseable && out.len() > before {
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `-p` (and `-l -p`)
pub fn parseable(views: &[DomainView], long: bool) -> String {
    let mut out = format!("{PARSEABLE_VERSION}\n");
    for v in views {
        out.push_str(&parseable_line(v, long));
        out.push('\n');
        if long {
            for f in ["control", "variables", "disk", "network", "uuid", "status"] {
                if f == "network" && v.networks.is_empty() {
                    continue;
                }
                let _ = section(v, f, &mut out, true);
            }
            reconf_section(v, &mut out, true);
        }
    }
    out
}

/// `-l`
pub fn long(views: &[DomainView]) -> String {
    let mut out = String::new();
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            out.push_str(
                "------------------------------------------------------------------------------\n",
            );
        }
        out.push_str(HEADER);
        out.push('\n');
        out.push_str(&row(v));
        out.push_str("\n\n");
        if v.name == "primary" {
            continue;
        }
        for f in ["uuid", "control", "variables", "disk", "network", "status"] {
            if f == "network" && v.networks.is_empty() {
                continue;
            }
            let _ = section(v, f, &mut out, false);
            out.push('\n');
        }
        reconf_section(v, &mut out, false);
        note_section(v, &mut out);
    }
    out
}

/// `list-bindings [-p]`: what each domain has bound (resources, console,
/// disks), the primary left out.
pub fn bindings(views: &[DomainView], parseable: bool) -> String {
    let doms: Vec<DomainView> = views
        .iter()
        .filter(|v| v.name != "primary")
        .cloned()
        .collect();
    const ALL: &str = "domain,uuid,control,cpu,memory,console,disk,variables";
    sections(&doms, ALL, parseable).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldm_api::flags::Status;
    use ldm_api::migration::{OperationView, Phase};
    use ldm_api::{DomainState, Flags};

    fn view(name: &str) -> DomainView {
        DomainView {
            name: name.into(),
            state: DomainState::Active,
            flags: Flags {
                status: Status::Normal,
                ..Default::default()
            },
            cons: Some("5000".into()),
            vcpus: 2,
            memory_mib: 512,
            util: Some(12.34),
            norm: Some(3.1),
            uptime_secs: Some(125),
            uuid: "u-1".into(),
            cpu_arch: Default::default(),
            vars: Default::default(),
            machine: None,
            operation: None,
            note: None,
            disks: Vec::new(),
            networks: Vec::new(),
            max_vcpus: Some(4),
            max_memory_mib: None,
            pending: Vec::new(),
        }
    }

    #[test]
    fn long_lists_a_delayed_reconfiguration() {
        let mut v = view("ldg1");
        v.flags.reconf = ldm_api::flags::Reconf::Delayed;
        v.pending = vec!["cpu-arch=generic".into()];
        let l = long(&[v.clone()]);
        assert!(l.contains("-nd---"), "{l}");
        assert!(
            l.contains("DELAYED RECONFIGURATION (applied at the next start)\n    cpu-arch=generic"),
            "{l}"
        );
        assert!(l.contains("max-vcpus=4"), "{l}");
        let p = parseable(&[v], true);
        assert!(p.contains("DELAYED-RECONF|cpu-arch=generic"), "{p}");
        assert!(!long(&[view("ldg1")]).contains("DELAYED"));
    }

    #[test]
    fn table_columns() {
        let t = table(&[view("ldg1")]);
        let mut lines = t.lines();
        assert!(lines.next().unwrap().starts_with("NAME"));
        let cols: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            cols,
            ["ldg1", "active", "-n----", "5000", "2", "512M", "12.3%", "3.1%", "2m"]
        );
    }

    #[test]
    fn parseable_format() {
        let p = parseable(&[view("ldg1")], false);
        let lines: Vec<&str> = p.lines().collect();
        assert_eq!(lines[0], "VERSION 1.6");
        assert_eq!(
            lines[1],
            "DOMAIN|name=ldg1|state=active|flags=-n----|cons=5000|ncpu=2|mem=536870912|util=12.3|uptime=125|norm_util=3.1"
        );
    }

    /// `ldm list -o status NAME` as Oracle prints it: with no operation
    /// there is no STATUS section, so a script polling until `STATUS` is
    /// gone ends; during a migration the section is there.
    #[test]
    fn status_section_golden() {
        let idle = view("ldg1");
        assert_eq!(
            sections(std::slice::from_ref(&idle), "status", false).unwrap(),
            include_str!("../../tests/golden/list-o-status-idle.txt")
        );
        assert_eq!(
            sections(&[idle], "status", true).unwrap(),
            include_str!("../../tests/golden/list-o-status-idle-p.txt")
        );
        let mut busy = view("ldg1");
        busy.operation = Some(OperationView {
            kind: "migration".into(),
            role: Role::Source,
            peer: "192.0.2.20:8101".into(),
            phase: Phase::Precopy,
            progress: 17,
        });
        assert_eq!(
            sections(&[busy], "status", false).unwrap(),
            include_str!("../../tests/golden/list-o-status-migration.txt")
        );
    }

    #[test]
    fn status_shows_operation() {
        let mut v = view("ldg1");
        v.operation = Some(OperationView {
            kind: "migration".into(),
            role: Role::Target,
            peer: "hostA".into(),
            phase: Phase::Precopy,
            progress: 34,
        });
        let s = sections(&[v], "status", false).unwrap();
        assert!(s.contains("OPERATION"), "{s}");
        assert!(s.contains("SOURCE"), "{s}");
        assert!(
            s.contains("migration") && s.contains("34%") && s.contains("hostA"),
            "{s}"
        );
        assert!(sections(&[view("x")], "bogus", false).is_err());
    }
}
