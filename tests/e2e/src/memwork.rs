//! The lines the guest's memwork prints on its console, read with the
//! memwork crate's own parser.

pub use memwork::{last_memwork, memwork_lines, memwork_start, MemworkLine, MemworkStart};
