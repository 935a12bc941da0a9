//! Path-level operations of ska-sdp-config's backend API (`get`, `create`, `update`,
//! `delete`, `list_keys`, `watch`, `lease`), built on any [`Backend`]: path rules,
//! depth tags and error messages are implemented once, here.

use crate::backend::*;
use crate::error::{Error, Result};
use crate::path::{self, Recurse};
use std::sync::Arc;
use std::time::Duration;

/// The revision information returned with a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision {
    /// Store revision the read was served at.
    pub revision: i64,
    /// Revision of the last change to the key (0 if absent).
    pub mod_revision: i64,
}

/// Options of [`Db::delete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Fail with `Vanished` if the key does not exist.
    pub must_exist: bool,
    /// Also delete every key below the path (`path/…`), up to `max_depth` levels.
    pub recursive: bool,
    /// Treat the path as a string prefix at each level (`/a` also deletes `/ab`).
    pub prefix: bool,
    pub max_depth: usize,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        DeleteOptions { must_exist: true, recursive: false, prefix: false, max_depth: 16 }
    }
}

/// Handle on a configuration database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Arc<dyn Backend>,
}

impl Db {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Db { backend }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// Value of a key (or `None`) as of `revision` (latest if `None`).
    pub async fn get(&self, path: &str, revision: Option<i64>) -> Result<(Option<String>, Revision)> {
        path::check_key_path(path)?;
        let (kvs, rev) = self.backend.range(&KeyRange::Key(path::tag(path)), revision, false).await?;
        let revision = revision.unwrap_or(rev);
        Ok(match kvs.into_iter().next() {
            Some(kv) => (Some(kv.value), Revision { revision, mod_revision: kv.mod_revision }),
            None => (None, Revision { revision, mod_revision: 0 }),
        })
    }

    /// Create a key that must not exist, optionally attached to a lease.
    pub async fn create(&self, path: &str, value: &str, lease: Option<i64>) -> Result<()> {
        path::check_key_path(path)?;
        let key = path::tag(path);
        let resp = self
            .backend
            .txn(
                vec![Compare::new(KeyRange::Key(key.clone()), Target::Version, CmpOp::Equal, 0)],
                vec![Op::Put { key, value: value.to_string(), lease }],
            )
            .await?;
        if resp.succeeded {
            Ok(())
        } else {
            Err(Error::collision_create(path))
        }
    }

    /// Update a key that must exist; with `must_be_rev` only if it was not changed since.
    pub async fn update(&self, path: &str, value: &str, must_be_rev: Option<Revision>) -> Result<()> {
        path::check_key_path(path)?;
        let key = path::tag(path);
        let mut cmps = vec![Compare::new(KeyRange::Key(key.clone()), Target::Version, CmpOp::NotEqual, 0)];
        if let Some(r) = must_be_rev {
            cmps.push(Compare::new(KeyRange::Key(key.clone()), Target::ModRevision, CmpOp::Equal, r.mod_revision));
        }
        // Like the Python library: a plain put, which detaches the key from any lease.
        let resp = self.backend.txn(cmps, vec![Op::Put { key, value: value.to_string(), lease: None }]).await?;
        if resp.succeeded {
            Ok(())
        } else {
            Err(Error::vanished_update(path))
        }
    }

    /// Delete a key (and with options, everything below it / with it as prefix).
    pub async fn delete(&self, path: &str, opts: DeleteOptions) -> Result<()> {
        path::check_key_path(path)?;
        let depth = path::depth(path);
        let tagged = path::tag(path);
        let mut cmps = Vec::new();
        if opts.must_exist {
            let r = if opts.prefix { KeyRange::Prefix(tagged.clone()) } else { KeyRange::Key(tagged.clone()) };
            // On a prefix range, etcd requires every key to match; an empty range
            // compares as version 0, which is what we need to detect.
            cmps.push(Compare::new(r, Target::Version, CmpOp::Greater, 0));
        }
        let mut ops = vec![Op::Delete(if opts.prefix { KeyRange::Prefix(tagged) } else { KeyRange::Key(tagged) })];
        if opts.recursive {
            let below = if opts.prefix { path.to_string() } else { format!("{path}/") };
            for d in 1..=opts.max_depth {
                ops.push(Op::Delete(KeyRange::Prefix(path::tag_at(&below, depth + d))));
            }
        }
        let resp = self.backend.txn(cmps, ops).await?;
        if resp.succeeded {
            Ok(())
        } else {
            Err(Error::vanished_delete(path))
        }
    }

    /// Delete every key [`Db::list_keys`]`(path, depth)` lists — `path` as a string prefix at
    /// its own depth and `depth` levels below — however many there are, atomically, and
    /// return them (sorted). One transaction of `depth + 1` range deletes, guarded by
    /// `depth + 1` range compares (nothing in the ranges created or changed since the
    /// listing; otherwise list again), so etcd's `--max-txn-ops` never limits how many keys go:
    /// `sdpcfg delete -R` of 10 000 PBs is one request, as `etcdctl del --prefix` is.
    pub async fn delete_tree(&self, path: &str, depth: usize) -> Result<Vec<String>> {
        let recurse = Recurse::Depth(depth);
        let prefixes = path::list_prefixes(path, &recurse);
        for _ in 0..64 {
            let (keys, rev, _) = self.list_keys_at(path, &recurse, None, true).await?;
            if keys.is_empty() {
                return Ok(keys);
            }
            let cmps =
                prefixes.iter().map(|p| Compare::new(KeyRange::Prefix(p.clone()), Target::ModRevision, CmpOp::Less, rev + 1)).collect();
            let ops = prefixes.iter().map(|p| Op::Delete(KeyRange::Prefix(p.clone()))).collect();
            if self.backend.txn(cmps, ops).await?.succeeded {
                return Ok(keys);
            }
        }
        Err(Error::Runtime(format!("Deleting {path} did not succeed after 64 retries: keys below it keep changing")))
    }

    /// Keys (logical paths, sorted) matching `path` as a string prefix at its own depth
    /// and at the depths `recurse` asks for. All levels are read at one revision.
    pub async fn list_keys(&self, path: &str, recurse: impl Into<Recurse>) -> Result<Vec<String>> {
        Ok(self.list_keys_at(path, &recurse.into(), None, true).await?.0)
    }

    /// [`Db::list_keys`] at a fixed revision; returns the keys and the revision used,
    /// plus the raw key-values per scanned prefix (for transactions; values only
    /// without `keys_only`).
    pub(crate) async fn list_keys_at(
        &self,
        path: &str,
        recurse: &Recurse,
        revision: Option<i64>,
        keys_only: bool,
    ) -> Result<(Vec<String>, i64, Vec<(String, Vec<KeyValue>)>)> {
        path::check_path(path)?;
        let mut revision = revision;
        let mut keys = Vec::new();
        let mut scans = Vec::new();
        for prefix in path::list_prefixes(path, recurse) {
            let (kvs, rev) = self.backend.range(&KeyRange::Prefix(prefix.clone()), revision, keys_only).await?;
            revision.get_or_insert(rev);
            keys.extend(kvs.iter().filter_map(|kv| path::untag(&kv.key).map(str::to_string)));
            scans.push((prefix, kvs));
        }
        keys.sort();
        keys.dedup();
        Ok((keys, revision.unwrap_or(0), scans))
    }

    /// Watch a key (or, with `prefix`, every key at the same depth starting with
    /// `path`) from `revision` (or from now).
    pub async fn watch(&self, path: &str, prefix: bool, revision: Option<i64>) -> Result<KeyWatch> {
        if prefix {
            path::check_path(path)?;
        } else {
            path::check_key_path(path)?;
        }
        let key = path::tag(path);
        let range = if prefix { KeyRange::Prefix(key) } else { KeyRange::Key(key) };
        let stream = self.backend.watch(&range, revision).await?;
        Ok(KeyWatch { stream, pending: std::collections::VecDeque::new() })
    }

    /// Grant a lease and keep it alive until it is revoked (or dropped: then it
    /// expires `ttl` seconds later).
    pub async fn lease(&self, ttl: i64) -> Result<Lease> {
        Lease::grant(self.backend.clone(), ttl).await
    }

    /// A transaction with the default retry limit (64).
    pub fn txn(&self) -> crate::txn::Txn {
        crate::txn::Txn::new(self.clone(), 64)
    }
}

/// One change delivered by a [`KeyWatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchUpdate {
    pub path: String,
    /// New value, `None` after a delete.
    pub value: Option<String>,
    pub revision: Revision,
}

/// A running key or prefix watch; dropping it cancels it.
pub struct KeyWatch {
    stream: WatchStream,
    pending: std::collections::VecDeque<WatchUpdate>,
}

impl KeyWatch {
    /// The next change, in commit order; `None` if the watch ended.
    pub async fn next(&mut self) -> Option<Result<WatchUpdate>> {
        loop {
            if let Some(u) = self.pending.pop_front() {
                return Some(Ok(u));
            }
            match self.stream.next().await? {
                Err(e) => return Some(Err(e)),
                Ok(events) => {
                    for ev in events {
                        let Some(path) = path::untag(&ev.kv.key) else { continue };
                        self.pending.push_back(WatchUpdate {
                            path: path.to_string(),
                            value: match ev.kind {
                                EventKind::Put => Some(ev.kv.value),
                                EventKind::Delete => None,
                            },
                            revision: Revision { revision: ev.kv.mod_revision, mod_revision: ev.kv.mod_revision },
                        });
                    }
                }
            }
        }
    }

    /// [`KeyWatch::next`] with a time limit; `None` on timeout.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Option<Result<WatchUpdate>> {
        tokio::time::timeout(timeout, self.next()).await.ok().flatten()
    }
}

/// A lease kept alive by a background task (refresh every TTL/4, like the Python
/// client). Keys attached to it vanish when it is revoked, or `ttl` seconds after its
/// holder stops refreshing it (process died, lease dropped). [`Lease::lost`] tells the
/// holder when the lease is gone although it was not revoked through this handle
/// (revoked elsewhere, or expired while etcd was unreachable).
pub struct Lease {
    id: i64,
    ttl: i64,
    backend: Arc<dyn Backend>,
    keeper: tokio::task::JoinHandle<()>,
    lost: tokio::sync::watch::Receiver<bool>,
}

impl Lease {
    pub(crate) async fn grant(backend: Arc<dyn Backend>, ttl: i64) -> Result<Lease> {
        let id = backend.lease_grant(ttl).await?;
        let b = backend.clone();
        let period = Duration::from_millis((ttl.max(1) as u64) * 1000 / 4);
        let (lost_tx, lost) = tokio::sync::watch::channel(false);
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match b.lease_keep_alive(id).await {
                    Ok(0) => {
                        tracing::warn!("lease {id:x} is gone (revoked or expired)");
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("lease {id:x} keep-alive failed: {e}"),
                }
            }
        });
        Ok(Lease { id, ttl, backend, keeper, lost })
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// Is the lease still granted?
    pub async fn alive(&self) -> Result<bool> {
        Ok(self.backend.lease_time_to_live(self.id).await? >= 0)
    }

    /// Resolves once the keep-alive finds the lease gone (its keys, e.g. a PB owner
    /// entry, are gone with it). Noticed within TTL/4.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// Revoke now: every key attached to the lease is deleted.
    pub async fn revoke(self) -> Result<()> {
        self.keeper.abort();
        self.backend.lease_revoke(self.id).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}
