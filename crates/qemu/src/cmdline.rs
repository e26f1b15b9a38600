//! Turning a [`MachineConfig`] into a QEMU command line.

use std::path::Path;

use crate::config::MachineConfig;

/// The chardev id of the serial console.
pub const CONSOLE_CHARDEV: &str = "ser0";
/// The chardev id of the QMP monitor.
pub const QMP_CHARDEV: &str = "qmp0";
/// The `-incoming` value that waits for QMP `migrate-incoming`.
pub const INCOMING_DEFER: &str = "defer";

mod cpu;
#[cfg(test)]
mod tests;

pub use cpu::{cpu_device_type, cpu_slot_device, cpu_slot_id, cpu_slot_props, hotplug_topology};

impl MachineConfig {
    /// The QEMU arguments (without the program name) for this machine.
    ///
    /// The result depends only on the configuration and `incoming`, never
    /// on the host, so a migration source and target given the same
    /// configuration build the same machine. With `incoming` set (usually
    /// [`INCOMING_DEFER`], the URI then being given later through QMP
    /// `migrate-incoming`), QEMU waits for an incoming migration instead of
    /// booting.
    ///
    /// QEMU is told to `-daemonize`: it detaches (new session, stdio on
    /// /dev/null) once initialised, so domains outlive the daemon.
    pub fn args(&self, incoming: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = Vec::with_capacity(48);
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));

        push(&[
            "-name",
            &format!("guest={},debug-threads=on", escape_opt(&self.name)),
        ]);
        push(&["-uuid", &self.uuid.hyphenated().to_string()]);
        push(&[
            "-machine",
            // The type under its own key: an implied first value ending
            // at `=` would be read as a property name.
            &format!(
                "type={},accel={}",
                escape_opt(&self.machine_type),
                self.accel
            ),
        ]);
        // -cpu is split at its first comma with no escape: the model is
        // safe only as a model name, which validate() requires.
        push(&["-cpu", &escape_opt(&self.cpu_model)]);
        match self.max_vcpus {
            None => push(&["-smp", &self.vcpus.to_string()]),
            Some(max) => {
                push(&["-smp", &hotplug_topology(max)]);
                for slot in 1..self.vcpus {
                    push(&["-device", &cpu_slot_device(&self.cpu_model, slot)]);
                }
            }
        }
        match &self.hotmem {
            None => push(&["-m", &format!("{}M", self.memory_mib)]),
            Some(h) => push(&["-m", &h.memory_arg(self.memory_mib)]),
        }
        push(&[
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-vga",
            "none",
        ]);
        if let Some(kernel) = &self.kernel {
            push(&["-kernel", &path_str(kernel)]);
        }
        if let Some(initrd) = &self.initrd {
            push(&["-initrd", &path_str(initrd)]);
        }
        if self.kernel.is_some() && !self.append.is_empty() {
            push(&["-append", &self.append]);
        }

        let mut console = format!(
            "socket,id={CONSOLE_CHARDEV},path={},server=on,wait=off",
            escape_opt(&path_str(&self.console_socket))
        );
        if let Some(log) = &self.console_log {
            console.push_str(&format!(
                ",logfile={},logappend=on",
                escape_opt(&path_str(log))
            ));
        }
        push(&["-chardev", &console]);
        push(&["-serial", &format!("chardev:{CONSOLE_CHARDEV}")]);
        push(&[
            "-chardev",
            &format!(
                "socket,id={QMP_CHARDEV},path={},server=on,wait=off",
                escape_opt(&path_str(&self.qmp_socket))
            ),
        ]);
        push(&["-mon", &format!("chardev={QMP_CHARDEV},mode=control")]);

        a.extend(crate::disks::disk_args(&self.disks));
        a.extend(crate::nics::nic_args(&self.nics));
        if let Some(h) = &self.hotmem {
            a.extend(h.args());
        }

        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-pidfile", &path_str(&self.pidfile)]);
        push(&["-D", &path_str(&self.log_file)]);
        push(&["-msg", "timestamp=on"]);
        push(&["-no-reboot", "-daemonize"]);
        if self.start_paused {
            push(&["-S"]);
        }
        a.extend(self.extra_args.iter().cloned());
        if let Some(incoming) = incoming {
            a.push("-incoming".into());
            a.push(incoming.into());
        }
        a
    }
}

/// Escapes a value for QEMU's `key=value,...` option syntax (`,` → `,,`).
pub fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
