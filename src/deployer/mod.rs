//! Deployers: make the `/deploy` entries of one type real, reconciling on start and
//! on every change (watch-driven). `helm` installs Helm releases; `process` runs local
//! processes. Problems are reported in `/deploy/<id>/state` (absent while all is well,
//! so the deployment listing stays as in the 2019 prototype).

pub mod helm;
pub mod process;

use crate::error::Result;
use sdp_config::{json, keys, Config, Deployment, KeyWatch};
use serde_json::Value;
use std::collections::BTreeMap;

/// The deployments of type `kind`, read at one revision; invalid entries are logged
/// and skipped. Also returns the revision read at.
pub async fn desired(config: &Config, kind: &str) -> Result<(BTreeMap<String, Deployment>, i64)> {
    let mut txn = config.txn();
    loop {
        let mut out = BTreeMap::new();
        for id in txn.list_deployments("").await? {
            match txn.get_deployment(&id).await {
                Ok(Some(d)) if d.kind == kind => {
                    out.insert(id, d);
                }
                Ok(_) => {}
                // invalid, or stored under a key that is not its deploy_id (`/deploy/..`)
                Err(e) => tracing::warn!("deployment {id:?} ignored: {e}"),
            }
        }
        let rev = txn.revision().unwrap_or(0);
        if txn.commit().await? {
            return Ok((out, rev));
        }
    }
}

/// A watch of every deployment (creation, change, deletion) from `rev + 1`.
pub async fn watch_from(config: &Config, rev: i64) -> Result<KeyWatch> {
    Ok(config.db().watch(keys::DEPLOY_DIR, true, Some(rev + 1)).await?)
}

/// Wait for the next change the deployments watch sees (1 s without a watch), then let a
/// burst of changes settle so that one pass handles them all. Changes are only wake-ups: each
/// pass re-reads what is wanted. A failed or ended watch is dropped; the next pass opens one.
pub async fn next_change(watch: &mut Option<KeyWatch>) {
    let ev = match watch.as_mut() {
        Some(w) => w.next().await.map(|r| r.map(|_| ())),
        None => {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            Some(Ok(()))
        }
    };
    match ev {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::warn!("deployment watch failed: {e}");
            *watch = None;
        }
        None => *watch = None,
    }
    if let Some(w) = watch.as_mut() {
        while let Ok(Some(_)) = tokio::time::timeout(std::time::Duration::from_millis(20), w.next()).await {}
    }
}

/// Set (`Some`) or clear (`None`) `/deploy/<id>/state`, only while the deployment exists.
pub async fn report(config: &Config, deploy_id: &str, state: Option<&Value>) {
    let path = keys::deploy_state(deploy_id);
    let mut txn = config.txn();
    let r: Result<()> = async {
        loop {
            if txn.get(&keys::deploy(deploy_id)).await?.is_some() {
                let old = txn.get(&path).await?;
                match (state, old) {
                    (Some(s), None) => txn.create(&path, &json::dumps(s), None).await?,
                    (Some(s), Some(o)) if o != json::dumps(s) => txn.update(&path, &json::dumps(s)).await?,
                    (None, Some(_)) => txn.delete(&path, false, false).await?,
                    _ => {}
                }
            }
            if txn.commit().await? {
                return Ok(());
            }
        }
    }
    .await;
    if let Err(e) = r {
        tracing::warn!("cannot report the state of deployment {deploy_id}: {e}");
    }
}

/// Exponential backoff: 1 s, 2 s, 4 s, … at most 60 s.
pub fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << attempt.min(6)).min(std::time::Duration::from_secs(60))
}
