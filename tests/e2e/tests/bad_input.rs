//! Refused commands: each exits non-zero, says on stderr what to do, and
//! changes nothing (neither what `ldm list`, `list-services` and
//! `list-devices` show, nor what the database holds across a restart).
//! No guest boots here, so these run in parallel.

use ldm_e2e::{assert_refused, assert_survives_restarts, domain, fake_image, Host, HostOpts};

fn define(host: &Host, name: &str) {
    let (k, i) = fake_image(host);
    host.ldm(&["add-domain", name]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", k.display()),
        &format!("initrd={}", i.display()),
        "boot-args=memwork=64,8",
        name,
    ])
    .ok();
}

#[test]
fn unknown_domain_is_refused_by_every_verb() {
    let mut host = Host::start(HostOpts::default());
    define(&host, "ldg1");
    let verbs: &[&[&str]] = &[
        &["set-domain", "cpu-arch=generic", "nosuch"],
        &["remove-domain", "nosuch"],
        &["rm-dom", "nosuch"],
        &["list", "nosuch"],
        &["list", "-l", "nosuch"],
        &["list", "-p", "nosuch"],
        &["list", "--json", "nosuch"],
        &["list", "-o", "cpu", "nosuch"],
        &["list", "ldg1", "nosuch"],
        &["set-vcpu", "2", "nosuch"],
        &["add-vcpu", "1", "nosuch"],
        &["rm-vcpu", "1", "nosuch"],
        &["cancel-reconf", "nosuch"],
        &["set-memory", "1G", "nosuch"],
        &["add-memory", "512M", "nosuch"],
        &["rm-memory", "256M", "nosuch"],
        &["set-var", "boot-args=quiet", "nosuch"],
        &["bind-domain", "nosuch"],
        &["unbind-domain", "nosuch"],
        &["start-domain", "nosuch"],
        &["stop-domain", "nosuch"],
        &["stop-domain", "-f", "nosuch"],
        &["console", "nosuch"],
        &["console", "--dump", "nosuch"],
    ];
    for args in verbs {
        let out = assert_refused(&host, args, "domain nosuch does not exist");
        assert!(
            out.stderr.contains("ldm list"),
            "`ldm {}` should point at `ldm list`: {}",
            args.join(" "),
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "`ldm {}` printed {}",
            args.join(" "),
            out.stdout
        );
    }
    assert_refused(
        &host,
        &["cancel-operation", "migration", "nosuch"],
        "domain nosuch does not exist",
    );
    assert_survives_restarts(&mut host);
}

#[test]
fn duplicate_and_invalid_names_are_refused() {
    let mut host = Host::start(HostOpts::default());
    host.ldm(&["add-domain", "ldg1"]).ok();
    let out = assert_refused(&host, &["add-domain", "ldg1"], "domain ldg1 already exists");
    assert!(
        out.stderr.contains("ldm remove-domain ldg1"),
        "{}",
        out.stderr
    );
    let long = "a".repeat(65);
    for bad in [
        "bad/name",
        "has space",
        ".hidden",
        "_x",
        "semi;colon",
        "",
        long.as_str(),
    ] {
        assert_refused(&host, &["add-domain", bad], "is not a valid domain name");
    }
    assert_refused(&host, &["add-domain", "primary"], "control domain");
    assert_refused(
        &host,
        &["add-domain", "cpu-arch=sparc", "ldg2"],
        "cpu-arch 'sparc' is not known",
    );
    assert_refused(
        &host,
        &["add-domain", "colour=red", "ldg2"],
        "not a property of add-domain",
    );
    assert_refused(
        &host,
        &["add-domain", "cpu-arch=generic"],
        "must be the domain name",
    );
    // A name of exactly 64 characters is fine.
    host.ldm(&["add-domain", &"b".repeat(64)]).ok();
    assert_survives_restarts(&mut host);
}

#[test]
fn malformed_sizes_are_refused() {
    let mut host = Host::start(HostOpts::default());
    host.ldm(&["add-domain", "ldg1"]).ok();
    for verb in ["set-memory", "add-memory", "rm-memory"] {
        for bad in ["12X", "1.5G", "abc", "G2", "1,5G"] {
            let out = assert_refused(&host, &[verb, bad, "ldg1"], "is not a size");
            assert!(out.stderr.contains("512M or 2G"), "{}", out.stderr);
        }
        assert_refused(&host, &[verb, "0M", "ldg1"], "zero");
        assert_refused(&host, &[verb, "1000K", "ldg1"], "whole number of megabytes");
    }
    // A leading '-' is an option to the command line: a usage error.
    host.ldm(&["set-memory", "-1G", "ldg1"]).fails();
    assert_refused(&host, &["set-memory", "64M", "ldg1"], "at least 128M");
    assert_refused(&host, &["rm-memory", "512M", "ldg1"], "cannot remove");
    assert_refused(&host, &["rm-memory", "1G", "ldg1"], "cannot remove");
    assert_refused(&host, &["set-memory", "1G", "primary"], "ldmd --memory");
    // The defaults were kept.
    let d = &domain(&host, "ldg1");
    assert_eq!(d["mem"], (512u64 << 20).to_string());
    // Good sizes in every spelling are taken.
    for (size, mib) in [
        ("1g", 1024u64),
        ("1536M", 1536),
        ("2GB", 2048),
        ("536870912", 512),
    ] {
        host.ldm(&["set-memory", size, "ldg1"]).ok();
        let d = &domain(&host, "ldg1");
        assert_eq!(d["mem"], (mib << 20).to_string(), "set-memory {size}");
    }
    assert_survives_restarts(&mut host);
}

#[test]
fn bad_vcpu_counts_are_refused() {
    let mut host = Host::start(HostOpts::default().vcpus(2));
    host.ldm(&["add-domain", "ldg1"]).ok();
    let out = assert_refused(&host, &["set-vcpu", "0", "ldg1"], "at least 1 vCPU");
    assert!(out.stdout.is_empty());
    assert_refused(&host, &["rm-vcpu", "1", "ldg1"], "cannot remove 1 vCPUs");
    assert_refused(&host, &["set-vcpu", "3", "ldg1"], "at most 2 vCPUs");
    assert_refused(&host, &["add-vcpu", "2", "ldg1"], "at most 2 vCPUs");
    assert_refused(&host, &["set-vcpu", "0", "primary"], "at least 1 vCPU");
    assert_refused(&host, &["set-vcpu", "65", "primary"], "1 to 64 vCPUs");
    // Usage errors are caught by the command line itself.
    host.ldm(&["set-vcpu", "-2", "ldg1"]).fails();
    host.ldm(&["set-vcpu", "two", "ldg1"])
        .fails_with("invalid value");
    host.ldm(&["set-vcpu", "2", "ldg1"]).ok();
    assert_survives_restarts(&mut host);
}

#[test]
fn binding_more_than_the_host_has_is_refused() {
    let mut host = Host::start(HostOpts::default().vcpus(2).memory("1G"));
    let dev = host.ldm(&["list-devices", "-p"]);
    dev.ok()
        .stdout_has("VCPU|free=2|total=2")
        .stdout_has(&format!("MEMORY|free={0}|total={0}", 1u64 << 30));
    define(&host, "big");
    // More memory than the host gives cannot even be defined.
    assert_refused(&host, &["set-memory", "2G", "big"], "at most 1G of memory");
    assert_eq!(domain(&host, "big")["state"], "inactive");
    // More vCPUs than the host has cannot even be defined.
    assert_refused(&host, &["set-vcpu", "3", "big"], "at most 2 vCPUs");

    // What others hold counts: bind one, then the second does not fit.
    host.ldm(&["set-memory", "768M", "big"]).ok();
    host.ldm(&["bind-domain", "big"]).ok();
    define(&host, "other");
    host.ldm(&["set-vcpu", "2", "other"]).ok();
    let out = assert_refused(
        &host,
        &["bind-domain", "other"],
        "not enough free resources",
    );
    assert!(
        out.stderr
            .contains("2 vCPUs requested but only 1 available"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("512M of memory requested but only 256M available"),
        "{}",
        out.stderr
    );
    // Growing a bound domain beyond what is free is refused too.
    assert_refused(
        &host,
        &["add-vcpu", "2", "big"],
        "3 vCPUs requested but only 2 available",
    );
    host.ldm(&["list-devices", "-p"])
        .ok()
        .stdout_has("VCPU|free=1|total=2")
        .stdout_has(&format!(
            "MEMORY|free={}|total={}",
            256u64 << 20,
            1u64 << 30
        ));
    assert_survives_restarts(&mut host);
}

#[test]
fn lifecycle_verbs_in_the_wrong_state_are_refused() {
    let mut host = Host::start(HostOpts::default().vcpus(8));
    define(&host, "ldg1");
    assert_refused(
        &host,
        &["start-domain", "ldg1"],
        "bind it first with `ldm bind-domain ldg1`",
    );
    assert_refused(&host, &["unbind-domain", "ldg1"], "not bound");
    assert_refused(&host, &["stop-domain", "ldg1"], "not running");
    assert_refused(
        &host,
        &["console", "ldg1"],
        "start it with `ldm start-domain ldg1`",
    );
    host.ldm(&["bind-domain", "ldg1"]).ok();
    assert_refused(&host, &["bind-domain", "ldg1"], "already bound");
    assert_refused(
        &host,
        &["remove-domain", "ldg1"],
        "unbind it first with `ldm unbind-domain ldg1`",
    );
    assert_refused(&host, &["stop-domain", "ldg1"], "not running");
    assert_refused(
        &host,
        &["set-domain", "cpu-arch=sparc64", "ldg1"],
        "use cpu-arch=native, generic or migration-class1",
    );
    assert_refused(&host, &["set-domain", "max-vcpus=0", "ldg1"], "max-vcpus=0");
    assert_refused(&host, &["console", "ldg1"], "is not running");
    assert_eq!(domain(&host, "ldg1")["state"], "bound");

    // A bound domain without a kernel cannot start, and says how to fix it.
    host.ldm(&["add-domain", "nokernel"]).ok();
    host.ldm(&["bind-domain", "nokernel"]).ok();
    assert_refused(
        &host,
        &["start-domain", "nokernel"],
        "set it with `ldm set-var kernel=PATH nokernel`",
    );
    // A kernel that went away since set-var: the error names the file.
    define(&host, "gone");
    host.ldm(&["bind-domain", "gone"]).ok();
    std::fs::remove_file(host.root().join("fake-vmlinuz")).unwrap();
    let out = assert_refused(
        &host,
        &["start-domain", "gone"],
        "does not exist on this host",
    );
    assert!(out.stderr.contains("fake-vmlinuz"), "{}", out.stderr);
    assert!(host.qemu_pids().is_empty());
    assert_survives_restarts(&mut host);
}

#[test]
fn bad_variables_are_refused() {
    let mut host = Host::start(HostOpts::default());
    define(&host, "ldg1");
    assert_refused(
        &host,
        &["set-var", "kernel=/nonexistent/vmlinuz", "ldg1"],
        "no such file",
    );
    let out = assert_refused(
        &host,
        &["set-var", "initrd=/nonexistent/initrd.img", "ldg1"],
        "no such file",
    );
    assert!(out.stderr.contains("guest/build"), "{}", out.stderr);
    assert_refused(&host, &["set-var", "kernel=/tmp", "ldg1"], "no such file");
    assert_refused(
        &host,
        &["set-var", "kernel=guest/out/vmlinuz", "ldg1"],
        "give an absolute path",
    );
    assert_refused(
        &host,
        &["set-var", "colour=blue", "ldg1"],
        "'colour' is not a variable ldm knows",
    );
    assert_refused(
        &host,
        &["set-var", "kernel", "ldg1"],
        "is not of the form PROPERTY=VALUE",
    );
    assert_refused(
        &host,
        &["set-var", "ldg1", "boot-args=x"],
        "must be the domain name",
    );
    // One bad variable spoils the whole command: the good one is not applied.
    assert_refused(
        &host,
        &["set-var", "boot-args=changed", "colour=blue", "ldg1"],
        "not a variable",
    );
    assert_refused(
        &host,
        &[
            "set-var",
            "boot-args=changed",
            "kernel=/nonexistent",
            "ldg1",
        ],
        "no such file",
    );
    let vars = host.ldm(&["list", "-o", "variables", "-p", "ldg1"]);
    vars.ok().stdout_has("VARIABLES|boot-args=memwork=64,8");
    assert!(!vars.stdout.contains("changed"), "{}", vars.stdout);
    // Bad set-domain properties.
    assert_refused(
        &host,
        &["set-domain", "migration-downtime=soon", "ldg1"],
        "give a whole number",
    );
    assert_refused(
        &host,
        &["set-domain", "colour=blue", "ldg1"],
        "not a domain property",
    );
    assert_refused(
        &host,
        &["list", "-o", "bogus", "ldg1"],
        "'bogus' is not a format",
    );
    assert_survives_restarts(&mut host);
}

#[test]
fn bad_console_services_are_refused() {
    let mut host = Host::start(HostOpts::default());
    let (lo, hi) = host.console_range();
    let (slo, shi) = host.ports().spare_range();
    for range in [
        "port-range=5000",
        "port-range=6010-6000",
        "port-range=0-10",
        "port-range=a-b",
        "port-range=70000-70001",
    ] {
        assert_refused(
            &host,
            &["add-vcc", range, "vcc1", "primary"],
            "is not a port range",
        );
    }
    assert_refused(
        &host,
        &["add-vcc", "6000-6010", "vcc1", "primary"],
        "is not port-range=A-B",
    );
    assert_refused(
        &host,
        &[
            "add-vcc",
            &format!("port-range={slo}-{shi}"),
            "vcc1",
            "ldg1",
        ],
        "services run in the primary domain",
    );
    let out = assert_refused(
        &host,
        &[
            "add-vcc",
            &format!("port-range={}-{}", hi, hi + 5),
            "vcc1",
            "primary",
        ],
        "overlap",
    );
    assert!(out.stderr.contains("primary-vcc0"), "{}", out.stderr);
    assert_refused(
        &host,
        &[
            "add-vcc",
            &format!("port-range={slo}-{shi}"),
            "primary-vcc0",
            "primary",
        ],
        "already exists",
    );
    assert_refused(
        &host,
        &["set-vcc", &format!("port-range={slo}-{shi}"), "nosuch"],
        "service nosuch does not exist",
    );
    assert_refused(
        &host,
        &["remove-vcc", "nosuch"],
        "service nosuch does not exist",
    );
    // A service serving a bound domain's console cannot lose that port.
    define(&host, "ldg1");
    host.ldm(&["bind-domain", "ldg1"]).ok();
    let cons = domain(&host, "ldg1")["cons"].clone();
    assert_eq!(cons, lo.to_string(), "the first port of the range");
    assert_refused(&host, &["remove-vcc", "primary-vcc0"], "unbind them first");
    assert_refused(
        &host,
        &[
            "set-vcc",
            &format!("port-range={}-{}", lo + 1, hi),
            "primary-vcc0",
        ],
        "unbind them first",
    );
    assert_survives_restarts(&mut host);
}

#[test]
fn missing_or_old_qemu_is_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("qemu-old");
    std::fs::write(
        &old,
        "#!/bin/sh\necho 'QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u7)'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (qemu, phrase) in [
        (
            std::path::PathBuf::from("/nonexistent/qemu-system-x86_64"),
            "QEMU not found",
        ),
        (old, "QEMU 7.2.15"),
    ] {
        let mut host = Host::start(HostOpts::default().qemu(&qemu));
        define(&host, "ldg1");
        host.ldm(&["bind-domain", "ldg1"]).ok();
        let out = assert_refused(&host, &["start-domain", "ldg1"], phrase);
        assert!(
            out.stderr
                .contains("apt-get install -t bookworm-backports qemu-system-x86"),
            "{}",
            out.stderr
        );
        assert_eq!(domain(&host, "ldg1")["state"], "bound");
        assert!(host.qemu_pids().is_empty());
        // list-devices -l tells the same before anyone tries.
        host.ldm(&["list-devices", "-l"])
            .ok()
            .stdout_has("unusable")
            .stdout_has("bookworm-backports");
        assert_survives_restarts(&mut host);
    }
}
