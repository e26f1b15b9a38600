//! `ldm evacuate` against four in-process daemons: one host with six bound
//! domains, three targets of different sizes. Bound domains move cold, so
//! no QEMU runs; the plan, the room accounting, the parallelism bound and
//! the failure handling are the same as for running domains.

mod common;

use common::fleet::{fleet, SMALL};
use ldm::evacuate::plan::Placement;
use ldm::evacuate::run::{execute, Control, Outcome};
use ldm::evacuate::{make_plan, plan_text};
use ldm_api::{DomainState, Request};
use std::sync::Arc;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_without_a_free_console_port_is_not_chosen_and_the_plan_says_why() {
    let f = fleet().await;
    // t2 has memory for three small domains but one console port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    f.targets[1]
        .ok(Request::SetVcc {
            name: "primary-vcc0".into(),
            port_lo: port,
            port_hi: port,
        })
        .await;
    let o = f.options(2);
    let (planned, _) = make_plan(&f.src.client(), &o).await.unwrap();
    let mut per_target = [0usize; 3];
    let mut stays = Vec::new();
    for p in &planned {
        match &p.placement {
            Placement::To(t) => per_target[*t] += 1,
            Placement::Nowhere(_) => stays.push(p.mover.name.clone()),
        }
    }
    assert_eq!(per_target, [2, 1, 1], "t2 takes one: it has one port");
    assert_eq!(stays.len(), 2, "huge and one small domain stay: {stays:?}");
    let text = plan_text(&o, &planned, &[]);
    let t2 = f.targets[1].peer_addr.to_string();
    assert!(
        text.lines()
            .any(|l| l.contains(&t2) && l.contains("no console port free")),
        "the dry run names t2's missing port:\n{text}"
    );
    // Once a port is added, t2 takes the domain that stayed.
    f.targets[1]
        .ok(Request::SetVcc {
            name: "primary-vcc0".into(),
            port_lo: 47000,
            port_hi: 47099,
        })
        .await;
    let (planned, _) = make_plan(&f.src.client(), &o).await.unwrap();
    let stays = planned
        .iter()
        .filter(|p| matches!(p.placement, Placement::Nowhere(_)))
        .count();
    assert_eq!(
        stays,
        1,
        "only huge stays:\n{}",
        plan_text(&o, &planned, &[])
    );
}
