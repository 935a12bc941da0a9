//! Workflows: `sdp workflow <name> <pb_id>`.
//!
//! Common contract (as in the 2019 prototype): claim the PB by creating
//! `/pb/<id>/owner` (`{command, hostname, pid}`) on this process's lease, create the
//! engine deployments (`<pb_id>-<suffix>`, owned by the PB), report in
//! `/pb/<id>/state`, then idle until the PB is deleted (ownership lost), delete the
//! engine deployments and revoke the lease (the owner key goes with it). On SIGTERM the
//! workflow only revokes its lease: its deployments stay for the instance that takes
//! over. If another live process owns the PB, the workflow waits until the owner key
//! vanishes (its lease ended) and claims it then.

mod testdask;
mod testdeploy;
mod teststate;
mod vis_receive;

use crate::deploy_mode::DeployMode;
use crate::error::Result;
use sdp_config::{keys, Config, Deployment, ProcessingBlock};
use serde_json::Value;
use tokio::sync::watch;

pub const NAMES: [&str; 4] = ["testdask", "testdeploy", "teststate", "vis_receive"];

/// What a running workflow has at hand.
pub struct Ctx {
    pub config: Config,
    pub pb: ProcessingBlock,
    pub mode: DeployMode,
    pub name: String,
}

impl Ctx {
    pub fn pb_id(&self) -> &str {
        &self.pb.pb_id
    }

    /// Create or update the PB's state (only while the PB exists and is ours).
    pub async fn set_state(&self, state: &Value) -> Result<()> {
        let pb_id = self.pb_id().to_string();
        let mut txn = self.config.txn();
        loop {
            if txn.is_processing_block_owner(&pb_id).await? {
                match txn.get_processing_block_state(&pb_id).await {
                    Ok(None) => txn.create_processing_block_state(&pb_id, state).await?,
                    Ok(Some(old)) if &old == state => {}
                    _ => txn.update(&keys::pb_state(&pb_id), &sdp_config::json::dumps(state)).await?,
                }
            }
            if txn.commit().await? {
                return Ok(());
            }
        }
    }

    /// The execution block of a PB in the script layout (`None` for a 2019 PB, or when the
    /// EB is gone).
    pub async fn execution_block(&self) -> Result<Option<Value>> {
        let Some(eb_id) = self.pb.eb_id.clone() else { return Ok(None) };
        let mut txn = self.config.txn();
        loop {
            let eb = txn.get_execution_block(&eb_id).await?;
            if txn.commit().await? {
                return Ok(eb);
            }
        }
    }

    /// Mark the PB's state FINISHED (keeping what else it says).
    pub async fn finish(&self) -> Result<()> {
        let pb_id = self.pb_id().to_string();
        let mut txn = self.config.txn();
        let mut state = loop {
            let s = txn.get_processing_block_state(&pb_id).await?;
            if txn.commit().await? {
                break s.unwrap_or_else(|| serde_json::json!({}));
            }
        };
        state["status"] = Value::String("FINISHED".into());
        self.set_state(&state).await
    }

    /// Create (or update) engine deployments owned by the PB, while the PB is ours.
    pub async fn deploy(&self, deployments: &[Deployment]) -> Result<bool> {
        let pb_id = self.pb_id().to_string();
        let mut txn = self.config.txn();
        loop {
            let owner = txn.is_processing_block_owner(&pb_id).await?;
            if owner {
                for d in deployments {
                    if txn.put_owned_deployment(&pb_id, d, &self.name).await? {
                        tracing::info!("Creating deployment {}", d.deploy_id);
                    }
                }
            }
            if txn.commit().await? {
                return Ok(owner);
            }
        }
    }

    /// The current value of a deployment, if any.
    pub async fn deployment(&self, id: &str) -> Result<Option<Deployment>> {
        let mut txn = self.config.txn();
        loop {
            let d = txn.get_deployment(id).await?;
            if txn.commit().await? {
                return Ok(d);
            }
        }
    }
}

/// Claim the PB: `Some(pb)` once ours, `None` if the PB does not exist (any more) or
/// we were asked to stop while waiting for another owner to go.
async fn claim(config: &Config, pb_id: &str, name: &str, stop: &mut watch::Receiver<bool>) -> Result<Option<ProcessingBlock>> {
    let lease = config.client_lease().await?;
    let owner_path = keys::pb_owner(pb_id);
    loop {
        let mut txn = config.txn();
        let outcome = loop {
            let Some(pb) = txn.get_processing_block(pb_id).await? else {
                txn.commit().await?;
                return Ok(None);
            };
            if pb.workflow.id != name {
                // E.g. the PB was re-created under this id for another workflow (ids are
                // reused): not ours to run; the controller replaces this deployment.
                return Err(format!("processing block {pb_id} is for workflow {}, not {name}", pb.workflow.id).into());
            }
            let r = txn.take_processing_block(pb_id, lease).await;
            match r {
                Ok(()) => {
                    if txn.commit().await? {
                        break Ok(pb);
                    }
                }
                Err(sdp_config::Error::Collision { .. }) => {
                    let rev = txn.revision().unwrap_or(0);
                    txn.commit().await?;
                    break Err(rev);
                }
                Err(e) => return Err(e.into()),
            }
        };
        match outcome {
            Ok(pb) => return Ok(Some(pb)),
            Err(rev) => {
                let (value, _) = config.db().get(&owner_path, None).await?;
                tracing::info!(
                    "processing block {pb_id} is owned by {}; waiting for it to go",
                    value.unwrap_or_default().replace('\n', "")
                );
                let mut w = config.db().watch(&owner_path, false, Some(rev + 1)).await?;
                loop {
                    tokio::select! {
                        ev = w.next() => match ev {
                            Some(Ok(u)) if u.value.is_none() => break,
                            Some(Ok(_)) => {}
                            Some(Err(e)) => return Err(e.into()),
                            None => break,
                        },
                        _ = stop.changed() => return Ok(None),
                    }
                }
            }
        }
    }
}

/// Resolves when this process no longer owns the PB (PB deleted, owner key gone).
pub async fn ownership_lost(config: &Config, pb_id: &str) -> Result<()> {
    let mut txn = config.txn();
    loop {
        if !txn.is_processing_block_owner(pb_id).await? {
            txn.commit().await?;
            return Ok(());
        }
        txn.repeat(true, None);
        txn.commit().await?;
    }
}

/// Delete the engine deployments this PB owns (not its workflow deployment).
async fn clean_up(config: &Config, pb_id: &str) -> Result<()> {
    let wf = crate::controller::workflow_deploy_id(pb_id);
    let mut txn = config.txn();
    loop {
        let mut deleted = Vec::new();
        for (pb, d) in txn.list_ownership().await? {
            if pb == pb_id && d != wf {
                if txn.get(&keys::deploy(&d)).await?.is_some() {
                    deleted.push(d.clone());
                }
                txn.delete_owned_deployment(pb_id, &d).await?;
            }
        }
        if txn.commit().await? {
            for d in deleted {
                tracing::info!("Deleting deployment {d}");
            }
            return Ok(());
        }
    }
}

pub async fn run(name: String, pb_id: String) -> Result<()> {
    if name == vis_receive::RECEIVER {
        return vis_receive::receiver(&pb_id).await;
    }
    let mode = DeployMode::from_env()?;
    let mut stop = crate::signals::shutdown_signal();
    let config = crate::configdb::connect().await?;
    let Some(pb) = claim(&config, &pb_id, &name, &mut stop).await? else {
        tracing::info!("processing block {pb_id} does not exist (any more); nothing to do");
        config.close().await?;
        return Ok(());
    };
    tracing::info!("claimed processing block {pb_id} ({}:{}:{})", pb.workflow.kind, pb.workflow.id, pb.workflow.version);
    let alive = crate::configdb::announce(&config, &component_name(&pb_id), "workflow").await?;
    let ctx = Ctx { config, pb, mode, name: name.clone() };
    let body = async {
        let r = match name.as_str() {
            "testdask" => testdask::run(&ctx).await,
            "testdeploy" => testdeploy::run(&ctx).await,
            "teststate" => teststate::run(&ctx).await,
            "vis_receive" => vis_receive::run(&ctx).await,
            // Defined for the controller (e.g. testdlg) but not implemented here: say so
            // in the PB state once, rather than crash and be restarted for ever.
            other => Err(format!("workflow {other} is not available in this implementation (available: {})", NAMES.join(", ")).into()),
        };
        if let Err(e) = &r {
            tracing::error!("workflow {name} failed: {e}");
            let _ = ctx.set_state(&serde_json::json!({"status": "FAILED", "reason": e.to_string()})).await;
        } else if let Err(e) = finish_with_execution_block(&ctx).await {
            tracing::error!("workflow {name}: {e}");
        }
        // Done (or failed): idle until the PB goes.
        std::future::pending::<()>().await
    };
    let lost = tokio::select! {
        _ = body => unreachable!(),
        r = ownership_lost(&ctx.config, &pb_id) => { r?; true }
        _ = stop.changed() => false,
    };
    crate::configdb::withdraw(alive).await;
    if lost {
        tracing::info!("processing block {pb_id} is gone: cleaning up");
        clean_up(&ctx.config, &pb_id).await?;
        // Its record goes with the PB: records of finished workflows must not pile up.
        forget_component(&ctx.config, &component_name(&pb_id)).await?;
    } else {
        tracing::info!("Asked to terminate; leaving the deployments to the next instance");
        // Stopped because its PB went (the deployer got there first): no next instance.
        if pb_exists(&ctx.config, &pb_id).await == Some(false) {
            forget_component(&ctx.config, &component_name(&pb_id)).await?;
        }
    }
    ctx.config.close().await?;
    Ok(())
}

/// A PB of an execution block finishes: a real-time one when its EB is no longer ACTIVE (its
/// engines go then), a batch one when its work is done. 2019 PBs run until deleted.
async fn finish_with_execution_block(ctx: &Ctx) -> Result<()> {
    let Some(eb_id) = ctx.pb.eb_id.clone() else { return Ok(()) };
    if ctx.pb.workflow.kind == "realtime" {
        let mut txn = ctx.config.txn();
        loop {
            let active = matches!(txn.get_execution_block_state(&eb_id).await?, Some(s) if s.status == sdp_config::EbStatus::ACTIVE);
            if !active {
                txn.commit().await?;
                break;
            }
            txn.repeat(true, None);
            txn.commit().await?;
        }
        tracing::info!("execution block {eb_id} ended: processing block {} finishes", ctx.pb_id());
        clean_up(&ctx.config, ctx.pb_id()).await?;
    }
    ctx.finish().await
}

/// The name a workflow process has in the component records.
pub fn component_name(pb_id: &str) -> String {
    format!("workflow-{pb_id}")
}

/// Whether the PB exists (`None`: the database did not say).
async fn pb_exists(config: &Config, pb_id: &str) -> Option<bool> {
    let mut txn = config.txn();
    let exists = txn.get_processing_block(pb_id).await.ok()?.is_some();
    txn.commit().await.ok()?;
    Some(exists)
}

async fn forget_component(config: &Config, name: &str) -> Result<()> {
    let mut txn = config.txn();
    loop {
        txn.delete_component(name).await?;
        if txn.commit().await? {
            return Ok(());
        }
    }
}
