//! `sdp deployer --type helm|process`.

use crate::deploy_mode::DeployMode;
use crate::deployer::{helm, process};
use clap::Args;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DeployerArgs {
    /// Which deployments to make real: helm (Helm releases) or process (local processes).
    /// Default: $SDP_DEPLOY_MODE, else helm.
    #[arg(long = "type", conflicts_with = "kind_arg")]
    kind: Option<String>,
    /// The same as --type (`sdp deployer helm`).
    #[arg(value_name = "TYPE")]
    kind_arg: Option<String>,
    /// process: where records and logs live (default $SDP_PROCESS_STATE_DIR, else ~/.local/state/sdp/process).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// process: seconds between SIGTERM and SIGKILL (default $SDP_PROCESS_GRACE, else 10).
    #[arg(long)]
    grace: Option<f64>,
    /// process: stop every process before exiting on SIGTERM/SIGINT (default: leave them
    /// running for the next deployer to adopt; also $SDP_PROCESS_STOP_ON_EXIT=1).
    #[arg(long)]
    stop_on_exit: bool,
}

pub fn run(a: DeployerArgs) -> i32 {
    crate::runtime::block_on(async move {
        let mode = match a.kind.as_deref().or(a.kind_arg.as_deref()) {
            Some(k) => DeployMode::parse(k)?,
            None => DeployMode::from_env()?,
        };
        match mode {
            DeployMode::Helm => helm::run(helm::Settings::from_env()?).await,
            DeployMode::Process => {
                let grace = match a.grace {
                    Some(g) => g,
                    None => match std::env::var("SDP_PROCESS_GRACE") {
                        Ok(v) if !v.is_empty() => v.parse().map_err(|_| format!("SDP_PROCESS_GRACE must be seconds, not {v:?}"))?,
                        _ => 10.0,
                    },
                };
                let stable = match std::env::var("SDP_PROCESS_STABLE") {
                    Ok(v) if !v.is_empty() => v.parse().map_err(|_| format!("SDP_PROCESS_STABLE must be seconds, not {v:?}"))?,
                    _ => 10.0f64,
                };
                let s = process::Settings {
                    state_dir: a.state_dir.unwrap_or_else(process::default_state_dir),
                    grace: Duration::from_secs_f64(grace.max(0.0)),
                    stable: Duration::from_secs_f64(stable.max(0.0)),
                    stop_on_exit: a.stop_on_exit || std::env::var("SDP_PROCESS_STOP_ON_EXIT").is_ok_and(|v| v == "1" || v == "true"),
                };
                process::run(s).await
            }
        }
    })
}
