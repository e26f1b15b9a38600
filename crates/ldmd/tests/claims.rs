//! Per-domain claims: a domain whose QEMU is being started holds that
//! domain only. `ldm list` and verbs on other domains answer meanwhile;
//! other changes of the same domain are refused with what to wait for.
//!
//! `start-domain` is held at the `start-launching` hold point (after it
//! claimed the domain, before QEMU is launched), so the test looks at the
//! daemon at exactly that moment. The boot files are not a kernel, so the
//! launch then fails, which must also release the claim and change nothing.

mod common;

use common::{eventually, Host};
use ldm_api::{DomainState, Request};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starting_domain_holds_only_itself() {
    let holds = tempfile::tempdir().expect("hold directory");
    // Each test runs in its own process under nextest; this binary has only
    // this test, so the variables reach this test's daemon alone.
    std::env::set_var(ldmd::testhook::HOLD_VAR, "start-launching");
    std::env::set_var(ldmd::testhook::HOLD_DIR_VAR, holds.path());
    let h = Host::start("claims").await;
    h.add_domain("ldg1", 1, 256, true).await;
    h.add_domain("ldg2", 1, 256, true).await;
    let boot = tempfile::tempdir().expect("boot files");
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::write(boot.path().join(f), b"not a kernel").expect("boot file");
    }
    let path = |f: &str| boot.path().join(f).display().to_string();
    h.ok(Request::SetVar {
        name: "ldg1".into(),
        vars: vec![
            ("kernel".into(), path("vmlinuz")),
            ("initrd".into(), path("initrd.img")),
        ],
    })
    .await;

    let client = h.client();
    let start = tokio::spawn(async move {
        client
            .call(&Request::Start {
                name: "ldg1".into(),
            })
            .await
    });
    let held = ldmd::testhook::held_file(holds.path(), "start-launching");
    eventually("start-domain reaches its hold point", || {
        let held = held.clone();
        async move { held.exists() }
    })
    .await;

    // The daemon answers while ldg1 is being started.
    let ldg1 = h.domain("ldg1").await.expect("ldg1 listed");
    assert_eq!(ldg1.state, DomainState::Bound);
    let e = h
        .call(Request::Unbind {
            name: "ldg1".into(),
        })
        .await
        .expect_err("unbinding a starting domain is refused");
    assert!(e.message.contains("is starting"), "{}", e.message);
    assert!(
        e.message.contains("ldm start-domain ldg1"),
        "says what to wait for: {}",
        e.message
    );
    // Another domain is not held.
    h.ok(Request::Unbind {
        name: "ldg2".into(),
    })
    .await;
    h.ok(Request::Bind {
        name: "ldg2".into(),
    })
    .await;

    // Let it go on: the launch fails on the fake kernel, and that failure
    // leaves the domain bound and free.
    std::fs::remove_file(&held).expect("release the hold");
    let answer = tokio::time::timeout(Duration::from_secs(120), start)
        .await
        .expect("start-domain answers")
        .expect("start task");
    assert!(answer.is_err(), "a fake kernel cannot start: {answer:?}");
    let ldg1 = h.domain("ldg1").await.expect("ldg1 listed");
    assert_eq!(ldg1.state, DomainState::Bound);
    assert!(ldg1.operation.is_none(), "{:?}", ldg1.operation);
    assert_eq!(
        h.record("ldg1").expect("stored").state,
        DomainState::Bound,
        "the database still says bound"
    );
    h.ok(Request::Unbind {
        name: "ldg1".into(),
    })
    .await;
}
