//! Each verb of the command line turned into its request to ldmd, and the
//! answer printed: the dispatch behind [`crate::main_with_args`], one module
//! per group of verbs (as in [`crate::cli`]).

mod accounts;
mod domain;
mod lifecycle;
mod migration;
mod network;
mod resources;
mod services;
mod spconfig;
mod storage;

use crate::cli::{Cli, Cmd};
use crate::client::Client;
use crate::{console, format, version};
use ldm_api::{Reply, Request};

fn done(reply: Reply) -> i32 {
    if let Reply::Done { message: Some(m) } = reply {
        println!("{m}");
    }
    0
}

pub(crate) async fn simple(client: &Client, req: Request) -> Result<i32, String> {
    client.call(&req).await.map(done).map_err(|e| e.message)
}

pub(crate) async fn run(cli: Cli) -> Result<i32, String> {
    let client = Client::new(&cli.root);
    let cmd = match cli.cmd {
        Some(cmd) if !cli.version => cmd,
        _ => return Ok(version::print(&client, &cli.root).await),
    };
    match cmd {
        Cmd::Domain(cmd) => domain::run(&client, cmd).await,
        Cmd::Resource(cmd) => resources::run(&client, cmd).await,
        Cmd::Lifecycle(cmd) => lifecycle::run(&client, cmd).await,
        Cmd::Service(cmd) => services::run(&client, cmd).await,
        Cmd::Storage(cmd) => storage::run(&client, cmd).await,
        Cmd::Network(cmd) => network::run(&client, cmd).await,
        Cmd::ListBindings {
            parseable,
            json,
            names,
        } => {
            let Reply::Domains { domains } = client
                .call(&Request::List { names })
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                let doms: Vec<_> = domains.iter().filter(|v| v.name != "primary").collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doms).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::list::bindings(&domains, parseable));
            }
            Ok(0)
        }
        Cmd::Console { dump, name } => {
            if dump {
                let Reply::ConsoleDump { text } = client
                    .call(&Request::ConsoleDump { name })
                    .await
                    .map_err(|e| e.message)?
                else {
                    return Err("unexpected answer from ldmd".into());
                };
                print!("{text}");
                return Ok(0);
            }
            let Reply::Console { address, port } = client
                .call(&Request::ConsoleAddr { name: name.clone() })
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            console::attach(&name, &address, port).await?;
            Ok(0)
        }
        Cmd::Migration(cmd) => migration::run(&client, cmd).await,
        Cmd::Account(cmd) => accounts::run(&client, cmd).await,
        Cmd::Spconfig(cmd) => spconfig::run(&client, cmd).await,
    }
}
