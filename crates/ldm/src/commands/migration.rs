//! `migrate-domain`, `evacuate`, `cancel-reconf` and `cancel-operation`.

use super::simple;
use crate::cli::MigrationCmd;
use crate::client::Client;
use crate::{evacuate, migrate};
use ldm_api::Request;

pub(super) async fn run(client: &Client, cmd: MigrationCmd) -> Result<i32, String> {
    match cmd {
        MigrationCmd::Migrate {
            dry_run,
            password_file,
            cert,
            downtime_limit,
            max_bandwidth,
            copy_storage,
            overwrite_storage,
            postcopy,
            json,
            accept_fingerprint,
            name,
            target,
        } => {
            if let Some(ms) = downtime_limit {
                ldm_api::limits::check_downtime_ms(ms)
                    .map_err(|e| format!("--downtime-limit: {e}"))?;
            }
            if let Some(mib) = max_bandwidth {
                ldm_api::limits::check_bandwidth_mib(mib)
                    .map_err(|e| format!("--max-bandwidth: {e}"))?;
            }
            if cert && password_file.is_some() {
                return Err(
                    "-c and -p exclude each other: authenticate with a certificate or a password"
                        .into(),
                );
            }
            migrate::run(
                client,
                migrate::MigrateArgs {
                    dry_run,
                    password_file,
                    cert,
                    downtime_ms: downtime_limit,
                    bandwidth_mib: max_bandwidth,
                    copy_storage,
                    overwrite_storage,
                    postcopy,
                    json,
                    accept_fingerprint,
                    name,
                    target,
                },
            )
            .await
        }
        MigrationCmd::Evacuate {
            dry_run,
            targets,
            max_parallel,
            password_file,
            cert,
            user,
            on_interrupt,
        } => {
            evacuate::cli(
                client,
                evacuate::Args {
                    dry_run,
                    targets,
                    max_parallel,
                    password_file,
                    cert,
                    user,
                    on_interrupt,
                },
            )
            .await
        }
        MigrationCmd::CancelOperation { operation, name } => {
            match operation.as_str() {
                "migration" => simple(client, Request::CancelMigration { name }).await,
                "memdr" => simple(client, Request::CancelMemoryDr { name }).await,
                _ => Err(format!("'{operation}' is not an operation ldm can cancel: use `ldm cancel-operation migration {name}` or `ldm cancel-operation memdr {name}`")),
            }
        }
        MigrationCmd::CancelReconf { name } => simple(client, Request::CancelReconf { name }).await,
    }
}
