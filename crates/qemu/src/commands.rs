//! Typed wrappers for the general QMP commands (run state, CPUs, objects).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::qmp::Qmp;

/// QEMU's run state, as reported by `query-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Stopped by a debugger.
    Debug,
    /// Waiting for or receiving an incoming migration.
    Inmigrate,
    /// An internal error stopped the guest.
    InternalError,
    /// A disk I/O error stopped the guest.
    IoError,
    /// Stopped (QMP `stop`, or migrated in from a stopped source).
    Paused,
    /// Migration to another host completed; this copy must not run again.
    Postmigrate,
    /// Started with `-S` and never run.
    Prelaunch,
    /// Final stage of an outgoing migration (guest stopped).
    FinishMigrate,
    /// Loading a snapshot.
    RestoreVm,
    /// The guest is running.
    Running,
    /// Saving a snapshot.
    SaveVm,
    /// The guest shut down (and QEMU was told not to exit).
    Shutdown,
    /// The guest is suspended (ACPI S3).
    Suspended,
    /// A watchdog fired.
    Watchdog,
    /// The guest kernel panicked.
    GuestPanicked,
    /// COLO fault tolerance.
    Colo,
    /// A state this crate does not know.
    #[serde(other)]
    Unknown,
}

impl RunState {
    /// QEMU's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Debug => "debug",
            RunState::Inmigrate => "inmigrate",
            RunState::InternalError => "internal-error",
            RunState::IoError => "io-error",
            RunState::Paused => "paused",
            RunState::Postmigrate => "postmigrate",
            RunState::Prelaunch => "prelaunch",
            RunState::FinishMigrate => "finish-migrate",
            RunState::RestoreVm => "restore-vm",
            RunState::Running => "running",
            RunState::SaveVm => "save-vm",
            RunState::Shutdown => "shutdown",
            RunState::Suspended => "suspended",
            RunState::Watchdog => "watchdog",
            RunState::GuestPanicked => "guest-panicked",
            RunState::Colo => "colo",
            RunState::Unknown => "unknown",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reply of `query-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmStatus {
    /// The run state.
    pub status: RunState,
    /// True if the vCPUs are running.
    pub running: bool,
}

/// The arguments of `announce-self`: how often QEMU sends gratuitous
/// ARP/RARP packets for the guest's NICs so that switches learn where the
/// guest now is. Round `n` (from 0) is sent `initial + n * step`
/// milliseconds after the previous one, capped at `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSelf {
    /// Delay before the first round, in milliseconds.
    pub initial: u64,
    /// Longest delay between rounds, in milliseconds.
    pub max: u64,
    /// Number of rounds.
    pub rounds: u64,
    /// Growth of the delay per round, in milliseconds.
    pub step: u64,
    /// The netdev ids to announce (see [`crate::nics::netdev_id`]); all
    /// NICs when absent.
    pub interfaces: Option<Vec<String>>,
}

impl Default for AnnounceSelf {
    /// QEMU's own defaults for the announcement after a migration: 50 ms,
    /// then 150, 250, 350, 450 ms apart, five rounds in all.
    fn default() -> Self {
        AnnounceSelf {
            initial: 50,
            max: 550,
            rounds: 5,
            step: 100,
            interfaces: None,
        }
    }
}

impl AnnounceSelf {
    /// The command's arguments as QMP takes them.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "initial": self.initial,
            "max": self.max,
            "rounds": self.rounds,
            "step": self.step,
        });
        if let Some(interfaces) = &self.interfaces {
            v["interfaces"] = json!(interfaces);
        }
        v
    }
}

/// One slot of `query-hotpluggable-cpus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotpluggableCpu {
    /// The CPU device type.
    #[serde(rename = "type")]
    pub cpu_type: String,
    /// Where the slot sits (`socket-id`, `core-id`, `thread-id`, …).
    pub props: serde_json::Map<String, Value>,
    /// The device in the slot, when one is plugged.
    #[serde(rename = "qom-path", default)]
    pub qom_path: Option<String>,
}

impl HotpluggableCpu {
    /// The slot's core number.
    pub fn core_id(&self) -> Option<u64> {
        self.props.get("core-id").and_then(Value::as_u64)
    }
}

/// Decodes a command's return value into `T`.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(command: &str, value: Value) -> Result<T> {
    serde_json::from_value(value.clone()).map_err(|e| Error::QmpDecode {
        command: command.to_string(),
        detail: format!("{e} in {value}"),
    })
}

impl Qmp {
    /// `query-status`: the run state.
    pub async fn query_status(&mut self) -> Result<VmStatus> {
        let v = self.execute("query-status", None).await?;
        decode("query-status", v)
    }

    /// `cont`: resume the vCPUs.
    pub async fn cont(&mut self) -> Result<()> {
        self.execute("cont", None).await.map(drop)
    }

    /// `stop`: pause the vCPUs.
    pub async fn stop(&mut self) -> Result<()> {
        self.execute("stop", None).await.map(drop)
    }

    /// `system_powerdown`: press the ACPI power button (the guest decides).
    pub async fn system_powerdown(&mut self) -> Result<()> {
        self.execute("system_powerdown", None).await.map(drop)
    }

    /// `quit`: make QEMU exit at once. A connection closed by the exiting
    /// QEMU before it answers counts as success.
    pub async fn quit(&mut self) -> Result<()> {
        match self.execute("quit", None).await {
            Ok(_) | Err(Error::QmpClosed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `query-cpus-fast`: the number of vCPUs.
    pub async fn query_cpus_fast(&mut self) -> Result<usize> {
        let v = self.execute("query-cpus-fast", None).await?;
        v.as_array().map(Vec::len).ok_or_else(|| Error::QmpDecode {
            command: "query-cpus-fast".into(),
            detail: format!("expected a list, got {v}"),
        })
    }

    /// The CPU memory address spaces QEMU keeps (`info mtree`, one
    /// `cpu-memory-N` per vCPU). QEMU 10.0 keeps those of vCPUs it
    /// unplugged, and under TCG their memory listeners too: more of them
    /// than [`Qmp::query_cpus_fast`] counts marks a process in which a
    /// vCPU was removed.
    pub async fn cpu_address_spaces(&mut self) -> Result<usize> {
        let v = self
            .execute(
                "human-monitor-command",
                Some(serde_json::json!({ "command-line": "info mtree" })),
            )
            .await?;
        let text = v.as_str().ok_or_else(|| Error::QmpDecode {
            command: "human-monitor-command".into(),
            detail: format!("expected text, got {v}"),
        })?;
        Ok(count_cpu_address_spaces(text))
    }

    /// `announce-self`: start announcing the guest's NICs (rounds go on
    /// in the background after the command returns).
    pub async fn announce_self(&mut self, announce: &AnnounceSelf) -> Result<()> {
        self.execute("announce-self", Some(announce.to_json()))
            .await
            .map(drop)
    }

    /// `query-hotpluggable-cpus`: every CPU slot, plugged or not.
    pub async fn query_hotpluggable_cpus(&mut self) -> Result<Vec<HotpluggableCpu>> {
        let v = self.execute("query-hotpluggable-cpus", None).await?;
        decode("query-hotpluggable-cpus", v)
    }

    /// `device_add` with a full argument object (`driver`, `id`, properties).
    pub async fn device_add(&mut self, device: Value) -> Result<()> {
        self.execute("device_add", Some(device)).await.map(drop)
    }

    /// `device_del`: asks for the device's removal. For a CPU the guest
    /// must agree (ACPI eject); QEMU reports `DEVICE_DELETED` once it is gone.
    pub async fn device_del(&mut self, id: &str) -> Result<()> {
        self.execute("device_del", Some(json!({ "id": id })))
            .await
            .map(drop)
    }

    /// `object-add` with a full argument object, e.g. from
    /// [`crate::tls_creds_psk_object`]:
    /// `{"qom-type": "...", "id": "...", ...properties}`.
    pub async fn object_add(&mut self, object: Value) -> Result<()> {
        self.execute("object-add", Some(object)).await.map(drop)
    }

    /// `object-del`: remove the object with this id.
    pub async fn object_del(&mut self, id: &str) -> Result<()> {
        self.execute("object-del", Some(json!({ "id": id })))
            .await
            .map(drop)
    }
}

/// The `cpu-memory-N` address spaces in the text of `info mtree`.
fn count_cpu_address_spaces(mtree: &str) -> usize {
    mtree
        .lines()
        .filter(|l| l.starts_with("address-space: cpu-memory-"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_self_arguments() {
        let d = AnnounceSelf::default();
        assert_eq!(
            d.to_json(),
            json!({"initial": 50, "max": 550, "rounds": 5, "step": 100})
        );
        let one = AnnounceSelf {
            interfaces: Some(vec![crate::nics::netdev_id(0)]),
            ..d
        };
        assert_eq!(
            one.to_json(),
            json!({"initial": 50, "max": 550, "rounds": 5, "step": 100, "interfaces": ["net0"]})
        );
    }

    #[test]
    fn run_states_decode() {
        for (s, want) in [
            ("running", RunState::Running),
            ("inmigrate", RunState::Inmigrate),
            ("postmigrate", RunState::Postmigrate),
            ("finish-migrate", RunState::FinishMigrate),
            ("guest-panicked", RunState::GuestPanicked),
            ("something-new", RunState::Unknown),
        ] {
            let v: VmStatus =
                serde_json::from_value(json!({"status": s, "running": false})).unwrap();
            assert_eq!(v.status, want);
            if want != RunState::Unknown {
                assert_eq!(want.as_str(), s);
                assert_eq!(serde_json::to_value(want).unwrap(), json!(s));
            }
        }
    }

    #[test]
    fn counts_each_cpus_memory_space_once_and_nothing_else() {
        let text = "address-space: cpu-memory-0\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n\naddress-space: memory\n  0-f: system\n\naddress-space: cpu-smm-0\naddress-space: cpu-memory-2\naddress-space: cpu-memory-2\naddress-space: I/O\n";
        assert_eq!(count_cpu_address_spaces(text), 3);
        assert_eq!(count_cpu_address_spaces(""), 0);
    }
}
