//! `migrate-domain --guest-first`: the source QEMU's vCPU threads run at
//! a higher CPU priority than the copy for the move, so the guest stays
//! responsive on a busy host while the copy takes longer.
//!
//! The boost starts right before the copy (disk mirrors, then QEMU's
//! `migrate`) and is held by the copy ([`super::live::Copy`]): a rollback,
//! cancel or failure puts the vCPUs back at nice 0 when the guest resumes,
//! and the end of the move does in every case (after a hand-off the
//! source QEMU is gone and there is nothing to restore).
//!
//! Across an ldmd restart: the request is not stored, so a restarted ldmd
//! does not know whether the move put the guest first. It puts the vCPUs
//! of every re-adopted domain with a source migration mark back at nice 0
//! ([`reset_after_restart`]); a boost does not outlive the move that way,
//! and nothing else is needed.

use super::driver::Driver;
use crate::daemon::Daemon;
use crate::record::DomainRecord;
use ldm_api::migration::Role;
use ldm_qemu::vcpu_priority::VcpuBoost;

impl Driver<'_> {
    /// The vCPU threads of the domain's QEMU at the guest-first priority,
    /// if the request asks for it and the QEMU is found.
    pub(super) fn put_guest_first(&self) -> Option<VcpuBoost> {
        if !self.run.m.guest_first {
            return None;
        }
        let d = &self.run.d;
        let uuid = d.table().get(&self.run.m.name).map(|dom| dom.rec.spec.uuid);
        let pid = uuid.and_then(|u| qemu_pid(d, &u));
        if pid.is_none() {
            tracing::warn!(domain = %self.run.m.name, "guest first: the domain's QEMU process was not found; the copy runs at the usual priority");
        }
        pid.map(VcpuBoost::apply)
    }
}

/// The live QEMU process of the domain `uuid`.
fn qemu_pid(d: &Daemon, uuid: &uuid::Uuid) -> Option<u32> {
    ldm_qemu::read_pidfile(&d.paths.pidfile(uuid)).filter(|&p| ldm_qemu::process_matches(p, uuid))
}

/// At re-adoption of `rec`'s QEMU `pid`: a domain this host was moving
/// away may have been put first by the previous ldmd; its vCPUs go back
/// to nice 0.
pub(crate) fn reset_after_restart(rec: &DomainRecord, pid: u32) {
    if rec
        .migration
        .as_ref()
        .is_some_and(|m| m.role == Role::Source)
    {
        VcpuBoost::reset(pid);
    }
}
