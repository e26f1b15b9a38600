//! Block device back ends, without guests: a loop device is exported,
//! listed as a raw block device, and a dry-run migration accepts the same
//! device on the target and refuses a device over a copy of its file.

use ldm_e2e::disks::sparse_image;
use ldm_e2e::{define_domain, Host, Pair};
use std::path::Path;
use std::process::Command;

/// A loop device over a file, detached on drop.
struct Loop(String);

impl Loop {
    fn attach(file: &Path) -> Loop {
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(file)
            .output()
            .expect("run losetup");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
fn a_loop_device_is_a_volume_and_is_proven_by_its_file() {
    let Pair { a, b, pw } = Pair::start();
    let files = tempfile::tempdir().unwrap();
    let shared = files.path().join("lun.img");
    sparse_image(&shared, 64);
    let copy = files.path().join("copy.img");
    std::fs::copy(&shared, &copy).unwrap();
    let (dev, dev_copy) = (Loop::attach(&shared), Loop::attach(&copy));

    for h in [&a, &b] {
        h.ldm(&["add-vds", "primary-vds0", "primary"]).ok();
    }
    a.ldm(&["add-vdsdev", &dev.0, "vol1@primary-vds0"]).ok();
    let p = a.ldm(&["list-services", "-p"]);
    assert!(
        p.stdout.contains(&format!(
            "|vol=vol1|opts=|dev={}|size=67108864|format=raw|",
            dev.0
        )),
        "{}",
        p.stdout
    );
    define_domain(&a, "ldg1", 1, "256M", "16,1");
    a.ldm(&["add-vdisk", "vdisk1", "vol1@primary-vds0", "ldg1"])
        .ok();
    a.ldm(&["bind-domain", "ldg1"]).ok();
    let dry = |a: &Host| {
        a.ldm(&[
            "migrate-domain",
            "-n",
            "-p",
            pw.to_str().unwrap(),
            "ldg1",
            &format!("admin@{}", b.listen_addr().unwrap()),
        ])
    };
    b.ldm(&["add-vdsdev", &dev_copy.0, "vol1@primary-vds0"])
        .ok();
    dry(&a).fails_with(
        "volume vol1@primary-vds0 on hostB is backed by different storage than on hostA",
    );
    b.ldm(&["remove-vdsdev", "vol1@primary-vds0"]).ok();
    b.ldm(&["add-vdsdev", &dev.0, "vol1@primary-vds0"]).ok();
    dry(&a).ok();
}
