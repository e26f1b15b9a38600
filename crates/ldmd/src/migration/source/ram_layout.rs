//! The running machine's RAM, read from its QEMU in phase 1: the size of
//! the boot memory of a domain with hot-pluggable memory, which the
//! target must rebuild exactly (the offer carries it;
//! `ldm_qemu::BOOT_MEMORY_PAD_KIB` says why it is padded).
//!
//! A fact of the QEMU that runs, not of the definition: a domain started
//! before ldm padded the boot memory runs without the pad until it
//! restarts, and its QEMU says so.

use crate::ops::machine::QmpGuard;
use ldm_qemu::{Qmp, BOOT_MEMORY_BACKEND};
use std::path::Path;
use std::sync::Arc;

/// The size of the running machine's boot memory, KiB; the failure to
/// report if QEMU cannot say.
pub(crate) async fn boot_memory_kib(
    name: &str,
    qmp: &Arc<tokio::sync::Mutex<Option<Qmp>>>,
    socket: &Path,
) -> Result<u64, String> {
    let mut g = QmpGuard::lock(qmp, socket)
        .await
        .map_err(|e| format!("Domain {name}: its QEMU does not answer: {e}"))?;
    match g.q().memdev_size(BOOT_MEMORY_BACKEND).await {
        Ok(Some(bytes)) => Ok(bytes >> 10),
        Ok(None) => Err(format!(
            "Domain {name}: its QEMU has no boot memory backend {BOOT_MEMORY_BACKEND}"
        )),
        Err(e) => Err(format!(
            "Domain {name}: cannot read its QEMU's memory backends: {e}"
        )),
    }
}
