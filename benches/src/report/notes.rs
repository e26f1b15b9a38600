//! The notes under the table: what each column means and how each side
//! was set up.

/// What the notes say of ldm's copy: its default, or the `--postcopy`
/// mode the run was given.
fn ldm_copy_note(postcopy: Option<&str>, ch: u8) -> String {
    match postcopy {
        None | Some("auto") => format!(
            "--postcopy=auto (chosen per move: {ch} multifd channels when the model predicts \
             pre-copy converges in time, else one channel with post-copy ready, as QEMU 10.0 \
             refuses post-copy with multifd; each move's choice is printed as \"ldm's copy\")"
        ),
        Some("never") => format!("--postcopy=never ({ch} multifd channels, pre-copy only)"),
        Some(m) => format!("--postcopy={m} (one channel, post-copy)"),
    }
}

/// The notes under the table; `postcopy` is the `--postcopy` mode given
/// to ldm's moves, if any.
pub(super) fn notes(postcopy: Option<&str>) -> String {
    format!(
        "Notes: total = QEMU's migration time (query-migrate total-time, migrate to completion) \
         on every side; ldm's whole command is in the detail line. QEMU down = QEMU's own \
         downtime figure (source stopped to stream complete); for ldm add the hand-off shown \
         in its pause lines. probe gap = the guest-observed downtime: the longest time between \
         two replies of the guest's UDP echo to a datagram sent every 1 ms from the lab's \
         client. pause's gap = the gap over the guest's pause (the one its resume falls in; not always \
         the longest: a guest starved during the copy can leave a longer one), cut at the source QEMU's STOP event and the \
         target QEMU's RESUME event (QMP timestamps and the probe's replies on one wall \
         clock, the lab being one machine): before stop = last reply to STOP, pause = STOP \
         to RESUME, after resume = RESUME to the next reply, which answers a datagram sent \
         at resume +N ms (those sent between never got an answer) and waited its round \
         trip for the guest; for ldm, whose daemons own QMP, \
         STOP is the source ldmd's report and RESUME is STOP plus ldm's pause total (link \
         counted one way, whole ms). ldm: TLS 1.3 relays, {copy}, no cap, {dt} ms downtime target, \
         auto-converge. QEMU tuned: {ch} multifd channels, \
         otherwise the same settings without ldm, in clear; tuned+TLS: the \
         same with QEMU's own TLS (x509, the destination's certificate checked). QEMU \
         defaults: one channel, 128 MiB/s cap, 300 ms downtime limit, no encryption. \
         passes = dirty-sync count.",
        ch = crate::qemu_side::ldm_channels(),
        dt = crate::qemu_side::LDM_DOWNTIME_MS,
        copy = ldm_copy_note(postcopy, crate::qemu_side::ldm_channels()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_name_the_copy_the_run_used() {
        assert!(ldm_copy_note(None, 2).starts_with("--postcopy=auto (chosen per move"));
        assert_eq!(
            ldm_copy_note(Some("never"), 2),
            "--postcopy=never (2 multifd channels, pre-copy only)"
        );
        assert_eq!(
            ldm_copy_note(Some("always"), 2),
            "--postcopy=always (one channel, post-copy)"
        );
    }
}
