//! Migration capabilities and parameters, applied identically on both ends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::qmp::Qmp;

/// QEMU's default `downtime-limit` in milliseconds.
pub const DEFAULT_DOWNTIME_LIMIT_MS: u64 = 300;

/// The largest `downtime-limit` QEMU accepts, in milliseconds.
pub const MAX_DOWNTIME_LIMIT_MS: u64 = 2_000_000;

/// How QEMU finds all-zero pages, which are sent as a marker only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroPageDetection {
    /// Send zero pages like any other page.
    #[serde(rename = "none")]
    Disabled,
    /// Detect in the main migration thread.
    Legacy,
    /// Detect in the multifd threads (QEMU's default; the main thread
    /// does it when multifd is off).
    Multifd,
}

impl ZeroPageDetection {
    /// QEMU's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            ZeroPageDetection::Disabled => "none",
            ZeroPageDetection::Legacy => "legacy",
            ZeroPageDetection::Multifd => "multifd",
        }
    }
}

impl fmt::Display for ZeroPageDetection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ZeroPageDetection {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(ZeroPageDetection::Disabled),
            "legacy" => Ok(ZeroPageDetection::Legacy),
            "multifd" => Ok(ZeroPageDetection::Multifd),
            _ => Err(Error::InvalidZeroPageDetection(s.to_string())),
        }
    }
}

/// Migration settings. Apply the same value on the source before
/// `migrate` and on the target before `migrate-incoming`: QEMU requires
/// e.g. the multifd capability and channel count to match on both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MigrationTuning {
    /// Parallel multifd channels (1-255); 0 turns multifd off. Measured
    /// here (TCG, 256 MiB random RAM, loopback): 1 stream ~3 Gbit/s, 2
    /// multifd channels ~20 Gbit/s.
    pub multifd_channels: u8,
    /// Bandwidth cap in bytes per second; 0 means no cap. (QEMU's own
    /// default is a 128 MiB/s cap; in QEMU 10 `max-bandwidth` 0 disables
    /// the limit.)
    pub max_bandwidth_bytes: u64,
    /// Longest acceptable guest pause at switchover, in milliseconds
    /// (0 to [`MAX_DOWNTIME_LIMIT_MS`]).
    pub downtime_limit_ms: u64,
    /// Zero-page detection mode; `None` keeps QEMU's default (multifd).
    pub zero_page_detection: Option<ZeroPageDetection>,
    /// Id of a `tls-creds-*` object (see [`crate::tls_creds_psk_object`])
    /// to encrypt the migration with; `None` sends in clear text.
    pub tls_creds: Option<String>,
    /// Host name checked against an x509 certificate (source side only;
    /// not needed for PSK credentials).
    pub tls_hostname: Option<String>,
    /// Throttle the guest's vCPUs when it dirties memory faster than it
    /// can be sent, so the migration converges.
    pub auto_converge: bool,
    /// Stop at `pre-switchover` before the final switch, until
    /// [`Qmp::migrate_continue`]; lets the caller check the target first.
    pub pause_before_switchover: bool,
    /// Allow post-copy (`postcopy-ram`; [`Qmp::migrate_start_postcopy`]
    /// switches). QEMU 10.0 refuses it together with multifd ("Postcopy
    /// is not yet compatible with multifd"), so with it the copy runs on
    /// the main channel alone and `multifd_channels` is not used.
    #[serde(skip_serializing_if = "is_false")]
    pub postcopy: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for MigrationTuning {
    fn default() -> Self {
        MigrationTuning {
            multifd_channels: 2,
            max_bandwidth_bytes: 0,
            downtime_limit_ms: DEFAULT_DOWNTIME_LIMIT_MS,
            zero_page_detection: None,
            tls_creds: None,
            tls_hostname: None,
            auto_converge: false,
            pause_before_switchover: false,
            postcopy: false,
        }
    }
}

impl MigrationTuning {
    /// The capabilities to set, as `(name, enabled)` pairs.
    pub fn capabilities(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("multifd", self.multifd()),
            ("postcopy-ram", self.postcopy),
            ("events", true),
            ("auto-converge", self.auto_converge),
            ("pause-before-switchover", self.pause_before_switchover),
            // The incoming side activates its disks only when it resumes
            // (at the hand-off), never while the source may still resume
            // them after a failure.
            ("late-block-activate", true),
        ]
    }

    /// The `migrate-set-parameters` arguments.
    ///
    /// TLS settings are always sent (empty string = off) so that leftovers
    /// from an earlier migration of the same process cannot linger.
    pub fn parameters(&self) -> Value {
        let mut p = Map::new();
        p.insert("max-bandwidth".into(), json!(self.max_bandwidth_bytes));
        p.insert("downtime-limit".into(), json!(self.downtime_limit_ms));
        if self.multifd() {
            p.insert("multifd-channels".into(), json!(self.multifd_channels));
        }
        if let Some(z) = self.zero_page_detection {
            p.insert("zero-page-detection".into(), json!(z.as_str()));
        }
        p.insert(
            "tls-creds".into(),
            json!(self.tls_creds.as_deref().unwrap_or("")),
        );
        p.insert(
            "tls-hostname".into(),
            json!(self.tls_hostname.as_deref().unwrap_or("")),
        );
        Value::Object(p)
    }

    /// Whether the copy uses multifd channels (never with post-copy).
    pub fn multifd(&self) -> bool {
        self.multifd_channels > 0 && !self.postcopy
    }

    /// The connections QEMU opens: the main channel and each multifd one.
    pub fn channels(&self) -> u32 {
        1 + if self.multifd() {
            u32::from(self.multifd_channels)
        } else {
            0
        }
    }

    /// Sets the capabilities and parameters on one end of a migration.
    /// Call it on both ends, before `migrate` / `migrate-incoming`.
    pub async fn apply(&self, qmp: &mut Qmp) -> Result<()> {
        qmp.migrate_set_capabilities(&self.capabilities()).await?;
        qmp.migrate_set_parameters(self.parameters()).await?;
        tracing::debug!(path = %qmp.path().display(), tuning = ?self, "applied migration tuning");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_and_capabilities() {
        let t = MigrationTuning {
            tls_creds: Some("tls0".into()),
            zero_page_detection: Some(ZeroPageDetection::Legacy),
            ..Default::default()
        };
        assert_eq!(
            t.parameters(),
            json!({"max-bandwidth": 0, "downtime-limit": 300, "multifd-channels": 2,
                   "zero-page-detection": "legacy", "tls-creds": "tls0", "tls-hostname": ""})
        );
        assert!(t.capabilities().contains(&("multifd", true)));

        let off = MigrationTuning {
            multifd_channels: 0,
            ..Default::default()
        };
        assert!(off.capabilities().contains(&("multifd", false)));
        assert!(off.parameters().get("multifd-channels").is_none());
        assert_eq!(off.channels(), 1);
        assert_eq!(t.channels(), 3);
    }

    #[test]
    fn postcopy_runs_on_the_main_channel_alone() {
        let t = MigrationTuning {
            postcopy: true,
            ..Default::default()
        };
        let caps = t.capabilities();
        assert!(caps.contains(&("postcopy-ram", true)));
        assert!(caps.contains(&("multifd", false)), "{caps:?}");
        assert!(t.parameters().get("multifd-channels").is_none());
        assert_eq!(t.channels(), 1);
        assert!(MigrationTuning::default()
            .capabilities()
            .contains(&("postcopy-ram", false)));
        // Left out when off, so an older peer's form stays.
        let v = serde_json::to_value(MigrationTuning::default()).unwrap();
        assert!(v.get("postcopy").is_none(), "{v}");
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["postcopy"], json!(true));
    }

    #[test]
    fn serde_defaults_and_modes() {
        let t: MigrationTuning = serde_json::from_str(r#"{"multifd_channels": 4}"#).unwrap();
        assert_eq!(t.multifd_channels, 4);
        assert_eq!(t.downtime_limit_ms, 300);
        let z: ZeroPageDetection = serde_json::from_str("\"none\"").unwrap();
        assert_eq!(z, ZeroPageDetection::Disabled);
        assert_eq!(
            "multifd".parse::<ZeroPageDetection>().unwrap(),
            ZeroPageDetection::Multifd
        );
        assert!("zero".parse::<ZeroPageDetection>().is_err());
    }
}
