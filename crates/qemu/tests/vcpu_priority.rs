//! Putting a real QEMU's vCPU threads first and back.

mod common;

use common::{small_config, temp_dir, TestVm};
use ldm_qemu::vcpu_priority::{nice_of, vcpu_threads, VcpuBoost, GUEST_FIRST_NICE, NORMAL_NICE};

/// The command names of the threads `tids`.
fn names(pid: u32, tids: &[i32]) -> Vec<String> {
    tids.iter()
        .map(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{t}/comm"))
                .expect("read comm")
                .trim_end()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn vcpu_threads_are_boosted_and_restored() {
    let dir = temp_dir();
    let mut cfg = small_config("gf", &dir.path().join("run"));
    cfg.vcpus = 2;
    cfg.start_paused = true;
    let vm = TestVm::launch(cfg, false).await;

    let tids = vcpu_threads(vm.pid).expect("list QEMU threads");
    let names = names(vm.pid, &tids);
    assert_eq!(names.len(), 2, "vCPU threads: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("CPU ")), "{names:?}");
    let all = std::fs::read_dir(format!("/proc/{}/task", vm.pid))
        .expect("list tasks")
        .count();
    assert!(all > tids.len(), "QEMU's other threads are not vCPUs");
    for &t in &tids {
        assert_eq!(nice_of(t).expect("read nice"), NORMAL_NICE);
    }

    let mut boost = VcpuBoost::apply(vm.pid);
    assert_eq!(boost.threads(), tids.as_slice());
    for &t in &tids {
        assert_eq!(nice_of(t).expect("read nice"), GUEST_FIRST_NICE);
    }
    // The main thread (the process itself) is left alone.
    assert_eq!(nice_of(vm.pid as i32).expect("read nice"), NORMAL_NICE);

    boost.restore();
    for &t in &tids {
        assert_eq!(nice_of(t).expect("read nice"), NORMAL_NICE);
    }

    // Dropping a guard restores too; so does a reset with no guard.
    drop(VcpuBoost::apply(vm.pid));
    assert_eq!(nice_of(tids[0]).expect("read nice"), NORMAL_NICE);
    let leftover = VcpuBoost::apply(vm.pid);
    std::mem::forget(leftover);
    assert_eq!(nice_of(tids[0]).expect("read nice"), GUEST_FIRST_NICE);
    VcpuBoost::reset(vm.pid);
    for &t in &tids {
        assert_eq!(nice_of(t).expect("read nice"), NORMAL_NICE);
    }
}
