//! The virtual switches' and network devices' verbs.

use super::simple;
use crate::cli::NetworkCmd;
use crate::client::Client;
use crate::network;
use ldm_api::Request;

pub(super) async fn run(client: &Client, cmd: NetworkCmd) -> Result<i32, String> {
    match cmd {
        NetworkCmd::AddVsw { args } => simple(client, network::add_vsw(&args)?).await,
        NetworkCmd::SetVsw { args } => simple(client, network::set_vsw(&args)?).await,
        NetworkCmd::RemoveVsw { name } => simple(client, Request::RemoveVsw { name }).await,
        NetworkCmd::AddVnet { args } => simple(client, network::add_vnet(&args)?).await,
        NetworkCmd::SetVnet { args } => simple(client, network::set_vnet(&args)?).await,
        NetworkCmd::RemoveVnet { name, domain } => {
            simple(client, Request::RemoveVnet { name, domain }).await
        }
    }
}
