//! Assertions an administrator would make.

use crate::host::Host;
use crate::listing::snapshot;
use crate::output::Output;

/// Runs `ldm ARGS`, asserts it fails with `phrase` on stderr
/// (case-insensitive) and that nothing an administrator can see changed.
#[track_caller]
pub fn assert_refused(host: &Host, args: &[&str], phrase: &str) -> Output {
    let before = snapshot(host);
    let out = host.ldm(args);
    out.fails_with(phrase);
    let after = snapshot(host);
    assert_eq!(
        before,
        after,
        "`ldm {}` was refused but changed the host",
        args.join(" ")
    );
    out
}

/// Restarts ldmd (SIGTERM, start) and asserts it shows the same
/// configuration; then the same with SIGKILL.
#[track_caller]
pub fn assert_survives_restarts(host: &mut Host) {
    let before = snapshot(host);
    host.restart();
    assert_eq!(
        before,
        snapshot(host),
        "changed across an ldmd restart (SIGTERM)"
    );
    host.kill9();
    host.start_daemon();
    assert_eq!(
        before,
        snapshot(host),
        "changed across an ldmd restart (SIGKILL)"
    );
}
