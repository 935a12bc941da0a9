//! The processing controller: turns processing blocks into workflow deployments.
//!
//! Each pass reads one consistent snapshot (PBs with their state keys, deployments,
//! ownership records: four ranged reads, however many PBs there are) and decides what
//! is missing or left over; each decision is then carried out in its own small
//! transaction that re-checks its premise, so the controller never needs one
//! transaction as large as the whole database. The controller's own writes never wake it:
//! their events are known by the revision of the commit that made them. A full pass that
//! acted is followed at once by another (which normally finds nothing to do); a targeted
//! one is not, as anything else that changed since its snapshot comes on the watch. Between passes it sleeps on one long-lived watch of the ranges it
//! reads, and wakes only for changes that can alter a decision: PBs, deployments and
//! ownership records appearing, changing or going, and the state key of a PB that is
//! not running (orphaned, or failed by the controller). A workflow reporting its state
//! or claiming its PB does not wake it.
//!
//! The passes the watch wakes are *targeted*: they read and decide only for the PBs the
//! changes concern (a few point reads each: the PB, its state, its ownership records, the
//! deployments named after or owned by it), so a PB costs the same whether the database holds
//! ten or ten thousand (issue #20: a full pass per change made each PB cost in proportion to
//! all the others; `bench/controller_scale.py`). A burst of more than [`MAX_TARGETED`] PBs, the
//! start, an error and the periodic resync run a full pass instead, the safety net that covers
//! anything a watch could miss. The controller keeps nothing it could not read again: a
//! restart converges from the database.

pub mod definitions;

use crate::deploy_mode::DeployMode;
use crate::error::Result;
use definitions::Definitions;
use sdp_config::backend::{Event, KeyRange, WatchStream};
use sdp_config::{json, keys, path, Config, Deployment, Txn};
use serde_json::{json, Value};
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// What the controller needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: DeployMode,
    pub definitions: Definitions,
    /// `env.SDP_CONFIG_HOST` given to helm-deployed workflows.
    pub config_host: String,
    /// `env.SDP_HELM_NAMESPACE` given to helm-deployed workflows.
    pub helm_namespace: String,
    /// The `sdp` executable process-mode workflows run.
    pub sdp_exe: String,
    /// A full pass at least this often, whatever the watch says.
    pub resync: Duration,
}

/// Default of [`Settings::resync`].
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(60);

/// One decision of a pass.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// Deploy the PB's workflow.
    Deploy { pb_id: String, deployment: Deployment },
    /// Record that an existing `<pb>-workflow` deployment belongs to the PB.
    Adopt { pb_id: String, deploy_id: String },
    /// The PB cannot run: say so in its state (once).
    Fail { pb_id: String, reason: String },
    /// The PB is gone: delete a deployment it owned.
    DeleteOwned { pb_id: String, deploy_id: String },
    /// The PB's workflow cannot be deployed (any more): delete its workflow deployment.
    Retire { pb_id: String, deploy_id: String },
    /// The deployment is gone but its ownership record is not.
    DropRecord { pb_id: String, deploy_id: String },
    /// The PB is gone but its state key is not.
    DropState { pb_id: String },
}

/// The state the controller gives a PB it cannot run.
fn fail_state(reason: &str) -> Value {
    json!({"status": "FAILED", "reason": reason})
}

pub fn workflow_deploy_id(pb_id: &str) -> String {
    format!("{pb_id}-workflow")
}

impl Settings {
    /// The deployment that runs PB `pb_id`'s workflow `id` (image `image`).
    pub fn workflow_deployment(&self, pb_id: &str, id: &str, image: &str) -> Result<Deployment> {
        let deploy_id = workflow_deploy_id(pb_id);
        Ok(match self.mode {
            DeployMode::Helm => Deployment::new(
                &deploy_id,
                "helm",
                json!({"chart": "workflow", "values": {
                    "env.SDP_CONFIG_HOST": self.config_host,
                    "env.SDP_HELM_NAMESPACE": self.helm_namespace,
                    "pb_id": pb_id,
                    "wf_image": image,
                }}),
            )?,
            DeployMode::Process => Deployment::new(
                &deploy_id,
                "process",
                json!({
                    "command": [self.sdp_exe, "workflow", id, pb_id],
                    "env": crate::deploy_mode::process_env(DeployMode::Process),
                    "image": image,
                    // Like the pod of a Kubernetes Deployment: whatever ended it, run it
                    // again while the deployment exists (a PB deleted and re-created
                    // under the same id gets a fresh workflow process).
                    "restart": "always",
                }),
            )?,
        })
    }
}

/// What a pass saw, for deciding which later changes are worth another pass.
#[derive(Debug, Clone, Default)]
struct View {
    /// The snapshot's revision: changes up to it are already accounted for.
    revision: i64,
    /// PBs whose workflow deployment exists: their state keys are the workflow's business.
    running: BTreeSet<String>,
    /// Batch scripts not deployed yet → the PBs they depend on: a dependency's state
    /// changing (FINISHED, FAILED) is worth a pass for them, running or not.
    waiting: BTreeMap<String, Vec<String>>,
}

impl View {
    /// The batch scripts waiting on PB `pb_id`.
    fn dependents<'a>(&'a self, pb_id: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.waiting.iter().filter(move |(_, deps)| deps.iter().any(|d| d == pb_id)).map(|(b, _)| b)
    }
}

/// The ranges a pass reads (raw keys): PBs and the keys below them, deployments,
/// ownership records. The controller's watch covers exactly these.
fn watched_ranges() -> Vec<KeyRange> {
    [(keys::PB_DIR, 2), (keys::PB_DIR, 3), (keys::DEPLOY_DIR, 2), (keys::OWNERSHIP_DIR, 3)]
        .into_iter()
        .map(|(p, depth)| KeyRange::Prefix(path::tag_at(p, depth)))
        .collect()
}

/// Can this change (of the raw key `key`) alter what a pass decides, given the last pass?
fn wakes(view: &View, key: &str) -> bool {
    let Some(logical) = path::untag(key) else { return false };
    if let Some(rest) = logical.strip_prefix(keys::PB_DIR) {
        return match rest.split_once('/') {
            // A PB created, changed or deleted.
            None => true,
            // The state of a PB without a running workflow: orphaned (to drop) or
            // written by the controller as FAILED (to keep so). Or the state of a PB a
            // batch script waits for.
            Some((pb_id, "state")) => !view.running.contains(pb_id) || view.dependents(pb_id).next().is_some(),
            // Owner records and the like are the workflows' business.
            Some(_) => false,
        };
    }
    logical.starts_with(keys::DEPLOY_DIR) || logical.starts_with(keys::OWNERSHIP_DIR)
}

/// Which PB owns which deployment, both ways: a change to an engine deployment is traced to
/// its PB, and a targeted pass replaces what it knew of its own PBs without going through
/// everyone else's (with 10 000 PBs, a scan per pass was the cost that still grew).
#[derive(Debug, Default)]
struct Owners {
    pb_of: HashMap<String, String>,
    deploys_of: HashMap<String, BTreeSet<String>>,
}

impl Owners {
    fn from_records<'a>(records: impl IntoIterator<Item = &'a (String, String)>) -> Self {
        let mut o = Owners::default();
        for (pb, d) in records {
            o.insert(pb, d);
        }
        o
    }

    fn insert(&mut self, pb: &str, deploy: &str) {
        if let Some(old) = self.pb_of.insert(deploy.to_string(), pb.to_string()) {
            if old != pb {
                self.deploys_of.get_mut(&old).map(|d| d.remove(deploy));
            }
        }
        self.deploys_of.entry(pb.to_string()).or_default().insert(deploy.to_string());
    }

    fn forget_pb(&mut self, pb: &str) {
        for d in self.deploys_of.remove(pb).unwrap_or_default() {
            self.pb_of.remove(&d);
        }
    }

    fn owner(&self, deploy: &str) -> Option<&String> {
        self.pb_of.get(deploy)
    }
}

/// What one snapshot showed of the PBs a pass looks at (all, or those changes touched).
#[derive(Debug, Default)]
struct Facts {
    /// PBs that exist.
    pbs: BTreeSet<String>,
    /// Deployments that exist (all, or those named after or owned by the PBs looked at).
    deploys: BTreeSet<String>,
    /// Ownership records (pb_id, deploy_id).
    owned: BTreeSet<(String, String)>,
    /// PBs with a state key (with or without the PB itself).
    states: BTreeSet<String>,
}

impl Facts {
    /// PBs (of these facts) whose workflow deployment exists.
    fn running(&self) -> impl Iterator<Item = &String> {
        self.pbs.iter().filter(|pb| self.deploys.contains(&workflow_deploy_id(pb)))
    }
}

/// Which PBs a pass looks at.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    /// Everything: at start, after an error, periodically (the safety net).
    All,
    /// Only these (and what they own): what the watch says changed.
    Pbs(BTreeSet<String>),
}

/// A targeted pass reads a few keys per PB; beyond this many PBs one full pass (four ranged
/// reads) is cheaper.
const MAX_TARGETED: usize = 64;

/// A targeted pass over at most this many PBs lets its actions start from its snapshot.
const FORK_AT_MOST: usize = 4;

/// How many decisions of a pass are carried out at once.
const EXECUTE_AT_ONCE: usize = 16;

/// Read the snapshot and decide (a full pass, as the tests look at it).
#[cfg(test)]
async fn pass(txn: &mut Txn, s: &Settings) -> Result<(Vec<Action>, View)> {
    let facts = gather(txn, &Scope::All).await?;
    let mut waiting = BTreeMap::new();
    let actions = decide(txn, s, &facts, &mut waiting).await;
    let view = View { revision: txn.revision().unwrap_or(0), running: facts.running().cloned().collect(), waiting };
    Ok((actions, view))
}

/// Read what a pass over `scope` needs, at one snapshot.
async fn gather(txn: &mut Txn, scope: &Scope) -> Result<Facts> {
    let mut f = Facts::default();
    match scope {
        Scope::All => {
            // Values come with the listings: the gets of `decide` are answered from them.
            for key in txn.list_keys_prefetch(keys::PB_DIR, 1).await? {
                match key.strip_prefix(keys::PB_DIR).map(|rest| rest.split_once('/')) {
                    Some(None) => {
                        f.pbs.insert(key[keys::PB_DIR.len()..].to_string());
                    }
                    Some(Some((pb_id, "state"))) => {
                        f.states.insert(pb_id.to_string());
                    }
                    _ => {}
                }
            }
            f.deploys = txn
                .list_keys_prefetch(keys::DEPLOY_DIR, 0)
                .await?
                .iter()
                .filter_map(|k| k.strip_prefix(keys::DEPLOY_DIR))
                .map(str::to_string)
                .collect();
            f.owned = txn.list_ownership().await?.into_iter().collect();
        }
        Scope::Pbs(ids) => {
            // A few point reads per PB, whatever the size of the database.
            for pb_id in ids {
                if txn.get(&keys::pb(pb_id)).await?.is_some() {
                    f.pbs.insert(pb_id.clone());
                }
                if txn.get(&keys::pb_state(pb_id)).await?.is_some() {
                    f.states.insert(pb_id.clone());
                }
                let wf = workflow_deploy_id(pb_id);
                let mut named: Vec<String> = vec![wf];
                for (pb, d) in txn.list_ownership_of(pb_id).await? {
                    named.push(d.clone());
                    f.owned.insert((pb, d));
                }
                for d in named {
                    if txn.get(&keys::deploy(&d)).await?.is_some() {
                        f.deploys.insert(d);
                    }
                }
            }
        }
    }
    Ok(f)
}

/// The decisions the facts call for. Batch scripts left waiting for their dependencies are
/// noted in `waiting`, with what they wait for.
async fn decide(txn: &mut Txn, s: &Settings, facts: &Facts, waiting: &mut BTreeMap<String, Vec<String>>) -> Vec<Action> {
    let Facts { pbs, deploys, owned, states } = facts;
    let mut actions = Vec::new();

    for (pb_id, deploy_id) in owned {
        if !pbs.contains(pb_id) {
            actions.push(Action::DeleteOwned { pb_id: pb_id.clone(), deploy_id: deploy_id.clone() });
        } else if !deploys.contains(deploy_id) && *deploy_id != workflow_deploy_id(pb_id) {
            actions.push(Action::DropRecord { pb_id: pb_id.clone(), deploy_id: deploy_id.clone() });
        }
    }
    for pb_id in states {
        if !pbs.contains(pb_id) {
            actions.push(Action::DropState { pb_id: pb_id.to_string() });
        }
    }
    for pb_id in pbs {
        let wf = workflow_deploy_id(pb_id);
        let recorded = owned.contains(&(pb_id.clone(), wf.clone()));
        if deploys.contains(&wf) {
            if !recorded {
                actions.push(Action::Adopt { pb_id: pb_id.clone(), deploy_id: wf });
                continue;
            }
            // Keep it as the PB and the settings want it: a PB re-created under the
            // same id with another workflow, or a controller restarted with other
            // settings, updates the deployment (the deployer then replaces the workflow).
            if let (Ok(Some(pb)), Ok(Some(have))) = (txn.get_processing_block(pb_id).await, txn.get_deployment(&wf).await) {
                let w = &pb.workflow;
                // a batch script runs the image of its name (see below)
                let kind = if pb.layout == sdp_config::PbLayout::Script && w.kind == "batch" { "realtime" } else { w.kind.as_str() };
                match (kind, s.definitions.image(kind, &w.id, &w.version)) {
                    ("realtime", Some(image)) => {
                        if let Ok(want) = s.workflow_deployment(pb_id, &w.id, image) {
                            if want != have {
                                actions.push(Action::Deploy { pb_id: pb_id.clone(), deployment: want });
                            }
                        }
                    }
                    // Not (or no longer) deployable: retire it; the next pass fails the PB.
                    _ => actions.push(Action::Retire { pb_id: pb_id.clone(), deploy_id: wf }),
                }
            }
            continue;
        }
        let reason = match txn.get_processing_block(pb_id).await {
            Ok(None) => continue,
            Err(e) => format!("Processing block is not valid: {e}"),
            Ok(Some(pb)) => {
                let w = &pb.workflow;
                // A batch script of an execution block starts once the PBs it depends on have
                // finished (the periodic full pass notices that, at the latest).
                let batch_script = pb.layout == sdp_config::PbLayout::Script && w.kind == "batch";
                if batch_script {
                    match dependencies_done(txn, &pb).await {
                        Dependencies::Wait => {
                            waiting.insert(pb_id.clone(), pb.dependencies.iter().map(|d| d.pb_id.clone()).collect());
                            continue;
                        }
                        Dependencies::Failed(reason) => {
                            if txn.get_processing_block_state(pb_id).await.ok().flatten().as_ref() != Some(&fail_state(&reason)) {
                                actions.push(Action::Fail { pb_id: pb_id.clone(), reason });
                            }
                            continue;
                        }
                        Dependencies::Done => {}
                    }
                }
                // A batch script runs the workflow image of its name (the definitions, 2019's,
                // know each workflow as realtime).
                let script_image = s.definitions.image("realtime", &w.id, &w.version).filter(|_| batch_script);
                match (w.kind.as_str(), s.definitions.image(&w.kind, &w.id, &w.version)) {
                    ("batch", _) if script_image.is_some() => match s.workflow_deployment(pb_id, &w.id, script_image.unwrap_or_default()) {
                        Ok(deployment) => {
                            actions.push(Action::Deploy { pb_id: pb_id.clone(), deployment });
                            continue;
                        }
                        Err(e) => format!("Cannot make the workflow deployment: {e}"),
                    },
                    ("realtime", Some(image)) => match s.workflow_deployment(pb_id, &w.id, image) {
                        Ok(deployment) => {
                            actions.push(Action::Deploy { pb_id: pb_id.clone(), deployment });
                            continue;
                        }
                        Err(e) => format!("Cannot make the workflow deployment: {e}"),
                    },
                    ("batch", Some(_)) => {
                        format!("Workflow type = batch (ID = {} version = {}) is not supported at present", w.id, w.version)
                    }
                    (kind, _) => format!("Workflow type = {kind} ID = {} version = {} is not supported", w.id, w.version),
                }
            }
        };
        // Written once: a pass that finds exactly this state does nothing (a state left
        // by an earlier PB of the same id, or by a workflow, is replaced).
        let want = fail_state(&reason);
        if txn.get_processing_block_state(pb_id).await.ok().flatten().as_ref() != Some(&want) {
            actions.push(Action::Fail { pb_id: pb_id.clone(), reason });
        }
    }
    actions
}

/// Where a batch script's dependencies are.
enum Dependencies {
    Done,
    Wait,
    Failed(String),
}

/// Have the PBs `pb` depends on finished (state `FINISHED`)? A failed or missing one fails it.
async fn dependencies_done(txn: &mut Txn, pb: &sdp_config::ProcessingBlock) -> Dependencies {
    let mut waiting = false;
    for d in &pb.dependencies {
        let status = match txn.get_processing_block_state(&d.pb_id).await {
            Ok(state) => state.and_then(|s| s["status"].as_str().map(str::to_string)),
            Err(_) => return Dependencies::Wait,
        };
        match status.as_deref() {
            Some("FINISHED") => {}
            Some("FAILED") => return Dependencies::Failed(format!("Dependency {} failed", d.pb_id)),
            _ if matches!(txn.get_processing_block(&d.pb_id).await, Ok(None)) => {
                return Dependencies::Failed(format!("Dependency {} does not exist", d.pb_id))
            }
            _ => waiting = true,
        }
    }
    if waiting {
        Dependencies::Wait
    } else {
        Dependencies::Done
    }
}

/// Carry out one decision in its own transaction, re-checking its premise. Returns the
/// revision of what it wrote, `None` when the premise no longer held. With `snapshot` (a fork
/// of the pass's transaction), the premise is checked against what the pass read, and the commit
/// fails, and the decision is tried again on fresh reads, if any of that changed since.
async fn execute(config: &Config, action: &Action, snapshot: Option<Txn>) -> Result<Option<i64>> {
    let mut txn = snapshot.unwrap_or_else(|| config.txn());
    loop {
        let mut log: Option<String> = None;
        match action {
            Action::Deploy { pb_id, deployment } => {
                if txn.get(&keys::pb(pb_id)).await?.is_some() {
                    let verb = match txn.get(&keys::deploy(&deployment.deploy_id)).await? {
                        None => "Creating",
                        Some(_) => "Updating",
                    };
                    if txn.put_owned_deployment(pb_id, deployment, "controller").await? {
                        log = Some(format!("{verb} deployment {}", deployment.deploy_id));
                    }
                }
            }
            Action::Adopt { pb_id, deploy_id } => {
                if txn.get(&keys::pb(pb_id)).await?.is_some() && txn.get(&keys::deploy(deploy_id)).await?.is_some() {
                    let own = txn.ownership_path(pb_id, deploy_id);
                    if txn.get(&own).await?.is_none() {
                        txn.create(&own, &json::dumps(&json!({"created_by": "controller"})), None).await?;
                        log = Some(format!("Deployment {deploy_id} belongs to processing block {pb_id}"));
                    }
                }
            }
            Action::Fail { pb_id, reason } => {
                if txn.get(&keys::pb(pb_id)).await?.is_some() {
                    let state = fail_state(reason);
                    match txn.get_processing_block_state(pb_id).await {
                        Ok(Some(old)) if old == state => {}
                        Ok(Some(_)) | Err(_) => {
                            txn.update(&keys::pb_state(pb_id), &json::dumps(&state)).await?;
                            log = Some(format!("Processing block {pb_id}: {reason}; state set to FAILED"));
                        }
                        Ok(None) => {
                            txn.create_processing_block_state(pb_id, &state).await?;
                            log = Some(format!("Processing block {pb_id}: {reason}; state set to FAILED"));
                        }
                    }
                }
            }
            Action::DeleteOwned { pb_id, deploy_id } => {
                if txn.get(&keys::pb(pb_id)).await?.is_none() {
                    if txn.get(&keys::deploy(deploy_id)).await?.is_some() {
                        log = Some(format!("Deleting deployment {deploy_id}"));
                    }
                    txn.delete_owned_deployment(pb_id, deploy_id).await?;
                }
            }
            Action::Retire { pb_id, deploy_id } => {
                if txn.get(&keys::deploy(deploy_id)).await?.is_some() {
                    txn.delete_owned_deployment(pb_id, deploy_id).await?;
                    log = Some(format!("Deleting deployment {deploy_id}: the workflow of processing block {pb_id} cannot be deployed"));
                }
            }
            Action::DropRecord { pb_id, deploy_id } => {
                if txn.get(&keys::deploy(deploy_id)).await?.is_none() {
                    txn.delete_ownership_record(pb_id, deploy_id).await?;
                }
            }
            Action::DropState { pb_id } => {
                if txn.get(&keys::pb(pb_id)).await?.is_none() {
                    txn.delete(&keys::pb_state(pb_id), false, false).await?;
                    log = Some(format!("Deleting state of deleted processing block {pb_id}"));
                }
            }
        }
        if txn.commit().await? {
            if let Some(l) = log {
                if matches!(action, Action::Fail { .. }) {
                    tracing::error!("{l}");
                } else {
                    tracing::info!("{l}");
                }
            }
            return Ok(txn.written_at());
        }
    }
}

/// Run until SIGTERM/SIGINT.
pub async fn run(s: Settings) -> Result<()> {
    let stop = crate::signals::shutdown_signal();
    crate::configdb::serve_as(COMPONENT_NAME, "controller", async |config, alive| {
        tracing::info!(
            "processing controller started: mode {}, {} workflow versions known, database {}",
            s.mode.as_str(),
            s.definitions.len(),
            config.db().backend().describe()
        );
        control(&config, &s, wakes, stop, Some(alive)).await
    })
    .await
}

/// The controller's name in the component records (`/component/<name>`).
pub const COMPONENT_NAME: &str = "processing-controller";

/// The controller's loop: pass, act, pass again until nothing is left to do, then
/// sleep until a change `relevant` says matters, the resync period ends, or `stop`.
async fn control(
    config: &Config,
    s: &Settings,
    relevant: fn(&View, &str) -> bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
    alive: Option<&sdp_config::Liveness>,
) -> Result<()> {
    let mut watch: Option<WatchStream> = None;
    let mut last_actions: Vec<Action> = Vec::new();
    // What the passes have seen: the last full pass's revision and the running PBs, kept up to
    // date by targeted passes, which also note the revision they saw each of their PBs at.
    let mut view = View::default();
    let mut covered: HashMap<String, i64> = HashMap::new();
    // deploy_id → owning PB: which PB a change to an engine deployment concerns.
    let mut owners = Owners::default();
    // Revisions of the controller's own commits not yet seen on the watch: their events are
    // the controller's own writes, which never need a pass.
    let mut own: BTreeSet<i64> = BTreeSet::new();
    let mut scope = Scope::All;
    loop {
        // A pass and its actions are work: one stuck past the stall limit is a hang.
        let work = alive.map(|a| a.working());
        let outcome: Result<bool> = async {
            let mut txn = config.txn();
            let facts = gather(&mut txn, &scope).await?;
            let mut waiting = BTreeMap::new();
            let actions = decide(&mut txn, s, &facts, &mut waiting).await;
            let revision = txn.revision().unwrap_or(0);
            // A pass over a few PBs read a few keys: its actions start from its snapshot
            // instead of reading them again (each read is a comparison of their commits).
            let forks: Vec<Option<Txn>> = if matches!(&scope, Scope::Pbs(ids) if ids.len() <= FORK_AT_MOST) {
                actions.iter().map(|_| Some(txn.fork())).collect()
            } else {
                actions.iter().map(|_| None).collect()
            };
            txn.commit().await?; // read-only: no round trip
            match &scope {
                Scope::All => {
                    view = View { revision, running: facts.running().cloned().collect(), waiting };
                    covered.clear();
                    owners = Owners::from_records(&facts.owned);
                    own.retain(|r| *r > revision);
                }
                Scope::Pbs(ids) => {
                    for id in ids {
                        covered.insert(id.clone(), revision);
                        view.running.remove(id);
                    }
                    view.running.extend(facts.running().cloned());
                    for id in ids {
                        owners.forget_pb(id);
                        view.waiting.remove(id);
                    }
                    view.waiting.extend(waiting);
                    for (pb, d) in &facts.owned {
                        owners.insert(pb, d);
                    }
                }
            }
            // Each decision concerns its own keys and re-checks its premise: a few at once,
            // so a full pass with thousands to do (all PBs deleted) is not one round trip
            // after another.
            let results: Vec<(usize, Result<Option<i64>>)> = futures_util::stream::iter(forks.into_iter().enumerate())
                .map(|(i, snapshot)| {
                    let a = &actions[i];
                    async move { (i, execute(config, a, snapshot).await) }
                })
                .buffer_unordered(EXECUTE_AT_ONCE)
                .collect()
                .await;
            let mut all_done = true;
            for (i, result) in results {
                let a = &actions[i];
                match result {
                    Ok(Some(written)) => {
                        own.insert(written);
                        // No pass looks again after a targeted one: what it changed of the
                        // running set is noted here (a workflow's own state reports then
                        // wake nothing, as after a full pass).
                        match a {
                            Action::Deploy { pb_id, .. } => {
                                view.running.insert(pb_id.clone());
                            }
                            Action::Retire { pb_id, deploy_id } | Action::DeleteOwned { pb_id, deploy_id }
                                if *deploy_id == workflow_deploy_id(pb_id) =>
                            {
                                view.running.remove(pb_id);
                            }
                            _ => {}
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!("{a:?} failed: {e}");
                        all_done = false;
                    }
                }
            }
            // After a failed action, or the same decisions twice in a row (they changed
            // nothing), wait for a change or the resync rather than spin.
            let repeated = !actions.is_empty() && actions == last_actions;
            if repeated {
                tracing::warn!("the same {} decision(s) twice in a row changed nothing; waiting for a change", actions.len());
            }
            // A targeted pass whose actions all went through needs no confirming pass: its
            // own writes are known by revision, and any other change since its snapshot
            // (one that made a premise fail included) comes on the watch. Retiring a
            // deployment is the one decision whose outcome calls for another (failing the PB).
            let confirmed = matches!(scope, Scope::Pbs(_)) && !actions.iter().any(|a| matches!(a, Action::Retire { .. }));
            let settled = actions.is_empty() || !all_done || repeated || confirmed;
            last_actions = actions;
            Ok(settled)
        }
        .await;
        drop(work);
        if *stop.borrow() {
            break;
        }
        match outcome {
            // Acted: look again at once at the same PBs (our own writes need no watch).
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                tracing::warn!("controller pass failed: {e}; starting over in 1 s");
                watch = None;
                scope = Scope::All;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        if watch.is_none() {
            // From just after the full pass's snapshot: nothing since is missed.
            match config.db().backend().watch_many(&watched_ranges(), Some(view.revision + 1)).await {
                Ok(w) => watch = Some(w),
                Err(e) => tracing::warn!("cannot watch the configuration DB ({e}); next pass in 1 s"),
            }
        }
        let wait = if watch.is_some() { s.resync } else { Duration::from_secs(1) };
        scope = tokio::select! {
            woken = next_changes(&mut watch, &view, &covered, &mut owners, &mut own, relevant) => match woken {
                Ok(ids) if ids.len() <= MAX_TARGETED => Scope::Pbs(ids),
                Ok(_) => Scope::All,
                Err(e) => {
                    tracing::warn!("{e}; full pass and a new watch");
                    watch = None;
                    Scope::All
                }
            },
            _ = tokio::time::sleep(wait) => {
                tracing::debug!("periodic full pass");
                Scope::All
            }
            _ = stop.changed() => Scope::All,
        };
        last_actions.clear();
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!("Asked to terminate");
    Ok(())
}

/// The PB a change (of the raw key `key`) concerns, if any: `/pb/<id>[/..]`,
/// `/ownership/<id>/..`, `/deploy/<id>-workflow`, or a deployment `owners` knows.
fn pb_of(key: &str, owners: &Owners) -> Option<String> {
    let logical = path::untag(key)?;
    if let Some(rest) = logical.strip_prefix(keys::PB_DIR) {
        return Some(rest.split('/').next().unwrap_or(rest).to_string());
    }
    if let Some(rest) = logical.strip_prefix(keys::OWNERSHIP_DIR) {
        return rest.split_once('/').map(|(pb, _)| pb.to_string());
    }
    let deploy_id = logical.strip_prefix(keys::DEPLOY_DIR)?;
    owners.owner(deploy_id).cloned().or_else(|| deploy_id.strip_suffix("-workflow").map(str::to_string))
}

/// Wait for changes that `relevant` says can alter a decision and that no pass has seen yet
/// (after the last full pass, and after the targeted pass that last looked at their PB), and
/// return the PBs they concern; a burst arriving together is taken as one. A change to a
/// deployment no PB owns concerns no decision. Ownership records seen are noted in `owners`.
async fn next_changes(
    watch: &mut Option<WatchStream>,
    view: &View,
    covered: &HashMap<String, i64>,
    owners: &mut Owners,
    own: &mut BTreeSet<i64>,
    relevant: fn(&View, &str) -> bool,
) -> Result<BTreeSet<String>> {
    let Some(stream) = watch.as_mut() else { return std::future::pending().await };
    let mut ids = BTreeSet::new();
    let mut take = |batch: Vec<Event>, ids: &mut BTreeSet<String>| {
        for e in batch {
            if let Some((pb, d)) = path::untag(&e.kv.key)
                .and_then(|k| k.strip_prefix(&format!("{}/", sdp_config::ownership::OWNERSHIP)))
                .and_then(|r| r.split_once('/'))
            {
                if e.kind == sdp_config::backend::EventKind::Put {
                    owners.insert(pb, d);
                }
            }
            // Events come in revision order: own commits older than this one will not be seen.
            if own.first().is_some_and(|r| *r < e.kv.mod_revision) {
                *own = own.split_off(&e.kv.mod_revision);
            }
            if own.contains(&e.kv.mod_revision) || e.kv.mod_revision <= view.revision || !relevant(view, &e.kv.key) {
                continue;
            }
            if let Some(pb) = pb_of(&e.kv.key, owners) {
                // A batch script waiting on this PB: its dependency moved on.
                ids.extend(view.dependents(&pb).cloned());
                if covered.get(&pb).is_none_or(|seen| e.kv.mod_revision > *seen) {
                    ids.insert(pb);
                }
            }
        }
    };
    loop {
        match stream.next().await {
            Some(batch) => take(batch?, &mut ids),
            None => return Err("the watch of the configuration DB ended".into()),
        }
        if !ids.is_empty() {
            // What arrives right behind it is the same burst.
            while let Ok(Some(batch)) = tokio::time::timeout(Duration::from_millis(2), stream.next()).await {
                take(batch?, &mut ids);
            }
            return Ok(ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: DeployMode) -> Settings {
        Settings {
            mode,
            definitions: Definitions::parse(definitions::BUILTIN).unwrap(),
            config_host: "H".into(),
            helm_namespace: "sdp".into(),
            sdp_exe: "/bin/sdp".into(),
            resync: DEFAULT_RESYNC,
        }
    }

    async fn decide(config: &Config, s: &Settings) -> Vec<Action> {
        let mut txn = config.txn();
        let (a, _) = pass(&mut txn, s).await.unwrap();
        assert!(txn.commit().await.unwrap());
        a
    }

    async fn converge(config: &Config, s: &Settings) {
        for _ in 0..5 {
            let actions = decide(config, s).await;
            if actions.is_empty() {
                return;
            }
            for a in &actions {
                execute(config, a, None).await.unwrap();
            }
        }
        panic!("no convergence");
    }

    async fn add_pb(config: &Config, id: &str, wf: &str) {
        let (kind, rest) = wf.split_once(':').unwrap();
        let (wid, ver) = rest.split_once(':').unwrap();
        let pb = sdp_config::ProcessingBlock::new(id, Value::Null, sdp_config::Workflow::new(kind, wid, ver)).unwrap();
        let mut txn = config.txn();
        loop {
            txn.create_processing_block(&pb).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
    }

    /// An execution block's PBs (script layout): the real-time one deploys at once, the
    /// batch one when the PB it depends on has FINISHED; a failed dependency fails it.
    #[tokio::test]
    async fn batch_scripts_wait_for_their_dependencies() {
        let config = Config::memory();
        let s = settings(DeployMode::Helm);
        let rt = sdp_config::ProcessingBlock::for_script(
            "pb-rt",
            "eb-1",
            sdp_config::Workflow::new("realtime", "vis_receive", "0.1.0"),
            json!({}),
            vec![],
        )
        .unwrap();
        let dep = |id: &str| vec![sdp_config::Dependency { pb_id: id.into(), kind: vec!["visibilities".into()] }];
        let b = sdp_config::ProcessingBlock::for_script(
            "pb-b",
            "eb-1",
            sdp_config::Workflow::new("batch", "testdask", "0.1.0"),
            json!({}),
            dep("pb-rt"),
        )
        .unwrap();
        let b2 = sdp_config::ProcessingBlock::for_script(
            "pb-b2",
            "eb-1",
            sdp_config::Workflow::new("batch", "testdask", "0.1.0"),
            json!({}),
            dep("pb-gone"),
        )
        .unwrap();
        let mut txn = config.txn();
        loop {
            txn.create_execution_block(&json!({"eb_id": "eb-1", "scan_types": []}), &[rt.clone(), b.clone(), b2.clone()]).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        converge(&config, &s).await;
        let db = config.db();
        let wf = |v: Option<String>| Deployment::from_json(&v.unwrap()).unwrap().args["values"]["wf_image"].as_str().unwrap().to_string();
        assert!(wf(db.get("/deploy/pb-rt-workflow", None).await.unwrap().0).ends_with("workflow-vis-receive:0.1.0"));
        assert!(db.get("/deploy/pb-b-workflow", None).await.unwrap().0.is_none(), "waits for pb-rt");
        let (st, _) = db.get("/pb/pb-b2/state", None).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&st.unwrap()).unwrap()["reason"], "Dependency pb-gone does not exist");
        let mut txn = config.txn();
        loop {
            txn.create_processing_block_state("pb-rt", &json!({"status": "FINISHED"})).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        converge(&config, &s).await;
        assert!(wf(db.get("/deploy/pb-b-workflow", None).await.unwrap().0).ends_with("workflow-testdask:0.1.0"));
        // stable: the batch deployment is kept (not retired as "not realtime")
        assert!(decide(&config, &s).await.is_empty());
    }

    /// The running controller starts a batch script as soon as its dependency reports
    /// FINISHED, woken by that state change (no periodic full pass to help).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_script_starts_when_its_dependency_finishes() {
        let config = std::sync::Arc::new(Config::memory());
        let mut s = settings(DeployMode::Process);
        s.resync = Duration::from_secs(3600);
        let (stop, task) = spawn_controller(&config, s, wakes);
        tokio::time::sleep(Duration::from_millis(100)).await; // the first full pass is over
        let rt = sdp_config::ProcessingBlock::for_script("w-rt", "eb-w", sdp_config::Workflow::new("realtime", "vis_receive", "0.1.0"), json!({}), vec![])
            .unwrap();
        let dep = vec![sdp_config::Dependency { pb_id: "w-rt".into(), kind: vec!["visibilities".into()] }];
        let b = sdp_config::ProcessingBlock::for_script("w-b", "eb-w", sdp_config::Workflow::new("batch", "testdask", "0.1.0"), json!({}), dep)
            .unwrap();
        let mut txn = config.txn();
        loop {
            txn.create_execution_block(&json!({"eb_id": "eb-w", "scan_types": []}), &[rt.clone(), b.clone()]).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        eventually_deployed(&config, &["w-rt".to_string()]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!deployed(&config, &["w-b".to_string()]).await, "waits for w-rt");
        let mut txn = config.txn();
        loop {
            txn.create_processing_block_state("w-rt", &json!({"status": "FINISHED"})).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        eventually_deployed(&config, &["w-b".to_string()]).await;
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn deploys_fails_once_and_cascades_on_memory() {
        let config = Config::memory();
        let s = settings(DeployMode::Helm);
        add_pb(&config, "realtime-20191121-0000", "realtime:testdask:0.1.0").await;
        add_pb(&config, "xyz", "realtime:vis_receive:0.1.0").await;
        add_pb(&config, "realtime-20191121-0001", "realtime:nonexistent:0.1.0").await;
        converge(&config, &s).await;
        let db = config.db();
        let (v, _) = db.get("/deploy/realtime-20191121-0000-workflow", None).await.unwrap();
        let d = Deployment::from_json(&v.unwrap()).unwrap();
        assert_eq!(d.args["values"]["wf_image"], "nexus.engageska-portugal.pt/sdp-prototype/workflow-testdask:0.1.0");
        assert!(db.get("/deploy/xyz-workflow", None).await.unwrap().0.is_some());
        let (st, r) = db.get("/pb/realtime-20191121-0001/state", None).await.unwrap();
        let st: Value = serde_json::from_str(&st.unwrap()).unwrap();
        assert_eq!(st["status"], "FAILED");
        assert!(st["reason"].as_str().unwrap().contains("nonexistent"));
        // Stable: nothing more to do, the failure is not rewritten.
        assert!(decide(&config, &s).await.is_empty());
        assert_eq!(db.get("/pb/realtime-20191121-0001/state", None).await.unwrap().1.mod_revision, r.mod_revision);
        // A workflow-owned engine deployment goes with its PB; an unowned one stays.
        let mut txn = config.txn();
        loop {
            let d = Deployment::new("xyz-dask", "helm", json!({"chart": "stable/dask"})).unwrap();
            txn.put_owned_deployment("xyz", &d, "test").await.unwrap();
            txn.create_deployment(&Deployment::new("xyz-mine", "helm", json!({"chart": "c"})).unwrap()).await.unwrap();
            if txn.commit().await.unwrap() {
                break;
            }
        }
        db.delete("/pb/xyz", Default::default()).await.unwrap();
        converge(&config, &s).await;
        let left = db.list_keys("/deploy/", 0).await.unwrap();
        assert_eq!(left, vec!["/deploy/realtime-20191121-0000-workflow", "/deploy/xyz-mine"]);
        assert_eq!(
            db.list_keys("/ownership/", 1).await.unwrap(),
            vec!["/ownership/realtime-20191121-0000/realtime-20191121-0000-workflow"]
        );
    }

    #[tokio::test]
    async fn a_reused_pb_id_gets_the_right_workflow_or_fails() {
        let config = Config::memory();
        let s = settings(DeployMode::Process);
        add_pb(&config, "p-1", "realtime:testdask:0.1.0").await;
        converge(&config, &s).await;
        let db = config.db();
        let wf = |v: Option<String>| Deployment::from_json(&v.unwrap()).unwrap().args["command"][2].clone();
        assert_eq!(wf(db.get("/deploy/p-1-workflow", None).await.unwrap().0), "testdask");
        // Deleted and re-created between two passes, with another workflow.
        db.delete("/pb/p-1", Default::default()).await.unwrap();
        add_pb(&config, "p-1", "realtime:teststate:0.2.7").await;
        converge(&config, &s).await;
        assert_eq!(wf(db.get("/deploy/p-1-workflow", None).await.unwrap().0), "teststate");
        // ... and with one that cannot be deployed.
        db.delete("/pb/p-1", Default::default()).await.unwrap();
        add_pb(&config, "p-1", "realtime:nope:1").await;
        converge(&config, &s).await;
        assert!(db.get("/deploy/p-1-workflow", None).await.unwrap().0.is_none());
        let st: Value = serde_json::from_str(&db.get("/pb/p-1/state", None).await.unwrap().0.unwrap()).unwrap();
        assert_eq!(st, fail_state("Workflow type = realtime ID = nope version = 1 is not supported"));
        assert!(db.list_keys("/ownership/", 1).await.unwrap().is_empty());
    }

    /// Run the controller loop on `config` in the background; stops when the sender drops.
    fn spawn_controller(
        config: &std::sync::Arc<Config>,
        s: Settings,
        relevant: fn(&View, &str) -> bool,
    ) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Result<()>>) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let config = config.clone();
        (tx, tokio::spawn(async move { control(&config, &s, relevant, rx, None).await }))
    }

    async fn deployed(config: &Config, pb_ids: &[String]) -> bool {
        for pb in pb_ids {
            if config.db().get(&format!("/deploy/{pb}-workflow"), None).await.unwrap().0.is_none() {
                return false;
            }
        }
        true
    }

    async fn eventually_deployed(config: &Config, pb_ids: &[String]) {
        for _ in 0..200 {
            if deployed(config, pb_ids).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not all of {pb_ids:?} were deployed within 10 s");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pbs_created_while_the_controller_is_busy_are_all_deployed() {
        let config = std::sync::Arc::new(Config::memory());
        let (stop, task) = spawn_controller(&config, settings(DeployMode::Process), wakes);
        // A burst from several writers: many land while a pass or its actions are running.
        let ids: Vec<String> = (0..40).map(|i| format!("burst-{i}")).collect();
        let writers: Vec<_> = ids
            .chunks(10)
            .map(|chunk| {
                let (config, chunk) = (config.clone(), chunk.to_vec());
                tokio::spawn(async move {
                    for id in &chunk {
                        add_pb(&config, id, "realtime:testdask:0.1.0").await;
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        eventually_deployed(&config, &ids).await;
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
        // And it stopped converged: a fresh look finds nothing to do.
        assert!(decide(&config, &settings(DeployMode::Process)).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missed_watch_event_is_covered_by_the_periodic_full_pass() {
        let config = std::sync::Arc::new(Config::memory());
        let mut s = settings(DeployMode::Process);
        s.resync = Duration::from_millis(300);
        // A watch that never reports anything relevant: only the resync can find the PB.
        let (stop, task) = spawn_controller(&config, s, |_, _| false);
        tokio::time::sleep(Duration::from_millis(100)).await; // the controller is asleep by now
        add_pb(&config, "missed-1", "realtime:testdask:0.1.0").await;
        eventually_deployed(&config, &["missed-1".to_string()]).await;
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn only_changes_that_can_alter_a_decision_wake_the_controller() {
        let view = View {
            revision: 7,
            running: ["p-run".to_string(), "p-dep".to_string()].into_iter().collect(),
            waiting: [("p-batch".to_string(), vec!["p-dep".to_string()])].into_iter().collect(),
        };
        let wake = |logical: &str| wakes(&view, &path::tag(logical));
        assert!(wake("/pb/p-new"), "a PB created, changed or deleted");
        assert!(wake("/pb/p-run"));
        assert!(!wake("/pb/p-run/state"), "a running workflow reporting its state");
        assert!(!wake("/pb/p-run/owner"), "a workflow claiming its PB");
        assert!(!wake("/pb/p-other/owner"));
        assert!(wake("/pb/p-failed/state"), "the state of a PB without a running workflow (failed, orphaned)");
        assert!(wake("/pb/p-dep/state"), "the state of a running PB a batch script waits for");
        assert!(wake("/deploy/p-run-workflow"));
        assert!(wake("/ownership/p-run/p-run-dask"));
        assert!(!wakes(&view, "not-depth-tagged"));
    }

    #[test]
    fn changes_are_traced_to_their_pb() {
        let owners = Owners::from_records(&[("p-1".to_string(), "p-1-dask".to_string())]);
        let pb = |logical: &str| pb_of(&path::tag(logical), &owners);
        assert_eq!(pb("/pb/p-1").as_deref(), Some("p-1"));
        assert_eq!(pb("/pb/p-1/state").as_deref(), Some("p-1"));
        assert_eq!(pb("/ownership/p-2/p-2-dask").as_deref(), Some("p-2"));
        assert_eq!(pb("/deploy/p-3-workflow").as_deref(), Some("p-3"));
        assert_eq!(pb("/deploy/p-1-dask").as_deref(), Some("p-1"), "an engine, through its owner");
        assert_eq!(pb("/deploy/someone-elses"), None, "a deployment nobody owns concerns no PB");
        let mut owners = owners;
        owners.insert("p-2", "p-1-dask");
        assert_eq!(pb_of(&path::tag("/deploy/p-1-dask"), &owners).as_deref(), Some("p-2"), "owned by another PB now");
        owners.forget_pb("p-1");
        assert_eq!(owners.owner("p-1-dask").map(String::as_str), Some("p-2"), "forgetting p-1 leaves p-2's");
        owners.forget_pb("p-2");
        assert_eq!(owners.owner("p-1-dask"), None);
    }

    /// With no periodic pass to help, changes alone drive targeted passes: a PB deleted takes
    /// its deployments along, one created is deployed, one with an unknown workflow fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn targeted_passes_follow_creation_and_deletion() {
        let config = std::sync::Arc::new(Config::memory());
        let mut s = settings(DeployMode::Process);
        s.resync = Duration::from_secs(3600);
        add_pb(&config, "old-1", "realtime:testdask:0.1.0").await;
        let (stop, task) = spawn_controller(&config, s, wakes);
        eventually_deployed(&config, &["old-1".to_string()]).await;
        add_pb(&config, "new-1", "realtime:testdask:0.1.0").await;
        add_pb(&config, "bad-1", "realtime:nosuch:0.1.0").await;
        eventually_deployed(&config, &["new-1".to_string()]).await;
        config.db().delete("/pb/old-1", sdp_config::DeleteOptions { recursive: true, ..Default::default() }).await.unwrap();
        let db = config.db();
        for _ in 0..200 {
            let gone = db.get("/deploy/old-1-workflow", None).await.unwrap().0.is_none();
            let failed = db.get("/pb/bad-1/state", None).await.unwrap().0.is_some_and(|v| v.contains("FAILED"));
            if gone && failed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(db.get("/deploy/old-1-workflow", None).await.unwrap().0.is_none(), "deleted with its PB");
        assert!(db.list_keys("/ownership/old-1/", 0).await.unwrap().is_empty());
        assert!(db.get("/pb/bad-1/state", None).await.unwrap().0.unwrap().contains("FAILED"));
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
        assert!(decide(&config, &settings(DeployMode::Process)).await.is_empty(), "converged");
    }

    /// A targeted pass settles without looking again, except after retiring a deployment: a PB
    /// changed in place to a workflow that cannot be deployed loses its deployment and is then
    /// failed, with only the watch to drive the passes (the retire is the controller's own write).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retired_deployment_is_followed_by_failing_its_pb() {
        let config = std::sync::Arc::new(Config::memory());
        let mut s = settings(DeployMode::Process);
        s.resync = Duration::from_secs(3600);
        let (stop, task) = spawn_controller(&config, s, wakes);
        tokio::time::sleep(Duration::from_millis(100)).await; // the first full pass is over
        add_pb(&config, "r-1", "realtime:testdask:0.1.0").await;
        eventually_deployed(&config, &["r-1".to_string()]).await;
        let pb = sdp_config::ProcessingBlock::new("r-1", Value::Null, sdp_config::Workflow::new("realtime", "nosuch", "1")).unwrap();
        let db = config.db();
        db.update("/pb/r-1", &pb.to_json(), None).await.unwrap();
        let failed = || async { db.get("/pb/r-1/state", None).await.unwrap().0.is_some_and(|v| v.contains("FAILED")) };
        for _ in 0..200 {
            if failed().await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(failed().await, "the PB is failed once its deployment is retired");
        assert!(db.get("/deploy/r-1-workflow", None).await.unwrap().0.is_none(), "retired");
        stop.send(true).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn process_mode_runs_this_binary() {
        let s = settings(DeployMode::Process);
        let d = s.workflow_deployment("p-1", "testdask", "img").unwrap();
        assert_eq!(d.kind, "process");
        assert_eq!(d.args["command"], json!(["/bin/sdp", "workflow", "testdask", "p-1"]));
        assert_eq!(d.args["env"]["SDP_DEPLOY_MODE"], "process");
    }
}
