//! A domain's lifecycle: one type that says what a domain is and what it
//! carries in each state, and one function through which every change of
//! state passes.
//!
//! The record keeps the state as `ldm list` shows it ([`DomainState`]) with
//! the facts that go with it (binding, UPTIME origin, migration mark); the
//! runtime keeps the QEMU process. [`Lifecycle`] reads both together, so
//! code that needs "the running domain's QEMU" or "the binding of a bound
//! domain" matches on one type instead of combining options. Every change
//! of state goes through [`transition`], which checks it against the table
//! in [`ldm_api::state::Transition`], keeps the record's invariants (a
//! binding while resources are held, an UPTIME origin only while a process
//! runs) and writes the database before the table, so a refused or failed
//! change leaves both as they were.

use crate::daemon::{commit, Domain, Runtime};
use crate::db::Db;
use crate::error::{refuse, Result};
use crate::record::{Binding, DomainRecord, MigrationMark};
use ldm_api::migration::Role;
use ldm_api::state::Transition;
use ldm_api::{DomainState, ErrorKind};

/// What a domain is, with what it carries.
pub enum Lifecycle<'a> {
    /// Defined only.
    Inactive,
    /// Resources reserved, not running.
    Bound {
        /// vCPUs, memory, console port and machine, fixed at bind.
        binding: &'a Binding,
    },
    /// Bound here as the target of a migration in progress: a copy that is
    /// not the master, with an incoming QEMU for a live migration.
    Incoming {
        /// As above.
        binding: Option<&'a Binding>,
        /// The incoming QEMU, paused until the hand-off (live only).
        rt: Option<&'a Runtime>,
        /// The migration.
        mark: &'a MigrationMark,
    },
    /// Running, QEMU attached (or to be re-attached).
    Running {
        /// As above.
        binding: Option<&'a Binding>,
        /// The QEMU process, when attached.
        rt: Option<&'a Runtime>,
        /// UPTIME origin (Unix seconds).
        started_at: Option<u64>,
    },
    /// Running and leaving: the source of a migration in progress.
    Outgoing {
        /// As above.
        binding: Option<&'a Binding>,
        /// The source QEMU.
        rt: Option<&'a Runtime>,
        /// The migration.
        mark: &'a MigrationMark,
    },
    /// Paused by a migration whose outcome is unknown: waits for the
    /// administrator (or for the outcome to be learnt).
    Suspended {
        /// The paused QEMU, when attached.
        rt: Option<&'a Runtime>,
        /// What the administrator is told.
        note: Option<&'a str>,
    },
}

impl Domain {
    /// The domain's lifecycle, read from its record and runtime.
    pub fn lifecycle(&self) -> Lifecycle<'_> {
        let rec = &self.rec;
        let mark = rec.migration.as_ref();
        let role = |r: Role| mark.filter(|m| m.role == r && m.error.is_none());
        let binding = rec.binding.as_ref();
        let rt = self.rt.as_ref();
        match rec.state {
            DomainState::Inactive | DomainState::Bound => match (role(Role::Target), binding) {
                (Some(mark), _) => Lifecycle::Incoming { binding, rt, mark },
                (None, Some(binding)) if rec.state == DomainState::Bound => {
                    Lifecycle::Bound { binding }
                }
                (None, _) => Lifecycle::Inactive,
            },
            DomainState::Active => match role(Role::Source) {
                Some(mark) => Lifecycle::Outgoing { binding, rt, mark },
                None => Lifecycle::Running {
                    binding,
                    rt,
                    started_at: rec.started_at,
                },
            },
            DomainState::Suspended => Lifecycle::Suspended {
                rt,
                note: mark.and_then(|m| m.error.as_deref()),
            },
        }
    }
}

/// The one way a domain's state changes: checks `tr` in the domain's
/// current state, applies it and then `edit` to a copy of the record, keeps
/// the record's invariants, and writes the database, then the table. On
/// error nothing changed.
pub fn transition(
    db: &Db,
    dom: &mut Domain,
    tr: Transition,
    edit: impl FnOnce(&mut DomainRecord),
) -> Result<()> {
    tr.check(&dom.rec.spec.name, dom.rec.state)
        .map_err(|m| refuse(ErrorKind::State, m))?;
    let mut rec = dom.rec.clone();
    rec.state = tr.result();
    if matches!(
        tr,
        Transition::Stop | Transition::Destroy | Transition::Died | Transition::Unbind
    ) {
        // Nothing of a migration is left to settle once the process is gone.
        rec.migration = None;
    }
    edit(&mut rec);
    if !rec.state.holds_resources() {
        rec.binding = None;
    }
    if !rec.state.has_process() {
        rec.started_at = None;
    }
    if rec.state.holds_resources() && rec.binding.is_none() {
        return Err(refuse(
            ErrorKind::Internal,
            format!(
                "domain {} would be {} without a binding",
                rec.spec.name, rec.state
            ),
        ));
    }
    commit(db, dom, rec)?;
    if !dom.rec.state.has_process() {
        dom.rt = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(state: DomainState) -> Domain {
        let spec = ldm_api::DomainSpec {
            name: "ldg1".into(),
            uuid: uuid::Uuid::from_u128(0x00000000_0000_4000_8000_000000000001),
            cpu_arch: Default::default(),
            vcpus: 1,
            max_vcpus: None,
            max_memory_mib: None,
            boot_memory_mib: None,
            memory_mib: 512,
            vars: Default::default(),
            migration: Default::default(),
            disks: Vec::new(),
            networks: Vec::new(),
        };
        let mut rec = DomainRecord::new(spec);
        rec.state = state;
        if state != DomainState::Inactive {
            rec.binding = Some(Binding {
                console_port: 5000,
                machine_type: "pc-i440fx-10.0".into(),
                cpu_model: "max".into(),
                accel: "tcg".into(),
                boot_pad_kib: None,
            });
        }
        if state.has_process() {
            rec.started_at = Some(1);
        }
        Domain::new(rec)
    }

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("ldm.db")).unwrap();
        (dir, db)
    }

    #[test]
    fn a_refused_transition_changes_nothing() {
        let (_dir, db) = db();
        let mut dom = domain(DomainState::Bound);
        db.put_domain(&dom.rec).unwrap();
        let before = dom.rec.clone();
        let e = transition(&db, &mut dom, Transition::Stop, |_| {}).unwrap_err();
        assert!(e.to_string().contains("not running"), "{e}");
        assert_eq!(dom.rec, before);
        assert_eq!(db.domains().unwrap(), vec![before]);
    }

    #[test]
    fn stopping_clears_uptime_and_migration_and_keeps_the_binding() {
        let (_dir, db) = db();
        let mut dom = domain(DomainState::Suspended);
        let mut mark = MigrationMark::new(Role::Source, "h:1", "m1");
        mark.error = Some("unconfirmed".into());
        dom.rec.migration = Some(mark);
        assert!(matches!(
            dom.lifecycle(),
            Lifecycle::Suspended {
                note: Some("unconfirmed"),
                ..
            }
        ));
        transition(&db, &mut dom, Transition::Destroy, |_| {}).unwrap();
        assert_eq!(dom.rec.state, DomainState::Bound);
        assert!(dom.rec.started_at.is_none() && dom.rec.migration.is_none());
        assert!(matches!(dom.lifecycle(), Lifecycle::Bound { .. }));
        assert_eq!(db.domains().unwrap(), vec![dom.rec.clone()]);
    }

    #[test]
    fn unbinding_drops_the_binding() {
        let (_dir, db) = db();
        let mut dom = domain(DomainState::Bound);
        transition(&db, &mut dom, Transition::Unbind, |_| {}).unwrap();
        assert!(dom.rec.binding.is_none());
        assert!(matches!(dom.lifecycle(), Lifecycle::Inactive));
    }

    #[test]
    fn a_state_that_holds_resources_needs_a_binding() {
        let (_dir, db) = db();
        let mut dom = domain(DomainState::Inactive);
        let e = transition(&db, &mut dom, Transition::Bind, |_| {}).unwrap_err();
        assert!(e.to_string().contains("without a binding"), "{e}");
        assert_eq!(dom.rec.state, DomainState::Inactive);
    }

    #[test]
    fn migration_marks_show_as_incoming_and_outgoing() {
        let mut dom = domain(DomainState::Active);
        dom.rec.migration = Some(MigrationMark::new(Role::Source, "h:1", "m1"));
        assert!(matches!(dom.lifecycle(), Lifecycle::Outgoing { .. }));
        let mut dom = domain(DomainState::Bound);
        dom.rec.migration = Some(MigrationMark::new(Role::Target, "h", "m1"));
        assert!(matches!(dom.lifecycle(), Lifecycle::Incoming { .. }));
        let mut dom = domain(DomainState::Inactive);
        dom.rec.migration = Some(MigrationMark::new(Role::Target, "h", "m1"));
        assert!(matches!(
            dom.lifecycle(),
            Lifecycle::Incoming { binding: None, .. }
        ));
    }
}
