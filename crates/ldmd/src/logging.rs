//! Where ldmd's log goes: to the journal when systemd connected its stderr
//! to the journal (`JOURNAL_STREAM`), to stderr otherwise. `LDMD_LOG`
//! filters (`info` by default; e.g. `LDMD_LOG=ldmd=debug`).

use std::os::unix::fs::MetadataExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Whether stderr is the journal stream systemd set up: `JOURNAL_STREAM`
/// holds `DEVICE:INODE` of that stream, and a redirected stderr no longer
/// matches it (see systemd.exec(5)).
pub fn stderr_is_journal() -> bool {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(m) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(m.dev()) && ino.parse() == Ok(m.ino())
}

/// Installs the global subscriber. Falls back to stderr when the journal
/// socket cannot be opened.
pub fn init() {
    let filter = EnvFilter::try_from_env("LDMD_LOG").unwrap_or_else(|_| "info".into());
    let registry = tracing_subscriber::registry().with(filter);
    let journal = if stderr_is_journal() {
        tracing_journald::layer()
            .map(|l| l.with_syslog_identifier("ldmd".into()))
            .ok()
    } else {
        None
    };
    match journal {
        Some(j) => registry.with(j).init(),
        None => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_or_a_pipe_is_not_the_journal() {
        // The test's stderr is not the stream named by a made-up value.
        std::env::set_var("JOURNAL_STREAM", "1:1");
        assert!(!stderr_is_journal());
        std::env::set_var("JOURNAL_STREAM", "garbage");
        assert!(!stderr_is_journal());
        let m = std::fs::metadata("/proc/self/fd/2").unwrap();
        std::env::set_var("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()));
        assert!(stderr_is_journal());
        std::env::remove_var("JOURNAL_STREAM");
    }
}
