//! Explicit ownership of deployments by processing blocks.
//!
//! A deployment that belongs to a processing block is recorded as the key
//! `/ownership/<pb_id>/<deploy_id>`, written in the same transaction that creates the
//! deployment. The processing controller deletes the deployments of every recorded PB that
//! no longer exists; deployments without a record (e.g. from `sdpcfg deploy`) are nobody's
//! and left alone. The deployment JSON itself stays exactly as in the 2019 prototype, so
//! tools of that era see nothing new under `/deploy`.

use crate::entity::Deployment;
use crate::error::Result;
use crate::json;
use crate::keys;
use crate::txn::Txn;
use serde_json::json;

/// Root of the ownership records.
pub const OWNERSHIP: &str = "/ownership";

impl Txn {
    /// Path of the record saying that `pb_id` owns `deploy_id` (under the global prefix).
    pub fn ownership_path(&self, pb_id: &str, deploy_id: &str) -> String {
        format!("{}{OWNERSHIP}/{pb_id}/{deploy_id}", self.prefix)
    }

    /// Every ownership record: (pb_id, deploy_id).
    pub async fn list_ownership(&mut self) -> Result<Vec<(String, String)>> {
        let base = format!("{}{OWNERSHIP}/", self.prefix);
        // Records are exactly two levels below (`/ownership/<pb>/<deploy>`): one ranged read.
        let keys = self.list_keys(&base, [1]).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(&base))
            .filter_map(|rest| rest.split_once('/'))
            .map(|(pb, d)| (pb.to_string(), d.to_string()))
            .collect())
    }

    /// The ownership records of one PB: (pb_id, deploy_id). One ranged read of its records
    /// only, however many PBs there are.
    pub async fn list_ownership_of(&mut self, pb_id: &str) -> Result<Vec<(String, String)>> {
        let base = format!("{}{OWNERSHIP}/{pb_id}/", self.prefix);
        let keys = self.list_keys(&base, 0).await?;
        Ok(keys.iter().filter_map(|k| k.strip_prefix(&base)).map(|d| (pb_id.to_string(), d.to_string())).collect())
    }

    /// Create (or bring up to date) deployment `d` owned by `pb_id`, with its ownership
    /// record naming `created_by`. Returns whether anything was written.
    pub async fn put_owned_deployment(&mut self, pb_id: &str, d: &Deployment, created_by: &str) -> Result<bool> {
        let mut wrote = false;
        let path = format!("{}{}", self.prefix, keys::deploy(&d.deploy_id));
        match self.get(&path).await? {
            None => {
                self.create_deployment(d).await?;
                wrote = true;
            }
            Some(s) => {
                if Deployment::from_json(&s).ok().as_ref() != Some(d) {
                    self.update(&path, &d.to_json()).await?;
                    wrote = true;
                }
            }
        }
        let own = self.ownership_path(pb_id, &d.deploy_id);
        if self.get(&own).await?.is_none() {
            self.create(&own, &json::dumps(&json!({"created_by": created_by})), None).await?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Delete a deployment (with everything below it, e.g. its state) and its ownership record.
    pub async fn delete_owned_deployment(&mut self, pb_id: &str, deploy_id: &str) -> Result<()> {
        let path = format!("{}{}", self.prefix, keys::deploy(deploy_id));
        self.delete(&path, false, true).await?;
        self.delete_ownership_record(pb_id, deploy_id).await
    }

    /// Delete only the record (the deployment is gone already).
    pub async fn delete_ownership_record(&mut self, pb_id: &str, deploy_id: &str) -> Result<()> {
        let own = self.ownership_path(pb_id, deploy_id);
        self.delete(&own, false, false).await
    }
}
