//! diskwork: an in-guest workload that writes a disk and verifies it, for
//! disk and migration tests. The library part is what both sides share:
//! the block pattern, the on-disk layout (header and generation map), the
//! command-line argument, and the lines it prints with their one parser
//! ([`lines`]).

pub mod args;
pub mod device;
pub mod layout;
pub mod lines;
pub mod pattern;
pub mod work;
