//! Bounds on what connections may cost the daemon: caps on concurrent
//! connections, back-off for failing accepts, rate-limited warnings. The
//! values are in `docs/security.md`.

mod backoff;
mod conncap;
mod loglimit;

pub use backoff::Backoff;
pub use conncap::{CapRefusal, ConnCap, Permit};
pub use loglimit::LogLimit;
