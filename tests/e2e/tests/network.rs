//! The guest's network without ldmd: QEMU started directly in a lab host's
//! namespace with a virtio NIC on a tap, bridged to the host's uplink on
//! the wire. From the client namespace the guest answers ping, UDP echo
//! and a held TCP echo connection, and QEMU's announce-self reaches the
//! wire.

use ldm_e2e::lab::probe::{HeldConnection, UdpProbe, ECHO_PORT};
use ldm_e2e::lab::{guest_addr, guest_mac};
use ldm_e2e::*;
use ldm_qemu::{AnnounceSelf, MachineConfig, NicConfig, Qmp};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const TAP: &str = "ldmtap0";

fn machine(dir: &Path) -> MachineConfig {
    let (kernel, initrd) = guest_image();
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap();
    let mut cfg = MachineConfig::new("netg", uuid.trim().parse().unwrap(), dir);
    cfg.memory_mib = 256;
    cfg.kernel = Some(kernel);
    cfg.initrd = Some(initrd);
    cfg.append = format!("console=ttyS0 memwork=16,1 ldm_ip={}/24", guest_addr(0));
    cfg.console_log = Some(dir.join("console.log"));
    cfg.nics = vec![NicConfig {
        ifname: TAP.into(),
        mac: guest_mac(0),
        mtu: None,
    }];
    cfg
}

fn console(cfg: &MachineConfig) -> String {
    let log = cfg.console_log.as_ref().unwrap();
    String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned()
}

/// `busybox ping -c 3` of the guest from the client namespace (the host
/// has no ping of its own; the guest image's busybox has one).
fn ping_from_client(lab: &Lab) -> Output {
    let busybox = guest_image().0.parent().unwrap().join("busybox");
    let mut c = netns::command(&lab.client_ns(), busybox);
    c.args(["ping", "-c", "3", "-W", "5", &guest_addr(0).to_string()])
        .stdin(Stdio::null());
    ldm_e2e::output::run(c, None, Duration::from_secs(30))
}

/// A packet socket in the client namespace that receives RARP frames.
fn rarp_listener(lab: &Lab) -> OwnedFd {
    const ETH_P_RARP: u16 = 0x8035;
    lab.in_client(|| {
        // SAFETY: plain socket creation; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                i32::from(ETH_P_RARP.to_be()),
            )
        };
        assert!(
            fd >= 0,
            "packet socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fd is a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY: tv outlives the call and its size is passed.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
        fd
    })
}

/// Source MACs of the RARP frames received within `within`.
fn rarp_sources(fd: &OwnedFd, within: Duration) -> Vec<String> {
    let end = std::time::Instant::now() + within;
    let mut sources = Vec::new();
    let mut buf = [0u8; 1514];
    while std::time::Instant::now() < end {
        // SAFETY: buf is writable for its whole length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 12 {
            let mac: Vec<String> = buf[6..12].iter().map(|b| format!("{b:02x}")).collect();
            sources.push(mac.join(":"));
        }
    }
    sources
}

#[test]
fn guest_on_a_tap_bridged_to_the_wire_answers_ping_udp_and_tcp_echo() {
    let _lock = guest_lock();
    let lab = Lab::start(LabOpts::hosts(1));
    let dir = tempfile::tempdir().unwrap();
    let cfg = machine(dir.path());
    lab.tap_on_wire(0, TAP);
    lab.launch_qemu(0, &cfg, false);

    // The guest set its address on its virtio NIC and its echo service
    // listens, before memwork's first line.
    let net_line = format!(
        "guest: net eth0 mac={} ip={}/24",
        guest_mac(0),
        guest_addr(0)
    );
    let text = poll(FIRST_LINE_TIMEOUT, Duration::from_millis(200), || {
        let t = console(&cfg);
        last_memwork(&t).map(|_| t)
    })
    .unwrap_or_else(|| panic!("no memwork line; console:\n{}", console(&cfg)));
    assert!(text.contains(&net_line), "no {net_line:?} in:\n{text}");
    assert!(text.contains("echo: listening udp+tcp port=7"), "{text}");

    let out = ping_from_client(&lab);
    assert!(
        out.code == Some(0)
            && out
                .stdout
                .contains(&format!("bytes from {}", guest_addr(0))),
        "ping of the guest failed: {out:?}"
    );

    let target = SocketAddr::from((guest_addr(0), ECHO_PORT));
    let held = HeldConnection::open(&lab.client_ns(), target, Duration::from_millis(50))
        .unwrap_or_else(|e| panic!("{e}"));
    let probe = UdpProbe::start(&lab.client_ns(), target);
    let enough = poll(Duration::from_secs(60), Duration::from_millis(50), || {
        (probe.received() >= 500 && held.exchanges() >= 20).then_some(())
    });
    let report = probe.stop();
    let held = held.close();
    eprintln!("UDP probe: {report}");
    eprintln!("held TCP connection: {held:?}");
    assert!(
        enough.is_some(),
        "too few echoes: UDP {report}, TCP {held:?}"
    );
    assert_eq!((report.duplicates, report.foreign), (0, 0), "{report}");
    assert!(held.survived(), "{held:?}");

    // announce-self: QEMU sends RARP frames from the guest's MAC, and they
    // cross the host's bridge and the wire to the client.
    let rarp = rarp_listener(&lab);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut q = Qmp::connect(&cfg.qmp_socket).await.unwrap();
        q.announce_self(&AnnounceSelf::default()).await.unwrap();
    });
    let sources = rarp_sources(&rarp, Duration::from_secs(3));
    let from_guest = sources.iter().filter(|m| **m == guest_mac(0)).count();
    assert!(
        from_guest >= 1,
        "no RARP from {} at the client: {sources:?}",
        guest_mac(0)
    );

    // The guest's memory stayed intact meanwhile.
    let last = last_memwork(&console(&cfg)).unwrap();
    assert_eq!((last.status.as_str(), last.errors), ("OK", 0), "{last:?}");
}
