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

/// Pages sampled per GiB of guest memory: QEMU's most (its default is
/// 512), so that a period shorter than a second still counts enough pages
/// to tell a rate; hashing 16 MiB per GiB twice costs QEMU milliseconds.
pub const SAMPLE_PAGES_PER_GIB: u32 = 4096;
/// The shortest and longest period QEMU accepts.
const PERIOD_MS: (u128, u128) = (50, 60_000);

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
    /// The measuring period, in the unit asked (seconds unless asked in
    /// milliseconds).
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
    /// `calc-dirty-rate`: starts sampling for `period` (in milliseconds,
    /// within QEMU's 50 ms to 60 s); read the result with
    /// [`Qmp::query_dirty_rate`] once the period has passed.
    pub async fn calc_dirty_rate(&mut self, period: Duration) -> Result<()> {
        let ms = period.as_millis().clamp(PERIOD_MS.0, PERIOD_MS.1) as u64;
        self.execute(
            "calc-dirty-rate",
            Some(json!({
                "calc-time": ms,
                "calc-time-unit": "millisecond",
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
