//! Output formats: tables, Oracle's parseable `-p` form, long listings.

pub mod devices;
pub mod list;
pub mod network;
pub mod storage;
