//! `ldm evacuate` against four in-process daemons: one host with six bound
//! domains, three targets of different sizes. Bound domains move cold, so
//! no QEMU runs; the plan, the room accounting, the parallelism bound and
//! the failure handling are the same as for running domains.

mod common;

use common::{Host, Size, PASSWORD};
use ldm::evacuate::plan::Placement;
use ldm::evacuate::run::{execute, Control, Outcome};
use ldm::evacuate::{make_plan, parse_targets, Options};
use ldm_api::migration::Auth;
use ldm_api::request::UserRole;
use ldm_api::{DomainState, Request};
use std::collections::BTreeMap;
use std::sync::Arc;

const SMALL: [&str; 5] = ["d1", "d2", "d3", "d4", "d5"];

struct Fleet {
    src: Host,
    /// Targets with room for 2, 3 and 1 small domain(s).
    targets: Vec<Host>,
}

async fn fleet() -> Fleet {
    let src = Host::start_sized(
        "src",
        Size {
            vcpus: 16,
            memory_mib: 16384,
        },
    )
    .await;
    let mut targets = Vec::new();
    for (name, mib) in [("t1", 2048), ("t2", 3072), ("t3", 1024)] {
        let t = Host::start_sized(
            name,
            Size {
                vcpus: 4,
                memory_mib: mib,
            },
        )
        .await;
        t.add_user("admin", UserRole::Management).await;
        src.ok(Request::AddTrust {
            host: t.peer_addr.ip().to_string(),
            port: t.peer_addr.port(),
            fingerprint: Some(t.fingerprint().await),
            source: false,
        })
        .await;
        targets.push(t);
    }
    for d in SMALL {
        src.add_domain(d, 1, 1024, true).await;
    }
    // Bigger than any target's memory: fits nowhere.
    src.add_domain("huge", 2, 6144, true).await;
    Fleet { src, targets }
}

impl Fleet {
    fn targets_arg(&self) -> String {
        let t: Vec<String> = self
            .targets
            .iter()
            .map(|t| t.peer_addr.to_string())
            .collect();
        t.join(",")
    }

    fn options(&self, max_parallel: usize) -> Options {
        Options {
            targets: parse_targets(&self.targets_arg()).unwrap(),
            user: "admin".into(),
            auth: Auth::Password(PASSWORD.into()),
            max_parallel,
        }
    }

    /// Runs the `ldm` command line against the source, as a user would.
    async fn ldm(&self, args: &[&str]) -> i32 {
        let pw = self.src.root().join("pw");
        std::fs::write(&pw, PASSWORD).unwrap();
        std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let mut argv: Vec<String> = vec!["ldm".into(), "--root".into()];
        argv.push(self.src.root().display().to_string());
        argv.push("evacuate".into());
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--targets".into(), self.targets_arg(), "-p".into()]);
        argv.push(pw.display().to_string());
        argv.push("admin@".into());
        tokio::task::spawn_blocking(move || ldm::main_with_args(argv.into_iter().map(Into::into)))
            .await
            .unwrap()
    }

    /// Every host's domains with their states.
    async fn where_all(&self) -> Vec<BTreeMap<String, DomainState>> {
        let mut out = vec![self.src.list().await];
        for t in &self.targets {
            out.push(t.list().await);
        }
        out.into_iter()
            .map(|l| {
                l.into_iter()
                    .filter(|d| d.name != "primary")
                    .map(|d| (d.name, d.state))
                    .collect()
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plan_respects_room_reports_the_misfit_and_changes_nothing() {
    let f = fleet().await;
    let before = f.where_all().await;
    let (planned, busy) = make_plan(&f.src.client(), &f.options(2)).await.unwrap();
    assert!(busy.is_empty());
    assert_eq!(planned.len(), 6);
    let mut per_target = [0usize; 3];
    for p in &planned {
        match &p.placement {
            Placement::To(t) => per_target[*t] += 1,
            Placement::Nowhere(reasons) => {
                assert_eq!(p.mover.name, "huge");
                assert_eq!(reasons.len(), 3, "one entry per target: {reasons:?}");
                for (_, r) in reasons {
                    assert!(r.iter().any(|m| m.contains("memory")), "{r:?}");
                }
            }
        }
    }
    assert_eq!(
        per_target,
        [2, 2, 1],
        "room is 2, 3 and 1; spread by free memory"
    );

    // The command line's -n: exit 1 (one domain fits nowhere), nothing moved.
    assert_eq!(f.ldm(&["-n"]).await, 1);
    assert_eq!(f.where_all().await, before, "a dry run changed something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evacuation_empties_the_host_but_the_misfit_and_rerun_is_a_no_op() {
    let f = fleet().await;
    assert_eq!(
        f.ldm(&["--max-parallel", "2"]).await,
        1,
        "huge stays: exit 1"
    );
    let after = f.where_all().await;
    assert_eq!(
        after[0].keys().collect::<Vec<_>>(),
        ["huge"],
        "only the domain that fits nowhere stays"
    );
    assert_eq!(after[0]["huge"], DomainState::Bound);
    let moved: Vec<&String> = after[1..].iter().flat_map(|m| m.keys()).collect();
    assert_eq!(moved.len(), 5, "{after:?}");
    for d in SMALL {
        let holders = after[1..]
            .iter()
            .filter(|m| m.get(d) == Some(&DomainState::Bound));
        assert_eq!(holders.count(), 1, "{d} is bound on exactly one target");
    }
    for (i, cap) in [2, 3, 1].into_iter().enumerate() {
        assert!(
            after[i + 1].len() <= cap,
            "target {i} overfilled: {after:?}"
        );
    }
    // Re-run: plans from what is left, moves nothing, state unchanged.
    assert_eq!(f.ldm(&[]).await, 1);
    assert_eq!(f.where_all().await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_domain_stays_and_the_parallelism_bound_holds() {
    let f = fleet().await;
    for bound in [1usize, 2] {
        let o = f.options(bound);
        let (planned, _) = make_plan(&f.src.client(), &o).await.unwrap();
        if bound == 1 {
            // Make d1's planned target refuse it at migration time.
            let Some(Placement::To(t)) = planned
                .iter()
                .find(|p| p.mover.name == "d1")
                .map(|p| p.placement.clone())
            else {
                panic!("d1 has a target: {planned:?}");
            };
            f.targets[t].add_domain("d1", 1, 512, false).await;
        }
        let rows = execute(&f.src.client(), &o, &planned, Arc::new(Control::default())).await;
        let spans: Vec<_> = rows.iter().filter_map(|r| r.span).collect();
        for &(s, _) in &spans {
            let at_once = spans.iter().filter(|(a, b)| *a <= s && s < *b).count();
            assert!(
                at_once <= bound,
                "{at_once} migrations at once, bound {bound}"
            );
        }
        if bound == 1 {
            let d1 = rows.iter().find(|r| r.name == "d1").unwrap();
            assert!(
                matches!(&d1.outcome, Outcome::Failed(m) if m.contains("already exists")),
                "{:?}",
                d1.outcome
            );
            let moved = rows
                .iter()
                .filter(|r| matches!(r.outcome, Outcome::Moved { .. }))
                .count();
            assert_eq!(moved, 4, "the others went on: {rows:?}");
            let src = f.src.domain("d1").await.expect("d1 stays on the source");
            assert_eq!(src.state, DomainState::Bound);
            assert!(src.operation.is_none() && src.note.is_none());
        }
    }
}
