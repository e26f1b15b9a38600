//! How fast a running guest dirties its memory, as QEMU samples it
//! (`calc-dirty-rate` in page-sampling mode, which works under TCG and
//! KVM alike: QEMU hashes a sample of pages of each RAM block at the
//! start and the end of the period and counts those that changed).

use crate::commands::decode;
use crate::error::Result;
use crate::qmp::Qmp;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// Pages sampled per GiB of guest memory (QEMU's default).
pub const SAMPLE_PAGES_PER_GIB: u32 = 512;

/// What `query-dirty-rate` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DirtyRate {
    /// `unstarted`, `measuring` or `measured`.
    pub status: String,
    /// MiB dirtied per second (QEMU says "MB/s"; it counts 2^20 bytes),
    /// once measured.
    #[serde(default)]
    pub dirty_rate: Option<u64>,
    /// The measuring period, seconds.
    #[serde(default)]
    pub calc_time: Option<u64>,
}

impl DirtyRate {
    /// The rate, once QEMU has measured it.
    pub fn measured(&self) -> Option<u64> {
        (self.status == "measured")
            .then_some(self.dirty_rate)
            .flatten()
    }
}

impl Qmp {
    /// `calc-dirty-rate`: starts sampling for `period` (whole seconds, at
    /// least one); read the result with [`Qmp::query_dirty_rate`] once the
    /// period has passed.
    pub async fn calc_dirty_rate(&mut self, period: Duration) -> Result<()> {
        let secs = period.as_secs().max(1);
        self.execute(
            "calc-dirty-rate",
            Some(json!({
                "calc-time": secs,
                "sample-pages": SAMPLE_PAGES_PER_GIB,
                "mode": "page-sampling",
            })),
        )
        .await?;
        Ok(())
    }

    /// `query-dirty-rate`: the last measurement and its status.
    pub async fn query_dirty_rate(&mut self) -> Result<DirtyRate> {
        let v = self.execute("query-dirty-rate", None).await?;
        decode("query-dirty-rate", v)
    }
}

#[cfg(test)]
mod tests {
    use super::DirtyRate;

    #[test]
    fn decodes_what_qemu_answers() {
        let v = serde_json::json!({"status": "measured", "sample-pages": 512,
            "dirty-rate": 98, "mode": "page-sampling", "start-time": 1234,
            "calc-time": 1, "calc-time-unit": "second"});
        let r: DirtyRate = serde_json::from_value(v).unwrap();
        assert_eq!(r.measured(), Some(98));
        let v = serde_json::json!({"status": "measuring", "calc-time": 1});
        let r: DirtyRate = serde_json::from_value(v).unwrap();
        assert_eq!(r.measured(), None);
    }
}
