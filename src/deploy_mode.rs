//! How deployments are made real (`SDP_DEPLOY_MODE`), and what a process-mode workflow needs
//! to be started with.

use crate::error::Result;
use serde_json::Value;

/// How deployments are made real: one setting (`SDP_DEPLOY_MODE`) shared by the
/// controller and the workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// Helm releases on Kubernetes (deployment type `helm`), as in the 2019 prototype.
    Helm,
    /// Local processes on this machine (deployment type `process`).
    Process,
}

impl DeployMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "helm" | "kubernetes" | "k8s" => Ok(DeployMode::Helm),
            "process" | "local" => Ok(DeployMode::Process),
            other => Err(format!("unknown deployment mode {other:?}: use helm or process").into()),
        }
    }

    /// From `SDP_DEPLOY_MODE` (default `helm`).
    pub fn from_env() -> Result<Self> {
        match std::env::var("SDP_DEPLOY_MODE") {
            Ok(s) if !s.is_empty() => Self::parse(&s),
            _ => Ok(DeployMode::Helm),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeployMode::Helm => "helm",
            DeployMode::Process => "process",
        }
    }
}

/// The `sdp` executable to start workflows with in process mode: `SDP_EXE`, else this one.
pub fn sdp_exe() -> String {
    std::env::var("SDP_EXE")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::current_exe().ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "sdp".into())
}

/// The variables a process-mode workflow needs to reach the same database and act in
/// the same mode as whoever deploys it.
pub fn process_env(mode: DeployMode) -> Value {
    let mut env = serde_json::Map::new();
    for k in ["SDP_CONFIG_BACKEND", "SDP_CONFIG_HOST", "SDP_CONFIG_PORT", "SDP_CONFIG_PROTOCOL", "SDP_HELM_NAMESPACE"] {
        if let Ok(v) = std::env::var(k) {
            env.insert(k.into(), Value::String(v));
        }
    }
    env.insert("SDP_DEPLOY_MODE".into(), Value::String(mode.as_str().into()));
    Value::Object(env)
}
