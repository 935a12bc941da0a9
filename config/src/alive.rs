//! Liveness of the long-running components (processing controller, deployers, workflow
//! processes, device servers), kept in the configuration database.
//!
//! A process that is merely running is not necessarily working: it may be stuck on a lock,
//! or its runtime may be blocked. So each component holds two keys:
//!
//! * `/component/<name>/alive`, on a lease of its own (TTL [`DEFAULT_TTL`] s) that a
//!   background task keeps alive — only while the component is not stuck. The key vanishes
//!   when the process stops (the lease is revoked), dies (the lease expires) or hangs (the
//!   keeper stops refreshing it). The later ska-sdp-config calls this the component's
//!   "alive" key; [`Txn::is_alive`] reads it.
//! * `/component/<name>`, a plain record (`kind`, `command`, `hostname`, `pid`, `started`,
//!   `last_seen`, and `stopped` after a clean stop) refreshed every TTL, so a reader can say
//!   how long ago a missing component was last seen. Times are Unix seconds.
//!
//! "Stuck" is measured, not guessed: the component marks each piece of work with
//! [`Liveness::working`] (a pass of the controller, a deployment being made real, a probe of
//! a device's lock); a guard held longer than the stall limit stops the keep-alive until the
//! work ends. Waiting for a change is not work, so an idle component stays alive without
//! waking up. A lost lease (etcd down longer than the TTL, or revoked) is replaced by a new
//! one as soon as etcd answers again.

use crate::backend::{Backend, KeyRange, Op};
use crate::error::Result;
use crate::json;
use crate::path;
use crate::txn::Txn;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Root of the component records.
pub const COMPONENT: &str = "/component";

/// TTL of a liveness lease (seconds): a dead or hung component is missing this long after.
pub const DEFAULT_TTL: i64 = 5;

/// Work that takes longer than this counts as a hang.
pub const DEFAULT_STALL: Duration = Duration::from_secs(60);

/// Path of a component's record.
pub fn component_path(prefix: &str, name: &str) -> String {
    format!("{prefix}{COMPONENT}/{name}")
}

/// Path of a component's alive key (on its lease).
pub fn alive_path(prefix: &str, name: &str) -> String {
    format!("{}/alive", component_path(prefix, name))
}

/// A component name is one path segment: letters, digits, `-`, `_`, `.`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(crate::Error::Value(format!("Component name {name:?} not permissable: use letters, digits, '-', '_' and '.'")));
    }
    Ok(())
}

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Who a component is: what its record says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentInfo {
    /// Unique name, one path segment (`processing-controller`, `deployer-process`,
    /// `workflow-<pb_id>`, `SDPSubarray-1`).
    pub name: String,
    /// What it is: `controller`, `deployer`, `workflow`, `device-server`, ...
    pub kind: String,
}

impl ComponentInfo {
    pub fn new(name: &str, kind: &str) -> Self {
        ComponentInfo { name: name.to_string(), kind: kind.to_string() }
    }
}

/// What the database says about one component.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentStatus {
    pub name: String,
    pub kind: String,
    /// The alive key exists: the component is running and not stuck.
    pub alive: bool,
    /// When it was last seen working (Unix seconds), from its record.
    pub last_seen: Option<f64>,
    /// When it stopped cleanly, if it did (and has not started since).
    pub stopped: Option<f64>,
    /// The whole record (`command`, `hostname`, `pid`, `started`, ...).
    pub record: Value,
}

impl ComponentStatus {
    /// Seconds since it was last seen, by this machine's clock.
    pub fn seen_ago(&self) -> Option<f64> {
        self.last_seen.map(|t| (now() - t).max(0.0))
    }
}

/// Options of [`Liveness::start_with`].
#[derive(Debug, Clone, Copy)]
pub struct LivenessOptions {
    /// Lease TTL in seconds.
    pub ttl: i64,
    /// Work held longer than this stops the keep-alive.
    pub stall: Duration,
}

impl Default for LivenessOptions {
    fn default() -> Self {
        LivenessOptions { ttl: DEFAULT_TTL, stall: DEFAULT_STALL }
    }
}

struct Shared {
    /// Number of [`WorkGuard`]s alive, and when the oldest current stretch of work began
    /// (ms since `epoch`; meaningful while `busy > 0`).
    busy: AtomicUsize,
    busy_since_ms: AtomicU64,
    epoch: Instant,
    /// The alive key is in place (as far as the keeper knows).
    up: AtomicBool,
    /// The current lease, for [`Liveness::stop`].
    lease: Mutex<Option<i64>>,
}

impl Shared {
    fn stalled(&self, limit: Duration) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let since = Duration::from_millis(self.busy_since_ms.load(Ordering::SeqCst));
        let held = self.epoch.elapsed().saturating_sub(since);
        (held > limit).then_some(held)
    }
}

/// A component's liveness: keeps `/component/<name>/alive` while the component works.
/// Dropping it stops the keep-alive (the key expires after the TTL); [`Liveness::stop`]
/// removes it at once.
pub struct Liveness {
    info: ComponentInfo,
    prefix: String,
    backend: Arc<dyn Backend>,
    shared: Arc<Shared>,
    keeper: tokio::task::JoinHandle<()>,
}

/// One piece of work in progress (see [`Liveness::working`]).
pub struct WorkGuard {
    shared: Arc<Shared>,
}

impl Drop for WorkGuard {
    fn drop(&mut self) {
        self.shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Liveness {
    /// Announce `info` with the default options; see [`Liveness::start_with`].
    pub async fn start(cfg: &crate::Config, info: ComponentInfo) -> Result<Liveness> {
        Self::start_with(cfg, info, LivenessOptions::default()).await
    }

    /// Write the record and the alive key (returns once both are in place, or with the
    /// error of the first attempt), then keep them up in the background. Call inside a
    /// tokio runtime.
    pub async fn start_with(cfg: &crate::Config, info: ComponentInfo, opts: LivenessOptions) -> Result<Liveness> {
        check_name(&info.name)?;
        let backend = cfg.db().backend().clone();
        let prefix = cfg.prefix().to_string();
        let shared = Arc::new(Shared {
            busy: AtomicUsize::new(0),
            busy_since_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            up: AtomicBool::new(false),
            lease: Mutex::new(None),
        });
        let mut record = cfg.owner().clone();
        if !record.is_object() {
            record = json!({});
        }
        record["kind"] = json!(info.kind);
        record["started"] = json!(now());
        let keeper = Keeper { info: info.clone(), prefix: prefix.clone(), backend: backend.clone(), shared: shared.clone(), opts, record };
        let lease = keeper.establish().await?;
        let keeper = tokio::spawn(keeper.run(lease));
        Ok(Liveness { info, prefix, backend, shared, keeper })
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// Mark a piece of work: while the returned guard lives longer than the stall limit,
    /// the component counts as hung.
    pub fn working(&self) -> WorkGuard {
        if self.shared.busy.fetch_add(1, Ordering::SeqCst) == 0 {
            self.shared.busy_since_ms.store(self.shared.epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
        }
        WorkGuard { shared: self.shared.clone() }
    }

    /// Whether the alive key is in place, as far as this process knows.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Stop: revoke the lease (the alive key goes at once) and record the time.
    pub async fn stop(self) -> Result<()> {
        self.keeper.abort();
        let lease = self.shared.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(id) = lease {
            self.backend.lease_revoke(id).await?;
        }
        let key = path::tag(&component_path(&self.prefix, &self.info.name));
        let (kvs, _) = self.backend.range(&KeyRange::Key(key.clone()), None, false).await?;
        if let Some(mut rec) = kvs.first().and_then(|kv| serde_json::from_str::<Value>(&kv.value).ok()) {
            let t = now();
            rec["last_seen"] = json!(t);
            rec["stopped"] = json!(t);
            self.backend.txn(vec![], vec![Op::Put { key, value: json::dumps(&rec), lease: None }]).await?;
        }
        Ok(())
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

struct Keeper {
    info: ComponentInfo,
    prefix: String,
    backend: Arc<dyn Backend>,
    shared: Arc<Shared>,
    opts: LivenessOptions,
    record: Value,
}

impl Keeper {
    /// A new lease, then the record and the alive key on it in one transaction.
    async fn establish(&self) -> Result<i64> {
        let lease = self.backend.lease_grant(self.opts.ttl).await?;
        match self.write(lease, true).await {
            Ok(()) => {
                *self.shared.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
                self.shared.up.store(true, Ordering::SeqCst);
                Ok(lease)
            }
            Err(e) => {
                let _ = self.backend.lease_revoke(lease).await;
                Err(e)
            }
        }
    }

    /// Put the record (with `last_seen` now) and, with `alive`, the alive key on `lease`.
    async fn write(&self, lease: i64, alive: bool) -> Result<()> {
        let t = now();
        let mut rec = self.record.clone();
        rec["last_seen"] = json!(t);
        let mut ops =
            vec![Op::Put { key: path::tag(&component_path(&self.prefix, &self.info.name)), value: json::dumps(&rec), lease: None }];
        if alive {
            let v = json!({"pid": rec.get("pid").cloned().unwrap_or(Value::Null), "since": t});
            ops.push(Op::Put { key: path::tag(&alive_path(&self.prefix, &self.info.name)), value: json::dumps(&v), lease: Some(lease) });
        }
        self.backend.txn(vec![], ops).await?;
        Ok(())
    }

    async fn run(self, mut lease: i64) {
        let tick = Duration::from_millis((self.opts.ttl.max(1) as u64) * 1000 / 3);
        let record_every = Duration::from_secs(self.opts.ttl.max(1) as u64);
        let mut last_record = Instant::now();
        let mut lost = false;
        let mut warned_stall = false;
        loop {
            tokio::time::sleep(tick).await;
            if let Some(held) = self.shared.stalled(self.opts.stall) {
                // Hung: let the lease run out; the alive key goes with it.
                if !warned_stall {
                    tracing::warn!(
                        "{}: one piece of work has taken {:.0} s (limit {:.0} s): no longer reported alive",
                        self.info.name,
                        held.as_secs_f64(),
                        self.opts.stall.as_secs_f64()
                    );
                    warned_stall = true;
                }
                self.shared.up.store(false, Ordering::SeqCst);
                continue;
            }
            if warned_stall {
                tracing::info!("{}: working again", self.info.name);
                warned_stall = false;
            }
            if lost {
                match self.establish().await {
                    Ok(l) => {
                        tracing::info!("{}: alive again (new lease {l:x})", self.info.name);
                        lease = l;
                        lost = false;
                        last_record = Instant::now();
                    }
                    Err(e) => tracing::debug!("{}: cannot renew liveness yet: {e}", self.info.name),
                }
                continue;
            }
            match self.backend.lease_keep_alive(lease).await {
                Ok(0) => {
                    tracing::warn!("{}: liveness lease {lease:x} expired; renewing", self.info.name);
                    self.shared.up.store(false, Ordering::SeqCst);
                    lost = true;
                    continue;
                }
                Ok(_) => {
                    self.shared.up.store(true, Ordering::SeqCst);
                }
                Err(e) => {
                    tracing::debug!("{}: liveness keep-alive failed: {e}", self.info.name);
                    continue;
                }
            }
            if last_record.elapsed() >= record_every {
                // The alive key may have gone with a lease replaced on another path
                // (e.g. an etcd restored from backup): rewrite both.
                match self.write(lease, true).await {
                    Ok(()) => last_record = Instant::now(),
                    Err(e) => tracing::debug!("{}: cannot refresh the component record: {e}", self.info.name),
                }
            }
        }
    }
}

impl Txn {
    /// Is component `name` alive (its alive key exists)?
    pub async fn is_alive(&mut self, name: &str) -> Result<bool> {
        check_name(name)?;
        Ok(self.get(&alive_path(&self.prefix, name)).await?.is_some())
    }

    /// Every component that ever announced itself, sorted by name, with whether it is alive.
    pub async fn list_components(&mut self) -> Result<Vec<ComponentStatus>> {
        let base = format!("{}{COMPONENT}/", self.prefix);
        // records at depth 2 (`/component/x`), alive keys at depth 3 (`/component/x/alive`)
        let keys = self.list_keys_prefetch(&base, [0, 1]).await?;
        let mut out = Vec::new();
        for k in &keys {
            let Some(name) = k.strip_prefix(&base) else { continue };
            if name.contains('/') {
                continue;
            }
            let record: Value = self.get(k).await?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or(Value::Null);
            let alive = keys.contains(&format!("{k}/alive"));
            out.push(ComponentStatus {
                name: name.to_string(),
                kind: record["kind"].as_str().unwrap_or("").to_string(),
                alive,
                last_seen: record["last_seen"].as_f64(),
                stopped: record["stopped"].as_f64().filter(|_| !alive),
                record,
            });
        }
        Ok(out)
    }

    /// Forget a component (its record and alive key), e.g. one that was removed for good.
    pub async fn delete_component(&mut self, name: &str) -> Result<()> {
        check_name(name)?;
        self.delete(&component_path(&self.prefix, name), false, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_segment() {
        for ok in ["processing-controller", "SDPSubarray-1", "workflow-realtime-20261206-0000", "a.b_c"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "a/b", "a b", "x\n"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(alive_path("", "controller"), "/component/controller/alive");
        assert_eq!(component_path("/__t", "x"), "/__t/component/x");
    }
}
