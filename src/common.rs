//! What the controller, the deployers and the workflows share: logging, the tokio
//! runtime, the connection to the configuration database, the deployment-mode setting
//! and the explicit ownership of deployments by processing blocks.

use sdp_config::{json, Config, Deployment, Txn};
use serde_json::{json, Value};
use std::time::Duration;

/// Logging to stderr; level from `SDP_LOG_LEVEL` (or `RUST_LOG`), default `info`.
pub fn init_logging() {
    let filter = std::env::var("SDP_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into()).to_lowercase();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A small multi-threaded runtime (this machine has few cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Run `fut` to completion on a fresh runtime; an error is logged and gives exit status 1.
pub fn block_on(fut: impl std::future::Future<Output = anyhow_like::Result<()>>) -> i32 {
    init_logging();
    match runtime().block_on(fut) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

/// A minimal boxed error type (keeps the dependency list short).
pub mod anyhow_like {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;
}
pub use anyhow_like::Result;

/// Connect to the configuration database as `SDP_CONFIG_*` says; waits (with a log
/// line every few attempts) while the database is not reachable yet. Bad settings and
/// refused credentials or certificates end the wait at once: they will not get better.
pub async fn connect() -> Result<Config> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        match Config::from_env().await {
            Ok(c) => return Ok(c),
            Err(e @ (sdp_config::Error::Value(_) | sdp_config::Error::Access(_))) => return Err(e.into()),
            Err(e) => {
                attempt += 1;
                if attempt % 5 == 1 {
                    tracing::warn!("configuration database not reachable yet ({e}); retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Announce this process as component `name` (kind `kind`) in the configuration database:
/// its alive key is kept while it works (see [`sdp_config::alive`]). Waits, like
/// [`connect`], while the database does not answer.
pub async fn announce(config: &Config, name: &str, kind: &str) -> Result<sdp_config::Liveness> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0u32;
    loop {
        match sdp_config::Liveness::start(config, sdp_config::ComponentInfo::new(name, kind)).await {
            Ok(l) => return Ok(l),
            Err(e @ (sdp_config::Error::Value(_) | sdp_config::Error::Access(_))) => return Err(e.into()),
            Err(e) => {
                attempt += 1;
                if attempt % 5 == 1 {
                    tracing::warn!("cannot announce {name} in the configuration database yet ({e}); retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Withdraw a component's alive key at once (on a clean exit); a failure is only logged
/// (the key then expires with its lease).
pub async fn withdraw(alive: sdp_config::Liveness) {
    let name = alive.name().to_string();
    if let Err(e) = alive.stop().await {
        tracing::warn!("cannot withdraw the alive key of {name}: {e}");
    }
}

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

// ---------------------------------------------------------------------------------
// Explicit ownership of deployments.
//
// A deployment that belongs to a processing block is recorded as the key
// `/ownership/<pb_id>/<deploy_id>`, written in the same transaction that creates the
// deployment. The controller deletes the deployments of every recorded PB that no
// longer exists; deployments without a record (e.g. from `sdpcfg deploy`) are nobody's
// and left alone. The deployment JSON itself stays exactly as in the 2019 prototype.
// ---------------------------------------------------------------------------------

/// Root of the ownership records.
pub const OWNERSHIP: &str = "/ownership";

pub fn ownership_path(prefix: &str, pb_id: &str, deploy_id: &str) -> String {
    format!("{prefix}{OWNERSHIP}/{pb_id}/{deploy_id}")
}

/// Every ownership record: (pb_id, deploy_id), read in `txn`.
pub async fn list_ownership(txn: &mut Txn, prefix: &str) -> Result<Vec<(String, String)>> {
    let base = format!("{prefix}{OWNERSHIP}/");
    // Records are exactly two levels below (`/ownership/<pb>/<deploy>`): one ranged read.
    let keys = txn.list_keys(&base, [1]).await?;
    Ok(keys
        .iter()
        .filter_map(|k| k.strip_prefix(&base))
        .filter_map(|rest| rest.split_once('/'))
        .map(|(pb, d)| (pb.to_string(), d.to_string()))
        .collect())
}

/// Create (or bring up to date) deployment `d` owned by `pb_id`, with its ownership
/// record. Returns whether anything was written.
pub async fn put_owned_deployment(txn: &mut Txn, prefix: &str, pb_id: &str, d: &Deployment, created_by: &str) -> Result<bool> {
    let mut wrote = false;
    let path = format!("{prefix}/deploy/{}", d.deploy_id);
    match txn.get(&path).await? {
        None => {
            txn.create_deployment(d).await?;
            wrote = true;
        }
        Some(s) => {
            if Deployment::from_json(&s).ok().as_ref() != Some(d) {
                txn.update(&path, &d.to_json()).await?;
                wrote = true;
            }
        }
    }
    let own = ownership_path(prefix, pb_id, &d.deploy_id);
    if txn.get(&own).await?.is_none() {
        txn.create(&own, &json::dumps(&json!({"created_by": created_by})), None).await?;
        wrote = true;
    }
    Ok(wrote)
}

/// Delete a deployment (with everything below it, e.g. its state) and its ownership record.
pub async fn delete_owned_deployment(txn: &mut Txn, prefix: &str, pb_id: &str, deploy_id: &str) -> Result<()> {
    txn.delete(&format!("{prefix}/deploy/{deploy_id}"), false, true).await?;
    txn.delete(&ownership_path(prefix, pb_id, deploy_id), false, false).await?;
    Ok(())
}

/// A flag that turns true on SIGTERM or SIGINT (handlers installed at once, so no
/// signal is missed between waits). Call inside the runtime.
pub fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    });
    rx
}
