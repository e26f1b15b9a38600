//! Domains that boot the real test guest. Every test here is named `guest_…`
//! and holds the guest lock: they run one at a time.

use ldm_e2e::procs::{signal, wait_gone};
use ldm_e2e::*;
use std::time::{Duration, Instant};

fn row(host: &Host, name: &str) -> TableRow {
    let out = host.ldm(&["list"]);
    out.ok();
    parse_table(&out.stdout)
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} not in `ldm list`:\n{}", out.stdout))
}

fn json(host: &Host) -> Vec<serde_json::Value> {
    let out = host.ldm(&["list", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`ldm list --json` is not JSON ({e}):\n{}", out.stdout));
    v.as_array().expect("an array of domains").clone()
}

/// Asserts the memwork lines of `text` from `from_seq` on are consecutive,
/// all OK, without errors.
#[track_caller]
fn assert_healthy(text: &str, from_seq: u64) {
    let lines: Vec<MemworkLine> = memwork_lines(text)
        .into_iter()
        .filter(|l| l.seq >= from_seq)
        .collect();
    assert!(!lines.is_empty(), "no memwork lines from seq {from_seq}");
    for w in lines.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "a gap in the memwork lines: {w:?}");
        assert!(
            w[1].gen > w[0].gen,
            "memwork stopped dirtying memory: {w:?}"
        );
    }
    for l in &lines {
        assert_eq!((l.status.as_str(), l.errors), ("OK", 0), "{l:?}");
    }
}

#[test]
fn guest_walkthrough() {
    let _lock = guest_lock();
    let (kernel, initrd) = guest_image();
    let mut host = Host::start(HostOpts::default());
    let (lo, hi) = host.console_range();

    // Define.
    host.ldm(&["add-domain", "ldg1"]).ok();
    let r = row(&host, "ldg1");
    assert_eq!(
        (r.state.as_str(), r.flags.as_str(), r.cons.as_str()),
        ("inactive", "------", "")
    );
    host.ldm(&["set-vcpu", "2", "ldg1"]).ok();
    host.ldm(&["set-memory", "512M", "ldg1"]).ok();
    host.ldm(&[
        "set-var",
        &format!("kernel={}", kernel.display()),
        &format!("initrd={}", initrd.display()),
        "boot-args=console=ttyS0 memwork=64,8",
        "ldg1",
    ])
    .ok();
    host.ldm(&["list", "-l", "ldg1"])
        .ok()
        .stdout_has(&format!("kernel={}", kernel.display()))
        .stdout_has("boot-args=console=ttyS0 memwork=64,8");

    // Bind: a console port from the vcc range.
    host.ldm(&["bind-domain", "ldg1"]).ok();
    let r = row(&host, "ldg1");
    assert_eq!((r.state.as_str(), r.flags.as_str()), ("bound", "------"));
    let port: u16 = r.cons.parse().expect("CONS is a port number");
    assert!((lo..=hi).contains(&port), "port {port} outside {lo}-{hi}");

    // Start.
    let start = host.ldm(&["start-domain", "ldg1"]);
    let started = Instant::now();
    start.ok().stdout_has("LDom ldg1 started");
    let r = row(&host, "ldg1");
    assert_eq!(
        (
            r.state.as_str(),
            r.flags.as_str(),
            r.cons.as_str(),
            r.vcpu.as_str(),
            r.memory.as_str()
        ),
        ("active", "-n----", port.to_string().as_str(), "2", "512M"),
        "{r:?}"
    );
    assert!(r.util.ends_with('%'), "{r:?}");
    assert!(r.uptime.ends_with('s') || r.uptime.ends_with('m'), "{r:?}");
    let primary = row(&host, "primary");
    assert_eq!(
        (
            primary.state.as_str(),
            primary.flags.as_str(),
            primary.cons.as_str()
        ),
        ("active", "-n-cv-", "UART")
    );

    // The guest runs its workload and reports 2 CPUs.
    let (first, seen) = wait_for_memwork_after(&host, "ldg1", 1, FIRST_LINE_TIMEOUT);
    eprintln!(
        "TIMING: start-domain returned -> first memwork line: {:.1} s (seq={})",
        seen.duration_since(started).as_secs_f64(),
        first.seq
    );
    let later = wait_for_memwork(&host, "ldg1", first.seq + 2, Duration::from_secs(30));
    assert!(later.seq > first.seq && later.gen > first.gen);
    let text = console_dump(&host, "ldg1");
    assert!(
        text.contains("guest: booted cpus=2 "),
        "{}",
        tail_lines(&text, 30)
    );
    let st = memwork_start(&text).expect("memwork start line");
    assert_eq!((st.cpus, st.working_set_mib, st.rate_mib_s), (2, 64, 8));
    assert!(
        st.mem_total_kib > 256 * 1024 && st.mem_total_kib <= 512 * 1024,
        "{st:?}"
    );
    assert_healthy(&text, 1);

    // Parseable and JSON listings say the same.
    let p = domain(&host, "ldg1");
    assert_eq!(p["state"], "active");
    assert_eq!(p["flags"], "-n----");
    assert_eq!(p["cons"], port.to_string());
    assert_eq!(p["ncpu"], "2");
    assert_eq!(p["mem"], (512u64 << 20).to_string());
    assert!(p["util"].parse::<f64>().is_ok(), "{p:?}");
    assert!(p["uptime"].parse::<u64>().is_ok(), "{p:?}");
    let pp = domain(&host, "primary");
    assert_eq!(
        (pp["flags"].as_str(), pp["cons"].as_str()),
        ("-n-cv-", "UART")
    );
    let pid = qemu_pid(&host, "ldg1").expect("pid= in the CONTROL section of `ldm list -l`");
    assert!(pid_alive(pid));
    let j = json(&host);
    let jd = j
        .iter()
        .find(|d| d["name"] == "ldg1")
        .expect("ldg1 in --json");
    assert_eq!(jd["state"], "active");
    assert_eq!(jd["cons"], port.to_string());
    assert_eq!(jd["vcpus"], 2);
    assert_eq!(jd["memory_mib"], 512);
    assert_eq!(jd["flags"]["status"], "normal");
    assert_eq!(jd["machine"]["pid"], pid);
    assert_eq!(jd["vars"]["boot_args"], "console=ttyS0 memwork=64,8");
    let jp = j
        .iter()
        .find(|d| d["name"] == "primary")
        .expect("primary in --json");
    assert_eq!(jp["cons"], "UART");
    assert_eq!(
        (
            jp["flags"]["control"].as_bool(),
            jp["flags"]["vio_service"].as_bool()
        ),
        (Some(true), Some(true))
    );

    // A running domain can't be removed or unbound, nor given memory
    // without max-memory (its vCPUs, and memory within max-memory, change
    // live: resources.rs).
    assert_refused(
        &host,
        &["remove-domain", "ldg1"],
        "stop it with `ldm stop-domain ldg1`",
    );
    assert_refused(&host, &["unbind-domain", "ldg1"], "stop it first");
    assert_refused(
        &host,
        &["set-memory", "1G", "ldg1"],
        "runs without hot-pluggable memory: stop it, set `ldm set-domain max-memory=SIZE ldg1`",
    );
    assert_refused(&host, &["start-domain", "ldg1"], "already active");
    assert_refused(&host, &["bind-domain", "ldg1"], "already bound");

    // kill -9 ldmd: the domain keeps running, and the new ldmd adopts it.
    let before = wait_for_memwork(&host, "ldg1", 0, Duration::from_secs(5));
    host.kill9();
    std::thread::sleep(Duration::from_secs(2));
    assert!(pid_alive(pid), "QEMU died with ldmd");
    host.start_daemon();
    let r = row(&host, "ldg1");
    assert_eq!(
        (r.state.as_str(), r.flags.as_str(), r.cons.as_str()),
        ("active", "-n----", port.to_string().as_str())
    );
    assert_eq!(
        qemu_pid(&host, "ldg1"),
        Some(pid),
        "the same QEMU after the restart"
    );
    let after = wait_for_memwork(&host, "ldg1", before.seq + 3, Duration::from_secs(30));
    assert!(after.uptime > before.uptime);
    // What the guest printed while ldmd was down is in the console too.
    assert_healthy(&console_dump(&host, "ldg1"), before.seq);

    // Stop, unbind, remove.
    let t = Instant::now();
    let stop = host.ldm(&["stop-domain", "ldg1"]);
    stop.ok().stdout_has("LDom ldg1 stopped");
    eprintln!(
        "TIMING: stop-domain took {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        stop.stdout.trim()
    );
    assert!(
        wait_gone(pid, Duration::from_secs(10)),
        "QEMU {pid} still runs after stop-domain"
    );
    let r = row(&host, "ldg1");
    assert_eq!(
        (
            r.state.as_str(),
            r.flags.as_str(),
            r.cons.as_str(),
            r.util.as_str(),
            r.uptime.as_str()
        ),
        ("bound", "------", port.to_string().as_str(), "", "")
    );
    assert_eq!(qemu_pid(&host, "ldg1"), None);
    // The console output of the stopped domain can still be read.
    assert!(last_memwork(&console_dump(&host, "ldg1")).is_some());
    host.ldm(&["unbind-domain", "ldg1"]).ok();
    let r = row(&host, "ldg1");
    assert_eq!((r.state.as_str(), r.cons.as_str()), ("inactive", ""));
    host.ldm(&["remove-domain", "ldg1"]).ok();
    let names: Vec<String> = parse_table(&host.ldm(&["list"]).stdout)
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["primary"]);
    host.ldm(&["list", "ldg1"]).fails_with("does not exist");
    assert!(host.qemu_pids().is_empty());
}

#[test]
fn guest_console_is_interactive() {
    let _lock = guest_lock();
    let host = Host::start(HostOpts::default());
    boot_domain(&host, "ldg1", 1, "512M", "64,8");
    wait_for_memwork(&host, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let port: u16 = domain(&host, "ldg1")["cons"].parse().unwrap();

    // A telnet-like client first gets the replayed output.
    let mut con = ConsoleClient::connect(host.console_addr(), port);
    let replay = con.expect("memwork seq=", Duration::from_secs(10));
    assert!(
        replay.contains("guest: press Enter for a shell"),
        "{replay}"
    );
    // A second client sees the same live output.
    let mut watcher = ConsoleClient::connect(host.console_addr(), port);
    watcher.expect("memwork seq=", Duration::from_secs(10));

    // Enter gives a shell, which runs commands.
    let mark = con.len();
    con.send(b"\n");
    con.expect_after(mark, "ldm-guest:/# ", Duration::from_secs(30));
    let mark = con.len();
    con.send(b"echo hello-$((6*7))\n");
    let got = con.expect_after(mark, "hello-42", Duration::from_secs(30));
    assert!(
        got.contains("hello-$((6*7))"),
        "the console echoes what is typed: {got}"
    );
    let mark = watcher.len();
    watcher.expect_after(mark, "memwork seq=", Duration::from_secs(10));
    assert!(
        watcher.text().contains("hello-42"),
        "the second client saw the command's output"
    );
    drop(con);
    drop(watcher);

    // `ldm console` with piped input works without a terminal.
    let out = host.ldm_with_input(&["console", "ldg1"], b"echo piped-$((40+2))\n");
    out.ok().stdout_has("piped-42");
    assert!(
        out.stderr.contains("Connected to the console of ldg1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("memwork seq="),
        "the replay comes first: {}",
        out.stdout
    );
    // Ctrl-] ends the session at once.
    let out = host.ldm_with_input(
        &["console", "ldg1"],
        b"echo before\n\x1decho after-$((1+1))\n",
    );
    out.ok();
    assert!(
        !out.stdout.contains("after-2"),
        "input after Ctrl-] was sent: {}",
        out.stdout
    );
    // The guest still runs fine.
    assert_healthy(&console_dump(&host, "ldg1"), 1);
}

#[test]
fn guest_qemu_death_leaves_domain_bound() {
    let _lock = guest_lock();
    let mut host = Host::start(HostOpts::default());
    boot_domain(&host, "ldg1", 1, "512M", "64,8");
    let last = wait_for_memwork(&host, "ldg1", 2, FIRST_LINE_TIMEOUT);
    let port = domain(&host, "ldg1")["cons"].clone();
    let pid = qemu_pid(&host, "ldg1").unwrap();

    // QEMU dies while ldmd runs: ldmd notices and shows the domain bound.
    signal(pid, libc::SIGKILL);
    assert!(wait_gone(pid, Duration::from_secs(10)));
    let p = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        let p = domain(&host, "ldg1");
        (p["state"] == "bound").then_some(p)
    })
    .expect("ldmd did not notice that QEMU died");
    assert_eq!(p["flags"], "------", "{p:?}");
    assert_eq!(p["cons"], port, "keeps its binding");
    assert_eq!(qemu_pid(&host, "ldg1"), None);

    // QEMU dies while ldmd is down: the restarted ldmd shows it bound.
    host.ldm(&["start-domain", "ldg1"]).ok();
    let pid = qemu_pid(&host, "ldg1").unwrap();
    host.kill9();
    signal(pid, libc::SIGKILL);
    assert!(wait_gone(pid, Duration::from_secs(10)));
    host.start_daemon();
    let p = domain(&host, "ldg1");
    assert_eq!(
        (p["state"].as_str(), p["flags"].as_str()),
        ("bound", "------"),
        "{p:?}"
    );
    assert_eq!(p["cons"], port, "keeps its binding");
    assert_eq!(qemu_pid(&host, "ldg1"), None);

    // It can be started again, and boots afresh.
    host.ldm(&["start-domain", "ldg1"]).ok();
    let pid2 = qemu_pid(&host, "ldg1").unwrap();
    assert_ne!(pid2, pid);
    let fresh = wait_for_next_boot(&host, "ldg1", &last, FIRST_LINE_TIMEOUT);
    assert_eq!(fresh.status, "OK");
    assert_eq!(domain(&host, "ldg1")["state"], "active");
}

#[test]
fn guest_domain_survives_ldmd_sigterm() {
    let _lock = guest_lock();
    let mut host = Host::start(HostOpts::default());
    boot_domain(&host, "ldg1", 1, "512M", "64,8");
    let before = wait_for_memwork(&host, "ldg1", 1, FIRST_LINE_TIMEOUT);
    let pid = qemu_pid(&host, "ldg1").unwrap();
    let port: u16 = domain(&host, "ldg1")["cons"].parse().unwrap();

    let status = host.terminate();
    assert!(status.success(), "ldmd exited with {status} on SIGTERM");
    assert!(
        host.log().contains("domains keep running"),
        "{}",
        host.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(pid_alive(pid), "a graceful stop of ldmd stopped the domain");

    host.start_daemon();
    let p = domain(&host, "ldg1");
    assert_eq!(
        (p["state"].as_str(), p["flags"].as_str()),
        ("active", "-n----")
    );
    assert_eq!(qemu_pid(&host, "ldg1"), Some(pid));
    wait_for_memwork(&host, "ldg1", before.seq + 4, Duration::from_secs(30));
    assert_healthy(&console_dump(&host, "ldg1"), before.seq);
    // Its console is served again on the same port.
    let mut con = ConsoleClient::connect(host.console_addr(), port);
    con.expect("memwork seq=", Duration::from_secs(10));
    // And it can be stopped by the new ldmd.
    let last = wait_for_memwork(&host, "ldg1", 0, Duration::from_secs(5));
    host.ldm(&["stop-domain", "-f", "ldg1"]).ok();
    assert!(wait_gone(pid, Duration::from_secs(10)));
    assert_eq!(domain(&host, "ldg1")["state"], "bound");
    // Started again, it boots afresh on the same console port.
    host.ldm(&["start-domain", "ldg1"]).ok();
    let fresh = wait_for_next_boot(&host, "ldg1", &last, FIRST_LINE_TIMEOUT);
    assert_eq!(fresh.status, "OK");
    let p = domain(&host, "ldg1");
    assert_eq!(
        (p["state"].as_str(), p["cons"].as_str()),
        ("active", port.to_string().as_str())
    );
    let mut con = ConsoleClient::connect(host.console_addr(), port);
    con.expect("memwork seq=", Duration::from_secs(10));
    let mark = con.len();
    con.expect_after(mark, "memwork seq=", Duration::from_secs(10));
}

#[test]
fn guest_idle_domain_footprint() {
    let _lock = guest_lock();
    let host = Host::start(HostOpts::default());
    let started = boot_domain(&host, "ldg1", 1, "512M", "64,8");
    let pid = qemu_pid(&host, "ldg1").unwrap();
    let (first, seen) = wait_for_memwork_after(&host, "ldg1", 1, FIRST_LINE_TIMEOUT);
    let boot = seen.duration_since(started);
    let ten = started + Duration::from_secs(10);
    if let Some(d) = ten.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
    let rss = vm_rss_kib(pid).expect("VmRSS of QEMU");
    eprintln!(
        "TIMING: start-domain returned -> first memwork line: {:.1} s (seq={}); \
         QEMU VmRSS 10 s after start (512M, memwork=64,8): {} MiB",
        boot.as_secs_f64(),
        first.seq,
        rss / 1024
    );
    // The guest touches its 64 MiB working set plus the kernel and initramfs;
    // QEMU must not have touched all 512M of guest memory.
    assert!(
        rss > 64 * 1024,
        "VmRSS {rss} KiB is less than the working set"
    );
    assert!(
        rss < 512 * 1024,
        "VmRSS {rss} KiB: the whole guest memory was touched"
    );
    let util: f64 = domain(&host, "ldg1")["util"].parse().unwrap();
    eprintln!("UTIL of the idle domain: {util:.1}%");
}
