//! In-memory backend with etcd semantics: a multi-version store (reads at any past
//! revision, hence real snapshot isolation for transactions), compare-and-swap
//! transactions with etcd's compare rules, watches with replay from a start
//! revision, and leases that expire on their own and take their keys with them.
//!
//! Clones share one store, like several clients of one etcd.

use crate::backend::*;
use crate::error::{Error, Result};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone)]
struct Rec {
    /// `None`: deleted at `mod_revision`.
    value: Option<String>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
    lease: i64,
}

struct Watcher {
    id: u64,
    range: KeyRange,
    tx: mpsc::UnboundedSender<Result<Vec<Event>>>,
}

struct LeaseState {
    ttl: i64,
    deadline: Instant,
    keys: BTreeSet<String>,
}

/// History kept for reads at past revisions and watches from past revisions; older
/// revisions are compacted away (like etcd's auto-compaction) so memory stays bounded.
const HISTORY: i64 = 10_000;

struct Inner {
    revision: i64,
    /// Revisions at or below this were compacted.
    compacted: i64,
    keys: BTreeMap<String, Vec<Rec>>,
    /// Every committed change, for watches that start in the past.
    log: Vec<(i64, Vec<Event>)>,
    watchers: Vec<Watcher>,
    next_watcher: u64,
    leases: HashMap<i64, LeaseState>,
    next_lease: i64,
}

/// The in-memory store. `Clone` gives another handle on the same data.
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Mutex<Inner>>,
    max_txn_ops: usize,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// An empty store (revision 1, like a fresh etcd).
    pub fn new() -> Self {
        MemoryBackend {
            inner: Arc::new(Mutex::new(Inner {
                revision: 1,
                compacted: 0,
                keys: BTreeMap::new(),
                log: Vec::new(),
                watchers: Vec::new(),
                next_watcher: 1,
                leases: HashMap::new(),
                next_lease: 0x5d9_0000,
            })),
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        }
    }

    /// Same store, different per-transaction operation limit (etcd `--max-txn-ops`).
    pub fn with_max_txn_ops(mut self, n: usize) -> Self {
        self.max_txn_ops = n;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn rec_at(&self, key: &str, revision: i64) -> Option<&Rec> {
        let recs = self.keys.get(key)?;
        let rec = recs.iter().rev().find(|r| r.mod_revision <= revision)?;
        rec.value.as_ref()?;
        Some(rec)
    }

    fn live(&self, key: &str) -> Option<&Rec> {
        self.rec_at(key, self.revision)
    }

    fn keys_in(&self, range: &KeyRange) -> Vec<String> {
        match range {
            KeyRange::Key(k) => {
                if self.keys.contains_key(k) {
                    vec![k.clone()]
                } else {
                    vec![]
                }
            }
            KeyRange::Prefix(p) => {
                self.keys.range::<String, _>(p.clone()..).take_while(|(k, _)| k.starts_with(p.as_str())).map(|(k, _)| k.clone()).collect()
            }
        }
    }

    fn compare_holds(&self, c: &Compare) -> bool {
        let live: Vec<&Rec> = self.keys_in(&c.range).iter().filter_map(|k| self.live(k)).collect();
        if live.is_empty() {
            return c.holds(0, 0, 0);
        }
        live.iter().all(|r| c.holds(r.version, r.create_revision, r.mod_revision))
    }

    /// Apply puts and deletes at `revision` (already incremented); returns the events.
    fn apply(&mut self, ops: Vec<Op>, revision: i64) -> Vec<Event> {
        let mut events = Vec::new();
        for op in ops {
            match op {
                Op::Put { key, value, lease } => {
                    let lease = lease.unwrap_or(0);
                    let prev = self.live(&key).cloned();
                    if let Some(p) = &prev {
                        if p.lease != 0 && p.lease != lease {
                            if let Some(l) = self.leases.get_mut(&p.lease) {
                                l.keys.remove(&key);
                            }
                        }
                    }
                    if lease != 0 {
                        if let Some(l) = self.leases.get_mut(&lease) {
                            l.keys.insert(key.clone());
                        }
                    }
                    let rec = Rec {
                        value: Some(value.clone()),
                        create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                        mod_revision: revision,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                        lease,
                    };
                    events.push(Event {
                        kind: EventKind::Put,
                        kv: KeyValue {
                            key: key.clone(),
                            value,
                            create_revision: rec.create_revision,
                            mod_revision: revision,
                            version: rec.version,
                            lease,
                        },
                    });
                    self.keys.entry(key).or_default().push(rec);
                }
                Op::Delete(range) => {
                    for key in self.keys_in(&range) {
                        let Some(prev) = self.live(&key).cloned() else { continue };
                        if prev.lease != 0 {
                            if let Some(l) = self.leases.get_mut(&prev.lease) {
                                l.keys.remove(&key);
                            }
                        }
                        self.keys.entry(key.clone()).or_default().push(Rec {
                            value: None,
                            create_revision: 0,
                            mod_revision: revision,
                            version: 0,
                            lease: 0,
                        });
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv: KeyValue { key, value: String::new(), create_revision: 0, mod_revision: revision, version: 0, lease: 0 },
                        });
                    }
                }
            }
        }
        events
    }

    /// Run ops as one revision; log and publish their events.
    fn commit(&mut self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let revision = self.revision + 1;
        let events = self.apply(ops, revision);
        if events.is_empty() {
            return;
        }
        self.revision = revision;
        self.watchers.retain(|w| {
            let mine: Vec<Event> = events.iter().filter(|e| w.range.contains(&e.kv.key)).cloned().collect();
            mine.is_empty() || w.tx.send(Ok(mine)).is_ok()
        });
        self.log.push((revision, events));
        if revision - self.compacted > HISTORY + 1000 {
            self.compact(revision - HISTORY);
        }
    }

    /// Forget history at or below `rev` (the state as of `rev` stays readable).
    fn compact(&mut self, rev: i64) {
        self.log.retain(|(r, _)| *r > rev);
        self.keys.retain(|_, recs| {
            if let Some(i) = recs.iter().rposition(|r| r.mod_revision <= rev) {
                recs.drain(..i);
                if recs.len() == 1 && recs[0].value.is_none() {
                    return false;
                }
            }
            true
        });
        self.compacted = rev;
    }

    fn revoke(&mut self, id: i64) -> bool {
        let Some(lease) = self.leases.remove(&id) else { return false };
        let ops = lease.keys.into_iter().map(|k| Op::Delete(KeyRange::Key(k))).collect();
        self.commit(ops);
        true
    }
}

struct WatchGuard {
    inner: Weak<Mutex<Inner>>,
    id: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
            g.watchers.retain(|w| w.id != self.id);
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }

    async fn range(&self, range: &KeyRange, revision: Option<i64>, keys_only: bool) -> Result<(Vec<KeyValue>, i64)> {
        let g = self.lock();
        let rev = revision.unwrap_or(g.revision);
        if rev < g.compacted {
            return Err(Error::Connection(format!(
                "memory backend: required revision {rev} has been compacted (history starts at {})",
                g.compacted
            )));
        }
        if rev > g.revision {
            return Err(Error::Connection(format!(
                "memory backend: required revision {rev} is a future revision (current {})",
                g.revision
            )));
        }
        let kvs = g
            .keys_in(range)
            .into_iter()
            .filter_map(|k| {
                let r = g.rec_at(&k, rev)?;
                Some(KeyValue {
                    value: if keys_only { String::new() } else { r.value.clone().unwrap_or_default() },
                    key: k,
                    create_revision: r.create_revision,
                    mod_revision: r.mod_revision,
                    version: r.version,
                    lease: r.lease,
                })
            })
            .collect();
        Ok((kvs, g.revision))
    }

    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResponse> {
        if compares.len() > self.max_txn_ops || ops.len() > self.max_txn_ops {
            return Err(Error::Connection("etcdserver: too many operations in txn request".into()));
        }
        let mut g = self.lock();
        for op in &ops {
            if let Op::Put { lease: Some(l), .. } = op {
                if *l != 0 && !g.leases.contains_key(l) {
                    return Err(Error::Connection("etcdserver: requested lease not found".into()));
                }
            }
        }
        if !compares.iter().all(|c| g.compare_holds(c)) {
            return Ok(TxnResponse { succeeded: false, revision: g.revision });
        }
        g.commit(ops);
        Ok(TxnResponse { succeeded: true, revision: g.revision })
    }

    async fn watch(&self, range: &KeyRange, start_revision: Option<i64>) -> Result<WatchStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut g = self.lock();
        if let Some(start) = start_revision {
            if start <= g.compacted {
                return Err(Error::Connection(format!(
                    "memory backend: watch from revision {start}: history compacted up to {}",
                    g.compacted
                )));
            }
            for (rev, events) in &g.log {
                if *rev < start {
                    continue;
                }
                let mine: Vec<Event> = events.iter().filter(|e| range.contains(&e.kv.key)).cloned().collect();
                if !mine.is_empty() {
                    let _ = tx.send(Ok(mine));
                }
            }
        }
        let id = g.next_watcher;
        g.next_watcher += 1;
        g.watchers.push(Watcher { id, range: range.clone(), tx });
        let guard = WatchGuard { inner: Arc::downgrade(&self.inner), id };
        Ok(WatchStream::new(rx, Some(Box::new(guard))))
    }

    async fn lease_grant(&self, ttl: i64) -> Result<i64> {
        let ttl = ttl.max(1);
        let id = {
            let mut g = self.lock();
            g.next_lease += 1;
            let id = g.next_lease;
            g.leases.insert(id, LeaseState { ttl, deadline: Instant::now() + Duration::from_secs(ttl as u64), keys: BTreeSet::new() });
            id
        };
        // Reaper: expires the lease (and deletes its keys) once its deadline passes
        // without a keep-alive.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let Some(inner) = weak.upgrade() else { return };
                    let mut g = inner.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(l) = g.leases.get(&id) else { return };
                    if l.deadline <= Instant::now() {
                        g.revoke(id);
                        return;
                    }
                    l.deadline
                };
                tokio::time::sleep_until(deadline).await;
            }
        });
        Ok(id)
    }

    async fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        let mut g = self.lock();
        match g.leases.get_mut(&id) {
            Some(l) => {
                l.deadline = Instant::now() + Duration::from_secs(l.ttl as u64);
                Ok(l.ttl)
            }
            None => Ok(0),
        }
    }

    async fn lease_revoke(&self, id: i64) -> Result<()> {
        let mut g = self.lock();
        if g.revoke(id) {
            Ok(())
        } else {
            Err(Error::Connection("etcdserver: requested lease not found".into()))
        }
    }

    async fn lease_time_to_live(&self, id: i64) -> Result<i64> {
        let g = self.lock();
        Ok(match g.leases.get(&id) {
            Some(l) => {
                let left = l.deadline.saturating_duration_since(Instant::now());
                left.as_secs_f64().ceil() as i64
            }
            None => -1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn history_is_compacted_but_state_kept() {
        let m = MemoryBackend::new();
        let put = |k: &str, v: &str| Op::Put { key: k.into(), value: v.into(), lease: None };
        m.txn(vec![], vec![put("1/keep", "x")]).await.unwrap();
        m.txn(vec![], vec![put("1/gone", "x")]).await.unwrap();
        m.txn(vec![], vec![Op::Delete(KeyRange::Key("1/gone".into()))]).await.unwrap();
        for i in 0..(HISTORY + 1500) {
            m.txn(vec![], vec![put("1/churn", &i.to_string())]).await.unwrap();
        }
        let compacted = {
            let g = m.lock();
            assert!(g.log.len() as i64 <= HISTORY + 1000);
            assert!(g.keys["1/churn"].len() as i64 <= HISTORY + 1000);
            assert!(!g.keys.contains_key("1/gone"));
            g.compacted
        };
        let (kvs, _) = m.range(&KeyRange::Prefix("1/".into()), None, false).await.unwrap();
        assert_eq!(kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), vec!["1/churn", "1/keep"]);
        assert!(m.range(&KeyRange::Key("1/keep".into()), Some(compacted - 1), false).await.is_err());
        assert_eq!(m.range(&KeyRange::Key("1/keep".into()), Some(compacted), false).await.unwrap().0.len(), 1);
        assert!(m.watch(&KeyRange::Key("1/keep".into()), Some(compacted)).await.is_err());
    }
}
