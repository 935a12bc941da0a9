//! The storage backend trait: the handful of etcd v3 primitives everything else is
//! built on (MVCC range reads, compare-and-swap transactions, watches, leases).
//!
//! Path rules, depth tags, entity encoding and the transaction protocol live above
//! this trait and are shared, so the etcd and memory backends differ only in where
//! the bytes are kept. Both pass the same conformance suite (`tests/conformance.rs`).

use crate::error::Result;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// etcd's default `--max-txn-ops`: the most compares, and the most operations,
/// one transaction may carry.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// One stored key, as etcd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Raw (depth-tagged) key.
    pub key: String,
    /// Value; empty for keys-only reads and delete events.
    pub value: String,
    pub create_revision: i64,
    pub mod_revision: i64,
    /// Number of puts since creation (1 right after creation, 0 = absent).
    pub version: i64,
    /// Lease id, 0 for none.
    pub lease: i64,
}

/// A set of raw keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyRange {
    /// Exactly this key.
    Key(String),
    /// Every key starting with this string.
    Prefix(String),
}

impl KeyRange {
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::Key(k) => k == key,
            KeyRange::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// What a compare looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Version,
    CreateRevision,
    ModRevision,
}

/// Comparison operator (etcd semantics: on a range, every key must satisfy it; an
/// absent key has version, create and mod revision 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

/// One guard of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub range: KeyRange,
    pub target: Target,
    pub op: CmpOp,
    pub value: i64,
}

impl Compare {
    pub fn new(range: KeyRange, target: Target, op: CmpOp, value: i64) -> Self {
        Compare { range, target, op, value }
    }

    /// Does a key with these fields satisfy the compare?
    pub fn holds(&self, version: i64, create_revision: i64, mod_revision: i64) -> bool {
        let have = match self.target {
            Target::Version => version,
            Target::CreateRevision => create_revision,
            Target::ModRevision => mod_revision,
        };
        match self.op {
            CmpOp::Equal => have == self.value,
            CmpOp::NotEqual => have != self.value,
            CmpOp::Less => have < self.value,
            CmpOp::Greater => have > self.value,
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put { key: String, value: String, lease: Option<i64> },
    Delete(KeyRange),
}

/// Outcome of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnResponse {
    /// All compares held and the operations were applied.
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
}

/// Kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The key after the change (for a delete: the key, empty value, version 0 and
    /// the revision of the delete as `mod_revision`).
    pub kv: KeyValue,
}

/// A running watch. Dropping it cancels it.
pub struct WatchStream {
    rx: mpsc::UnboundedReceiver<Result<Vec<Event>>>,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl WatchStream {
    /// Build a stream from a receiver; `guard` is dropped with the stream (use it to
    /// stop whatever feeds the channel).
    pub fn new(rx: mpsc::UnboundedReceiver<Result<Vec<Event>>>, guard: Option<Box<dyn Send + Sync>>) -> Self {
        WatchStream { rx, _guard: guard }
    }

    /// Next batch of events (all from one revision, in order); `None` when the watch ended.
    pub async fn next(&mut self) -> Option<Result<Vec<Event>>> {
        self.rx.recv().await
    }
}

/// The primitives of an etcd v3 store.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Short name for messages ("etcd at 127.0.0.1:2379", "memory").
    fn describe(&self) -> String;

    /// Most compares, and most operations, one transaction may carry.
    fn max_txn_ops(&self) -> usize {
        DEFAULT_MAX_TXN_OPS
    }

    /// Read the keys of `range` as of `revision` (latest if `None`), sorted by key.
    /// Returns the keys and the store revision the read was served at.
    async fn range(&self, range: &KeyRange, revision: Option<i64>, keys_only: bool) -> Result<(Vec<KeyValue>, i64)>;

    /// If every compare holds, apply every op atomically at one new revision.
    async fn txn(&self, compares: Vec<Compare>, ops: Vec<Op>) -> Result<TxnResponse>;

    /// Watch `range` for changes from `start_revision` (or from now).
    async fn watch(&self, range: &KeyRange, start_revision: Option<i64>) -> Result<WatchStream>;

    /// Watch several ranges from one revision as one stream (a key in two ranges may
    /// be reported twice). The default merges single watches; etcd multiplexes them on
    /// one gRPC stream.
    async fn watch_many(&self, ranges: &[KeyRange], start_revision: Option<i64>) -> Result<WatchStream> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for range in ranges {
            let mut stream = self.watch(range, start_revision).await?;
            let tx = tx.clone();
            tasks.push(AbortOnDrop(tokio::spawn(async move {
                while let Some(batch) = stream.next().await {
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            })));
        }
        Ok(WatchStream::new(rx, Some(Box::new(tasks))))
    }

    /// Grant a lease of `ttl` seconds; returns its id.
    async fn lease_grant(&self, ttl: i64) -> Result<i64>;

    /// Refresh a lease; returns a positive number (the new TTL where the backend
    /// reports it) while the lease exists, 0 once it no longer does.
    async fn lease_keep_alive(&self, id: i64) -> Result<i64>;

    /// Revoke a lease: every key attached to it is deleted at once.
    async fn lease_revoke(&self, id: i64) -> Result<()>;

    /// Remaining TTL of a lease in whole seconds (0 in its last second), or -1 if it
    /// does not exist (expired, revoked).
    async fn lease_time_to_live(&self, id: i64) -> Result<i64>;
}

/// Aborts a task when dropped (guards of watch streams).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
