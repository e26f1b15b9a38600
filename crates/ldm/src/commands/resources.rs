//! The vCPU and memory verbs and `set-var`.

use super::simple;
use crate::cli::ResourceCmd;
use crate::client::Client;
use crate::props;
use ldm_api::{parse_size_mib, Request, ResourceChange};

/// A memory amount for the memory verbs: a size no larger than a domain
/// may have (the daemon checks the result of adding it again).
fn size(s: &str) -> Result<u64, String> {
    let mib = parse_size_mib(s).map_err(|e| e.to_string())?;
    if mib > ldm_api::limits::MAX_MEMORY_MIB {
        return Err(format!(
            "{s} is more than a domain may have ({})",
            ldm_api::format_mib(ldm_api::limits::MAX_MEMORY_MIB)
        ));
    }
    Ok(mib)
}

/// `add-vcpu`, `set-vcpu`, `rm-vcpu`.
async fn vcpus(
    client: &Client,
    change: ResourceChange,
    count: u32,
    name: String,
) -> Result<i32, String> {
    let req = Request::Vcpu {
        name,
        change,
        count,
    };
    simple(client, req).await
}

/// `add-memory`, `set-memory`, `rm-memory`.
async fn memory(
    client: &Client,
    change: ResourceChange,
    s: &str,
    name: String,
) -> Result<i32, String> {
    let req = Request::Memory {
        name,
        change,
        mib: size(s)?,
    };
    simple(client, req).await
}

pub(super) async fn run(client: &Client, cmd: ResourceCmd) -> Result<i32, String> {
    match cmd {
        ResourceCmd::SetVcpu { count, name } => {
            vcpus(client, ResourceChange::Set, count, name).await
        }
        ResourceCmd::AddVcpu { count, name } => {
            vcpus(client, ResourceChange::Add, count, name).await
        }
        ResourceCmd::RmVcpu { count, name } => {
            vcpus(client, ResourceChange::Remove, count, name).await
        }
        ResourceCmd::SetMemory { size: s, name } => {
            memory(client, ResourceChange::Set, &s, name).await
        }
        ResourceCmd::AddMemory { size: s, name } => {
            memory(client, ResourceChange::Add, &s, name).await
        }
        ResourceCmd::RmMemory { size: s, name } => {
            memory(client, ResourceChange::Remove, &s, name).await
        }
        ResourceCmd::SetVar { args } => {
            let (vars, name) = props::split_props(&args)?;
            simple(client, Request::SetVar { name, vars }).await
        }
    }
}
