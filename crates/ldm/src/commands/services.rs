//! `list-devices`, `list-services` and the console concentrators' verbs.

use super::simple;
use crate::cli::ServiceCmd;
use crate::client::Client;
use crate::format;
use ldm_api::{Reply, Request};

pub(super) async fn run(client: &Client, cmd: ServiceCmd) -> Result<i32, String> {
    match cmd {
        ServiceCmd::ListDevices {
            long,
            parseable,
            json,
        } => {
            let Reply::Host(h) = client.call(&Request::Host).await.map_err(|e| e.message)? else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&h).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::devices::devices(&h, long, parseable));
            }
            Ok(0)
        }
        ServiceCmd::ListServices { parseable, json } => {
            let Reply::Services { vcc, vds, vsw } = client
                .call(&Request::ListServices)
                .await
                .map_err(|e| e.message)?
            else {
                return Err("unexpected answer from ldmd".into());
            };
            if json {
                let all = serde_json::json!({ "vcc": vcc, "vds": vds, "vsw": vsw });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", format::devices::services(&vcc, parseable));
                print!("{}", format::storage::vds(&vds, parseable));
                print!("{}", format::network::vsw(&vsw, parseable));
            }
            Ok(0)
        }
        ServiceCmd::AddVcc { range, name, ldom } => {
            if ldom != "primary" {
                return Err(format!("services run in the primary domain, not '{ldom}': write `ldm add-vcc {range} {name} primary`"));
            }
            let (port_lo, port_hi) = port_range(&range)?;
            simple(
                client,
                Request::AddVcc {
                    name,
                    port_lo,
                    port_hi,
                },
            )
            .await
        }
        ServiceCmd::SetVcc { range, name } => {
            let (port_lo, port_hi) = port_range(&range)?;
            simple(
                client,
                Request::SetVcc {
                    name,
                    port_lo,
                    port_hi,
                },
            )
            .await
        }
        ServiceCmd::RemoveVcc { name } => simple(client, Request::RemoveVcc { name }).await,
    }
}

fn port_range(arg: &str) -> Result<(u16, u16), String> {
    let v = arg
        .strip_prefix("port-range=")
        .ok_or_else(|| format!("'{arg}' is not port-range=A-B"))?;
    let (lo, hi) = ldm_api::service::parse_port_range(v)?;
    if lo < 1024 {
        return Err(format!(
            "{arg}: console ports start at 1024 (those below belong to the system)"
        ));
    }
    Ok((lo, hi))
}
