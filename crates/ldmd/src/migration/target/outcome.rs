//! The target's memory of each incoming migration: its outcome, stored
//! before the source is told anything, and the answer to a source that
//! lost the answer and asks again (`Resolve`).

use crate::daemon::Daemon;
use crate::db::OutcomeRow;
use crate::migration::protocol::ToSource;
use crate::migration::source::machine::Outcome;
use ldm_peer::Framed;
use tokio::io::{AsyncRead, AsyncWrite};

/// Stored while the copy waits for the data and `Commit`.
pub const PREPARED: &str = "prepared";
/// Stored once `Postcopy` arrived, before the guest runs here: the copy
/// is never destroyed from then on (protocol 4).
pub const POSTCOPY: &str = "postcopy";
/// Stored once `Commit` arrived, before resuming.
pub const COMMITTING: &str = "committing";
/// Stored once the domain runs here, before `Committed` is sent.
pub const COMMITTED: &str = "committed";
/// Stored once the copy is destroyed, before the source is answered.
pub const ROLLED_BACK: &str = "rolled-back";

/// Records `outcome` for migration `id` of `domain`.
pub fn record(
    d: &Daemon,
    id: &str,
    domain: &str,
    secret: &str,
    outcome: &str,
) -> crate::error::Result<()> {
    d.db.put_outcome(&OutcomeRow {
        id: id.to_string(),
        domain: domain.to_string(),
        outcome: outcome.to_string(),
        secret: secret.to_string(),
    })
}

/// What a source asking about `id` with `secret` is told.
pub fn answer(d: &Daemon, id: &str, secret: &str) -> ToSource {
    let row = match d.db.outcome(id) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(migration = id, "cannot read the migration's outcome: {e}");
            return ToSource::Outcome {
                outcome: Outcome::Unknown,
            };
        }
    };
    let Some(row) = row else {
        return ToSource::Outcome {
            outcome: Outcome::Unknown,
        };
    };
    if !same_secret(row.secret.as_bytes(), secret.as_bytes()) {
        tracing::warn!(migration = id, "resolution refused: wrong secret");
        return ToSource::Error {
            message: format!("{id} is not a migration this host can tell you about"),
        };
    }
    let outcome = match row.outcome.as_str() {
        COMMITTED => Outcome::Committed,
        ROLLED_BACK => Outcome::RolledBack,
        _ => Outcome::Unknown,
    };
    tracing::info!(migration = id, domain = %row.domain, ?outcome, "told a source the outcome of its migration");
    ToSource::Outcome { outcome }
}

/// Serves one `Resolve` on an otherwise unauthenticated connection.
pub async fn serve<S>(d: &Daemon, ch: &mut Framed<S>, id: &str, secret: &str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let reply = answer(d, id, secret);
    let _ = tokio::time::timeout(
        crate::migration::deadline::Wait::PeerSend.get(),
        ch.send(&reply),
    )
    .await;
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_must_match_exactly() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"", b"a"));
    }
}
