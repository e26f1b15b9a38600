//! Domain states and the transitions between them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The state of a domain, as `ldm list` shows it.
///
/// ```text
///  inactive --bind--> bound --start--> active
///  inactive <-unbind- bound <--stop--- active
/// ```
/// `suspended` is the source of a migration paused for its final phase (or
/// left paused after a migration whose outcome is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DomainState {
    /// Defined only: no resources held.
    Inactive,
    /// Resources (vCPUs, memory, console port) reserved; not running.
    Bound,
    /// Running.
    Active,
    /// Paused by a migration.
    Suspended,
}

impl DomainState {
    /// The lowercase name shown in listings.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::Inactive => "inactive",
            DomainState::Bound => "bound",
            DomainState::Active => "active",
            DomainState::Suspended => "suspended",
        }
    }

    /// Whether the domain holds vCPUs, memory and a console port.
    pub fn holds_resources(self) -> bool {
        !matches!(self, DomainState::Inactive)
    }

    /// Whether a QEMU process exists for the domain.
    pub fn has_process(self) -> bool {
        matches!(self, DomainState::Active | DomainState::Suspended)
    }
}

impl fmt::Display for DomainState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle verb, used to check transitions before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// `bind-domain`
    Bind,
    /// `unbind-domain`
    Unbind,
    /// `start-domain`
    Start,
    /// `stop-domain`
    Stop,
    /// `remove-domain`
    Remove,
    /// `stop-domain -f`, also of a copy left suspended by a migration.
    Destroy,
    /// QEMU exited on its own (crash, kill, guest power-off).
    Died,
    /// A migration's source paused with the outcome unknown.
    Suspend,
    /// A suspended copy resumed (`cancel-operation migration`).
    Resume,
    /// A migration's target copy resumed: it is now the running domain.
    Arrive,
}

impl Transition {
    /// The state a domain is in after `self`, applied in a state that
    /// [`Transition::check`] accepts.
    pub fn result(self) -> DomainState {
        use DomainState::*;
        match self {
            Transition::Bind | Transition::Destroy | Transition::Died | Transition::Stop => Bound,
            Transition::Unbind | Transition::Remove => Inactive,
            Transition::Start | Transition::Resume | Transition::Arrive => Active,
            Transition::Suspend => Suspended,
        }
    }

    /// Checks that `self` may be applied in `state`; the error text tells the
    /// administrator what to do instead.
    pub fn check(self, name: &str, state: DomainState) -> Result<(), String> {
        use DomainState::*;
        match (self, state) {
            (Transition::Bind, Inactive)
            | (Transition::Unbind, Bound)
            | (Transition::Start, Bound)
            | (Transition::Stop, Active)
            | (Transition::Remove, Inactive)
            | (Transition::Destroy, Active | Suspended)
            | (Transition::Died, Active | Suspended)
            | (Transition::Suspend, Active)
            | (Transition::Resume, Suspended)
            | (Transition::Arrive, Bound) => Ok(()),
            (Transition::Bind, _) => Err(format!("domain {name} is already bound ({state})")),
            (Transition::Unbind, Inactive) => Err(format!("domain {name} is not bound")),
            (Transition::Unbind, _) => Err(format!(
                "domain {name} is {state}: stop it first with `ldm stop-domain {name}`"
            )),
            (Transition::Start, Inactive) => Err(format!(
                "domain {name} is not bound: bind it first with `ldm bind-domain {name}`"
            )),
            (Transition::Start, _) => Err(format!("domain {name} is already {state}")),
            // Only an unconfirmed migration hand-off leaves a domain
            // suspended; `stop-domain -f` may destroy that copy.
            (Transition::Stop, Suspended) => Err(format!(
                "domain {name} is paused after an unconfirmed migration: destroy this copy with `ldm stop-domain -f {name}`, or resume it with `ldm cancel-operation migration {name}`"
            )),
            (Transition::Stop, _) => Err(format!("domain {name} is not running ({state})")),
            (Transition::Remove, Bound) => Err(format!(
                "domain {name} is bound: unbind it first with `ldm unbind-domain {name}`"
            )),
            (Transition::Remove, _) => Err(format!(
                "domain {name} is {state}: stop it with `ldm stop-domain {name}` and unbind it first"
            )),
            (Transition::Destroy | Transition::Died, _) => {
                Err(format!("domain {name} is not running ({state})"))
            }
            (Transition::Suspend, _) => Err(format!(
                "domain {name} is {state}: only a running domain can be suspended"
            )),
            (Transition::Resume, _) => Err(format!("domain {name} is {state}, not suspended")),
            (Transition::Arrive, _) => Err(format!(
                "domain {name} is {state}: only a bound copy can become the running one"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DomainState::*;

    #[test]
    fn lifecycle_transitions() {
        assert!(Transition::Bind.check("d", Inactive).is_ok());
        assert!(Transition::Start.check("d", Bound).is_ok());
        assert!(Transition::Stop.check("d", Active).is_ok());
        assert!(Transition::Unbind.check("d", Bound).is_ok());
        assert!(Transition::Remove.check("d", Inactive).is_ok());
    }

    const ALL_STATES: [DomainState; 4] = [Inactive, Bound, Active, Suspended];
    const ALL: [Transition; 10] = [
        Transition::Bind,
        Transition::Unbind,
        Transition::Start,
        Transition::Stop,
        Transition::Remove,
        Transition::Destroy,
        Transition::Died,
        Transition::Suspend,
        Transition::Resume,
        Transition::Arrive,
    ];

    /// Every transition in every state: the whole table, spelled out.
    #[test]
    fn the_whole_transition_table() {
        let allowed = |t: Transition, s: DomainState| -> bool {
            matches!(
                (t, s),
                (Transition::Bind, Inactive)
                    | (Transition::Unbind, Bound)
                    | (Transition::Start, Bound)
                    | (Transition::Stop, Active)
                    | (Transition::Remove, Inactive)
                    | (Transition::Destroy, Active)
                    | (Transition::Destroy, Suspended)
                    | (Transition::Died, Active)
                    | (Transition::Died, Suspended)
                    | (Transition::Suspend, Active)
                    | (Transition::Resume, Suspended)
                    | (Transition::Arrive, Bound)
            )
        };
        for t in ALL {
            for s in ALL_STATES {
                let r = t.check("d", s);
                assert_eq!(r.is_ok(), allowed(t, s), "{t:?} in {s}: {r:?}");
                if let Err(m) = r {
                    assert!(m.contains("domain d"), "{t:?} in {s}: {m}");
                }
            }
        }
        // Whatever runs has a process afterwards, whatever stopped has none.
        for t in ALL {
            let after = t.result();
            match t {
                Transition::Start
                | Transition::Resume
                | Transition::Arrive
                | Transition::Suspend => assert!(after.has_process(), "{t:?}"),
                _ => assert!(!after.has_process(), "{t:?}"),
            }
        }
    }

    #[test]
    fn refused_transitions_say_what_to_do() {
        let e = Transition::Start.check("ldg1", Inactive).unwrap_err();
        assert!(e.contains("ldm bind-domain ldg1"), "{e}");
        let e = Transition::Remove.check("ldg1", Active).unwrap_err();
        assert!(e.contains("stop-domain"), "{e}");
        assert!(Transition::Bind.check("d", Active).is_err());
        assert!(Transition::Unbind.check("d", Active).is_err());
        assert!(Transition::Stop.check("d", Bound).is_err());
        assert!(Transition::Stop.check("d", Suspended).is_err());
    }
}
