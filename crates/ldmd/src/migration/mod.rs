//! Live migration between two ldmd: the protocol, both sides, the checks.

pub mod checks;
pub mod compat;
pub mod connect;
pub mod copy_volumes;
pub mod cpucheck;
pub mod deadline;
pub mod dirty_during;
pub mod peer_server;
pub mod probe;
pub mod progress;
pub mod protocol;
pub mod source;
pub mod target;
pub mod tunnel;
pub mod userfaultfd;
pub mod validate;
pub mod volumes;
