//! The parts of memwork other programs use: reading its console lines.

pub mod lines;

pub use lines::{last_memwork, memwork_lines, memwork_start, MemworkLine, MemworkStart};
