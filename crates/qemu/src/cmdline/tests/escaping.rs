//! No field of a [`MachineConfig`] can add an option or a property: the
//! command line read back as QEMU's option parsers read it.

use super::config;

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
    assert!(machine.starts_with("type=pc-i440fx-10.0,,firmware=/etc/shadow,,accel=kvm,,,,x,accel="));
    // validate() refuses such model names before any launch.
    assert!(evil.validate().is_err());
    // Found by the qemu_cmdline fuzz target: an empty model adds no
    // argument either, and validate() refuses it.
    let mut empty = base_logged.clone();
    empty.cpu_model.clear();
    assert_eq!(empty.args(None).len(), a.len());
    assert!(empty.validate().is_err());
}
