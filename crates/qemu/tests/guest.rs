//! Live migration of a real Linux guest running memwork (the ldm test
//! guest built by guest/build). Skipped when the guest kernel and initrd
//! are not there; point LDM_GUEST_KERNEL / LDM_GUEST_INITRD at them to
//! use others.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{eventually, free_port, temp_dir, TestVm};
use ldm_qemu::{
    generate_psk_key, tls_creds_psk_object, wait_incoming, wait_migration, write_psk_keys,
    MachineConfig, MigrationStatus, MigrationTuning, RunState, TlsEndpoint,
};
use uuid::Uuid;

fn guest_file(var: &str, name: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../guest/out")
            .join(name)
    });
    path.is_file().then(|| path.canonicalize().unwrap())
}

/// The `seq` of memwork status lines in a console log, with whether
/// every line reported `errors=0 status=OK`.
fn memwork_seqs(log: &Path) -> (Vec<u64>, bool) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines = memwork::memwork_lines(&text);
    let all_ok = lines.iter().all(memwork::MemworkLine::healthy);
    (lines.iter().map(|l| l.seq).collect(), all_ok)
}

#[tokio::test]
async fn running_linux_guest_survives_tls_multifd_migration() {
    let (Some(kernel), Some(initrd)) = (
        guest_file("LDM_GUEST_KERNEL", "vmlinuz"),
        guest_file("LDM_GUEST_INITRD", "initrd.img"),
    ) else {
        eprintln!("skipped: no guest kernel/initrd (run guest/build)");
        return;
    };
    let dir = temp_dir();
    let mut src_cfg = MachineConfig::new("linux", Uuid::new_v4(), &dir.path().join("src"));
    src_cfg.vcpus = 2;
    src_cfg.memory_mib = 256;
    src_cfg.kernel = Some(kernel);
    src_cfg.initrd = Some(initrd);
    src_cfg.append = "console=ttyS0 panic=-1 quiet memwork=64,16".into();
    src_cfg.console_log = Some(dir.path().join("src-console.log"));
    let mut dst_cfg = src_cfg.clone();
    let paths = MachineConfig::new("linux", dst_cfg.uuid, &dir.path().join("dst"));
    dst_cfg.qmp_socket = paths.qmp_socket;
    dst_cfg.console_socket = paths.console_socket;
    dst_cfg.pidfile = paths.pidfile;
    dst_cfg.log_file = paths.log_file;
    dst_cfg.console_log = Some(dir.path().join("dst-console.log"));
    let src_log = src_cfg.console_log.clone().unwrap();
    let dst_log = dst_cfg.console_log.clone().unwrap();

    let src = TestVm::launch(src_cfg, false).await;
    let booted = eventually(Duration::from_secs(180), || {
        memwork_seqs(&src_log).0.len() >= 3
    })
    .await;
    assert!(
        booted,
        "guest did not start memwork: {}",
        std::fs::read_to_string(&src_log).unwrap_or_default()
    );

    let dst = TestVm::launch(dst_cfg, true).await;
    let (src_qmp, dst_qmp) = (src.qmp().await, dst.qmp().await);
    let key = generate_psk_key().unwrap();
    let psk = dir.path().join("psk");
    write_psk_keys(&psk, "ldm", &key).unwrap();
    dst_qmp
        .lock()
        .await
        .object_add(tls_creds_psk_object(
            "tls0",
            &psk,
            TlsEndpoint::Server,
            "ldm",
        ))
        .await
        .unwrap();
    src_qmp
        .lock()
        .await
        .object_add(tls_creds_psk_object(
            "tls0",
            &psk,
            TlsEndpoint::Client,
            "ldm",
        ))
        .await
        .unwrap();
    let tuning = MigrationTuning {
        multifd_channels: 2,
        tls_creds: Some("tls0".into()),
        ..Default::default()
    };
    tuning.apply(&mut *dst_qmp.lock().await).await.unwrap();
    tuning.apply(&mut *src_qmp.lock().await).await.unwrap();
    let uri = format!("tcp:127.0.0.1:{}", free_port());
    dst_qmp
        .lock()
        .await
        .migrate_incoming(&uri, false)
        .await
        .unwrap();
    src_qmp.lock().await.migrate(&uri).await.unwrap();

    let info = wait_migration(
        &src_qmp,
        Duration::from_millis(100),
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    assert_eq!(info.status, MigrationStatus::Completed);
    let st = wait_incoming(&dst_qmp, Duration::from_millis(50), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(st.status, RunState::Running);
    let (src_seqs, src_ok) = memwork_seqs(&src_log);
    let last_src = *src_seqs.last().unwrap();
    assert!(src_ok, "memwork reported errors before migration");

    // memwork keeps counting on the target, with its memory intact.
    let continued = eventually(Duration::from_secs(60), || {
        memwork_seqs(&dst_log)
            .0
            .iter()
            .filter(|&&s| s > last_src)
            .count()
            >= 3
    })
    .await;
    let (dst_seqs, dst_ok) = memwork_seqs(&dst_log);
    assert!(
        continued,
        "guest did not continue on the target: {}",
        std::fs::read_to_string(&dst_log).unwrap_or_default()
    );
    assert!(
        dst_ok,
        "memwork found errors after migration: {}",
        std::fs::read_to_string(&dst_log).unwrap_or_default()
    );
    assert!(dst_seqs[0] > last_src);
}
