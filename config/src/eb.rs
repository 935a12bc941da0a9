//! Execution blocks (`/eb/<eb_id>` and `/eb/<eb_id>/state`), the layout of the later SDP
//! configuration library that the ADR-8 subarray interface writes.
//!
//! An execution block is written by `AssignResources` together with its processing blocks
//! (script layout, see [`crate::entity::PbLayout`]) in one transaction: a duplicate `eb_id`
//! or `pb_id` fails the whole transaction, so either everything of the command is stored or
//! nothing is. The EB's value is kept as the command gave it (plus `eb_id` and the
//! `resources` of the command); its state says whether it is ACTIVE, FINISHED or CANCELLED,
//! the current scan type and scan id, and every scan that ran.

use crate::entity::ProcessingBlock;
use crate::error::{Error, Result};
use crate::json;
use crate::keys;
use crate::txn::Txn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The status of an execution block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum EbStatus {
    ACTIVE,
    FINISHED,
    CANCELLED,
}

/// One scan of an execution block, as recorded in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub scan_id: i64,
    pub scan_type: String,
    /// `SCANNING` while it runs, then `FINISHED`, or `ABORTED`.
    pub status: String,
}

/// `/eb/<eb_id>/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbState {
    pub status: EbStatus,
    /// The scan type configured now (`null` when none).
    pub scan_type: Option<String>,
    /// The scan running now (`null` when none).
    pub scan_id: Option<i64>,
    pub scans: Vec<ScanRecord>,
}

impl EbState {
    /// The state of a new execution block.
    pub fn active() -> EbState {
        EbState { status: EbStatus::ACTIVE, scan_type: None, scan_id: None, scans: Vec::new() }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("EbState serialises")
    }

    pub fn from_value(v: &Value) -> Result<EbState> {
        serde_json::from_value(v.clone()).map_err(|e| Error::Value(format!("Execution block state is not valid: {e}")))
    }
}

/// An execution block id: like a PB id, `^[A-Za-z0-9-]{1,64}$`.
pub fn check_eb_id(eb_id: &str) -> Result<()> {
    if eb_id.is_empty() || eb_id.len() > 64 || !eb_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::Value(format!("Execution block ID {eb_id} not permissable!")));
    }
    Ok(())
}

impl Txn {
    /// Ids of every execution block.
    pub async fn list_execution_blocks(&mut self) -> Result<Vec<String>> {
        let base = format!("{}{}", self.prefix, keys::EB_DIR);
        let listed = self.list_keys(&base, 0).await?;
        Ok(listed.into_iter().filter_map(|k| k.strip_prefix(&base).map(str::to_string)).collect())
    }

    /// The execution block as stored, if any.
    pub async fn get_execution_block(&mut self, eb_id: &str) -> Result<Option<Value>> {
        let path = format!("{}{}", self.prefix, keys::eb(eb_id));
        self.get(&path).await?.map(|s| parse(&path, &s)).transpose()
    }

    /// Store execution block `eb` (an object with `eb_id`), its state (ACTIVE) and its
    /// processing blocks. A taken `eb_id` or `pb_id`, or a PB of another EB, fails with
    /// nothing written (the caller does not commit).
    pub async fn create_execution_block(&mut self, eb: &Value, pbs: &[ProcessingBlock]) -> Result<()> {
        let eb_id = eb.get("eb_id").and_then(Value::as_str).ok_or_else(|| Error::Value("Execution block must have an eb_id!".into()))?;
        check_eb_id(eb_id)?;
        let path = format!("{}{}", self.prefix, keys::eb(eb_id));
        self.create(&path, &json::dumps(eb), None).await?;
        let state = format!("{}{}", self.prefix, keys::eb_state(eb_id));
        self.create(&state, &json::dumps(&EbState::active().to_value()), None).await?;
        for pb in pbs {
            if pb.eb_id.as_deref() != Some(eb_id) {
                return Err(Error::Value(format!("Processing block {} does not belong to execution block {eb_id}", pb.pb_id)));
            }
            self.create_processing_block(pb).await?;
        }
        Ok(())
    }

    pub async fn get_execution_block_state(&mut self, eb_id: &str) -> Result<Option<EbState>> {
        let path = format!("{}{}", self.prefix, keys::eb_state(eb_id));
        match self.get(&path).await? {
            None => Ok(None),
            Some(s) => EbState::from_value(&parse(&path, &s)?).map(Some),
        }
    }

    /// Replace the state of an existing execution block.
    pub async fn update_execution_block_state(&mut self, eb_id: &str, state: &EbState) -> Result<()> {
        let path = format!("{}{}", self.prefix, keys::eb_state(eb_id));
        self.update(&path, &json::dumps(&state.to_value())).await
    }

    /// End an execution block: `status` (FINISHED or CANCELLED), no current scan type or
    /// scan; a scan still marked SCANNING is marked as ended with it. Ending an ended EB
    /// changes nothing.
    pub async fn end_execution_block(&mut self, eb_id: &str, status: EbStatus) -> Result<()> {
        let Some(mut st) = self.get_execution_block_state(eb_id).await? else {
            return Err(Error::vanished_update(&keys::eb_state(eb_id)));
        };
        if st.status != EbStatus::ACTIVE {
            return Ok(());
        }
        st.status = status;
        st.scan_type = None;
        st.scan_id = None;
        let ended = if status == EbStatus::CANCELLED { "ABORTED" } else { "FINISHED" };
        for s in st.scans.iter_mut().filter(|s| s.status == "SCANNING") {
            s.status = ended.into();
        }
        self.update_execution_block_state(eb_id, &st).await
    }
}

fn parse(path: &str, s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| Error::Value(format!("{path} does not hold valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_round_trip_and_ids() {
        let mut st = EbState::active();
        assert_eq!(st.to_value(), json!({"status": "ACTIVE", "scan_type": null, "scan_id": null, "scans": []}));
        st.scans.push(ScanRecord { scan_id: 1, scan_type: "science".into(), status: "FINISHED".into() });
        assert_eq!(EbState::from_value(&st.to_value()).unwrap(), st);
        assert!(EbState::from_value(&json!({"status": "BOGUS"})).is_err());
        assert!(check_eb_id("eb-test-20210630-00000").is_ok());
        assert_eq!(check_eb_id("eb_1").unwrap_err().to_string(), "Execution block ID eb_1 not permissable!");
    }
}
