//! Attacks by local users on the local socket and the files, and values
//! out of range from any client: each refused with a reason, `ldm list`
//! answering throughout, nothing on disk or in the database changed.

mod common;

use common::attack::{assert_responsive, rss_kib, snapshot};
use common::Host;
use ldm_api::request::UserRole;
use ldm_api::{Request, ResourceChange};
use ldmd::local_api::MAX_CONNECTIONS_PER_USER;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// nobody's uid and gid.
const NOBODY: u32 = 65534;

/// Runs `f` on a thread of its own whose credentials are `nobody`'s (a
/// raw setresuid changes only the calling thread; the daemon's threads
/// stay root).
fn as_nobody<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: raw syscalls with plain integer arguments; they change
        // only this thread's credentials.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()),
                0
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresgid, NOBODY, NOBODY, NOBODY),
                0
            );
            assert_eq!(
                libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY),
                0
            );
        }
        f()
    })
    .join()
    .expect("the unprivileged thread")
}

/// One request line, raw; the first line of the answer.
fn raw(sock: &PathBuf, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line
}

fn request(req: &Request) -> Vec<u8> {
    let mut v = ldm_api::wire::encode_request(req).unwrap().into_bytes();
    if v.last() != Some(&b'\n') {
        v.push(b'\n');
    }
    v
}

fn sock(host: &Host) -> PathBuf {
    host.root().join(ldm_api::SOCKET_NAME)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_non_utf8_requests_get_refusals_without_growing_memory() {
    let host = Host::start("h").await;
    let s = sock(&host);
    let before = rss_kib();
    let answers = tokio::task::spawn_blocking(move || {
        let big = vec![b'x'; 16 << 20];
        (raw(&s, &big), raw(&s, b"\xff\xfe\xfd{\"op\":\"host\"}\n"))
    })
    .await
    .unwrap();
    assert!(answers.0.contains("larger than 64 KiB"), "{}", answers.0);
    assert!(answers.1.contains("not UTF-8"), "{}", answers.1);
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 16, "memory grew by {grown_mib} MiB");
    assert_responsive(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_an_account_cannot_hold_many_connections_or_read_hashes() {
    let host = Host::start("h").await;
    host.add_user("admin", UserRole::Management).await;
    // Let nobody reach the socket (the root is 0700, as ldmd makes it).
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let before = snapshot(&host);
    let s = sock(&host);
    let db = host.db_path();
    let s2 = s.clone();
    let (held, refused) = as_nobody(move || {
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..MAX_CONNECTIONS_PER_USER + 8 {
            let mut c = UnixStream::connect(&s).expect("connect");
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut b = [0u8; 256];
            match c.read(&mut b) {
                Ok(n) if n > 0 && String::from_utf8_lossy(&b[..n]).contains("refuses") => {
                    refused += 1
                }
                _ => held.push(c),
            }
        }
        (held, refused)
    });
    assert_eq!(held.len(), MAX_CONNECTIONS_PER_USER);
    assert_eq!(refused, 8);
    // Root is never capped.
    assert_responsive(&host).await;
    drop(held);
    let (denied, db_read) = as_nobody(move || {
        // The daemon frees the places as it sees the connections close.
        let mut denied = String::new();
        for _ in 0..50 {
            denied = raw(&s2, &request(&Request::ListUsers));
            if !denied.contains("refuses the connection") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (denied, std::fs::read(&db).is_ok())
    });
    assert!(denied.contains("has no ldm account"), "{denied}");
    assert!(!db_read, "nobody read the database");
    for f in ["ldm.db", "ldm.db-wal"] {
        let m = std::fs::metadata(host.root().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600, "{f}");
    }
    assert_eq!(snapshot(&host).1, before.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_without_root_names_only_files_they_can_read() {
    let host = Host::start("h").await;
    host.add_user("nobody", UserRole::Management).await;
    host.add_domain("ldg1", 1, 512, false).await;
    std::fs::set_permissions(host.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let before = snapshot(&host);
    let s = sock(&host);
    let set = |v: &str| {
        request(&Request::SetVar {
            name: "ldg1".into(),
            vars: vec![("kernel".into(), v.into())],
        })
    };
    let (shadow, missing, hidden, readable) = {
        let (a, b, c, d) = (
            set("/etc/shadow"),
            set("/nonexistent/vmlinuz"),
            set("/root/.bashrc"),
            set("/etc/passwd"),
        );
        as_nobody(move || (raw(&s, &a), raw(&s, &b), raw(&s, &c), raw(&s, &d)))
    };
    for answer in [&shadow, &missing, &hidden] {
        assert!(
            answer.contains("no such file, or you may not read it"),
            "{answer}"
        );
    }
    // The same words whether the file exists or not.
    assert_eq!(
        shadow.replace("/etc/shadow", "X"),
        missing.replace("/nonexistent/vmlinuz", "X")
    );
    assert!(readable.contains("\"ok\""), "{readable}");
    let kernel = host.record("ldg1").unwrap().spec.vars.kernel;
    assert_eq!(kernel.as_deref(), Some("/etc/passwd"));
    assert_eq!(snapshot(&host).0, before.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_out_of_range_are_refused_and_change_nothing() {
    let host = Host::start("h").await;
    host.add_domain("ldg1", 1, 512, false).await;
    let before = snapshot(&host);
    let peer_port = host.peer_addr.port();
    let cases: Vec<(Request, &str)> = vec![
        (
            Request::Memory {
                name: "ldg1".into(),
                change: ResourceChange::Add,
                mib: u64::MAX,
            },
            "out of range",
        ),
        (
            Request::Vcpu {
                name: "ldg1".into(),
                change: ResourceChange::Set,
                count: 256,
            },
            "out of range",
        ),
        (
            Request::SetDomain {
                name: "ldg1".into(),
                cpu_arch: None,
                downtime_ms: Some(u64::MAX),
                bandwidth_mib: None,
                max_vcpus: None,
                max_memory_mib: None,
            },
            "out of range",
        ),
        (
            Request::SetDomain {
                name: "ldg1".into(),
                cpu_arch: None,
                downtime_ms: None,
                bandwidth_mib: Some(1 << 44),
                max_vcpus: None,
                max_memory_mib: None,
            },
            "out of range",
        ),
        (
            Request::SetDomain {
                name: "ldg1".into(),
                cpu_arch: None,
                downtime_ms: None,
                bandwidth_mib: None,
                max_vcpus: Some(256),
                max_memory_mib: None,
            },
            "out of range",
        ),
        (
            Request::AddVcc {
                name: "vcc1".into(),
                port_lo: peer_port,
                port_hi: peer_port,
            },
            "peer port",
        ),
        (
            Request::AddVcc {
                name: "vcc1".into(),
                port_lo: 22,
                port_hi: 22,
            },
            "from 1024",
        ),
        (
            Request::AddVcc {
                name: "../v".into(),
                port_lo: 6000,
                port_hi: 6001,
            },
            "service name",
        ),
        (
            Request::SetVar {
                name: "ldg1".into(),
                vars: vec![("boot-args".into(), "quiet\nldg9 active".into())],
            },
            "control character",
        ),
    ];
    for (req, says) in cases {
        let what = format!("{req:?}");
        let err = host.call(req).await.expect_err(&what);
        assert!(err.message.contains(says), "{what}: {}", err.message);
    }
    let mut migrate = host.migrate_request(&host, "ldg1", "admin").await;
    migrate.bandwidth_mib = Some(u64::MAX);
    let err = host
        .call(Request::Migrate(migrate))
        .await
        .expect_err("migrate");
    assert!(err.message.contains("out of range"), "{}", err.message);
    assert_responsive(&host).await;
    let v = host.domain("ldg1").await.unwrap();
    assert_eq!((v.vcpus, v.memory_mib), (1, 512));
    assert!(host.call(Request::ListUsers).await.is_ok());
    assert_eq!(snapshot(&host), before);
}
