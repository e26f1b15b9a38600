//! From a domain's record to a QEMU machine: the command line, launching it
//! with its console, and talking to it over QMP.

use crate::console::Console;
use crate::daemon::{Daemon, Runtime};
use crate::error::{refuse, Result};
use crate::record::{Binding, DomainRecord};
use ldm_api::ErrorKind;
use ldm_qemu::{MachineConfig, Qmp};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;

/// QEMU machine type every domain gets, so any host can recreate it.
pub const MACHINE_TYPE: &str = "pc-i440fx-10.0";

/// The binding a domain gets on this host.
pub fn binding_for(d: &Daemon, rec: &DomainRecord, console_port: u16) -> Binding {
    Binding {
        console_port,
        machine_type: MACHINE_TYPE.into(),
        cpu_model: d.inv.cpu_model_for(rec.spec.cpu_arch),
        accel: d.inv.accel.to_string(),
        boot_pad_kib: None,
    }
}

/// Checks the boot files exist; the error says what to do.
pub fn check_boot_files(rec: &DomainRecord) -> Result<(String, String)> {
    let name = &rec.spec.name;
    let get = |v: &Option<String>, var: &str| -> Result<String> {
        let p = v.clone().ok_or_else(|| {
            refuse(
                ErrorKind::State,
                format!("domain {name} has no {var}: set it with `ldm set-var {var}=PATH {name}` (guest/build prints the paths)"),
            )
        })?;
        if !Path::new(&p).is_file() {
            return Err(refuse(
                ErrorKind::State,
                format!("the {var} of domain {name}, {p}, does not exist on this host: copy it here or set another with `ldm set-var {var}=PATH {name}`"),
            ));
        }
        Ok(p)
    };
    Ok((
        get(&rec.spec.vars.kernel, "kernel")?,
        get(&rec.spec.vars.initrd, "initrd")?,
    ))
}

/// The kernel command line: the domain's boot-args, with the serial console
/// added when they name none.
pub fn kernel_cmdline(rec: &DomainRecord) -> String {
    let args = rec.spec.vars.boot_args.clone().unwrap_or_default();
    if args.split_whitespace().any(|a| a.starts_with("console=")) {
        args
    } else {
        format!("console=ttyS0 {args}").trim().to_string()
    }
}

/// The QEMU configuration of a bound domain.
pub fn machine_config(d: &Daemon, rec: &DomainRecord) -> Result<MachineConfig> {
    let b = rec.binding.as_ref().ok_or_else(|| {
        refuse(
            ErrorKind::State,
            format!("domain {} is not bound", rec.spec.name),
        )
    })?;
    let (kernel, initrd) = check_boot_files(rec)?;
    let uuid = &rec.spec.uuid;
    let mut cfg = MachineConfig::new(&rec.spec.name, *uuid, &d.paths.run_dir());
    cfg.vcpus = rec.spec.vcpus;
    cfg.max_vcpus = rec.spec.max_vcpus;
    cfg.memory_mib = rec.spec.memory_mib;
    // With hot-pluggable memory the machine boots with its boot memory
    // and its pad (the same on a migration target, whatever was added
    // since); the rest is the virtio-mem device's request.
    if let Some((boot, mut h)) = super::hotmem::config(&rec.spec) {
        h.boot_pad_kib = b.boot_pad_kib.unwrap_or(0);
        cfg.memory_mib = boot;
        cfg.hotmem = Some(h);
    }
    cfg.machine_type = b.machine_type.clone();
    cfg.cpu_model = b.cpu_model.clone();
    cfg.accel = b.accel.parse().map_err(|_| {
        refuse(
            ErrorKind::Hypervisor,
            format!("unknown accelerator {}", b.accel),
        )
    })?;
    cfg.kernel = Some(kernel.into());
    cfg.initrd = Some(initrd.into());
    cfg.append = kernel_cmdline(rec);
    cfg.disks = super::vdisk::disk_configs(d, rec)?;
    cfg.nics = super::vnet::nic_configs(d, rec)?;
    cfg.qmp_socket = d.paths.qmp_socket(uuid);
    cfg.console_socket = d.paths.console_socket(uuid);
    cfg.console_log = Some(d.paths.console_log(uuid));
    cfg.pidfile = d.paths.pidfile(uuid);
    cfg.log_file = d.paths.qemu_log(&rec.spec.name);
    Ok(cfg)
}

/// Serves the console of a domain on its bound port.
async fn serve_console(d: &Daemon, rec: &DomainRecord) -> Result<Console> {
    let port = rec.binding.as_ref().map(|b| b.console_port).unwrap_or(0);
    Console::start(
        d.cfg.console_addr,
        port,
        d.paths.console_socket(&rec.spec.uuid),
        d.paths.console_log(&rec.spec.uuid),
        console_gate(d)?,
    )
    .await
}

/// The console role on a TCP console port: root and ldmd's own user, and
/// local users whose ldm account has the console or management role. The
/// gate reads the accounts through a connection of its own.
fn console_gate(d: &Daemon) -> Result<crate::console::Gate> {
    let db = crate::db::Db::open(&d.paths.database())?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    Ok(Arc::new(move |uid| {
        if uid == 0 || uid == me {
            return Ok(());
        }
        let name = crate::local_api::user_name(uid).unwrap_or_else(|| uid.to_string());
        match db.user(&name) {
            Ok(Some((role, _))) if role >= ldm_api::request::UserRole::Console => Ok(()),
            Ok(Some((role, _))) => Err(format!(
                "user {name} has the {} role; the console needs the console role",
                role.as_str()
            )),
            _ => Err(format!("local user {name} has no ldm account")),
        }
    }))
}

fn runtime(pid: u32, console: Console) -> Runtime {
    Runtime {
        pid,
        qmp: Arc::new(Mutex::new(None)),
        console,
        util: 0.0,
        last_sample: None,
    }
}

/// Launches QEMU for a bound domain (incoming for a migration target) and
/// starts serving its console. Nothing is left behind on failure.
pub async fn launch(d: &Daemon, rec: &DomainRecord, incoming: bool) -> Result<Runtime> {
    let qemu = d.inv.qemu()?.clone();
    let mut cfg = machine_config(d, rec)?;
    // An incoming domain stays paused when the migration completes: it only
    // runs once the source hands over (phase 5).
    cfg.start_paused = incoming;
    cfg.transparent_hugepages = huge_pages(incoming, cfg.accel);
    let console = serve_console(d, rec).await?;
    let pid = ldm_qemu::launch(&qemu, &cfg, incoming).await?;
    tracing::info!(domain = %rec.spec.name, pid, incoming, "QEMU started");
    Ok(runtime(pid, console))
}

/// Whether a QEMU may back its guest with transparent huge pages. Under
/// TCG the guest gains little from them (every access goes through QEMU's
/// own TLB), while on a migration target clearing 2 MiB for each arriving
/// 4 KiB page halved the copy rate: an incoming TCG QEMU gets 4 KiB pages.
/// With KVM, huge pages back the guest's own page tables and are kept.
pub(crate) fn huge_pages(incoming: bool, accel: ldm_qemu::Accel) -> bool {
    !(incoming && accel == ldm_qemu::Accel::Tcg)
}

/// Re-attaches to a QEMU that is still running (after an ldmd restart).
pub async fn reattach(d: &Daemon, rec: &DomainRecord, pid: u32) -> Result<Runtime> {
    Ok(runtime(pid, serve_console(d, rec).await?))
}

/// Stops a QEMU process: `quit` over QMP, then SIGKILL if it lingers.
pub async fn kill_qemu(qmp: &Arc<Mutex<Option<Qmp>>>, socket: &Path, pid: u32) {
    let quit = async {
        let mut g = QmpGuard::lock(qmp, socket).await?;
        g.q().quit().await?;
        Ok::<_, crate::error::Error>(())
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), quit).await;
    if !ldm_qemu::process::wait_exit(pid, std::time::Duration::from_secs(3)).await {
        let _ = ldm_qemu::kill(pid, libc::SIGKILL);
        ldm_qemu::process::wait_exit(pid, std::time::Duration::from_secs(3)).await;
    }
}

/// Exclusive use of a domain's QMP connection, connected on first use.
pub struct QmpGuard(tokio::sync::OwnedMutexGuard<Option<Qmp>>);

impl QmpGuard {
    /// Locks the connection, opening it on first use and reopening it if
    /// it failed earlier (QEMU closed it, a write failed).
    pub async fn lock(qmp: &Arc<Mutex<Option<Qmp>>>, socket: &Path) -> Result<QmpGuard> {
        let mut g = qmp.clone().lock_owned().await;
        if g.as_ref().is_none_or(Qmp::is_broken) {
            *g = Some(Qmp::connect(socket).await?);
        }
        Ok(QmpGuard(g))
    }

    /// The connection.
    pub fn q(&mut self) -> &mut Qmp {
        self.0.as_mut().expect("connected in lock()")
    }
}

#[cfg(test)]
mod tests {
    use super::huge_pages;
    use ldm_qemu::Accel;

    #[test]
    fn only_incoming_tcg_machines_go_without_huge_pages() {
        assert!(!huge_pages(true, Accel::Tcg));
        assert!(huge_pages(false, Accel::Tcg));
        assert!(huge_pages(true, Accel::Kvm));
        assert!(huge_pages(false, Accel::Kvm));
    }
}
