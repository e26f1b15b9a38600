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
                    Some(r) if r.free_mib < m.memory_mib || r.free_vcpus < m.vcpus => {
                        reasons.push((
                            t,
                            vec![format!(
                                "no room left after the domains planned before it: {} vCPUs and {} MiB free, {} vCPUs and {} MiB needed",
                                r.free_vcpus, r.free_mib, m.vcpus, m.memory_mib
                            )],
                        ));
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
                }
                Placement::To(t)
            }
            None => Placement::Nowhere(reasons),
        };
    }
    out
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
}
