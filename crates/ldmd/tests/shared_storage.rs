//! Migrating a domain with a disk between in-process daemons that share a
//! file by path: the target must have the vds and the volume under the same
//! names, the same size, and the very same storage; a copy of the image is
//! refused by the dry run and the real migration alike, with nothing changed.

mod common;

use common::Host;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Reply, Request};
use std::path::Path;

fn image(path: &Path, mib: u64) -> String {
    std::fs::File::create(path)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    path.display().to_string()
}

async fn export(h: &Host, backend: &str) {
    h.ok(Request::AddVdsdev {
        force: false,
        readonly: false,
        create: false,
        backend: backend.into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
}

async fn unexport(h: &Host) {
    h.ok(Request::RemoveVdsdev {
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
}

async fn dry_run(src: &Host, dst: &Host) -> Vec<String> {
    let mut m = src.migrate_request(dst, "ldg1", "admin").await;
    m.dry_run = true;
    match src.ok(Request::Migrate(m)).await {
        Reply::DryRun(r) => r.failures,
        other => panic!("a dry run answered {other:?}"),
    }
}

fn vds() -> Request {
    Request::AddVds {
        name: "primary-vds0".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_same_storage_under_the_same_names_is_accepted() {
    let files = tempfile::tempdir().unwrap();
    let shared = image(&files.path().join("shared.img"), 64);
    let src = Host::start("hostA").await;
    let dst = Host::start("hostB").await;
    dst.add_user("admin", UserRole::Management).await;
    src.ok(vds()).await;
    export(&src, &shared).await;
    src.add_domain("ldg1", 1, 256, false).await;
    src.ok(Request::AddVdisk {
        disk: "vdisk1".into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
        domain: "ldg1".into(),
    })
    .await;
    src.ok(Request::Bind {
        name: "ldg1".into(),
    })
    .await;

    // No vds on the target, then no volume: each named.
    let f = dry_run(&src, &dst).await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].contains("primary-vds0 does not exist on hostB"),
        "{f:?}"
    );
    dst.ok(vds()).await;
    let f = dry_run(&src, &dst).await;
    assert_eq!(
        f,
        ["Volume vol1@primary-vds0 does not exist on hostB: export the same storage there with `ldm add-vdsdev BACKEND vol1@primary-vds0`"]
    );

    // A smaller volume under the same name.
    export(&dst, &image(&files.path().join("small.img"), 32)).await;
    let f = dry_run(&src, &dst).await;
    assert!(
        f[0].contains("vol1@primary-vds0 on hostB is 33554432 bytes"),
        "{f:?}"
    );
    unexport(&dst).await;

    // An exact copy of the image: same size, same bytes, other storage.
    let copy = files.path().join("copy.img");
    std::fs::copy(&shared, &copy).unwrap();
    export(&dst, &copy.display().to_string()).await;
    let f = dry_run(&src, &dst).await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].starts_with(
            "volume vol1@primary-vds0 on hostB is backed by different storage than on hostA"
        ),
        "{f:?}"
    );
    let before = (src.list().await, dst.list().await);
    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    let e = src
        .call(Request::Migrate(m))
        .await
        .expect_err("a copy is refused");
    assert!(
        e.message
            .contains("is backed by different storage than on hostA"),
        "{e}"
    );
    assert_eq!((src.list().await, dst.list().await), before);

    // The shared file itself, but a domain of the target has it as a disk.
    unexport(&dst).await;
    export(&dst, &shared).await;
    dst.add_domain("other", 1, 256, false).await;
    dst.ok(Request::AddVdisk {
        disk: "d1".into(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
        domain: "other".into(),
    })
    .await;
    let f = dry_run(&src, &dst).await;
    assert!(f[0].contains("already disk d1 of domain other"), "{f:?}");
    dst.ok(Request::RemoveDomain {
        name: "other".into(),
    })
    .await;

    // The shared file, exported read-only on the target: the guest's disk
    // is writable on the source, so it must stay writable. Refused by the
    // dry run and the real migration, nothing changed on either host.
    unexport(&dst).await;
    dst.ok(Request::AddVdsdev {
        force: false,
        readonly: true,
        create: false,
        backend: shared.clone(),
        volume: "vol1".into(),
        service: "primary-vds0".into(),
    })
    .await;
    let ro = "Volume vol1@primary-vds0 is read-only (options=ro) on hostB but writable on hostA";
    let f = dry_run(&src, &dst).await;
    assert!(f.len() == 1 && f[0].starts_with(ro), "{f:?}");
    let snapshot = |h: &Host| {
        let db = h.db();
        format!("{:?}\n{:?}", db.vdsdevs().unwrap(), db.domains().unwrap())
    };
    let before = (snapshot(&src), snapshot(&dst));
    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    let e = src
        .call(Request::Migrate(m))
        .await
        .expect_err("a read-only volume for a writable disk is refused");
    assert!(e.message.contains(ro), "{e}");
    assert_eq!((snapshot(&src), snapshot(&dst)), before);
    unexport(&dst).await;
    export(&dst, &shared).await;

    // Free: accepted, and the domain moves with its disk.
    assert_eq!(dry_run(&src, &dst).await, Vec::<String>::new());
    let m = src.migrate_request(&dst, "ldg1", "admin").await;
    src.ok(Request::Migrate(m)).await;
    assert!(src.domain("ldg1").await.is_none());
    let d = dst.domain("ldg1").await.expect("ldg1 on the target");
    assert_eq!(d.state, DomainState::Bound);
    assert_eq!(d.disks[0].volume, "vol1@primary-vds0");
    assert_eq!(d.disks[0].backend.as_deref(), Some(shared.as_str()));
}
