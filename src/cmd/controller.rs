//! `sdp controller`: the processing controller.

use crate::controller::{definitions::Definitions, Settings};
use crate::deploy_mode::DeployMode;
use clap::Args;

#[derive(Args, Debug)]
pub struct ControllerArgs {
    /// Deployment mode: helm (Kubernetes) or process (this machine). Default: $SDP_DEPLOY_MODE, else helm.
    #[arg(long)]
    mode: Option<String>,
    /// Workflow definitions (JSON, the 2019 workflows.json format). Default: $SDP_WORKFLOWS_FILE
    /// (or $SDP_WORKFLOWS), else built in.
    #[arg(long)]
    workflows: Option<String>,
    /// Seconds between full passes over the database when no change wakes the controller
    /// (covers anything a watch could miss). Default: $SDP_CONTROLLER_RESYNC, else 60.
    #[arg(long)]
    resync: Option<f64>,
}

pub fn run(a: ControllerArgs) -> i32 {
    crate::runtime::block_on(async move {
        let mode = match a.mode.as_deref() {
            Some(m) => DeployMode::parse(m)?,
            None => DeployMode::from_env()?,
        };
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let file = a.workflows.or_else(|| var("SDP_WORKFLOWS_FILE")).or_else(|| var("SDP_WORKFLOWS"));
        let definitions = Definitions::load(file.as_deref())?;
        let env = |k: &str, d: &str| std::env::var(k).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| d.to_string());
        let settings = Settings {
            mode,
            definitions,
            config_host: env("SDP_CONFIG_HOST", "127.0.0.1"),
            helm_namespace: env("SDP_HELM_NAMESPACE", "sdp"),
            sdp_exe: crate::deploy_mode::sdp_exe(),
            resync: resync_period(match (a.resync, var("SDP_CONTROLLER_RESYNC")) {
                (Some(s), _) => Some(s),
                (None, Some(v)) => Some(v.parse().map_err(|_| format!("SDP_CONTROLLER_RESYNC={v:?}: not a number of seconds"))?),
                (None, None) => None,
            })?,
        };
        crate::controller::run(settings).await
    })
}

/// The resync period: positive and finite seconds, else the default.
fn resync_period(seconds: Option<f64>) -> crate::error::Result<std::time::Duration> {
    match seconds {
        None => Ok(crate::controller::DEFAULT_RESYNC),
        Some(s) if s.is_finite() && s > 0.0 => Ok(std::time::Duration::from_secs_f64(s)),
        Some(s) => Err(format!("resync period {s} s: must be a positive number of seconds").into()),
    }
}
