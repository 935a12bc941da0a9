//! `testdeploy`: one deployment per entry of the PB's parameters
//! (`{"<name>": {"type": "helm"|"process", "args": {...}}}` → `/deploy/<pb_id>-<name>`),
//! kept in step with the parameters as they are edited.

use super::Ctx;
use crate::error::Result;
use sdp_config::{json, keys, Deployment};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let pb_id = ctx.pb_id().to_string();
    let wf = crate::controller::workflow_deploy_id(&pb_id);
    let mut txn = ctx.config.txn();
    loop {
        if !txn.is_processing_block_owner(&pb_id).await? {
            txn.commit().await?;
            return Ok(());
        }
        let Some(pb) = txn.get_processing_block(&pb_id).await? else { continue };
        let mut want = BTreeMap::new();
        let mut errors = Vec::new();
        if let Some(params) = pb.parameters.as_object() {
            for (name, spec) in params {
                let kind = spec.get("type").and_then(Value::as_str).unwrap_or("");
                let args = spec.get("args").cloned().unwrap_or(json!({}));
                match Deployment::new(&format!("{pb_id}-{name}"), kind, args) {
                    Ok(d) => {
                        want.insert(d.deploy_id.clone(), d);
                    }
                    Err(e) => errors.push(format!("{name}: {e}")),
                }
            }
        }
        for (pb, d) in txn.list_ownership().await? {
            if pb == pb_id && d != wf && !want.contains_key(&d) {
                txn.delete_owned_deployment(&pb_id, &d).await?;
            }
        }
        for d in want.values() {
            txn.put_owned_deployment(&pb_id, d, "testdeploy").await?;
        }
        let state = json!({"status": if errors.is_empty() { "RUNNING" } else { "FAILED" },
                           "deployments": want.keys().collect::<Vec<_>>(), "errors": errors});
        let path = keys::pb_state(&pb_id);
        match txn.get(&path).await? {
            None => txn.create(&path, &json::dumps(&state), None).await?,
            Some(s) if s != json::dumps(&state) => txn.update(&path, &json::dumps(&state)).await?,
            Some(_) => {}
        }
        txn.repeat(true, None);
        txn.commit().await?;
    }
}
