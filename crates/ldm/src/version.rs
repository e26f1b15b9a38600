//! `ldm -V`: this command's version and the local ldmd's, each with the
//! local API version it speaks (and the daemon's peer protocol version).

use crate::client::Client;
use ldm_api::{HostView, Reply, Request, LOCAL_API_VERSION};
use std::path::Path;

/// This command's line.
pub fn own() -> String {
    format!(
        "ldm {} (local API {LOCAL_API_VERSION})",
        env!("CARGO_PKG_VERSION")
    )
}

/// The daemon's line, from its host facts.
pub fn daemon(h: &HostView, root: &Path) -> String {
    let api = h
        .api_version
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let peer = h
        .peer_protocol
        .map_or_else(|| "unknown".to_string(), |v| v.to_string());
    format!(
        "ldmd {} (local API {api}, peer protocol {peer}) at {}",
        h.version,
        root.display()
    )
}

/// Prints both lines; the daemon's says why it is missing if it is.
/// Returns the exit code: 0 even when ldmd is not reachable (the version
/// of ldm was asked and printed), 1 when ldmd refuses this ldm.
pub async fn print(client: &Client, root: &Path) -> i32 {
    println!("{}", own());
    match client.call(&Request::Host).await {
        Ok(Reply::Host(h)) => {
            println!("{}", daemon(&h, root));
            0
        }
        Ok(other) => {
            println!("ldmd: answered {other:?} instead of its host facts");
            1
        }
        Err(e) if e.kind == ldm_api::ErrorKind::BadRequest => {
            println!("ldmd: {}", e.message);
            1
        }
        Err(e) => {
            println!("ldmd: {}", e.message);
            0
        }
    }
}
