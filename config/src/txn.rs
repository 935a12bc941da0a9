//! Transactions: software transactional memory over etcd, as in ska-sdp-config.
//!
//! ```no_run
//! # async fn demo(db: sdp_config::Db) -> sdp_config::Result<()> {
//! let mut txn = db.txn();
//! loop {
//!     // The body may run several times: keep it free of side effects other than txn calls.
//!     let n: i64 = txn.get("/counter").await?.map_or(0, |v| v.parse().unwrap_or(0));
//!     txn.update("/counter", &(n + 1).to_string()).await?;
//!     if txn.commit().await? {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! * The first read pins a revision; every later read of the attempt is served at it
//!   (snapshot isolation). Reads are memoised; writes are buffered and visible to
//!   later reads of the same attempt.
//! * `create` / `update` / `delete` check existence against that snapshot (plus the
//!   buffer) and fail at once with `Collision` / `Vanished`.
//! * [`Txn::commit`] sends one etcd transaction whose compares are: every key read is
//!   unchanged (`mod_revision` equal, or still absent); every key a listing returned
//!   still exists; no key in a listed range was created after the snapshot. If they
//!   hold, the buffered writes are applied atomically and on-commit callbacks run;
//!   otherwise the attempt is discarded and `commit` returns `false` so the body runs
//!   again, up to `max_retries` consecutive times.
//! * Read-only attempts commit trivially (no round trip, no callbacks).
//! * [`Txn::repeat`] asks for another pass after a successful commit; with
//!   `wait = true` the next pass starts only once something the body read changes
//!   (watches, never polling): a key it read is written or deleted, or a key appears
//!   in or disappears from a range it listed (value changes of listed-only keys do not
//!   count).

use crate::backend::*;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::path::{self, Recurse};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct LoopRequest {
    wait: bool,
    timeout: Option<Duration>,
}

type Callback = Box<dyn FnOnce() + Send>;

/// A transaction (see the module documentation for the protocol).
pub struct Txn {
    db: Db,
    max_retries: usize,
    retries: usize,
    passes: usize,
    revision: Option<i64>,
    /// Raw key → mod revision seen (0: absent).
    reads: BTreeMap<String, i64>,
    /// Memoised reads: raw key → value.
    cache: HashMap<String, Option<String>>,
    /// Listed raw prefix → raw keys the database returned for it (empty when the
    /// listing only guards against creations, see [`Txn::list_keys_guard_creations`]).
    lists: BTreeMap<String, Vec<String>>,
    /// Every raw prefix scanned at the snapshot, and every key those scans found: a
    /// key under a scanned prefix that was not found is known to be absent.
    scanned: Vec<String>,
    scanned_keys: std::collections::HashSet<String>,
    /// Values (and mod revisions) of keys a prefetching listing returned at the
    /// snapshot: a later `get` of one of them is served from here, no round trip.
    prefetched: HashMap<String, (String, i64)>,
    /// Buffered writes: raw key → (value, lease) or `None` for delete.
    updates: BTreeMap<String, Option<(String, Option<i64>)>>,
    on_commit: Vec<Callback>,
    loop_request: Option<LoopRequest>,
    last_watch: (Vec<String>, Vec<String>),
    /// The revision of this transaction's last commit that wrote something.
    written_at: Option<i64>,
    /// Global prefix of the high-level (entity) API.
    pub(crate) prefix: String,
    pub(crate) owner: serde_json::Value,
}

impl Txn {
    pub(crate) fn new(db: Db, max_retries: usize) -> Self {
        Txn {
            db,
            max_retries,
            retries: 0,
            passes: 0,
            revision: None,
            reads: BTreeMap::new(),
            cache: HashMap::new(),
            lists: BTreeMap::new(),
            scanned: Vec::new(),
            scanned_keys: std::collections::HashSet::new(),
            prefetched: HashMap::new(),
            updates: BTreeMap::new(),
            on_commit: Vec::new(),
            loop_request: None,
            last_watch: (Vec::new(), Vec::new()),
            written_at: None,
            prefix: String::new(),
            owner: serde_json::Value::Null,
        }
    }

    /// A new transaction that starts from this one's snapshot, without its writes: what this
    /// one read is known already (answered from memory) and is checked at commit as if the new
    /// one had read it. If any of it changed since, the commit fails and the retry reads
    /// afresh, so nothing is decided on stale reads; when nothing changed, the round trips of
    /// reading it again are saved. Every read becomes a comparison of the commit: fork only
    /// transactions that read a few keys.
    pub fn fork(&self) -> Txn {
        Txn {
            db: self.db.clone(),
            max_retries: self.max_retries,
            retries: 0,
            passes: 0,
            revision: self.revision,
            reads: self.reads.clone(),
            cache: self.cache.clone(),
            lists: self.lists.clone(),
            scanned: self.scanned.clone(),
            scanned_keys: self.scanned_keys.clone(),
            prefetched: self.prefetched.clone(),
            updates: BTreeMap::new(),
            on_commit: Vec::new(),
            loop_request: None,
            last_watch: (Vec::new(), Vec::new()),
            written_at: None,
            prefix: self.prefix.clone(),
            owner: self.owner.clone(),
        }
    }

    /// Set the retry limit (default 64).
    pub fn with_max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }

    /// How many passes of the body have started so far (1 during the first).
    pub fn passes(&self) -> usize {
        self.passes + 1
    }

    /// The revision this attempt reads at, once something was read.
    pub fn revision(&self) -> Option<i64> {
        self.revision
    }

    /// The revision of the last commit of this transaction that wrote something: every key
    /// it wrote has exactly this mod revision, and no other writer's key does.
    pub fn written_at(&self) -> Option<i64> {
        self.written_at
    }

    /// What the last `repeat(wait = true)` watched: (keys, listed prefixes), logical paths.
    pub fn watched(&self) -> &(Vec<String>, Vec<String>) {
        &self.last_watch
    }

    fn reset(&mut self) {
        self.revision = None;
        self.reads.clear();
        self.cache.clear();
        self.lists.clear();
        self.scanned.clear();
        self.scanned_keys.clear();
        self.prefetched.clear();
        self.updates.clear();
        self.on_commit.clear();
        self.loop_request = None;
        self.passes += 1;
    }

    /// Read a key (snapshot + own writes).
    pub async fn get(&mut self, path: &str) -> Result<Option<String>> {
        path::check_key_path(path)?;
        let key = path::tag(path);
        if let Some(u) = self.updates.get(&key) {
            return Ok(u.as_ref().map(|(v, _)| v.clone()));
        }
        if let Some(v) = self.cache.get(&key) {
            return Ok(v.clone());
        }
        if self.revision.is_some() && !self.scanned_keys.contains(&key) && self.scanned.iter().any(|p| key.starts_with(p.as_str())) {
            // A listing at this snapshot already showed the key is absent: no round trip.
            self.reads.insert(key.clone(), 0);
            self.cache.insert(key, None);
            return Ok(None);
        }
        if let Some((value, mod_revision)) = self.prefetched.remove(&key) {
            // Read at this snapshot by a prefetching listing: the same answer a round trip would give.
            self.reads.insert(key.clone(), mod_revision);
            self.cache.insert(key, Some(value.clone()));
            return Ok(Some(value));
        }
        let (kvs, rev) = self.db.backend().range(&KeyRange::Key(key.clone()), self.revision, false).await?;
        self.revision.get_or_insert(rev);
        let kv = kvs.into_iter().next();
        self.reads.insert(key.clone(), kv.as_ref().map_or(0, |kv| kv.mod_revision));
        let value = kv.map(|kv| kv.value);
        self.cache.insert(key, value.clone());
        Ok(value)
    }

    /// List keys like [`Db::list_keys`], at the snapshot, including own writes.
    ///
    /// The commit then checks that no key appeared in the listed ranges (one compare
    /// per range) and that every listed key still exists (one compare per key: etcd
    /// allows 128 compares per transaction, so a body can list at most ~127 keys).
    pub async fn list_keys(&mut self, path: &str, recurse: impl Into<Recurse>) -> Result<Vec<String>> {
        self.list_keys_checked(path, recurse.into(), true, false).await
    }

    /// Like [`Txn::list_keys`], but the values come in the same round trips, so that a
    /// later [`Txn::get`] of a listed key costs nothing: one ranged read per level
    /// instead of one round trip per key. For bodies that read most of what they list
    /// (the processing controller reads every PB and deployment in each pass).
    pub async fn list_keys_prefetch(&mut self, path: &str, recurse: impl Into<Recurse>) -> Result<Vec<String>> {
        self.list_keys_checked(path, recurse.into(), true, true).await
    }

    /// Like [`Txn::list_keys`], but the commit only checks that no key was *created*
    /// in the listed ranges, not that the listed keys still exist: one compare per
    /// range however many keys it holds. Right when a concurrent deletion cannot make
    /// the body's decision wrong, e.g. picking a name that is not taken (PB ids).
    pub async fn list_keys_guard_creations(&mut self, path: &str, recurse: impl Into<Recurse>) -> Result<Vec<String>> {
        self.list_keys_checked(path, recurse.into(), false, false).await
    }

    async fn list_keys_checked(&mut self, path: &str, recurse: Recurse, check_deletes: bool, values: bool) -> Result<Vec<String>> {
        let (_, rev, scans) = self.db.list_keys_at(path, &recurse, self.revision, !values).await?;
        self.revision.get_or_insert(rev);
        let mut keys: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (prefix, kvs) in scans {
            if values {
                for kv in &kvs {
                    if !self.cache.contains_key(&kv.key) {
                        self.prefetched.insert(kv.key.clone(), (kv.value.clone(), kv.mod_revision));
                    }
                }
            }
            let raw: Vec<String> = kvs.into_iter().map(|kv| kv.key).collect();
            for k in &raw {
                keys.insert(k.clone());
            }
            for (k, u) in self.updates.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(prefix.as_str())) {
                if u.is_some() {
                    keys.insert(k.clone());
                } else {
                    keys.remove(k);
                }
            }
            self.scanned_keys.extend(raw.iter().cloned());
            if !self.scanned.contains(&prefix) {
                self.scanned.push(prefix.clone());
            }
            let entry = self.lists.entry(prefix).or_default();
            if check_deletes {
                for k in raw {
                    if !entry.contains(&k) {
                        entry.push(k);
                    }
                }
            }
        }
        let mut out: Vec<String> = keys.iter().filter_map(|k| path::untag(k).map(str::to_string)).collect();
        out.sort();
        Ok(out)
    }

    /// Create a key that must not exist (optionally on a lease).
    pub async fn create(&mut self, path: &str, value: &str, lease: Option<i64>) -> Result<()> {
        if self.get(path).await?.is_some() {
            return Err(Error::collision_create(path));
        }
        self.updates.insert(path::tag(path), Some((value.to_string(), lease)));
        Ok(())
    }

    /// Write a key whether or not it exists, without reading it: the commit does not
    /// check it either (last writer wins). For values this client alone keeps up to
    /// date, such as a device's own state record.
    pub fn put(&mut self, path: &str, value: &str) -> Result<()> {
        path::check_key_path(path)?;
        self.updates.insert(path::tag(path), Some((value.to_string(), None)));
        Ok(())
    }

    /// Update a key that must exist.
    pub async fn update(&mut self, path: &str, value: &str) -> Result<()> {
        if self.get(path).await?.is_none() {
            return Err(Error::vanished_update(path));
        }
        self.updates.insert(path::tag(path), Some((value.to_string(), None)));
        Ok(())
    }

    /// Delete a key; with `recursive`, also every key below it (up to 16 levels).
    pub async fn delete(&mut self, path: &str, must_exist: bool, recursive: bool) -> Result<()> {
        if self.get(path).await?.is_none() {
            if must_exist {
                return Err(Error::vanished_delete_txn(path));
            }
        } else {
            self.updates.insert(path::tag(path), None);
        }
        if recursive {
            let below = format!("{path}/");
            for key in self.list_keys(&below, 15).await? {
                self.updates.insert(path::tag(&key), None);
            }
        }
        Ok(())
    }

    /// Run `f` after this attempt commits successfully (not for read-only attempts,
    /// not for attempts that are retried).
    pub fn on_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.on_commit.push(Box::new(f));
    }

    /// Ask for another pass after this one commits (Python `txn.loop(wait, timeout)`).
    /// With `wait`, the next pass starts when something this pass read changes, or
    /// after `timeout`.
    pub fn repeat(&mut self, wait: bool, timeout: Option<Duration>) {
        self.loop_request = Some(LoopRequest { wait, timeout });
    }

    /// Commit this pass. `Ok(true)`: done, leave the loop. `Ok(false)`: run the body
    /// again (conflict, or [`Txn::repeat`] was called). Errors when the retry limit is
    /// reached, when the transaction is too large for etcd, or on connection failure.
    pub async fn commit(&mut self) -> Result<bool> {
        let mut watch_from = self.revision.map(|r| r + 1);
        if !self.updates.is_empty() {
            let (compares, ops) = self.build();
            let limit = self.db.backend().max_txn_ops();
            if compares.len() > limit || ops.len() > limit {
                let (c, o) = (compares.len(), ops.len());
                self.reset();
                return Err(Error::Runtime(format!(
                    "Transaction too large: {c} comparisons and {o} writes, but etcd accepts at most {limit} of each in one transaction (--max-txn-ops); nothing was written"
                )));
            }
            let resp = self.db.backend().txn(compares, ops).await?;
            if !resp.succeeded {
                if self.retries >= self.max_retries {
                    let n = self.max_retries;
                    self.reset();
                    return Err(Error::Runtime(format!("Transaction did not succeed after {n} retries!")));
                }
                self.retries += 1;
                self.reset();
                return Ok(false);
            }
            self.retries = 0;
            self.written_at = Some(resp.revision);
            for cb in std::mem::take(&mut self.on_commit) {
                cb();
            }
            // Our own writes must not wake us: every read key and listed range was
            // unchanged up to the commit, so watching from after it misses nothing.
            watch_from = Some(resp.revision + 1);
        }
        let Some(req) = self.loop_request else {
            self.reset();
            return Ok(true);
        };
        if req.wait {
            self.wait_for_change(watch_from, req.timeout).await?;
        }
        self.reset();
        Ok(false)
    }

    fn build(&self) -> (Vec<Compare>, Vec<Op>) {
        let mut compares = Vec::new();
        for (key, rev) in &self.reads {
            compares.push(if *rev == 0 {
                Compare::new(KeyRange::Key(key.clone()), Target::Version, CmpOp::Equal, 0)
            } else {
                Compare::new(KeyRange::Key(key.clone()), Target::ModRevision, CmpOp::Equal, *rev)
            });
        }
        let pinned = self.revision.unwrap_or(0);
        let mut checked: std::collections::BTreeSet<&String> = self.reads.keys().collect();
        for (prefix, keys) in &self.lists {
            compares.push(Compare::new(KeyRange::Prefix(prefix.clone()), Target::CreateRevision, CmpOp::Less, pinned + 1));
            for k in keys {
                if checked.insert(k) {
                    compares.push(Compare::new(KeyRange::Key(k.clone()), Target::Version, CmpOp::Greater, 0));
                }
            }
        }
        let ops = self
            .updates
            .iter()
            .map(|(k, u)| match u {
                Some((v, lease)) => Op::Put { key: k.clone(), value: v.clone(), lease: *lease },
                None => Op::Delete(KeyRange::Key(k.clone())),
            })
            .collect();
        (compares, ops)
    }

    async fn wait_for_change(&mut self, from: Option<i64>, timeout: Option<Duration>) -> Result<()> {
        // One watch per listed range, plus one per read key outside every listed range:
        // a prefix watch already delivers the events of the keys below it (and each
        // watch costs etcd a round trip to set up).
        let mut ranges: Vec<KeyRange> = self.lists.keys().map(|p| KeyRange::Prefix(p.clone())).collect();
        ranges
            .extend(self.reads.keys().filter(|k| !self.lists.keys().any(|p| k.starts_with(p.as_str()))).map(|k| KeyRange::Key(k.clone())));
        let listed: Vec<&String> = self.lists.keys().collect();
        self.last_watch = (
            self.reads.keys().filter_map(|k| path::untag(k).map(str::to_string)).collect(),
            listed.iter().filter_map(|k| path::untag(k).map(str::to_string)).collect(),
        );
        let keys: std::collections::BTreeSet<String> = self.reads.keys().cloned().collect();
        let prefixes: Vec<String> = self.lists.keys().cloned().collect();
        let mut stream = match from {
            Some(from) if !ranges.is_empty() => Some(self.db.backend().watch_many(&ranges, Some(from)).await?),
            _ => None,
        };
        // A read key wakes us on any change; a listed range only when a key appears in
        // it or leaves it.
        let relevant = |e: &Event| {
            keys.contains(&e.kv.key)
                || ((e.kind == EventKind::Delete || e.kv.version == 1) && prefixes.iter().any(|p| e.kv.key.starts_with(p.as_str())))
        };
        let woken = async {
            let Some(stream) = stream.as_mut() else {
                // Nothing to watch: only the timeout can end the wait.
                return std::future::pending().await;
            };
            while let Some(batch) = stream.next().await {
                if batch?.iter().any(relevant) {
                    return Ok(());
                }
            }
            Err(Error::Connection(format!("watch on {} ended", self.db.backend().describe())))
        };
        match timeout {
            Some(t) => match tokio::time::timeout(t, woken).await {
                Ok(r) => r,
                Err(_) => Ok(()),
            },
            None => woken.await,
        }
    }
}
