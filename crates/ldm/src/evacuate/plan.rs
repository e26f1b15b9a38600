//! The evacuation plan: which target each domain goes to. Pure, so it is
//! tested alone; the dry runs that feed it are in the parent module.

use ldm_api::migration::Room;

/// A domain to move, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mover {
    /// Name.
    pub name: String,
    /// vCPUs it holds.
    pub vcpus: u32,
    /// Memory it holds, MiB.
    pub memory_mib: u64,
}

/// What one target answered to one domain's dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The checks passed; the target's free room if it reports it.
    Passes(Option<Room>),
    /// Unmet requirements (or why the target could not be asked).
    Fails(Vec<String>),
}

/// Where one domain goes, or why it goes nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Index of the chosen target.
    To(usize),
    /// Every target's reasons, in the order of the targets.
    Nowhere(Vec<(usize, Vec<String>)>),
}

/// Room left on a target as the plan fills it (`None`: the target did not
/// report its room, an older ldmd; its own checks are all we know).
#[derive(Debug, Clone, Copy)]
struct Left {
    room: Option<Room>,
    planned: u32,
}

/// Assigns each domain (largest first) the passing target with the most
/// memory left after the domains already planned, so the load spreads and
/// two domains are never planned into room only one of them fits.
/// `answers[d][t]` is target `t`'s answer for `movers[d]`. Returns the
/// placements in the order of `movers`.
pub fn plan(movers: &[Mover], answers: &[Vec<Answer>]) -> Vec<Placement> {
    let targets = answers.first().map_or(0, Vec::len);
    let mut left = vec![
        Left {
            room: None,
            planned: 0
        };
        targets
    ];
    // The first room a target reported is its room before any move.
    for row in answers {
        for (t, a) in row.iter().enumerate() {
            if let (Answer::Passes(Some(r)), None) = (a, left[t].room) {
                left[t].room = Some(*r);
            }
        }
    }
    let mut order: Vec<usize> = (0..movers.len()).collect();
    order.sort_by_key(|&d| {
        std::cmp::Reverse((movers[d].memory_mib, movers[d].vcpus, usize::MAX - d))
    });
    let mut out = vec![Placement::Nowhere(Vec::new()); movers.len()];
    for d in order {
        let m = &movers[d];
        let mut reasons = Vec::new();
        let mut best: Option<(usize, (u64, u32, u32))> = None;
        for t in 0..targets {
            match &answers[d][t] {
                Answer::Fails(f) => reasons.push((t, f.clone())),
                Answer::Passes(_) => match left[t].room {
                    Some(r) if shortfall(&r, m).is_some() => {
                        reasons.push((t, shortfall(&r, m).into_iter().collect()));
                    }
                    room => {
                        // More memory left first, then vCPUs, then fewer planned.
                        let key = room.map_or((0, 0, u32::MAX - left[t].planned), |r| {
                            (r.free_mib, r.free_vcpus, u32::MAX - left[t].planned)
                        });
                        if best.is_none_or(|(_, k)| key > k) {
                            best = Some((t, key));
                        }
                    }
                },
            }
        }
        out[d] = match best {
            Some((t, _)) => {
                let l = &mut left[t];
                l.planned += 1;
                if let Some(r) = l.room.as_mut() {
                    r.free_mib -= m.memory_mib;
                    r.free_vcpus -= m.vcpus;
                    if let Some(p) = r.free_console_ports.as_mut() {
                        *p -= 1;
                    }
                }
                Placement::To(t)
            }
            None => Placement::Nowhere(reasons),
        };
    }
    out
}

/// Why `m` no longer fits in what is left of `r`, if it does not: every
/// resource that runs short (vCPUs, memory, a console port).
fn shortfall(r: &Room, m: &Mover) -> Option<String> {
    let mut short = Vec::new();
    if r.free_vcpus < m.vcpus {
        short.push(format!("{} vCPUs free, {} needed", r.free_vcpus, m.vcpus));
    }
    if r.free_mib < m.memory_mib {
        short.push(format!("{} MiB free, {} needed", r.free_mib, m.memory_mib));
    }
    if r.free_console_ports == Some(0) {
        short.push("no console port free in its vcc ranges, 1 needed".into());
    }
    (!short.is_empty()).then(|| {
        format!(
            "no room left after the domains planned before it: {}",
            short.join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, vcpus: u32, memory_mib: u64) -> Mover {
        Mover {
            name: name.into(),
            vcpus,
            memory_mib,
        }
    }

    fn room(free_vcpus: u32, free_mib: u64) -> Answer {
        Answer::Passes(Some(Room {
            free_vcpus,
            free_mib,
            free_console_ports: None,
        }))
    }

    fn room_ports(free_vcpus: u32, free_mib: u64, ports: u32) -> Answer {
        Answer::Passes(Some(Room {
            free_vcpus,
            free_mib,
            free_console_ports: Some(ports),
        }))
    }

    #[test]
    fn domains_spread_by_free_memory_and_never_overfill() {
        let movers = [m("a", 1, 1024), m("b", 1, 1024), m("c", 1, 1024)];
        // Target 0 has room for two, target 1 for one.
        let row = vec![room(8, 2048), room(8, 1536)];
        let p = plan(&movers, &[row.clone(), row.clone(), row]);
        let to0 = p.iter().filter(|p| **p == Placement::To(0)).count();
        let to1 = p.iter().filter(|p| **p == Placement::To(1)).count();
        assert_eq!((to0, to1), (2, 1), "{p:?}");
    }

    #[test]
    fn a_domain_that_fits_nowhere_gets_every_targets_reasons() {
        let movers = [m("big", 4, 4096)];
        let p = plan(
            &movers,
            &[vec![
                Answer::Fails(vec!["Not enough free memory".into()]),
                room(2, 8192),
            ]],
        );
        let Placement::Nowhere(r) = &p[0] else {
            panic!("{p:?}")
        };
        assert_eq!(r.len(), 2);
        assert!(r[0].1[0].contains("memory"));
        assert!(r[1].1[0].contains("no room left"), "{r:?}");
    }

    #[test]
    fn a_target_without_room_figures_is_used_on_its_checks_alone() {
        let movers = [m("a", 1, 512), m("b", 1, 512)];
        let row = vec![Answer::Passes(None)];
        let p = plan(&movers, &[row.clone(), row]);
        assert_eq!(p, [Placement::To(0), Placement::To(0)]);
    }

    #[test]
    fn console_ports_limit_a_target_like_memory_and_vcpus() {
        let movers = [m("a", 1, 512), m("b", 1, 512), m("c", 1, 512)];
        // Target 0 has the most memory but one console port; target 1
        // has memory for one; so one fits nowhere, for lack of a port on 0.
        let row = vec![room_ports(8, 8192, 1), room_ports(8, 512, 4)];
        let p = plan(&movers, &[row.clone(), row.clone(), row]);
        let to0 = p.iter().filter(|p| **p == Placement::To(0)).count();
        let to1 = p.iter().filter(|p| **p == Placement::To(1)).count();
        assert_eq!((to0, to1), (1, 1), "{p:?}");
        let Some(Placement::Nowhere(r)) = p.iter().find(|p| matches!(p, Placement::Nowhere(_)))
        else {
            panic!("one domain fits nowhere: {p:?}")
        };
        assert!(r[0].1[0].contains("no console port free"), "{r:?}");
        assert!(r[1].1[0].contains("MiB free"), "{r:?}");
        assert!(!r[1].1[0].contains("console port"), "{r:?}");
    }
}
