//! The QEMU command line of a configuration whose text fields are
//! arbitrary, its disks' and NICs' included: no field adds an argument,
//! and the key=value options keep their keys.
#![no_main]

use ldm_qemu::{DiskConfig, MachineConfig, NicConfig};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// The keys of a QEMU option value, as QEMU's option parsers split it.
fn keys(value: &str) -> Vec<String> {
    if value.is_empty() {
        // An empty value is an empty implied value, not a missing one.
        return vec!["(implied)".into()];
    }
    let b = value.as_bytes();
    let mut keys = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let end = (i..b.len())
            .find(|&j| b[j] == b'=' || b[j] == b',')
            .unwrap_or(b.len());
        if end < b.len() && b[end] == b'=' {
            keys.push(value[i..end].to_string());
            i = end + 1;
        } else if keys.is_empty() {
            keys.push("(implied)".into());
        } else {
            keys.push(value[i..end].to_string());
            i = end + 1;
            continue;
        }
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

fn config() -> MachineConfig {
    let mut c = MachineConfig::new("d", uuid::Uuid::nil(), Path::new("/r"));
    c.kernel = Some("/k".into());
    c.initrd = Some("/i".into());
    c.append = "a".into();
    c.console_log = Some("/l".into());
    for i in 0..2 {
        c.disks.push(DiskConfig {
            serial: format!("vdisk{i}"),
            path: format!("/d{i}").into(),
            block_device: i == 1,
            format: "raw".into(),
            read_only: i == 1,
        });
        c.nics.push(NicConfig {
            ifname: format!("ldmt-{i}"),
            mac: format!("02:4c:44:00:00:0{i}"),
            mtu: (i == 1).then_some(1500),
        });
    }
    c
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let f: Vec<&str> = text.split('\u{1}').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("x").to_string();
    let base = config();
    let mut c = config();
    c.name = get(0);
    c.machine_type = get(1);
    c.cpu_model = get(2);
    c.kernel = Some(format!("/{}", get(3)).into());
    c.initrd = Some(format!("/{}", get(4)).into());
    // Never empty: an empty command line is left out on purpose.
    c.append = format!("a{}", get(5));
    c.console_socket = format!("/{}", get(6)).into();
    c.qmp_socket = format!("/{}", get(7)).into();
    c.console_log = Some(format!("/{}", get(8)).into());
    for (i, d) in c.disks.iter_mut().enumerate() {
        d.serial = get(9 + 3 * i);
        d.path = format!("/{}", get(10 + 3 * i)).into();
        d.format = get(11 + 3 * i);
    }
    for (i, n) in c.nics.iter_mut().enumerate() {
        n.ifname = get(15 + 2 * i);
        n.mac = get(16 + 2 * i);
    }
    let (a, b) = (base.args(None), c.args(None));
    assert_eq!(a.len(), b.len());
    for i in 1..a.len() {
        let opts = [
            "-name", "-machine", "-chardev", "-mon", "-blockdev", "-device", "-netdev",
        ];
        if opts.contains(&a[i - 1].as_str()) {
            assert_eq!(keys(&a[i]), keys(&b[i]), "{} {}", a[i - 1], b[i]);
        }
    }
    // -cpu has no escape: only a model name may reach it; a NIC's tap
    // name and MAC are checked before QEMU sees them.
    if c.validate().is_ok() {
        assert!(ldm_qemu::is_model_name(&c.cpu_model), "{}", c.cpu_model);
        for n in &c.nics {
            assert!(ldm_qemu::nics::is_ifname(&n.ifname), "{}", n.ifname);
        }
    }
});
