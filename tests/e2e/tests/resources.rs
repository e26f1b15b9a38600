//! A running domain's resources: vCPUs added and removed live (the guest's
//! own count is the judge), carried by a migration; delayed
//! reconfiguration of what cannot change live.

use ldm_e2e::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Two hosts with room for a few vCPUs, an account `admin` on each, each
/// trusting the other; returns them and the password file.
fn pair() -> (Host, Host, PathBuf) {
    pair_with(HostOpts::default(), HostOpts::default())
}

/// Like [`pair`], from the given options.
fn pair_with(a: HostOpts, b: HostOpts) -> (Host, Host, PathBuf) {
    let p = Pair::with(a.vcpus(8), b.vcpus(8));
    (p.a, p.b, p.pw)
}

fn target(to: &Host) -> String {
    format!("admin@{}", to.listen_addr().unwrap())
}

/// Waits for a memwork line reporting `cpus` online CPUs, after `after_seq`.
#[track_caller]
fn wait_for_cpus(host: &Host, name: &str, cpus: u64, after_seq: u64) -> MemworkLine {
    poll(Duration::from_secs(90), Duration::from_millis(300), || {
        last_memwork(&console_dump(host, name))
            .filter(|l| l.seq > after_seq && l.cpus == Some(cpus))
    })
    .unwrap_or_else(|| {
        panic!(
            "{name} never reported cpus={cpus}; console:\n{}",
            tail_lines(&console_dump(host, name), 30)
        )
    })
}

#[test]
fn guest_vcpus_change_live_and_migrate() {
    let _lock = guest_lock();
    let (a, b, pw) = pair();
    define_domain(&a, "ldg1", 1, "512M", "64,8");
    a.ldm(&["set-domain", "max-vcpus=4", "ldg1"]).ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();
    a.ldm(&["start-domain", "ldg1"]).ok();
    let first = wait_for_memwork(&a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    assert_eq!(first.cpus, Some(1), "{first:?}");

    // Two more, live: the guest brings them online.
    a.ldm(&["add-vcpu", "2", "ldg1"]).ok();
    let three = wait_for_cpus(&a, "ldg1", 3, first.seq);
    assert!(three.healthy(), "{three:?}");
    assert_eq!(domain(&a, "ldg1")["ncpu"], "3");

    // Out of range: refused, nothing changes.
    let before = snapshot(&a);
    assert_refused(&a, &["rm-vcpu", "5", "ldg1"], "only 3");
    assert_refused(&a, &["add-vcpu", "2", "ldg1"], "at most 4");
    assert_eq!(snapshot(&a), before);

    // Migrate: the target recreates the same CPUs.
    let after = moves_with_cpus(&a, &b, &pw, 3, &three);
    assert!(after.gen > three.gen, "{three:?} -> {after:?}");

    // One back, on the target, in the same slots: the guest gives it up.
    b.ldm(&["rm-vcpu", "1", "ldg1"]).ok();
    let two = wait_for_cpus(&b, "ldg1", 2, after.seq);
    assert!(two.healthy(), "{two:?}");
    assert_eq!(domain(&b, "ldg1")["ncpu"], "2");

    // And home again, carrying 2. Under TCG, a QEMU that keeps a removed
    // vCPU's memory listener (10.0 before 10.0.13) could hang in this
    // migration: ldm says so before anything happens, and a restart clears
    // it. A QEMU that destroys the vCPU's address spaces moves it live.
    let tcg = b.ldm(&["list", "-l", "ldg1"]).stdout.contains("accel=tcg");
    let qemu = ldm_qemu::QemuBinary::probe(None).expect("qemu-system-x86_64 on PATH");
    let keeps_listener = tcg && !qemu.version.destroys_unplugged_cpu_spaces();
    let back = [
        "migrate-domain",
        "-p",
        pw.to_str().unwrap(),
        "ldg1",
        &target(&a),
    ];
    let mut last = two;
    if keeps_listener {
        let dry = [&back[..1], &["-n"], &back[1..]].concat();
        assert_refused(&b, &dry, "had a vCPU removed while it runs");
        assert_refused(&b, &back, "ldm stop-domain ldg1");
        b.ldm(&["stop-domain", "ldg1"]).ok();
        b.ldm(&["start-domain", "ldg1"]).ok();
        last = wait_for_next_boot(&b, "ldg1", &last, FIRST_LINE_TIMEOUT);
        assert_eq!(last.cpus, Some(2), "{last:?}");
    }
    b.ldm(&back).ok();
    assert_eq!(domain(&a, "ldg1")["ncpu"], "2");
    // A's console still holds its lines from before (1 and 3 CPUs).
    let home = wait_for_cpus(&a, "ldg1", 2, last.seq);
    assert!(home.healthy(), "{home:?}");
    if keeps_listener {
        return;
    }

    // Once more after a removal, on the host that booted it: 2 -> 3 -> 1,
    // then to B live.
    a.ldm(&["add-vcpu", "1", "ldg1"]).ok();
    let three = wait_for_cpus(&a, "ldg1", 3, home.seq);
    a.ldm(&["rm-vcpu", "2", "ldg1"]).ok();
    let one = wait_for_cpus(&a, "ldg1", 1, three.seq);
    assert!(one.healthy(), "{one:?}");
    moves_with_cpus(&a, &b, &pw, 1, &one);
}

/// Moves `ldg1` live from `from` to `to`; the target lists `cpus` vCPUs
/// and the guest's own line after `after` reports them, memory healthy.
#[track_caller]
fn moves_with_cpus(
    from: &Host,
    to: &Host,
    pw: &Path,
    cpus: u64,
    after: &MemworkLine,
) -> MemworkLine {
    migrate_live(from, to, pw, "ldg1", &[]);
    assert_eq!(domain(to, "ldg1")["ncpu"], cpus.to_string());
    let line = wait_for_memwork(to, "ldg1", after.seq + 2, Duration::from_secs(60));
    assert_eq!(line.cpus, Some(cpus), "{line:?}");
    assert!(line.healthy(), "{line:?}");
    line
}

#[test]
fn guest_delayed_reconfiguration_waits_for_the_next_start() {
    let _lock = guest_lock();
    let (a, b, pw) = pair();
    boot_domain(&a, "ldg1", 1, "512M", "64,8");
    let first = wait_for_memwork(&a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let cpu_of = |h: &Host| {
        let l = h.ldm(&["list", "-l", "ldg1"]);
        l.ok();
        l.stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("cpu=").map(str::to_string))
            .expect("cpu= in list -l")
    };
    let native = cpu_of(&a);

    let out = a.ldm(&["set-domain", "cpu-arch=generic", "ldg1"]);
    out.ok();
    assert!(
        out.stdout.contains("delayed reconfiguration"),
        "{}",
        out.stdout
    );
    assert_eq!(domain(&a, "ldg1")["flags"], "-nd---");
    let long = a.ldm(&["list", "-l", "ldg1"]);
    assert!(
        long.stdout
            .contains("DELAYED RECONFIGURATION (applied at the next start)\n    cpu-arch=generic"),
        "{}",
        long.stdout
    );
    // The running machine did not change.
    assert_eq!(cpu_of(&a), native);

    // It blocks migration: the dry run says why, nothing moves.
    let dry = a.ldm(&[
        "migrate-domain",
        "-n",
        "-p",
        pw.to_str().unwrap(),
        "ldg1",
        &target(&b),
    ]);
    assert_ne!(dry.code, Some(0), "{}", dry.stdout);
    let said = format!("{}{}", dry.stdout, dry.stderr);
    assert!(
        said.contains("delayed reconfiguration pending (cpu-arch=generic)"),
        "{said}"
    );
    assert!(!domains(&b).contains_key("ldg1"));

    // cancel-reconf drops it.
    a.ldm(&["cancel-reconf", "ldg1"]).ok();
    assert_eq!(domain(&a, "ldg1")["flags"], "-n----");
    assert!(!a.ldm(&["list", "-l", "ldg1"]).stdout.contains("DELAYED"));
    assert_refused(&a, &["cancel-reconf", "ldg1"], "no delayed reconfiguration");

    // Recorded again, a restart applies it.
    a.ldm(&["set-domain", "cpu-arch=generic", "ldg1"]).ok();
    a.ldm(&["stop-domain", "ldg1"]).ok();
    assert_eq!(domain(&a, "ldg1")["flags"], "--d---");
    a.ldm(&["start-domain", "ldg1"]).ok();
    let r = domain(&a, "ldg1");
    assert_eq!(r["flags"], "-n----");
    assert_eq!(cpu_of(&a), "kvm64");
    assert!(a
        .ldm(&["list", "-l", "ldg1"])
        .stdout
        .contains("cpu-arch=generic"));
    let next = wait_for_next_boot(&a, "ldg1", &first, FIRST_LINE_TIMEOUT);
    assert!(next.healthy(), "{next:?}");
}

/// Two hosts that declare different CPUs: A a Skylake, B a Nehalem.
#[test]
fn guest_cpu_classes_between_hosts_with_different_cpus() {
    let _lock = guest_lock();
    let (a, b, pw) = pair_with(
        HostOpts::default().native_cpu("Skylake-Client-v1"),
        HostOpts::default().native_cpu("Nehalem-v1"),
    );
    let migrate = |name: &str, dry: bool| {
        let mut args = vec!["migrate-domain", "-p", pw.to_str().unwrap()];
        if dry {
            args.push("-n");
        }
        let t = target(&b);
        args.extend([name, t.as_str()]);
        a.ldm(&args)
    };
    assert_refused(
        &a,
        &["add-domain", "cpu-arch=sparc64", "ldgx"],
        "migration-class1",
    );
    assert!(!domains(&a).contains_key("ldgx"));

    // native: QEMU's own expansion names what B's CPU lacks.
    boot_domain(&a, "ldg1", 1, "512M", "32,4");
    wait_for_memwork(&a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let dry = migrate("ldg1", true);
    assert_ne!(dry.code, Some(0), "{}", dry.stdout);
    let said = format!("{}{}", dry.stdout, dry.stderr);
    assert!(said.contains("lacks its features"), "{said}");
    for f in [" avx ", " avx2 ", " fma "] {
        assert!(
            said.contains(f) || said.contains(f.trim_end()),
            "{f}: {said}"
        );
    }
    a.ldm(&["stop-domain", "-f", "ldg1"]).ok();

    // generic and migration-class1 move and keep running.
    for (name, class, model) in [
        ("ldg2", "generic", "kvm64"),
        ("ldg3", "migration-class1", "Nehalem-v1"),
    ] {
        let arch = format!("cpu-arch={class}");
        a.ldm(&["add-domain", &arch, name]).ok();
        let (kernel, initrd) = guest_image();
        a.ldm(&[
            "set-var",
            &format!("kernel={}", kernel.display()),
            &format!("initrd={}", initrd.display()),
            "boot-args=console=ttyS0 memwork=32,4",
            name,
        ])
        .ok();
        a.ldm(&["bind-domain", name]).ok();
        a.ldm(&["start-domain", name]).ok();
        let before = wait_for_memwork(&a, name, 2, FIRST_LINE_TIMEOUT);
        migrate(name, true).ok();
        migrate(name, false).ok();
        let l = b.ldm(&["list", "-l", "-p", name]).stdout;
        assert!(l.contains(&format!("cpu-arch={class}|")), "{l}");
        assert!(l.contains(&format!("|cpu={model}|")), "{l}");
        let after = wait_for_memwork(&b, name, before.seq + 2, Duration::from_secs(60));
        assert!(
            after.healthy() && after.gen > before.gen,
            "{before:?} -> {after:?}"
        );
        b.ldm(&["stop-domain", "-f", name]).ok();
    }
}

/// Waits for a memwork line with `mem_mib` at least `at_least`, after `after_seq`.
#[track_caller]
fn wait_for_mem(
    host: &Host,
    name: &str,
    pred: impl Fn(u64) -> bool,
    after_seq: u64,
) -> MemworkLine {
    poll(Duration::from_secs(120), Duration::from_millis(300), || {
        last_memwork(&console_dump(host, name))
            .filter(|l| l.seq > after_seq && l.mem_mib.is_some_and(&pred))
    })
    .unwrap_or_else(|| {
        panic!(
            "{name} never reported the memory expected; console:\n{}",
            tail_lines(&console_dump(host, name), 30)
        )
    })
}

/// Migrates `name` from `from` to `to` with `extra` options; returns the
/// number of passes the summary reports.
#[track_caller]
fn migrate_live(from: &Host, to: &Host, pw: &Path, name: &str, extra: &[&str]) -> u64 {
    let t = target(to);
    let mut args = vec!["migrate-domain", "-p", pw.to_str().unwrap()];
    args.extend(extra);
    args.extend([name, t.as_str()]);
    let out = from.ldm(&args);
    out.ok();
    eprintln!("{}", out.stdout);
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("passes"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no passes in the summary:\n{}", out.stdout))
}

/// Watches memwork on `host` for `lines` more lines after `after`: every
/// line, the guest's own verdict on its memory, must be healthy and
/// report `mem_mib`.
#[track_caller]
fn stays_healthy(
    host: &Host,
    name: &str,
    after: &MemworkLine,
    lines: u64,
    mem_mib: Option<u64>,
) -> MemworkLine {
    let last = wait_for_memwork(host, name, after.seq + lines, Duration::from_secs(60));
    let text = console_dump(host, name);
    let seen: Vec<MemworkLine> = memwork_lines(&text)
        .into_iter()
        .filter(|l| l.seq > after.seq && l.gen >= after.gen)
        .collect();
    assert!(seen.len() as u64 >= lines, "{seen:?}");
    for l in &seen {
        assert!(l.healthy(), "{l:?}; console:\n{}", tail_lines(&text, 30));
        assert_eq!(l.mem_mib, mem_mib, "{l:?}");
    }
    last
}

/// Memory added live moves live with the domain, under KVM and under
/// TCG: the boot memory's pad keeps QEMU 10.0's TCG tracking the guest's
/// writes to it (`ldm_qemu::BOOT_MEMORY_PAD_KIB`). A slowed move makes
/// QEMU copy in several passes, where lost writes would show.
#[test]
fn guest_memory_changes_live_and_migrates() {
    let _lock = guest_lock();
    let (a, b, pw) = pair();
    define_domain(&a, "ldg1", 1, "1G", "64,8");
    a.ldm(&["set-domain", "max-memory=2G", "ldg1"]).ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();
    a.ldm(&["start-domain", "ldg1"]).ok();
    let first = wait_for_memwork(&a, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let boot = first.mem_mib.expect("mem_mib= in memwork's line");

    // 512M more, live: the verb returns once the guest has it.
    a.ldm(&["add-memory", "512M", "ldg1"]).ok();
    assert_eq!(domain(&a, "ldg1")["mem"], (1536u64 << 20).to_string());
    assert_eq!(domain(&a, "ldg1")["flags"], "-n----");
    let more = wait_for_mem(&a, "ldg1", |m| m >= boot + 480, first.seq);
    assert!(more.healthy(), "{more:?}");
    assert!(more.mem_mib.unwrap() <= boot + 512, "{more:?}");

    // Below the boot memory or above max-memory: refused, nothing changes.
    assert_refused(&a, &["rm-memory", "1G", "ldg1"], "keeps at least that");
    assert_refused(&a, &["add-memory", "1G", "ldg1"], "at most 2G");
    assert_refused(
        &a,
        &["cancel-operation", "memdr", "ldg1"],
        "no memory change",
    );

    // It moves live, its added memory with it; the dry run agrees.
    let tgt = target(&b);
    a.ldm(&[
        "migrate-domain",
        "-n",
        "-p",
        pw.to_str().unwrap(),
        "ldg1",
        &tgt,
    ])
    .ok();
    migrate_live(&a, &b, &pw, "ldg1", &[]);
    assert_eq!(domain(&b, "ldg1")["mem"], (1536u64 << 20).to_string());
    let listed = b.ldm(&["list", "ldg1"]).stdout;
    assert!(listed.contains(" 1536M "), "{listed}");
    let there = stays_healthy(&b, "ldg1", &more, 8, more.mem_mib);
    assert!(there.gen > more.gen, "{more:?} -> {there:?}");

    // Home again slowed to 32 MiB/s: QEMU copies in several passes while
    // memwork writes, and the guest still finds all it wrote.
    let passes = migrate_live(&b, &a, &pw, "ldg1", &["--max-bandwidth", "32"]);
    assert!(passes >= 3, "{passes} passes");
    assert_eq!(domain(&a, "ldg1")["mem"], (1536u64 << 20).to_string());
    let home = stays_healthy(&a, "ldg1", &there, 8, more.mem_mib);

    // Given back live on the host it came home to: the guest's total
    // drops, memwork's set is intact.
    a.ldm(&["rm-memory", "512M", "ldg1"]).ok();
    assert_eq!(domain(&a, "ldg1")["mem"], (1024u64 << 20).to_string());
    let back = wait_for_mem(&a, "ldg1", |m| m + 480 <= more.mem_mib.unwrap(), home.seq);
    assert!(back.healthy(), "{back:?}");
}
