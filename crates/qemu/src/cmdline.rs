//! Turning a [`MachineConfig`] into a QEMU command line.

use std::path::Path;

use crate::config::MachineConfig;

/// The chardev id of the serial console.
pub const CONSOLE_CHARDEV: &str = "ser0";
/// The chardev id of the QMP monitor.
pub const QMP_CHARDEV: &str = "qmp0";
/// The `-incoming` value that waits for QMP `migrate-incoming`.
pub const INCOMING_DEFER: &str = "defer";

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

/// `-smp` for a machine that boots one vCPU and has `max` slots: one
/// socket of `max` cores, so slot `i` is core `i` ([`cpu_slot_device`]).
pub fn hotplug_topology(max: u32) -> String {
    format!("1,maxcpus={max},sockets=1,cores={max},threads=1")
}

/// The QOM type of a CPU device of `model` (`max` → `max-x86_64-cpu`).
pub fn cpu_device_type(model: &str) -> String {
    format!("{model}-x86_64-cpu")
}

/// The device id of the CPU in slot `slot` (1 and up; slot 0 is the boot CPU).
pub fn cpu_slot_id(slot: u32) -> String {
    format!("vcpu{slot}")
}

/// The `-device` value of the CPU in slot `slot`: the same device
/// `device_add` plugs while the machine runs ([`cpu_slot_props`]).
pub fn cpu_slot_device(model: &str, slot: u32) -> String {
    format!(
        "{},id={},socket-id=0,core-id={slot},thread-id=0",
        escape_opt(&cpu_device_type(model)),
        cpu_slot_id(slot)
    )
}

/// The `device_add` arguments of the CPU in slot `slot`.
pub fn cpu_slot_props(model: &str, slot: u32) -> serde_json::Value {
    serde_json::json!({
        "driver": cpu_device_type(model),
        "id": cpu_slot_id(slot),
        "socket-id": 0,
        "core-id": slot,
        "thread-id": 0,
    })
}

/// Escapes a value for QEMU's `key=value,...` option syntax (`,` → `,,`).
pub fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::Accel;
    use uuid::Uuid;

    fn config() -> MachineConfig {
        let mut c = MachineConfig::new(
            "web1",
            Uuid::parse_str("6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41").unwrap(),
            Path::new("/run/ldm"),
        );
        c.vcpus = 2;
        c.memory_mib = 512;
        c.kernel = Some("/var/lib/ldm/vmlinuz".into());
        c.initrd = Some("/var/lib/ldm/initrd.img".into());
        c.append = "console=ttyS0 quiet".into();
        c
    }

    #[test]
    fn full_command_line() {
        let args = config().args(None);
        let expected: Vec<&str> = vec![
            "-name",
            "guest=web1,debug-threads=on",
            "-uuid",
            "6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41",
            "-machine",
            "type=pc-i440fx-10.0,accel=tcg",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-m",
            "512M",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-vga",
            "none",
            "-kernel",
            "/var/lib/ldm/vmlinuz",
            "-initrd",
            "/var/lib/ldm/initrd.img",
            "-append",
            "console=ttyS0 quiet",
            "-chardev",
            "socket,id=ser0,path=/run/ldm/web1.console,server=on,wait=off",
            "-serial",
            "chardev:ser0",
            "-chardev",
            "socket,id=qmp0,path=/run/ldm/web1.qmp,server=on,wait=off",
            "-mon",
            "chardev=qmp0,mode=control",
            "-pidfile",
            "/run/ldm/web1.pid",
            "-D",
            "/run/ldm/web1.log",
            "-msg",
            "timestamp=on",
            "-no-reboot",
            "-daemonize",
        ];
        assert_eq!(args, expected);
    }

    #[test]
    fn nics_follow_the_disks_in_their_order() {
        let mut c = config();
        c.disks = vec![crate::disks::DiskConfig {
            serial: "vdisk1".into(),
            path: "/srv/d.img".into(),
            block_device: false,
            format: "raw".into(),
            read_only: false,
        }];
        c.nics = vec![
            crate::nics::NicConfig {
                ifname: "ldmt0".into(),
                mac: "52:54:00:5e:00:01".into(),
                mtu: None,
            },
            crate::nics::NicConfig {
                ifname: "ldmt1".into(),
                mac: "52:54:00:5e:00:02".into(),
                mtu: Some(9000),
            },
        ];
        assert!(c.validate().is_ok());
        let args = c.args(None);
        let from = args.iter().position(|a| a == "-blockdev").unwrap();
        let to = args.iter().position(|a| a == "-pidfile").unwrap();
        assert_eq!(
            args[from..to],
            [
                "-blockdev",
                "driver=file,node-name=vd0-file,filename=/srv/d.img,read-only=off",
                "-blockdev",
                "driver=raw,node-name=vd0,file=vd0-file,read-only=off",
                "-device",
                "virtio-blk-pci,id=vd0-dev,drive=vd0,serial=vdisk1",
                "-netdev",
                "tap,id=net0,ifname=ldmt0,script=no,downscript=no,vhost=off",
                "-device",
                "virtio-net-pci,id=net0-dev,netdev=net0,mac=52:54:00:5e:00:01",
                "-netdev",
                "tap,id=net1,ifname=ldmt1,script=no,downscript=no,vhost=off",
                "-device",
                "virtio-net-pci,id=net1-dev,netdev=net1,mac=52:54:00:5e:00:02,host_mtu=9000",
            ]
        );
        // Without NICs the machine has no network device at all
        // (-nodefaults leaves out QEMU's default NIC).
        c.nics.clear();
        assert!(!c.args(None).iter().any(|a| a == "-netdev" || a == "-nic"));
    }

    #[test]
    fn hot_pluggable_vcpus_are_cpu_devices_after_the_boot_cpu() {
        let mut c = config();
        c.vcpus = 3;
        c.max_vcpus = Some(4);
        c.cpu_model = "qemu64".into();
        let args = c.args(None);
        let at = args.iter().position(|a| a == "-smp").unwrap();
        assert_eq!(
            &args[at..at + 6],
            [
                "-smp",
                "1,maxcpus=4,sockets=1,cores=4,threads=1",
                "-device",
                "qemu64-x86_64-cpu,id=vcpu1,socket-id=0,core-id=1,thread-id=0",
                "-device",
                "qemu64-x86_64-cpu,id=vcpu2,socket-id=0,core-id=2,thread-id=0",
            ]
        );
        assert_eq!(args[at + 6], "-m");
        assert_eq!(
            cpu_slot_props("qemu64", 2),
            serde_json::json!({"driver": "qemu64-x86_64-cpu", "id": "vcpu2",
                "socket-id": 0, "core-id": 2, "thread-id": 0})
        );
        assert!(c.validate().is_ok());
        c.max_vcpus = Some(2);
        assert!(c.validate().is_err(), "fewer slots than vCPUs");
        // Without a maximum the command line is the one of before.
        c.max_vcpus = None;
        let args = c.args(None);
        assert_eq!(args[at + 1], "3");
        assert!(!args.iter().any(|a| a.contains("x86_64-cpu")));
        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("max_vcpus").is_none());
    }

    #[test]
    fn deterministic_and_incoming_only_appends() {
        let c = config();
        assert_eq!(c.args(None), c.clone().args(None));
        let incoming = c.args(Some(INCOMING_DEFER));
        let mut plain = c.args(None);
        plain.extend(["-incoming".to_string(), "defer".to_string()]);
        assert_eq!(incoming, plain);
        // A config round-tripped through JSON (as sent to a migration
        // target) yields the same machine.
        let json = serde_json::to_string(&c).unwrap();
        let back: MachineConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.args(Some("defer")), incoming);
    }

    #[test]
    fn options_and_escaping() {
        let mut c = config();
        c.accel = Accel::Kvm;
        c.cpu_model = "host".into();
        c.kernel = None;
        c.initrd = None;
        c.append.clear();
        c.console_socket = "/run/a,b/web1.console".into();
        c.console_log = Some("/var/log/ldm/web1.console.log".into());
        c.start_paused = true;
        c.extra_args = vec!["-device".into(), "virtio-rng-pci".into()];
        let args = c.args(None);
        assert!(args.contains(&"type=pc-i440fx-10.0,accel=kvm".to_string()));
        assert!(!args.iter().any(|a| a == "-kernel" || a == "-append"));
        assert!(args.contains(
            &"socket,id=ser0,path=/run/a,,b/web1.console,server=on,wait=off,\
              logfile=/var/log/ldm/web1.console.log,logappend=on"
                .to_string()
        ));
        let tail: Vec<&str> = args.iter().rev().take(3).map(|s| s.as_str()).collect();
        assert_eq!(tail, ["virtio-rng-pci", "-device", "-S"]);
    }

    /// The keys of a QEMU `key=value,…` option value, parsed as QEMU's
    /// option parsers do: a key runs to the first `=` or `,`; a value runs
    /// to the first `,` not doubled (`,,` is a comma inside it). A first
    /// part without `=` is the implied value ("(implied)").
    fn opt_keys(value: &str) -> Vec<String> {
        if value.is_empty() {
            return vec!["(implied)".to_string()];
        }
        let b = value.as_bytes();
        let mut keys = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key_end = (i..b.len())
                .find(|&j| b[j] == b'=' || b[j] == b',')
                .unwrap_or(b.len());
            let has_value = key_end < b.len() && b[key_end] == b'=';
            if has_value {
                keys.push(value[i..key_end].to_string());
                i = key_end + 1;
            } else if keys.is_empty() {
                keys.push("(implied)".to_string());
            } else {
                keys.push(value[i..key_end].to_string());
                i = key_end + 1;
                continue;
            }
            // Skip the value: up to a single comma.
            while i < b.len() {
                if b[i] == b',' {
                    if b.get(i + 1) == Some(&b',') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
        }
        keys
    }

    #[test]
    fn the_option_model_reads_escaped_commas_as_qemu_does() {
        assert_eq!(opt_keys("pc,accel=tcg"), ["(implied)", "accel"]);
        // Found by the qemu_cmdline fuzz target: an empty CPU model is an
        // empty implied value, not an option less.
        assert_eq!(opt_keys(""), ["(implied)"]);
        assert_eq!(opt_keys("pc,,firmware=x,accel=tcg"), ["(implied)", "accel"]);
        assert_eq!(opt_keys("pc,firmware=x"), ["(implied)", "firmware"]);
        assert_eq!(
            opt_keys("socket,id=a,path=/p,,logfile=/x,server=on"),
            ["(implied)", "id", "path", "server"]
        );
    }

    const OPTS_OPTIONS: [&str; 8] = [
        "-name",
        "-machine",
        "-cpu",
        "-chardev",
        "-mon",
        "-blockdev",
        "-netdev",
        "-device",
    ];

    #[test]
    fn no_field_can_add_an_option_or_a_property() {
        let base = config();
        let mut evil = config();
        let inject = ",firmware=/etc/shadow,accel=kvm,,x";
        evil.name = format!("web1{inject}");
        evil.machine_type = format!("pc-i440fx-10.0{inject}");
        // Found by the qemu_cmdline fuzz target: a machine type with `=`
        // and no comma, read as a property when the type was implied.
        let mut eq = base.clone();
        eq.machine_type = "firmware=/etc/shadow".into();
        let m = eq.args(None);
        let machine = &m[m.iter().position(|x| x == "-machine").unwrap() + 1];
        assert_eq!(opt_keys(machine), ["type", "accel"]);
        evil.cpu_model = format!("max{inject},+vmx");
        evil.kernel = Some(format!("/k{inject} -drive file=/etc/shadow").into());
        evil.initrd = Some(format!("/i{inject}").into());
        evil.append = "quiet -drive file=/etc/shadow,if=virtio".into();
        evil.qmp_socket = format!("/r/q{inject}").into();
        evil.console_socket = format!("/r/c{inject}").into();
        evil.console_log = Some(format!("/r/l{inject}").into());
        evil.pidfile = format!("/r/p{inject}").into();
        evil.log_file = format!("/r/d{inject}").into();
        evil.disks = vec![crate::disks::DiskConfig {
            serial: format!("d{inject}"),
            path: format!("/v{inject}").into(),
            block_device: false,
            format: format!("qcow2{inject}"),
            read_only: false,
        }];
        evil.nics = vec![crate::nics::NicConfig {
            ifname: format!("t{inject}"),
            mac: format!("52:54:00:00:00:01{inject}"),
            mtu: Some(1500),
        }];
        let mut base_logged = base.clone();
        base_logged.console_log = Some("/r/l".into());
        base_logged.nics = vec![crate::nics::NicConfig {
            ifname: "t".into(),
            mac: "52:54:00:00:00:01".into(),
            mtu: Some(1500),
        }];
        base_logged.disks = vec![crate::disks::DiskConfig {
            serial: "d".into(),
            path: "/v".into(),
            block_device: false,
            format: "raw".into(),
            read_only: false,
        }];
        let (a, b) = (base_logged.args(None), evil.args(None));
        // The same options at the same places: no argument was added.
        assert_eq!(a.len(), b.len(), "{b:?}");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let is_option = i == 0 || a[i - 1] != "-append" && x.starts_with('-');
            if is_option {
                assert_eq!(x, y, "argument {i}");
            }
            // The same properties in every key=value option.
            if i > 0 && OPTS_OPTIONS.contains(&a[i - 1].as_str()) {
                assert_eq!(opt_keys(x), opt_keys(y), "{} {y}", a[i - 1]);
            }
        }
        // And the values survive whole: QEMU reads back what was meant.
        let machine = &b[b.iter().position(|x| x == "-machine").unwrap() + 1];
        assert!(
            machine.starts_with("type=pc-i440fx-10.0,,firmware=/etc/shadow,,accel=kvm,,,,x,accel=")
        );
        // validate() refuses such model names before any launch.
        assert!(evil.validate().is_err());
        // Found by the qemu_cmdline fuzz target: an empty model adds no
        // argument either, and validate() refuses it.
        let mut empty = base_logged.clone();
        empty.cpu_model.clear();
        assert_eq!(empty.args(None).len(), a.len());
        assert!(empty.validate().is_err());
    }

    #[test]
    fn config_defaults_from_minimal_json() {
        let json = serde_json::json!({
            "name": "d", "uuid": "6f1c0a4e-2b7d-4c1e-9a53-0d8f7e6b5a41",
            "vcpus": 1, "memory_mib": 64, "accel": "tcg",
            "qmp_socket": "/r/d.qmp", "console_socket": "/r/d.con",
            "pidfile": "/r/d.pid", "log_file": "/r/d.log"
        });
        let c: MachineConfig = serde_json::from_value(json).unwrap();
        assert_eq!(c.machine_type, "pc-i440fx-10.0");
        assert_eq!(c.cpu_model, "max");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn validation() {
        let ok = config();
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.name = "bad name".into();
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.vcpus = 0;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.pidfile = "run/x.pid".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("absolute"), "{err}");
        let mut c = ok.clone();
        c.qmp_socket = Path::new("/").join("x".repeat(120));
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.nics = vec![crate::nics::NicConfig {
            ifname: "t0".into(),
            mac: "ff:ff:ff:ff:ff:ff".into(),
            mtu: None,
        }];
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("unicast"), "{err}");
        let mut c = ok;
        c.kernel = None;
        assert!(c.validate().is_err(), "append without kernel");
    }
}
