//! Every peer message against its file in `golden/peer/`.

use crate::common::golden::{check, no_stale};
use crate::offers::offer;
use crate::to_source::to_source;
use crate::to_target::to_target;
use ldm_api::{BootVars, DomainState};
use ldmd::migration::protocol::ToTarget;
use std::collections::BTreeSet;

#[test]
fn peer_messages_are_pinned() {
    let mut names = BTreeSet::new();
    for (name, m) in to_target() {
        let n = format!("to-target-{name}");
        check("peer", &n, &m);
        names.insert(n);
    }
    for (name, m) in to_source() {
        let n = format!("to-source-{name}");
        check("peer", &n, &m);
        names.insert(n);
    }
    for (name, state) in [
        ("bound", DomainState::Bound),
        ("inactive", DomainState::Inactive),
    ] {
        // The cold forms a previous-version peer sends (see peer_versions.rs).
        let mut o = offer(state);
        o.spec.name = "ldg-old".into();
        o.spec.disks.clear();
        o.volumes.clear();
        o.spec.vars = BootVars::default();
        o.machine_type = None;
        o.cpu_model = None;
        let n = format!("to-target-prepare-cold-{name}");
        check(
            "peer",
            &n,
            &ToTarget::Prepare {
                offer: o,
                started_at: None,
                tuning: Default::default(),
                id: String::new(),
            },
        );
        names.insert(n);
    }
    no_stale("peer", &names);
}
