//! ldmd's command line: the clap definition (also used to generate its man
//! page and shell completions) and its translation into a [`Config`].

use crate::config::Config;
use clap::{CommandFactory, Parser};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The Logical Domains Manager daemon: runs domains (QEMU virtual machines)
/// on this host, serves the `ldm` command, and migrates domains to and from
/// peer managers.
#[derive(Parser, Debug)]
#[command(name = "ldmd", version, about, long_about = None)]
pub struct Args {
    /// Directory for the database, sockets, logs and runtime files.
    #[arg(long, env = "LDM_ROOT", default_value = ldm_api::DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Accept peer managers (migrations) over TLS on IP[:PORT] (default port 8101).
    #[arg(long, value_name = "IP[:PORT]")]
    pub listen: Option<String>,
    /// Address the domain consoles listen on (default: the --listen IP if it
    /// is a loopback address, else 127.0.0.1).
    #[arg(long, value_name = "IP")]
    pub console_address: Option<IpAddr>,
    /// Console port range of the default vcc, created on first start.
    #[arg(long, value_name = "A-B", default_value = "5000-5099")]
    pub console_ports: String,
    /// vCPUs this host may give to domains (default: its CPUs).
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// Memory this host may give to domains, e.g. 8G (default: its memory less 1G).
    #[arg(long)]
    pub memory: Option<String>,
    /// Accelerator: kvm, tcg or auto (kvm only if the CPU has vmx/svm and /dev/kvm opens).
    #[arg(long, default_value = "auto", value_parser = ["kvm", "tcg", "auto"])]
    pub accel: String,
    /// QEMU binary (default: qemu-system-x86_64 from PATH).
    #[arg(long, value_hint = clap::ValueHint::ExecutablePath)]
    pub qemu: Option<PathBuf>,
    /// Host name shown to peers.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Serve Prometheus metrics over HTTP on IP:PORT, path /metrics (no
    /// authentication: use a loopback or management address).
    #[arg(long, value_name = "IP:PORT")]
    pub metrics: Option<SocketAddr>,
    /// The QEMU CPU model this host offers as cpu-arch=native (default: host
    /// under KVM, max under TCG); declares what this host's CPU is, e.g. to
    /// keep a mixed fleet's natives apart.
    #[arg(long, value_name = "MODEL")]
    pub native_cpu: Option<String>,
    /// The QEMU CPU model of cpu-arch=migration-class1: the common
    /// denominator of the site's hosts (the same on every host).
    #[arg(long, value_name = "MODEL", default_value = crate::config::DEFAULT_MIGRATION_CLASS1)]
    pub migration_class1: String,
    /// Use ID as this boot's id instead of the kernel's
    /// (/proc/sys/kernel/random/boot_id). ldmd applies the configuration
    /// selected with `ldm set-spconfig` at its first start under a new boot
    /// id; a new ID simulates a host reboot (for tests).
    #[arg(long, env = "LDMD_BOOT_ID", value_name = "ID")]
    pub boot_id: Option<String>,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    Args::command()
}

/// `--listen IP[:PORT]`, the port defaulting to ldm's peer port.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip: IpAddr = s
        .parse()
        .map_err(|_| format!("--listen {s}: give an IP address, optionally with :PORT"))?;
    Ok(SocketAddr::new(ip, ldm_api::DEFAULT_PEER_PORT))
}

impl Args {
    /// The daemon's configuration; the error says which option is wrong.
    pub fn config(&self) -> Result<Config, String> {
        let mut cfg = Config::new(&self.root);
        cfg.listen = self.listen.as_deref().map(parse_listen).transpose()?;
        cfg.console_addr = self.console_address.unwrap_or(match cfg.listen {
            Some(a) if a.ip().is_loopback() => a.ip(),
            _ => IpAddr::from([127, 0, 0, 1]),
        });
        cfg.default_vcc = ldm_api::service::parse_port_range(&self.console_ports)
            .map_err(|e| format!("--console-ports: {e}"))?;
        cfg.vcpus = self.vcpus;
        cfg.memory_mib = self
            .memory
            .as_deref()
            .map(ldm_api::parse_size_mib)
            .transpose()
            .map_err(|e| format!("--memory: {e}"))?;
        cfg.accel = Some(self.accel.clone());
        cfg.qemu = self.qemu.clone();
        cfg.hostname = self.hostname.clone();
        cfg.metrics = self.metrics;
        for (opt, model) in [
            ("--native-cpu", self.native_cpu.as_ref()),
            ("--migration-class1", Some(&self.migration_class1)),
        ] {
            if let Some(m) = model.filter(|m| !ldm_qemu::is_model_name(m)) {
                return Err(format!(
                    "{opt} {m}: give a QEMU CPU model name (`qemu-system-x86_64 -cpu help` lists them)"
                ));
            }
        }
        cfg.native_cpu = self.native_cpu.clone();
        cfg.migration_class1 = self.migration_class1.clone();
        cfg.boot_id = self.boot_id.clone();
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_port_defaults_to_the_peer_port() {
        assert_eq!(
            parse_listen("192.0.2.1").unwrap(),
            SocketAddr::from(([192, 0, 2, 1], ldm_api::DEFAULT_PEER_PORT))
        );
        assert_eq!(parse_listen("127.0.0.1:9000").unwrap().port(), 9000);
        assert!(parse_listen("host").unwrap_err().contains("give an IP"));
    }

    #[test]
    fn bad_options_name_themselves() {
        let a = Args::try_parse_from(["ldmd", "--memory", "lots"]).unwrap();
        assert!(a.config().unwrap_err().starts_with("--memory"));
        assert!(Args::try_parse_from(["ldmd", "--accel", "xen"]).is_err());
        let a = Args::try_parse_from(["ldmd", "--native-cpu", "max,+vmx"]).unwrap();
        assert!(a.config().unwrap_err().starts_with("--native-cpu"));
        let a = Args::try_parse_from(["ldmd", "--native-cpu", "Skylake-Client-v1"]).unwrap();
        let c = a.config().unwrap();
        assert_eq!(c.native_cpu.as_deref(), Some("Skylake-Client-v1"));
        assert_eq!(c.migration_class1, "Nehalem-v1");
    }

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }
}
