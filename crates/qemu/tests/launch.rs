//! Starting, inspecting and controlling a real QEMU process.

mod common;

use std::time::Duration;

use common::{eventually, small_config, temp_dir, tiny_bios, TestVm};
use ldm_qemu::{
    launch, process, read_pidfile, AnnounceSelf, Error, MachineConfig, Qmp, RunState,
    DEFAULT_MACHINE_TYPE,
};

/// (parent pid, session id) of a process, from /proc/PID/stat.
fn ppid_and_session(pid: &str) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (fields[1].parse().unwrap(), fields[3].parse().unwrap())
}

/// Launches a configuration that is expected to fail; a QEMU that starts
/// anyway is killed.
async fn launch_expecting_failure(cfg: &MachineConfig) -> Error {
    match launch(&common::qemu(), cfg, false).await {
        Ok(pid) => {
            let _ = process::kill(pid, libc::SIGKILL);
            panic!("QEMU started (pid {pid}) but should have failed");
        }
        Err(e) => e,
    }
}

#[tokio::test]
async fn launch_control_and_quit() {
    let dir = temp_dir();
    let mut cfg = small_config("ctl", &dir.path().join("run"));
    cfg.vcpus = 2;
    cfg.start_paused = true;
    let vm = TestVm::launch(cfg.clone(), false).await;
    let pid = vm.pid;

    assert_eq!(read_pidfile(&cfg.pidfile), Some(pid));
    assert!(process::pid_alive(pid));
    assert!(process::process_matches(pid, &cfg.uuid));
    assert!(!process::process_matches(pid, &uuid::Uuid::new_v4()));
    assert!(process::rss_kib(pid).unwrap() > 1024);
    assert!(process::cpu_time_ticks(pid).is_some());

    // Daemonized: not our child, and in a session of its own.
    let (ppid, sid) = ppid_and_session(&pid.to_string());
    let (_, our_sid) = ppid_and_session("self");
    assert_ne!(ppid, std::process::id());
    assert_ne!(sid, our_sid, "QEMU should have left our session");

    // Starting the same domain again is refused.
    match launch(&common::qemu(), &cfg, false).await {
        Err(Error::AlreadyRunning { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }

    let qmp = vm.qmp().await;
    let mut q = qmp.lock().await;
    let v = q.qemu_version().unwrap();
    assert!(v.major >= 10);
    let st = q.query_status().await.unwrap();
    assert_eq!((st.status, st.running), (RunState::Prelaunch, false));
    assert_eq!(q.query_cpus_fast().await.unwrap(), 2);

    q.cont().await.unwrap();
    let st = q.query_status().await.unwrap();
    assert_eq!((st.status, st.running), (RunState::Running, true));
    q.stop().await.unwrap();
    assert_eq!(q.query_status().await.unwrap().status, RunState::Paused);
    let events: Vec<String> = q.take_events().into_iter().map(|e| e.event).collect();
    assert!(events.contains(&"RESUME".to_string()), "{events:?}");
    assert!(events.contains(&"STOP".to_string()), "{events:?}");
    assert!(q.take_events().is_empty());

    // The machine really has the configured type.
    let machines = q.execute("query-machines", None).await.unwrap();
    assert!(machines
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == DEFAULT_MACHINE_TYPE));

    // QEMU takes announce-self with the typed default arguments.
    q.announce_self(&AnnounceSelf::default()).await.unwrap();

    // QMP errors carry QEMU's class and description.
    match q.execute("no-such-command", None).await {
        Err(Error::Qmp { class, desc, .. }) => {
            assert_eq!(class, "CommandNotFound");
            assert!(desc.contains("no-such-command"), "{desc}");
        }
        other => panic!("expected a QMP error, got {other:?}"),
    }
    match q.object_del("nothing-here").await {
        Err(Error::Qmp { class, .. }) => assert_eq!(class, "GenericError"),
        other => panic!("expected a QMP error, got {other:?}"),
    }

    // Events can also be waited for.
    q.system_powerdown().await.unwrap();
    let ev = q.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ev.map(|e| e.event).as_deref(), Some("POWERDOWN"));
    assert!(q
        .next_event(Duration::from_millis(100))
        .await
        .unwrap()
        .is_none());

    q.quit().await.unwrap();
    drop(q);
    assert!(process::wait_exit(pid, Duration::from_secs(10)).await);
    // QEMU removes its pidfile on exit.
    assert!(
        eventually(Duration::from_secs(2), || read_pidfile(&cfg.pidfile)
            .is_none())
        .await
    );
    // Further commands report the closed connection.
    let err = qmp.lock().await.query_status().await.unwrap_err();
    assert!(matches!(err, Error::QmpClosed { .. }), "{err}");
    // ... and mark it for reopening.
    assert!(qmp.lock().await.is_broken());
}

#[tokio::test]
async fn shared_connection_serves_concurrent_tasks() {
    let dir = temp_dir();
    let mut cfg = small_config("shared", dir.path());
    cfg.start_paused = true;
    let vm = TestVm::launch(cfg, false).await;
    let qmp = vm.qmp().await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let qmp = qmp.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let st = qmp.lock().await.query_status().await.unwrap();
                    assert_eq!(st.status, RunState::Prelaunch);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // A second client is not served while the first holds the socket.
    let err = Qmp::connect_with_timeout(&vm.cfg.qmp_socket, Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QmpTimeout { .. }), "{err}");
}

#[tokio::test]
async fn terminate_and_restart_with_stale_files() {
    let dir = temp_dir();
    let mut cfg = small_config("restart", dir.path());
    cfg.start_paused = true;
    let first = TestVm::launch(cfg.clone(), false).await;
    std::fs::write(&cfg.log_file, "previous run\n").unwrap();
    // SIGKILL leaves the sockets and pidfile behind.
    process::kill(first.pid, libc::SIGKILL).unwrap();
    assert!(process::wait_exit(first.pid, Duration::from_secs(5)).await);
    assert!(cfg.qmp_socket.exists() && cfg.pidfile.exists());

    let second = TestVm::launch(cfg.clone(), false).await;
    assert_ne!(second.pid, first.pid);
    let old = std::fs::read_to_string(ldm_qemu::previous_log_path(&cfg)).unwrap();
    assert_eq!(old, "previous run\n");
    let qmp = second.qmp().await;
    assert_eq!(
        qmp.lock().await.query_status().await.unwrap().status,
        RunState::Prelaunch
    );
    drop(qmp);
    process::terminate(second.pid, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!process::pid_alive(second.pid));
}

#[tokio::test]
async fn launch_failure_reports_qemu_error() {
    let dir = temp_dir();

    // A kernel file that does not exist is caught before starting QEMU.
    let mut cfg = small_config("nokernel", dir.path());
    cfg.kernel = Some(dir.path().join("missing-vmlinuz"));
    let err = launch_expecting_failure(&cfg).await.to_string();
    assert!(err.contains("does not exist"), "{err}");

    // A kernel QEMU cannot load: the message comes from QEMU itself
    // (through its log file, where a daemonizing QEMU writes errors).
    let bogus = dir.path().join("bogus-vmlinuz");
    std::fs::write(&bogus, b"").unwrap();
    cfg.kernel = Some(bogus);
    match launch_expecting_failure(&cfg).await {
        Error::LaunchFailed { message, .. } => {
            assert!(message.contains("could not load kernel"), "{message}");
        }
        other => panic!("expected LaunchFailed, got {other:?}"),
    }

    // A bad machine type.
    let mut cfg = small_config("badtype", dir.path());
    cfg.machine_type = "no-such-machine".into();
    match launch_expecting_failure(&cfg).await {
        Error::LaunchFailed { message, .. } => {
            assert!(message.contains("no-such-machine"), "{message}");
        }
        other => panic!("expected LaunchFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn console_output_is_logged_without_a_client() {
    let dir = temp_dir();
    let mut cfg = small_config("console", dir.path());
    let log = dir.path().join("console.log");
    cfg.console_log = Some(log.clone());
    cfg.extra_args = vec![
        "-bios".into(),
        tiny_bios(dir.path()).to_string_lossy().into_owned(),
    ];
    let _vm = TestVm::launch(cfg, false).await;
    let seen = eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .map(|s| s.contains("ldm-ok"))
            .unwrap_or(false)
    })
    .await;
    assert!(seen, "console log: {:?}", std::fs::read_to_string(&log));
}

/// The `THP_enabled` line of /proc/PID/status: whether the kernel may give
/// the process transparent huge pages.
fn thp_enabled(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .expect("THP_enabled in /proc/PID/status");
    line.split_whitespace().nth(1) == Some("1")
}

#[tokio::test]
async fn transparent_hugepages_can_be_turned_off() {
    let dir = temp_dir();
    let mut with = small_config("thp", &dir.path().join("run"));
    with.start_paused = true;
    let mut without = small_config("nothp", &dir.path().join("run"));
    without.start_paused = true;
    without.transparent_hugepages = false;
    let a = TestVm::launch(with, false).await;
    let b = TestVm::launch(without, true).await;
    assert!(thp_enabled(a.pid), "QEMU keeps huge pages by default");
    assert!(
        !thp_enabled(b.pid),
        "QEMU should run with PR_SET_THP_DISABLE"
    );
    // It is still a working QEMU.
    let qmp = b.qmp().await;
    let st = qmp.lock().await.query_status().await.unwrap();
    assert_eq!(st.status, RunState::Inmigrate);
}

/// A command QEMU answers only after its timeout: the late reply is kept
/// for the last such command and read once the next command is answered
/// (QEMU answers in order). QEMU is held with SIGSTOP, so the reply is
/// late for certain.
#[tokio::test]
async fn a_late_reply_is_kept_for_the_command_that_timed_out() {
    let dir = temp_dir();
    let mut cfg = small_config("late", dir.path());
    cfg.start_paused = true;
    let vm = TestVm::launch(cfg, false).await;
    let qmp = vm.qmp().await;
    let mut q = qmp.lock().await;
    let usual = q.timeout();

    // A refusal that comes late: no migration runs, so QEMU refuses the switch.
    process::kill(vm.pid, libc::SIGSTOP).unwrap();
    q.set_timeout(Duration::from_millis(300));
    let err = q.migrate_start_postcopy().await.unwrap_err();
    process::kill(vm.pid, libc::SIGCONT).unwrap();
    assert!(matches!(err, Error::QmpTimeout { .. }), "{err}");
    assert!(
        q.late_reply("migrate-start-postcopy").is_none(),
        "not come yet"
    );
    q.set_timeout(usual);
    assert_eq!(q.query_status().await.unwrap().status, RunState::Prelaunch);
    match q.late_reply("migrate-start-postcopy") {
        Some(Err(Error::Qmp { command, class, .. })) => {
            assert_eq!(
                (command.as_str(), class.as_str()),
                ("migrate-start-postcopy", "GenericError")
            );
        }
        other => panic!("expected QEMU's late refusal, got {other:?}"),
    }
    assert!(
        q.late_reply("migrate-start-postcopy").is_none(),
        "taken once"
    );

    // A late success, asked for under another name, is not handed out.
    process::kill(vm.pid, libc::SIGSTOP).unwrap();
    q.set_timeout(Duration::from_millis(300));
    let err = q.query_status().await.unwrap_err();
    process::kill(vm.pid, libc::SIGCONT).unwrap();
    assert!(matches!(err, Error::QmpTimeout { .. }), "{err}");
    q.set_timeout(usual);
    q.execute("query-name", None).await.unwrap();
    assert!(q.late_reply("migrate-start-postcopy").is_none());
    match q.late_reply("query-status") {
        Some(Ok(v)) => assert_eq!(v["status"], "prelaunch", "{v}"),
        other => panic!("expected the late status, got {other:?}"),
    }
}
