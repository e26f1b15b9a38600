//! `bind-domain`, `unbind-domain`, `start-domain` and `stop-domain`.

use crate::cli::LifecycleCmd;
use crate::client::Client;
use crate::lifecycle;
use ldm_api::request::StopMode;

pub(super) async fn run(client: &Client, cmd: LifecycleCmd) -> Result<i32, String> {
    match cmd {
        LifecycleCmd::Bind { names } => {
            lifecycle::run(client, lifecycle::Verb::Bind, false, names).await
        }
        LifecycleCmd::Unbind { names } => {
            lifecycle::run(client, lifecycle::Verb::Unbind, false, names).await
        }
        LifecycleCmd::Start { all, names } => {
            lifecycle::run(client, lifecycle::Verb::Start, all, names).await
        }
        LifecycleCmd::Stop {
            force,
            quick,
            halt,
            reboot,
            timeout,
            all,
            names,
        } => {
            if let Some(t) = timeout {
                ldm_api::limits::check_stop_timeout_secs(t)?;
            }
            let mode = match (halt, reboot) {
                (true, _) => StopMode::Halt,
                (_, true) => StopMode::Reboot,
                _ => StopMode::Normal,
            };
            let verb = lifecycle::Verb::Stop {
                force: force || quick,
                mode,
                timeout_secs: timeout,
            };
            lifecycle::run(client, verb, all, names).await
        }
    }
}
