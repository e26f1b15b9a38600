//! The user accounts' and trusted certificates' verbs.

use super::simple;
use crate::accounts;
use crate::cli::AccountCmd;
use crate::client::Client;
use ldm_api::Request;

pub(super) async fn run(client: &Client, cmd: AccountCmd) -> Result<i32, String> {
    match cmd {
        AccountCmd::AddUser {
            password_file,
            args,
        } => accounts::add_user(client, password_file, &args).await,
        AccountCmd::SetUser {
            password_file,
            password,
            args,
        } => accounts::set_user(client, password_file, password, &args).await,
        AccountCmd::RemoveUser { name } => simple(client, Request::RemoveUser { name }).await,
        AccountCmd::ListUsers => accounts::list_users(client).await,
        AccountCmd::AddTrust { source, args } => accounts::add_trust(client, source, &args).await,
        AccountCmd::RemoveTrust { host } => accounts::remove_trust(client, &host).await,
        AccountCmd::ListTrust => accounts::list_trust(client).await,
    }
}
