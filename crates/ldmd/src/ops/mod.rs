//! The verbs of the local API, one file per family.

pub mod accounts;
pub mod constraints;
pub mod define;
pub mod hotmem;
pub mod hotplug;
pub mod lifecycle;
pub mod machine;
pub mod services;
pub mod storage;
pub mod vdisk;
pub mod views;
pub mod vnet;
pub mod vsw;
