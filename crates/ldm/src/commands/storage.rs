//! The disk services', volumes' and disks' verbs.

use super::simple;
use crate::cli::StorageCmd;
use crate::client::Client;
use crate::storage;
use ldm_api::Request;

pub(super) async fn run(client: &Client, cmd: StorageCmd) -> Result<i32, String> {
    match cmd {
        StorageCmd::AddVds { name, ldom } => simple(client, storage::add_vds(name, &ldom)?).await,
        StorageCmd::RemoveVds { name } => simple(client, Request::RemoveVds { name }).await,
        StorageCmd::AddVdsdev { force, args } => {
            simple(client, storage::add_vdsdev(force, &args)?).await
        }
        StorageCmd::SetVdsdev { options, volume } => {
            simple(client, storage::set_vdsdev(&options, &volume)?).await
        }
        StorageCmd::RemoveVdsdev { volume } => {
            simple(client, storage::remove_vdsdev(&volume)?).await
        }
        StorageCmd::AddVdisk {
            disk,
            volume,
            domain,
        } => simple(client, storage::add_vdisk(disk, &volume, domain)?).await,
        StorageCmd::SetVdisk {
            volume,
            disk,
            domain,
        } => simple(client, storage::set_vdisk(&volume, disk, domain)?).await,
        StorageCmd::RemoveVdisk { disk, domain } => {
            simple(client, Request::RemoveVdisk { disk, domain }).await
        }
    }
}
