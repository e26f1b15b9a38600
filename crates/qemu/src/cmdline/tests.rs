use super::*;
use crate::accel::Accel;
use std::path::Path;
use uuid::Uuid;

mod escaping;

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
