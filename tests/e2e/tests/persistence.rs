//! What ldmd keeps in its database survives a restart: definitions,
//! bindings (with their console ports) and console services. No guest boots.

use ldm_e2e::{assert_survives_restarts, domains, fake_image, parse_parseable, Host, HostOpts};

#[test]
fn definitions_bindings_and_services_survive_restarts() {
    let mut host = Host::start(HostOpts::default().vcpus(4).memory("4G"));
    let (k, i) = fake_image(&host);
    let (lo, hi) = host.console_range();
    let (slo, shi) = host.ports().spare_range();

    host.ldm(&["add-domain", "cpu-arch=generic", "ldg1"]).ok();
    host.ldm(&["set-vcpu", "2", "ldg1"]).ok();
    host.ldm(&["set-memory", "1G", "ldg1"]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", k.display()),
        &format!("initrd={}", i.display()),
        "boot-args=console=ttyS0 memwork=64,8",
        "ldg1",
    ])
    .ok();
    host.ldm(&[
        "set-domain",
        "migration-downtime=300",
        "migration-bandwidth=64",
        "ldg1",
    ])
    .ok();
    host.ldm(&["bind-domain", "ldg1"]).ok();
    host.ldm(&["add-domain", "ldg2"]).ok();
    host.ldm(&["add-vcpu", "2", "ldg2"]).ok();
    host.ldm(&["add-memory", "256M", "ldg2"]).ok();
    host.ldm(&["add-domain", "ldg3"]).ok();
    host.ldm(&[
        "add-vcc",
        &format!("port-range={slo}-{shi}"),
        "vcc1",
        "primary",
    ])
    .ok();
    host.ldm(&["set-vcpu", "1", "primary"]).ok();

    let before = host.ldm(&["list", "-l", "-p"]).stdout;
    let uuid_of = |text: &str, name: &str| -> String {
        let mut cur = String::new();
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("DOMAIN|name=") {
                cur = n.split('|').next().unwrap().to_string();
            }
            if let Some(u) = l.strip_prefix("UUID|uuid=") {
                if cur == name {
                    return u.to_string();
                }
            }
        }
        panic!("no UUID for {name} in {text}");
    };
    let uuid1 = uuid_of(&before, "ldg1");

    assert_survives_restarts(&mut host);

    let d = domains(&host);
    assert_eq!(d["ldg1"]["state"], "bound");
    assert_eq!(d["ldg1"]["cons"], lo.to_string());
    assert_eq!(d["ldg1"]["ncpu"], "2");
    assert_eq!(d["ldg1"]["mem"], (1u64 << 30).to_string());
    assert_eq!(d["ldg2"]["state"], "inactive");
    assert_eq!(d["ldg2"]["ncpu"], "3");
    assert_eq!(d["ldg2"]["mem"], (768u64 << 20).to_string());
    assert_eq!(d["ldg3"]["state"], "inactive");
    assert_eq!(d["primary"]["ncpu"], "1");
    let after = host.ldm(&["list", "-l", "-p"]).stdout;
    assert_eq!(uuid_of(&after, "ldg1"), uuid1, "the UUID is stable");
    assert!(
        after.contains("CONTROL|cpu-arch=generic|machine=pc-i440fx-10.0|cpu=kvm64"),
        "{after}"
    );
    assert!(
        after.contains("VARIABLES|boot-args=console=ttyS0 memwork=64,8"),
        "{after}"
    );
    let services = host.ldm(&["list-services", "-p"]);
    services
        .ok()
        .stdout_has(&format!(
            "VCC|name=primary-vcc0|ldom=primary|port-range={lo}-{hi}"
        ))
        .stdout_has(&format!(
            "VCC|name=vcc1|ldom=primary|port-range={slo}-{shi}"
        ));
    host.ldm(&["list-devices", "-p"])
        .ok()
        .stdout_has("VCPU|free=2|total=4")
        .stdout_has(&format!("MEMORY|free={}|total={}", 3u64 << 30, 4u64 << 30));

    // The restored state is live, not just displayed: the next domain bound
    // gets the next port, and the bound one can be unbound and removed.
    host.ldm(&["bind-domain", "ldg3"]).ok();
    assert_eq!(domains(&host)["ldg3"]["cons"], (lo + 1).to_string());
    host.ldm(&["unbind-domain", "ldg1"]).ok();
    host.ldm(&["remove-domain", "ldg1"]).ok();
    host.ldm(&["remove-vcc", "vcc1"]).ok();
    assert_survives_restarts(&mut host);
    let d = domains(&host);
    assert!(!d.contains_key("ldg1"), "{d:?}");
    assert_eq!(d["ldg3"]["state"], "bound");
    let services = host.ldm(&["list-services", "-p"]).stdout;
    assert!(!services.contains("vcc1"), "{services}");
}

#[test]
fn removed_default_vcc_is_not_recreated() {
    let mut host = Host::start(HostOpts::default());
    host.ldm(&["remove-vcc", "primary-vcc0"]).ok();
    host.restart();
    let services = host.ldm(&["list-services", "-p"]);
    assert!(
        !services.ok().stdout.contains("VCC|"),
        "{}",
        services.stdout
    );
    // Binding without any service says how to add one.
    host.ldm(&["add-domain", "ldg1"]).ok();
    host.ldm(&["bind-domain", "ldg1"])
        .fails_with("ldm add-vcc port-range=5000-5099 primary-vcc0 primary");
}

#[test]
fn listing_formats_agree() {
    let host = Host::start(HostOpts::default());
    let (k, i) = fake_image(&host);
    host.ldm(&["add-domain", "ldg1"]).ok();
    host.ldm(&["set-vcpu", "2", "ldg1"]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", k.display()),
        &format!("initrd={}", i.display()),
        "ldg1",
    ])
    .ok();
    host.ldm(&["bind-domain", "ldg1"]).ok();
    host.ldm(&["add-domain", "ldg2"]).ok();

    let p = host.ldm(&["list", "-p"]);
    p.ok();
    assert_eq!(p.stdout.lines().next(), Some("VERSION 1.6"));
    let parsed = parse_parseable(&p.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&host.ldm(&["list", "--json"]).stdout).unwrap();
    let arr = json.as_array().expect("a JSON array");
    assert_eq!(arr.len(), parsed.len());
    for (j, d) in arr.iter().zip(&parsed) {
        assert_eq!(j["name"], d["name"].as_str());
        assert_eq!(j["state"], d["state"].as_str());
        assert_eq!(j["vcpus"].to_string(), d["ncpu"]);
        assert_eq!(
            (j["memory_mib"].as_u64().unwrap() << 20).to_string(),
            d["mem"]
        );
        assert_eq!(j["cons"].as_str().unwrap_or(""), d["cons"]);
    }
    let table = ldm_e2e::parse_table(&host.ldm(&["list"]).stdout);
    let names: Vec<&str> = table.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["primary", "ldg1", "ldg2"]);
    assert_eq!(table[0].flags, "-n-cv-");
    assert_eq!(table[0].cons, "UART");
    assert_eq!(table[1].state, "bound");
    assert_eq!(table[1].flags, "------");
    assert_eq!(table[1].cons, host.console_range().0.to_string());
    assert_eq!(table[1].vcpu, "2");
    assert_eq!(table[1].memory, "512M");
    assert_eq!(table[2].state, "inactive");
    assert_eq!(table[2].cons, "");
    // Naming domains picks them, in the order given.
    let two = parse_parseable(&host.ldm(&["list", "-p", "ldg2", "primary"]).stdout);
    assert_eq!(two.len(), 2);
    assert_eq!(two[0]["name"], "ldg2");
    assert_eq!(two[1]["name"], "primary");
    // -l -p uses the long flags.
    let lp = parse_parseable(&host.ldm(&["list", "-l", "-p", "primary"]).stdout);
    assert_eq!(lp[0]["flags"], "normal,control,vio-service");
    // -o sections.
    host.ldm(&["list", "-o", "console,cpu,memory", "-p", "ldg1"])
        .ok()
        .stdout_has(&format!("VCONS|port={}", host.console_range().0))
        .stdout_has("VCPU|count=2|")
        .stdout_has(&format!("MEMORY|size={}", 512u64 << 20));
}
