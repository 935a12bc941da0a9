//! Entities stored in the configuration database, with the validation rules and
//! messages of ska-sdp-config 0.0.5, and the high-level transaction API on them.

use crate::error::{Error, Result};
use crate::json;
use crate::keys;
use crate::txn::Txn;
use serde_json::{Map, Value};

/// A workflow reference: exactly `{id, type, version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub id: String,
    pub kind: String,
    pub version: String,
}

impl Workflow {
    pub fn new(kind: &str, id: &str, version: &str) -> Self {
        Workflow { id: id.into(), kind: kind.into(), version: version.into() }
    }

    fn to_value(&self) -> Value {
        serde_json::json!({"id": self.id, "type": self.kind, "version": self.version})
    }

    /// From a JSON object that must have exactly the keys `id`, `type`, `version`.
    pub fn from_value(v: &Value) -> Result<Self> {
        let bad = || Error::Value("Workflow must specify name, type and version!".into());
        let obj = v.as_object().ok_or_else(bad)?;
        if obj.len() != 3 {
            return Err(bad());
        }
        let field = |k: &str| -> Result<String> {
            match obj.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Ok(other.to_string()),
                None => Err(bad()),
            }
        };
        Ok(Workflow { id: field("id")?, kind: field("type")?, version: field("version")? })
    }
}

fn id_ok(id: &str, max: usize) -> bool {
    !id.is_empty() && id.len() <= max && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// How a processing block is stored: the 2019 prototype's layout, or the later one of
/// execution blocks (ADR-8 interface). Both run side by side; the controller reads both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PbLayout {
    /// `{pb_id, sbi_id, workflow {id, type, version}, parameters, scan_parameters}`.
    #[default]
    Workflow,
    /// `{pb_id, eb_id, script {kind, name, version}, parameters, dependencies}`.
    Script,
}

/// One entry of a script-layout PB's `dependencies`: the PB it waits for, and what of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub pb_id: String,
    pub kind: Vec<String>,
}

/// A processing block (`/pb/<pb_id>`).
///
/// In the [`PbLayout::Script`] layout `workflow` holds the script (`id` = its name, `kind` =
/// realtime/batch): the controller and the workflows deal with one type for both layouts.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingBlock {
    pub pb_id: String,
    /// Scheduling block instance id; `null` when created by `sdpcfg process` (and in the
    /// script layout, which has none).
    pub sbi_id: Value,
    pub workflow: Workflow,
    pub parameters: Value,
    pub scan_parameters: Value,
    /// Any other keys, kept verbatim.
    pub extra: Map<String, Value>,
    pub layout: PbLayout,
    /// The execution block of a script-layout PB.
    pub eb_id: Option<String>,
    /// What a script-layout PB waits for (a batch script starts when these PBs finished).
    pub dependencies: Vec<Dependency>,
}

impl ProcessingBlock {
    /// A new processing block with empty parameters; validates the id
    /// (`^[A-Za-z0-9-]{1,64}$`).
    pub fn new(pb_id: &str, sbi_id: Value, workflow: Workflow) -> Result<Self> {
        if !id_ok(pb_id, 64) {
            return Err(Error::Value(format!("Processing block ID {pb_id} not permissable!")));
        }
        Ok(ProcessingBlock {
            pb_id: pb_id.into(),
            sbi_id,
            workflow,
            parameters: Value::Object(Map::new()),
            scan_parameters: Value::Object(Map::new()),
            extra: Map::new(),
            layout: PbLayout::Workflow,
            eb_id: None,
            dependencies: Vec::new(),
        })
    }

    /// A processing block of execution block `eb_id` in the script layout; validates the id
    /// like [`ProcessingBlock::new`].
    pub fn for_script(pb_id: &str, eb_id: &str, script: Workflow, parameters: Value, dependencies: Vec<Dependency>) -> Result<Self> {
        let mut pb = ProcessingBlock::new(pb_id, Value::Null, script)?;
        pb.layout = PbLayout::Script;
        pb.eb_id = Some(eb_id.to_string());
        pb.parameters = parameters;
        pb.dependencies = dependencies;
        Ok(pb)
    }

    pub fn to_value(&self) -> Value {
        let mut m = self.extra.clone();
        m.insert("pb_id".into(), Value::String(self.pb_id.clone()));
        m.insert("parameters".into(), self.parameters.clone());
        match self.layout {
            PbLayout::Workflow => {
                m.insert("sbi_id".into(), self.sbi_id.clone());
                m.insert("workflow".into(), self.workflow.to_value());
                m.insert("scan_parameters".into(), self.scan_parameters.clone());
            }
            PbLayout::Script => {
                m.insert("eb_id".into(), self.eb_id.clone().map_or(Value::Null, Value::String));
                m.insert("script".into(), script_value(&self.workflow));
                let deps = self.dependencies.iter().map(|d| serde_json::json!({"pb_id": d.pb_id, "kind": d.kind})).collect();
                m.insert("dependencies".into(), Value::Array(deps));
            }
        }
        Value::Object(m)
    }

    /// Canonical stored form.
    pub fn to_json(&self) -> String {
        json::dumps(&self.to_value())
    }

    pub fn from_value(v: &Value) -> Result<Self> {
        let mut m = v.as_object().cloned().ok_or_else(|| Error::Value("Processing block must be a JSON object!".into()))?;
        let pb_id = match m.remove("pb_id") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => return Err(Error::Value("Processing block must have a pb_id!".into())),
        };
        if !m.contains_key("workflow") && m.contains_key("script") {
            let script = script_from_value(&m.remove("script").unwrap_or(Value::Null))?;
            let eb_id = match m.remove("eb_id") {
                Some(Value::String(s)) => s,
                _ => return Err(Error::Value("Processing block with a script must name its eb_id!".into())),
            };
            let deps = dependencies_from_value(&m.remove("dependencies").unwrap_or(Value::Array(vec![])))?;
            let params = m.remove("parameters").unwrap_or_else(|| Value::Object(Map::new()));
            let mut pb = ProcessingBlock::for_script(&pb_id, &eb_id, script, params, deps)?;
            pb.extra = m;
            return Ok(pb);
        }
        let workflow = Workflow::from_value(&m.remove("workflow").unwrap_or(Value::Null))?;
        let mut pb = ProcessingBlock::new(&pb_id, m.remove("sbi_id").unwrap_or(Value::Null), workflow)?;
        if let Some(p) = m.remove("parameters") {
            pb.parameters = p;
        }
        if let Some(p) = m.remove("scan_parameters") {
            pb.scan_parameters = p;
        }
        pb.extra = m;
        Ok(pb)
    }

    pub fn from_json(s: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(s).map_err(|e| Error::Value(format!("Processing block is not valid JSON: {e}")))?;
        Self::from_value(&v)
    }
}

/// A script reference as stored: `{kind, name, version}`.
fn script_value(w: &Workflow) -> Value {
    serde_json::json!({"kind": w.kind, "name": w.id, "version": w.version})
}

/// A script reference from `{kind, name, version}` (exactly these keys, strings).
pub fn script_from_value(v: &Value) -> Result<Workflow> {
    let bad = || Error::Value("Script must specify kind, name and version!".into());
    let obj = v.as_object().ok_or_else(bad)?;
    let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(bad);
    if obj.len() != 3 {
        return Err(bad());
    }
    Ok(Workflow { kind: field("kind")?, id: field("name")?, version: field("version")? })
}

/// `dependencies`: `[{pb_id, kind: [..]}]`.
pub fn dependencies_from_value(v: &Value) -> Result<Vec<Dependency>> {
    let bad = || Error::Value("Dependencies must be a list of {pb_id, kind}!".into());
    let list = v.as_array().ok_or_else(bad)?;
    list.iter()
        .map(|d| {
            let pb_id = d.get("pb_id").and_then(Value::as_str).ok_or_else(bad)?.to_string();
            let kind = match d.get("kind") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(|k| k.as_str().map(str::to_string).ok_or_else(bad)).collect::<Result<_>>()?,
                Some(Value::String(k)) => vec![k.clone()],
                Some(_) => return Err(bad()),
            };
            Ok(Dependency { pb_id, kind })
        })
        .collect()
}

/// Deployment types the 0.0.5 library knew, plus `process` (controller branch): a local
/// process run by `sdp deployer --type process` (the one-machine counterpart of `helm`).
pub const DEPLOYMENT_TYPES: [&str; 4] = ["helm", "process-direct", "kubernetes-direct", "process"];

/// A deployment request (`/deploy/<deploy_id>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub deploy_id: String,
    pub kind: String,
    pub args: Value,
}

impl Deployment {
    /// Validates the id (`^[A-Za-z0-9-]{1,96}$`) and the type.
    pub fn new(deploy_id: &str, kind: &str, args: Value) -> Result<Self> {
        if !id_ok(deploy_id, 96) {
            return Err(Error::Value(format!("Deployment ID {deploy_id} not permissable!")));
        }
        if !DEPLOYMENT_TYPES.contains(&kind) {
            return Err(Error::Value(format!("Unkown deployment type {kind}!")));
        }
        Ok(Deployment { deploy_id: deploy_id.into(), kind: kind.into(), args })
    }

    pub fn to_value(&self) -> Value {
        serde_json::json!({"deploy_id": self.deploy_id, "type": self.kind, "args": self.args})
    }

    pub fn to_json(&self) -> String {
        json::dumps(&self.to_value())
    }

    pub fn from_value(v: &Value) -> Result<Self> {
        let m = v.as_object().ok_or_else(|| Error::Value("Deployment must be a JSON object!".into()))?;
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Deployment::new(&s("deploy_id"), &s("type"), m.get("args").cloned().unwrap_or(Value::Null))
    }

    pub fn from_json(s: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(s).map_err(|e| Error::Value(format!("Deployment is not valid JSON: {e}")))?;
        Self::from_value(&v)
    }
}

/// The owner record of this process: `{"command": argv, "hostname": ..., "pid": ...}`.
pub fn default_owner() -> Value {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "hostname": hostname,
        "pid": std::process::id(),
    })
}

fn parse_object(path: &str, s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| Error::Value(format!("{path} does not hold valid JSON: {e}")))
}

fn require_object(v: &Value) -> Result<()> {
    if v.is_object() {
        Ok(())
    } else {
        Err(Error::Value("Value must be a JSON object (dictionary)!".into()))
    }
}

/// Today's date as `YYYYMMDD` (local time, as the Python library used).
pub fn today() -> String {
    chrono::Local::now().format("%Y%m%d").to_string()
}

/// High-level API (paths under the transaction's global prefix).
impl Txn {
    fn p(&self, rest: &str) -> String {
        format!("{}{}", self.prefix, rest)
    }

    async fn get_json(&mut self, path: &str) -> Result<Option<Value>> {
        match self.get(path).await? {
            None => Ok(None),
            Some(s) => parse_object(path, &s).map(Some),
        }
    }

    /// Ids of processing blocks whose id starts with `prefix`.
    pub async fn list_processing_blocks(&mut self, prefix: &str) -> Result<Vec<String>> {
        let base = self.p(keys::PB_DIR);
        let keys = self.list_keys(&format!("{base}{prefix}"), 0).await?;
        Ok(keys.into_iter().filter_map(|k| k.strip_prefix(&base).map(str::to_string)).collect())
    }

    /// Lowest free id `<type>-<YYYYMMDD>-<NNNN>` for today; safe under concurrency
    /// because the listing is part of the transaction's read set.
    pub async fn new_processing_block_id(&mut self, workflow_type: &str) -> Result<String> {
        self.new_processing_block_id_on(workflow_type, &today()).await
    }

    /// [`Txn::new_processing_block_id`] for a given date string.
    pub async fn new_processing_block_id_on(&mut self, workflow_type: &str, date: &str) -> Result<String> {
        let prefix = format!("{workflow_type}-{date}-");
        // Only a concurrent *creation* in this range can make the chosen id collide, so
        // guard against creations alone: one compare however many PBs exist today
        // (checking every listed id would pass etcd's 128-compare limit at 128 PBs).
        let base = self.p(keys::PB_DIR);
        let taken: std::collections::HashSet<String> = self
            .list_keys_guard_creations(&format!("{base}{prefix}"), 0)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&base).map(str::to_string))
            .collect();
        (0..9999)
            .map(|i| format!("{prefix}{i:04}"))
            .find(|id| !taken.contains(id))
            .ok_or_else(|| Error::Runtime("Exceeded daily number of processing blocks!".into()))
    }

    pub async fn get_processing_block(&mut self, pb_id: &str) -> Result<Option<ProcessingBlock>> {
        let path = self.p(&keys::pb(pb_id));
        match self.get_json(&path).await? {
            None => Ok(None),
            Some(v) => ProcessingBlock::from_value(&v).map(Some),
        }
    }

    pub async fn create_processing_block(&mut self, pb: &ProcessingBlock) -> Result<()> {
        let path = self.p(&keys::pb(&pb.pb_id));
        self.create(&path, &pb.to_json(), None).await
    }

    pub async fn update_processing_block(&mut self, pb: &ProcessingBlock) -> Result<()> {
        let path = self.p(&keys::pb(&pb.pb_id));
        self.update(&path, &pb.to_json()).await
    }

    pub async fn delete_processing_block(&mut self, pb_id: &str, recursive: bool) -> Result<()> {
        let path = self.p(&keys::pb(pb_id));
        self.delete(&path, true, recursive).await
    }

    pub async fn get_processing_block_owner(&mut self, pb_id: &str) -> Result<Option<Value>> {
        let path = self.p(&keys::pb_owner(pb_id));
        self.get_json(&path).await
    }

    /// The PB exists and its owner record equals this client's.
    pub async fn is_processing_block_owner(&mut self, pb_id: &str) -> Result<bool> {
        if self.get_processing_block(pb_id).await?.is_none() {
            return Ok(false);
        }
        let owner = self.owner.clone();
        Ok(self.get_processing_block_owner(pb_id).await? == Some(owner))
    }

    /// Claim a PB: create `/pb/<id>/owner` with this client's owner record on `lease`
    /// (it disappears when the lease ends). A second claimant gets `Collision`.
    pub async fn take_processing_block(&mut self, pb_id: &str, lease: i64) -> Result<()> {
        let path = self.p(&keys::pb_owner(pb_id));
        let owner = json::dumps(&self.owner);
        self.create(&path, &owner, Some(lease)).await
    }

    /// Claim the first unowned PB running exactly `workflow`, if any.
    pub async fn take_processing_block_by_workflow(&mut self, workflow: &Workflow, lease: i64) -> Result<Option<ProcessingBlock>> {
        let prefix = format!("{}-", workflow.kind);
        for id in self.list_processing_blocks(&prefix).await? {
            let Some(pb) = self.get_processing_block(&id).await? else { continue };
            if &pb.workflow == workflow && self.get_processing_block_owner(&id).await?.is_none() {
                self.take_processing_block(&id, lease).await?;
                return Ok(Some(pb));
            }
        }
        Ok(None)
    }

    pub async fn get_processing_block_state(&mut self, pb_id: &str) -> Result<Option<Value>> {
        let path = self.p(&keys::pb_state(pb_id));
        self.get_json(&path).await
    }

    pub async fn create_processing_block_state(&mut self, pb_id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&keys::pb_state(pb_id));
        self.create(&path, &json::dumps(state), None).await
    }

    pub async fn update_processing_block_state(&mut self, pb_id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&keys::pb_state(pb_id));
        self.update(&path, &json::dumps(state)).await
    }

    /// Ids of deployments whose id starts with `prefix`.
    pub async fn list_deployments(&mut self, prefix: &str) -> Result<Vec<String>> {
        let base = self.p(keys::DEPLOY_DIR);
        let keys = self.list_keys(&format!("{base}{prefix}"), 0).await?;
        Ok(keys.into_iter().filter_map(|k| k.strip_prefix(&base).map(str::to_string)).collect())
    }

    /// The deployment, or `None` if absent (the Python library raised `TypeError`).
    ///
    /// An entry whose (validated) `deploy_id` is not the id it is stored under is an error:
    /// readers name files, processes and releases after the id they listed, and a key written
    /// past this library (`/deploy/..`) must not become one of those names.
    pub async fn get_deployment(&mut self, deploy_id: &str) -> Result<Option<Deployment>> {
        let path = self.p(&keys::deploy(deploy_id));
        match self.get_json(&path).await? {
            None => Ok(None),
            Some(v) => match Deployment::from_value(&v)? {
                d if d.deploy_id != deploy_id => Err(Error::Value(format!(
                    "its deploy_id is {:?}, not {deploy_id:?} (a deployment is stored under its own deploy_id)",
                    d.deploy_id
                ))),
                d => Ok(Some(d)),
            },
        }
    }

    pub async fn create_deployment(&mut self, d: &Deployment) -> Result<()> {
        let path = self.p(&keys::deploy(&d.deploy_id));
        self.create(&path, &d.to_json(), None).await
    }

    /// Delete a deployment and every key below it (exactly this id, not ids that
    /// merely start with it, unlike the Python library).
    pub async fn delete_deployment(&mut self, d: &Deployment) -> Result<()> {
        let path = self.p(&keys::deploy(&d.deploy_id));
        self.delete(&path, true, true).await
    }

    /// Ids of subarray entries (`/subarray/<id>`).
    pub async fn list_subarrays(&mut self) -> Result<Vec<String>> {
        let base = self.p("/subarray/");
        let keys = self.list_keys(&base, 0).await?;
        Ok(keys.into_iter().filter_map(|k| k.strip_prefix(&base).map(str::to_string)).collect())
    }

    pub async fn get_subarray(&mut self, id: &str) -> Result<Option<Value>> {
        let path = self.p(&format!("/subarray/{id}"));
        self.get_json(&path).await
    }

    pub async fn create_subarray(&mut self, id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&format!("/subarray/{id}"));
        self.create(&path, &json::dumps(state), None).await
    }

    pub async fn update_subarray(&mut self, id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&format!("/subarray/{id}"));
        self.update(&path, &json::dumps(state)).await
    }

    /// Create or replace the subarray's state without reading it first (see [`Txn::put`]).
    pub fn put_subarray(&mut self, id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&format!("/subarray/{id}"));
        self.put(&path, &json::dumps(state))
    }

    /// The state record of ADR-8 subarray `id` (`/lmc/subarray/<id>`).
    pub async fn get_lmc_subarray(&mut self, id: &str) -> Result<Option<Value>> {
        let path = self.p(&keys::lmc_subarray(id));
        self.get_json(&path).await
    }

    /// Create or replace the state record of ADR-8 subarray `id` without reading it first.
    pub fn put_lmc_subarray(&mut self, id: &str, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(&keys::lmc_subarray(id));
        self.put(&path, &json::dumps(state))
    }

    /// The state record of the ADR-8 controller device (`/lmc/controller`).
    pub async fn get_lmc_controller(&mut self) -> Result<Option<Value>> {
        let path = self.p(keys::LMC_CONTROLLER);
        self.get_json(&path).await
    }

    /// Create or replace the ADR-8 controller's state record without reading it first.
    pub fn put_lmc_controller(&mut self, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p(keys::LMC_CONTROLLER);
        self.put(&path, &json::dumps(state))
    }

    /// Create or replace the master's state without reading it first (see [`Txn::put`]).
    pub fn put_master(&mut self, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p("/master");
        self.put(&path, &json::dumps(state))
    }

    pub async fn get_master(&mut self) -> Result<Option<Value>> {
        let path = self.p("/master");
        self.get_json(&path).await
    }

    pub async fn create_master(&mut self, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p("/master");
        self.create(&path, &json::dumps(state), None).await
    }

    pub async fn update_master(&mut self, state: &Value) -> Result<()> {
        require_object(state)?;
        let path = self.p("/master");
        self.update(&path, &json::dumps(state)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pb_validation_messages() {
        let wf = Workflow::new("realtime", "testdask", "0.1.0");
        for bad in ["asd_htb", "foo/bar", "", &"x".repeat(65)] {
            let e = ProcessingBlock::new(bad, Value::Null, wf.clone()).unwrap_err();
            assert_eq!(e.to_string(), format!("Processing block ID {bad} not permissable!"));
        }
        assert!(ProcessingBlock::new("foo-bar", Value::Null, wf).is_ok());
        for bad in [
            json!({"id": "a", "type": "b"}),
            json!({"id": "a", "type": "b", "version": "c", "x": 1}),
            json!({"name": "a", "type": "b", "version": "c"}),
        ] {
            assert_eq!(Workflow::from_value(&bad).unwrap_err().to_string(), "Workflow must specify name, type and version!");
        }
    }

    #[test]
    fn pb_round_trip_keeps_extra_keys() {
        let s = r#"{"pb_id": "realtime-20191121-0000", "sbi_id": "sbi-1", "workflow": {"id": "w", "type": "realtime", "version": "1"}, "parameters": {"a": 1}, "scan_parameters": {}, "dependencies": [{"pb_id": "x", "type": ["y"]}]}"#;
        let pb = ProcessingBlock::from_json(s).unwrap();
        assert_eq!(pb.extra.get("dependencies"), Some(&json!([{"pb_id": "x", "type": ["y"]}])));
        let again = ProcessingBlock::from_json(&pb.to_json()).unwrap();
        assert_eq!(again, pb);
        assert!(pb.to_json().starts_with("{\n  \"dependencies\": [\n"));
    }

    #[test]
    fn deployment_validation_and_format() {
        assert_eq!(Deployment::new("x", "bogus", json!({})).unwrap_err().to_string(), "Unkown deployment type bogus!");
        assert_eq!(Deployment::new("a_b", "helm", json!({})).unwrap_err().to_string(), "Deployment ID a_b not permissable!");
        assert!(Deployment::new(&"d".repeat(96), "helm", json!({})).is_ok());
        let d = Deployment::new("realtime-x-dask", "helm", json!({"chart": "stable/dask", "values": {"a": 1}})).unwrap();
        assert_eq!(
            d.to_json(),
            "{\n  \"args\": {\n    \"chart\": \"stable/dask\",\n    \"values\": {\n      \"a\": 1\n    }\n  },\n  \"deploy_id\": \"realtime-x-dask\",\n  \"type\": \"helm\"\n}"
        );
        assert_eq!(Deployment::from_json(&d.to_json()).unwrap(), d);
    }

    #[test]
    fn owner_has_the_three_fields() {
        let o = default_owner();
        assert!(o["command"].is_array() && o["hostname"].is_string() && o["pid"].is_u64());
    }
}
