//! Oracle's forms of the lifecycle verbs through the `ldm` command line:
//! several domain names, `-a`, and the `stop-domain` options, with a
//! result per domain and a non-zero exit when any failed. (Stopping and
//! rebooting real guests is in the e2e tier.)

mod common;

use common::Host;
use ldm_api::DomainState;
use std::collections::BTreeMap;

async fn states(h: &Host) -> BTreeMap<String, DomainState> {
    h.list()
        .await
        .into_iter()
        .map(|d| (d.name, d.state))
        .collect()
}

fn all(names: &[&str], s: DomainState) -> BTreeMap<String, DomainState> {
    names.iter().map(|n| (n.to_string(), s)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_names_each_get_their_result() {
    let h = Host::start("h1").await;
    for n in ["a", "b", "c"] {
        h.add_domain(n, 1, 512, false).await;
    }
    assert_eq!(h.ldm(&["bind-domain", "a", "b"]).await, 0);
    assert_eq!(h.ldm(&["bind-domain", "c", "nosuch"]).await, 1);
    assert_eq!(states(&h).await, all(&["a", "b", "c"], DomainState::Bound));
    // Bound domains without a kernel: each start fails with its reason,
    // nothing changes, the exit status says so.
    assert_eq!(h.ldm(&["start-domain", "-a"]).await, 1);
    assert_eq!(h.ldm(&["start-domain", "a", "b"]).await, 1);
    assert_eq!(states(&h).await, all(&["a", "b", "c"], DomainState::Bound));
    // Nothing runs: stop -a has nothing to do.
    assert_eq!(h.ldm(&["stop-domain", "-a"]).await, 0);
    assert_eq!(h.ldm(&["stop-domain", "a", "b"]).await, 1);
    // remove -a: the bound ones refuse, one by one.
    assert_eq!(h.ldm(&["remove-domain", "-a"]).await, 1);
    assert_eq!(states(&h).await.len(), 3);
    assert_eq!(h.ldm(&["unbind-domain", "a", "b", "c"]).await, 0);
    assert_eq!(
        states(&h).await,
        all(&["a", "b", "c"], DomainState::Inactive)
    );
    assert_eq!(h.ldm(&["remove-domain", "a", "nosuch"]).await, 1);
    assert_eq!(h.names().await, ["b", "c"]);
    assert_eq!(h.ldm(&["remove-domain", "-a"]).await, 0);
    assert!(h.names().await.is_empty());
}

/// What a domain's moves taught the predictions (its dirty rate during
/// its last move from this host) goes when the domain is removed; other
/// domains' stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_domains_rate_during_its_last_move_goes() {
    let h = Host::start("h1").await;
    h.add_domain("a", 1, 512, false).await;
    h.add_domain("b", 1, 512, false).await;
    let key = |name: &str| {
        let uuid = h.record(name).expect("a record").spec.uuid;
        format!("memory-migration-dirty-during-{uuid}")
    };
    let (ka, kb) = (key("a"), key("b"));
    h.db().set_meta(&ka, "84").unwrap();
    h.db().set_meta(&kb, "70").unwrap();
    assert_eq!(h.ldm(&["remove-domain", "a"]).await, 0);
    assert_eq!(h.names().await, ["b"]);
    assert_eq!(h.db().meta(&ka).unwrap(), None);
    assert_eq!(h.db().meta(&kb).unwrap().as_deref(), Some("70"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stop_and_start_forms_are_refused() {
    let h = Host::start("h1").await;
    h.add_domain("a", 1, 512, true).await;
    for args in [
        &["stop-domain", "-t", "0", "a"][..],
        &["stop-domain", "-t", "99999", "a"],
        &["stop-domain", "-q", "-r", "a"],
        &["stop-domain", "-f", "-H", "a"],
        &["stop-domain", "-H", "-r", "a"],
        &["stop-domain", "-a", "a"],
        &["stop-domain"],
        &["start-domain", "-a", "a"],
        &["remove-domain"],
        &["bind-domain"],
        &["add-domain", "-i", "/nonexistent.xml", "x"],
    ] {
        assert_ne!(h.ldm(args).await, 0, "{args:?}");
    }
    assert_eq!(states(&h).await, all(&["a"], DomainState::Bound));
}
