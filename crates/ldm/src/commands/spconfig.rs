//! The saved configurations' verbs.

use super::simple;
use crate::cli::SpconfigCmd;
use crate::client::Client;
use crate::spconfig;
use ldm_api::{Reply, Request};

pub(super) async fn run(client: &Client, cmd: SpconfigCmd) -> Result<i32, String> {
    match cmd {
        SpconfigCmd::AddSpconfig { name } => simple(client, Request::AddSpconfig { name }).await,
        SpconfigCmd::SetSpconfig { name } => simple(client, Request::SetSpconfig { name }).await,
        SpconfigCmd::RemoveSpconfig { name } => {
            simple(client, Request::RemoveSpconfig { name }).await
        }
        SpconfigCmd::ListSpconfig => {
            let Reply::Spconfigs { configs } = client
                .call(&Request::ListSpconfig)
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            print!("{}", spconfig::list(&configs));
            Ok(0)
        }
    }
}
