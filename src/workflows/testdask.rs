//! `testdask`: a Dask cluster (scheduler + 2 workers) as the PB's execution engine,
//! and a small computation on it (`x + 1` for `x` in `range(1000)`), whose result goes
//! into the PB state.
//!
//! Helm mode: deployment `<pb_id>-dask` with the 2019 chart and values; the scheduler
//! is `<pb_id>-dask-scheduler.<namespace>:8786`. Process mode: deployments
//! `<pb_id>-dask-scheduler` and `<pb_id>-dask-worker` (2 replicas) running the `dask`
//! CLI (`SDP_DASK`, else `dask` on PATH) on 127.0.0.1; the computation is submitted by
//! the Python next to it (`SDP_DASK_PYTHON` overrides). No Dask → the PB state says so.

use super::Ctx;
use crate::deploy_mode::DeployMode;
use crate::error::Result;
use sdp_config::Deployment;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const CLIENT: &str = r#"
import json, sys
from dask.distributed import Client
client = Client(sys.argv[1], timeout=60)
client.wait_for_workers(int(sys.argv[2]), timeout=120)
futures = client.map(lambda x: x + 1, range(1000))
result = client.gather(futures)
print(json.dumps({"n": len(result), "sum": sum(result), "first": result[:3], "last": result[-1],
                  "workers": len(client.scheduler_info()["workers"])}))
client.close()
"#;

fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The `dask` executable, if any.
pub fn dask_exe() -> Option<PathBuf> {
    match std::env::var("SDP_DASK") {
        Ok(p) if !p.is_empty() => which(&p),
        _ => which("dask"),
    }
}

fn python_for(dask: &std::path::Path) -> PathBuf {
    if let Ok(p) = std::env::var("SDP_DASK_PYTHON") {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    for n in ["python3", "python"] {
        if let Some(p) = dask.parent().map(|d| d.join(n)).filter(|p| p.is_file()) {
            return p;
        }
    }
    PathBuf::from("python3")
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

const WORKERS: usize = 2;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let pb_id = ctx.pb_id().to_string();
    let (scheduler, python) = match ctx.mode {
        DeployMode::Helm => {
            let d = Deployment::new(
                &format!("{pb_id}-dask"),
                "helm",
                json!({"chart": "stable/dask", "values": {
                    "jupyter.enabled": "false",
                    "scheduler.serviceType": "ClusterIP",
                    "worker.replicas": WORKERS,
                }}),
            )?;
            ctx.deploy(&[d]).await?;
            let ns = std::env::var("SDP_HELM_NAMESPACE").unwrap_or_else(|_| "sdp".into());
            let python = dask_exe().map(|d| python_for(&d)).unwrap_or_else(|| PathBuf::from("python3"));
            (format!("tcp://{pb_id}-dask-scheduler.{ns}:8786"), python)
        }
        DeployMode::Process => {
            let Some(dask) = dask_exe() else {
                ctx.set_state(&json!({
                    "status": "FAILED",
                    "reason": "Dask is missing: no `dask` executable (pip install 'dask[distributed]', or set SDP_DASK to its path); no Dask cluster was deployed",
                }))
                .await?;
                tracing::error!("Dask is missing: no `dask` executable on PATH and SDP_DASK not set");
                return Ok(());
            };
            let sched_id = format!("{pb_id}-dask-scheduler");
            // Keep the port of an existing scheduler deployment (a restarted workflow).
            let port = match ctx.deployment(&sched_id).await? {
                Some(d) => d.args.get("port").and_then(Value::as_u64).map(|p| p as u16),
                None => None,
            };
            let port = match port {
                Some(p) => p,
                None => free_port()?,
            };
            let addr = format!("tcp://127.0.0.1:{port}");
            let exe = dask.display().to_string();
            // Even with --no-dashboard, scheduler and workers serve HTTP (health, metrics)
            // on the dashboard address, by default every interface (scheduler: port 8787):
            // keep it on loopback, on a free port.
            let http = "127.0.0.1:0";
            let sched = Deployment::new(
                &sched_id,
                "process",
                json!({"command": [exe, "scheduler", "--host", "127.0.0.1", "--port", port.to_string(), "--no-dashboard",
                                  "--dashboard-address", http],
                       "port": port}),
            )?;
            let workers = Deployment::new(
                &format!("{pb_id}-dask-worker"),
                "process",
                json!({"command": [exe, "worker", addr, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard", "--no-nanny",
                                  "--dashboard-address", http],
                       "replicas": WORKERS}),
            )?;
            ctx.deploy(&[sched, workers]).await?;
            (addr, python_for(&dask))
        }
    };
    ctx.set_state(&json!({"status": "RUNNING", "dask": {"scheduler": scheduler, "workers": WORKERS}})).await?;
    let mut last_err = String::new();
    for attempt in 1..=5 {
        let out = tokio::process::Command::new(&python)
            .arg("-c")
            .arg(CLIENT)
            .arg(&scheduler)
            .arg(WORKERS.to_string())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(Duration::from_secs(240), out).await {
            Ok(Ok(o)) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                let result: Value = serde_json::from_str(text.trim().lines().last().unwrap_or(""))
                    .map_err(|e| format!("unexpected client output {text:?}: {e}"))?;
                tracing::info!("computation result: {result}");
                ctx.set_state(&json!({"status": "RUNNING", "dask": {"scheduler": scheduler, "workers": WORKERS},
                                      "computation": {"task": "x + 1 for x in range(1000)", "result": result}}))
                    .await?;
                return Ok(());
            }
            Ok(Ok(o)) => {
                let err = String::from_utf8_lossy(&o.stderr);
                last_err = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
                if err.contains("No module named") {
                    return Err(format!("Dask is missing in {}: {last_err}", python.display()).into());
                }
            }
            Ok(Err(e)) => return Err(format!("cannot run {}: {e}", python.display()).into()),
            Err(_) => last_err = "timed out".into(),
        }
        tracing::warn!("computation attempt {attempt} failed: {last_err}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!("Dask computation on {scheduler} failed: {last_err}").into())
}
