//! One sample of every request and reply of the local API, for the golden
//! files of `golden.rs`.

mod replies;
mod requests;

pub use replies::*;
pub use requests::*;
