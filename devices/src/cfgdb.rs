//! The devices' link to the configuration DB.
//!
//! Device handlers are synchronous; the configuration library is async. All DB work runs on a
//! small runtime of its own (one worker thread) and handlers wait for it with a bounded
//! timeout, so a call works the same from a command handler, from a factory at server
//! start-up or from a test, whatever runtime (if any) the caller is in. Background work —
//! persisting subarray state, following `/pb/<id>/state`, watching whether the DB answers
//! and which components are alive ([`ConfigDb::monitor`]), the server's own liveness — runs
//! there too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sdp_config::{BackendChoice, Config, EbState, EbStatus, Error, ProcessingBlock};
use serde_json::Value;
use tokio::sync::watch;

use crate::health::DbSeen;

/// Bound on one DB request made inside a command (Tango clients time out after 3 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(2000);

/// Where the DB is, and whether there is one.
#[derive(Debug, Clone)]
pub enum DbSetting {
    /// Use this backend.
    Use(BackendChoice),
    /// No configuration DB: why (for the start-up message and the Configure error).
    Off(String),
}

impl DbSetting {
    /// From the environment: `SDP_CONFIG_HOST`/`_PORT`/`_BACKEND` (see sdp-config), or
    /// `TOGGLE_CONFIG_DB=1` (the 2019 toggle; then 127.0.0.1:2379 by default).
    /// `TOGGLE_CONFIG_DB=0` turns the DB off.
    pub fn from_env() -> DbSetting {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> DbSetting {
        if get("TOGGLE_CONFIG_DB").as_deref() == Some("0") {
            return DbSetting::Off("TOGGLE_CONFIG_DB=0".into());
        }
        let named = ["SDP_CONFIG_HOST", "SDP_CONFIG_PORT", "SDP_CONFIG_BACKEND"].iter().any(|k| get(k).is_some());
        if !named && get("TOGGLE_CONFIG_DB").as_deref() != Some("1") {
            return DbSetting::Off("SDP_CONFIG_HOST / SDP_CONFIG_PORT (or SDP_CONFIG_BACKEND) are not set".into());
        }
        match BackendChoice::from_lookup(get) {
            Ok(BackendChoice::Etcd(mut o)) => {
                o.timeout = REQUEST_TIMEOUT;
                DbSetting::Use(BackendChoice::Etcd(o))
            }
            Ok(other) => DbSetting::Use(other),
            Err(e) => DbSetting::Off(e.to_string()),
        }
    }
}

/// What [`ConfigDb::create`] writes in one transaction. Built once per command and moved
/// straight into the transaction, so the variants' different sizes cost nothing worth a `Box`.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum New {
    /// A processing block (2019 Configure), with the subarray's new state record.
    Pb { pb: ProcessingBlock, subarray: Option<(String, Value)> },
    /// An execution block with its processing blocks (ADR-8 AssignResources); `finish`: an
    /// execution block of the subarray to end FINISHED in the same transaction.
    Eb { eb: Value, pbs: Vec<ProcessingBlock>, finish: Option<String> },
}

/// Why [`ConfigDb::create`] failed.
#[derive(Debug)]
pub enum CreateError {
    /// Nothing was written.
    Db(Error),
    /// The commit was sent and no answer came: it may or may not have been applied.
    InDoubt(Error),
}

/// A shared handle on the configuration DB (one per server process).
pub struct ConfigDb {
    rt: tokio::runtime::Runtime,
    choice: BackendChoice,
    client: tokio::sync::Mutex<Option<Arc<Config>>>,
    persisters: Mutex<HashMap<String, Persister>>,
}

/// How long a command waits for its state to be stored before leaving it to the background.
pub const PERSIST_WAIT: Duration = Duration::from_millis(500);

/// The background writer of one subarray's state.
struct Persister {
    tx: watch::Sender<Option<(u64, Value)>>,
    done: watch::Receiver<u64>,
    seq: u64,
}

impl std::fmt::Debug for ConfigDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigDb({})", self.describe())
    }
}

impl ConfigDb {
    pub fn new(choice: BackendChoice) -> Arc<ConfigDb> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sdp-config-db")
            .enable_all()
            .build()
            .expect("config DB runtime");
        Arc::new(ConfigDb { rt, choice, client: tokio::sync::Mutex::new(None), persisters: Mutex::new(HashMap::new()) })
    }

    pub fn describe(&self) -> String {
        match &self.choice {
            BackendChoice::Etcd(o) => format!("etcd at {}://{}:{}", o.protocol, o.host, o.port),
            BackendChoice::Memory => "in-memory configuration DB (this process only)".into(),
        }
    }

    /// Run `fut` on the DB runtime and wait for it (from any thread, in or out of a runtime).
    pub fn block<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("config DB task ended without an answer")
    }

    /// Run `fut` on the DB runtime in the background until it ends or the guard is dropped.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) -> Follow {
        Follow(self.rt.spawn(fut).abort_handle())
    }

    /// Like [`ConfigDb::block`] with an overall time limit.
    pub fn block_timeout<T: Send + 'static>(
        &self,
        limit: Duration,
        fut: impl Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Result<T, Error> {
        let what = self.describe();
        self.block(async move { within(limit, &what, fut).await })
    }

    /// The connected client (connecting now if needed).
    pub async fn client(self: Arc<Self>) -> Result<Arc<Config>, Error> {
        let mut g = self.client.lock().await;
        if let Some(c) = g.as_ref() {
            return Ok(c.clone());
        }
        let backend = self.choice.connect().await?;
        let c = Arc::new(Config::new(backend));
        *g = Some(c.clone());
        Ok(c)
    }

    /// Try to connect at start-up, without failing: the result is only logged.
    pub fn probe(self: &Arc<Self>) {
        let me = self.clone();
        match self.block_timeout(REQUEST_TIMEOUT + Duration::from_millis(500), me.client()) {
            Ok(_) => tracing::info!("configuration DB: {}", self.describe()),
            Err(e) => tracing::warn!("configuration DB not reachable yet ({e}); Configure will fail until it is"),
        }
    }

    /// Create the processing block and record the subarray state, in one transaction.
    ///
    /// The PB key is read before the commit is sent, on purpose: with an etcd that stops
    /// answering, the read is what waits, the time limit drops it and no commit was ever
    /// sent. Sending the commit first saved one round trip (~0.4 ms) but let a commit queued
    /// in the client's connection reach an etcd that came back after Configure had already
    /// failed: a PB nobody acknowledged (found by tests/faults/test_etcd_faults.py).
    ///
    /// A connection error while the commit was on its way is [`CreateError::InDoubt`]: etcd
    /// may have applied it before the answer was lost (a member killed mid-request).
    pub fn create_pb(self: &Arc<Self>, pb: ProcessingBlock, subarray: Option<(String, Value)>) -> Result<(), CreateError> {
        self.create(New::Pb { pb, subarray })
    }

    /// Create what `new` says in one transaction, with the read-before-commit and in-doubt
    /// rules of [`ConfigDb::create_pb`].
    pub fn create(self: &Arc<Self>, new: New) -> Result<(), CreateError> {
        let me = self.clone();
        let committing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = committing.clone();
        let r = self.block_timeout(REQUEST_TIMEOUT, async move {
            let cfg = me.client().await?;
            let mut txn = cfg.txn();
            loop {
                match &new {
                    New::Pb { pb, subarray } => {
                        txn.create_processing_block(pb).await?;
                        if let Some((id, state)) = subarray {
                            put_state(&mut txn, id, state)?;
                        }
                    }
                    New::Eb { eb, pbs, finish } => {
                        if let Some(old) = finish {
                            txn.end_execution_block(old, EbStatus::FINISHED).await?;
                        }
                        txn.create_execution_block(eb, pbs).await?;
                    }
                }
                sent.store(true, std::sync::atomic::Ordering::SeqCst);
                if txn.commit().await? {
                    return Ok(());
                }
                sent.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        });
        r.map_err(|e| match e {
            Error::Connection(_) if committing.load(std::sync::atomic::Ordering::SeqCst) => CreateError::InDoubt(e),
            e => CreateError::Db(e),
        })
    }

    /// Change execution block `eb_id`: `scan_types` are added to its scan types (Configure's
    /// `new_scan_types`), then `change` edits its state (retried on conflicts).
    pub fn update_eb(
        self: &Arc<Self>,
        eb_id: &str,
        scan_types: Vec<Value>,
        change: impl Fn(&mut EbState) + Send + 'static,
    ) -> Result<(), Error> {
        let (me, eb_id) = (self.clone(), eb_id.to_string());
        self.block_timeout(REQUEST_TIMEOUT, async move {
            let cfg = me.client().await?;
            let mut txn = cfg.txn();
            loop {
                if !scan_types.is_empty() {
                    let path = format!("{}{}", cfg.prefix(), sdp_config::keys::eb(&eb_id));
                    let mut eb = txn.get_execution_block(&eb_id).await?.ok_or_else(|| Error::Value(format!("{path} does not exist")))?;
                    if let Some(list) = eb.get_mut("scan_types").and_then(Value::as_array_mut) {
                        list.extend(scan_types.iter().cloned());
                    }
                    txn.update(&path, &sdp_config::json::dumps(&eb)).await?;
                }
                let Some(mut st) = txn.get_execution_block_state(&eb_id).await? else {
                    return Err(Error::Value(format!("the state of execution block {eb_id} does not exist")));
                };
                change(&mut st);
                txn.update_execution_block_state(&eb_id, &st).await?;
                if txn.commit().await? {
                    return Ok(());
                }
            }
        })
    }

    /// End execution block `eb_id` (FINISHED or CANCELLED).
    pub fn end_eb(self: &Arc<Self>, eb_id: &str, status: EbStatus) -> Result<(), Error> {
        let (me, eb_id) = (self.clone(), eb_id.to_string());
        self.block_timeout(REQUEST_TIMEOUT, async move {
            let cfg = me.client().await?;
            let mut txn = cfg.txn();
            loop {
                txn.end_execution_block(&eb_id, status).await?;
                if txn.commit().await? {
                    return Ok(());
                }
            }
        })
    }

    /// The processing block `pb_id`, if stored.
    pub fn load_pb(self: &Arc<Self>, pb_id: &str) -> Result<Option<ProcessingBlock>, Error> {
        let (me, pb_id) = (self.clone(), pb_id.to_string());
        self.block_timeout(REQUEST_TIMEOUT, async move {
            let cfg = me.client().await?;
            let mut txn = cfg.txn();
            let pb = txn.get_processing_block(&pb_id).await?;
            txn.commit().await?;
            Ok(pb)
        })
    }

    /// The persisted state of subarray `id` (of the master for [`MASTER_KEY`]).
    pub fn load_state(self: &Arc<Self>, id: &str) -> Result<Option<Value>, Error> {
        let (me, id) = (self.clone(), id.to_string());
        self.block_timeout(REQUEST_TIMEOUT, me.read_state(id))
    }

    async fn read_state(self: Arc<Self>, id: String) -> Result<Option<Value>, Error> {
        let cfg = self.client().await?;
        let mut txn = cfg.txn();
        let v = match id.strip_prefix(LMC_PREFIX) {
            Some(lmc) => txn.get_lmc_subarray(lmc).await?,
            None if id == MASTER_KEY => txn.get_master().await?,
            None if id == CONTROLLER_KEY => txn.get_lmc_controller().await?,
            None => txn.get_subarray(&id).await?,
        };
        txn.commit().await?;
        Ok(v)
    }

    /// Read the persisted state of `id` in the background, retrying with backoff until the
    /// DB answers, then hand it to `loaded` (once). For a device that could not read its
    /// state at start-up: dropping the returned guard stops the retries.
    pub fn load_state_later<F>(self: &Arc<Self>, id: &str, loaded: impl FnOnce(Option<Value>) -> F + Send + 'static) -> Follow
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (me, id) = (self.clone(), id.to_string());
        let task = self.rt.spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                match tokio::time::timeout(REQUEST_TIMEOUT, me.clone().read_state(id.clone())).await {
                    Ok(Ok(v)) => return loaded(v).await,
                    Ok(Err(e)) => tracing::debug!("state of {id} still unreadable: {e}"),
                    Err(_) => tracing::debug!("state of {id} still unreadable: no answer"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
        Follow(task.abort_handle())
    }

    /// Record the state of subarray `id`: a background writer stores the latest value and
    /// retries failed writes until they succeed or a newer value replaces them. The caller
    /// waits for the write at most [`PERSIST_WAIT`] (normally a few milliseconds), so a
    /// command's state is on disk when it returns, yet an unreachable DB never blocks it long.
    pub fn persist(self: &Arc<Self>, id: &str, state: Value) {
        let (seq, mut done) = {
            let mut map = self.persisters.lock().unwrap_or_else(|p| p.into_inner());
            let p = map.entry(id.to_string()).or_insert_with(|| self.start_persister(id));
            p.seq += 1;
            p.tx.send_replace(Some((p.seq, state)));
            (p.seq, p.done.clone())
        };
        let written = self.block(async move { tokio::time::timeout(PERSIST_WAIT, done.wait_for(|d| *d >= seq)).await.is_ok() });
        if !written {
            tracing::warn!("subarray {id} state not yet stored in the configuration DB; still trying in the background");
        }
    }

    /// Has every state handed to [`ConfigDb::persist`] for `id` been written? Then no
    /// background write is pending or in flight, and a transaction that stores the state
    /// itself (Configure's) cannot be overtaken by an older one.
    pub fn persist_idle(&self, id: &str) -> bool {
        let map = self.persisters.lock().unwrap_or_else(|p| p.into_inner());
        map.get(id).is_none_or(|p| *p.done.borrow() >= p.seq)
    }

    fn start_persister(self: &Arc<Self>, id: &str) -> Persister {
        let (tx, mut rx) = watch::channel::<Option<(u64, Value)>>(None);
        let (done_tx, done) = watch::channel(0u64);
        let (me, id) = (self.clone(), id.to_string());
        self.rt.spawn(async move {
            while rx.changed().await.is_ok() {
                let Some((seq, v)) = rx.borrow_and_update().clone() else { continue };
                let mut delay = Duration::from_millis(200);
                loop {
                    let write = async {
                        let cfg = me.clone().client().await?;
                        let mut txn = cfg.txn();
                        loop {
                            put_state(&mut txn, &id, &v)?;
                            if txn.commit().await? {
                                return Ok::<(), Error>(());
                            }
                        }
                    };
                    match tokio::time::timeout(REQUEST_TIMEOUT, write).await {
                        Ok(Ok(())) => {
                            done_tx.send_replace(seq);
                            break;
                        }
                        Ok(Err(e)) => tracing::warn!("cannot record subarray {id} state: {e}; retrying"),
                        Err(_) => tracing::warn!("cannot record subarray {id} state: no answer; retrying"),
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    if rx.has_changed().unwrap_or(false) {
                        break; // a newer state replaces this one
                    }
                }
            }
        });
        Persister { tx, done, seq: 0 }
    }

    /// Follow `/pb/<pb_id>/state` into `view` (JSON text, `null` while absent) until the
    /// returned guard is dropped. Reconnects by itself after errors. The [`FirstRead`] tells
    /// when `view` first holds the stored value, for callers that must not show a placeholder
    /// in its place (a restored device).
    pub fn follow_pb_state(self: &Arc<Self>, pb_id: &str, view: Arc<Mutex<String>>) -> (Follow, FirstRead) {
        self.watch_pb_state(pb_id, move |v: Option<&Value>| {
            let text = match v {
                None => "null".to_string(),
                Some(v) => crate::receive::py_dumps(v),
            };
            *view.lock().unwrap_or_else(|p| p.into_inner()) = text;
        })
    }

    /// Call `seen` with `/pb/<pb_id>/state` (`None` while absent; a value that is not JSON
    /// is passed as a JSON string) now and on every change, until the returned guard is
    /// dropped. Reconnects by itself after errors.
    pub fn watch_pb_state(self: &Arc<Self>, pb_id: &str, seen: impl Fn(Option<&Value>) + Send + Sync + 'static) -> (Follow, FirstRead) {
        let (read_tx, first_read) = watch::channel(false);
        let (me, pb_id) = (self.clone(), pb_id.to_string());
        let set = move |v: Option<String>| {
            let parsed = v.map(|s| serde_json::from_str::<Value>(&s).unwrap_or(Value::String(s)));
            seen(parsed.as_ref());
        };
        let task = self.rt.spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                let run = async {
                    let cfg = me.clone().client().await?;
                    let path = format!("{}{}", cfg.prefix(), sdp_config::keys::pb_state(&pb_id));
                    let (v, rev) = cfg.db().get(&path, None).await?;
                    set(v);
                    read_tx.send_replace(true);
                    let mut w = cfg.db().watch(&path, false, Some(rev.revision + 1)).await?;
                    while let Some(u) = w.next().await {
                        set(u?.value);
                    }
                    Ok::<(), Error>(())
                };
                match run.await {
                    Err(e) => {
                        tracing::warn!("following /pb/{pb_id}/state: {e}; retrying in {:.1} s", delay.as_secs_f32());
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                    }
                    Ok(()) => {
                        // the watch ended (server closed it): start again shortly
                        delay = Duration::from_millis(500);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        (Follow(task.abort_handle()), FirstRead(first_read))
    }

    /// Follow the configuration DB in the background and publish what is seen: whether it
    /// answers and, with [`Monitor::Components`], every component's liveness. Device reads
    /// only borrow the latest [`DbSeen`]; nothing here ever blocks a Tango request.
    ///
    /// One failed check is not yet "unreachable": it is retried once after
    /// [`MONITOR_RETRY`] and reported only if that fails too, so a watch that etcd merely
    /// closed (compaction, a leader change) does not flash FAILED. A killed etcd is then
    /// reported within about a second; a frozen one (it accepts connections and never
    /// answers) within two request timeouts plus the recheck period.
    pub fn monitor(self: &Arc<Self>, what: Monitor) -> (watch::Receiver<DbSeen>, Follow) {
        let (tx, rx) = watch::channel(DbSeen::Waiting);
        let me = self.clone();
        let task = self.rt.spawn(async move {
            let mut failed_checks = 0u32;
            loop {
                let outcome = match what {
                    Monitor::Connection => me.clone().check_connection(&tx, &mut failed_checks).await,
                    Monitor::Components => me.clone().follow_components(&tx, &mut failed_checks).await,
                };
                let Err(e) = outcome else { continue };
                failed_checks += 1;
                if failed_checks >= 2 {
                    tx.send_if_modified(|seen| {
                        if matches!(seen, DbSeen::Unreachable { .. }) {
                            return false; // keep the time and cause of the first failure
                        }
                        tracing::warn!("configuration DB unreachable: {e}");
                        *seen = DbSeen::Unreachable { since: sdp_config::alive::now(), error: e.to_string() };
                        true
                    });
                } else {
                    tracing::debug!("configuration DB check failed ({e}); checking again");
                }
                tokio::time::sleep(MONITOR_RETRY).await;
            }
        });
        (rx, Follow(task.abort_handle()))
    }

    /// One read every [`CONNECTION_CHECK`]: the cheapest request that etcd answers only
    /// through its leader (a linearizable read), so a node that lost its cluster counts as
    /// unreachable too. Returns the first failure.
    async fn check_connection(self: Arc<Self>, tx: &watch::Sender<DbSeen>, failed_checks: &mut u32) -> Result<(), Error> {
        let what = self.describe();
        loop {
            let check = async {
                let cfg = self.clone().client().await?;
                cfg.db().get(&format!("{}/component", cfg.prefix()), None).await.map(|_| ())
            };
            within(REQUEST_TIMEOUT, &what, check).await?;
            *failed_checks = 0;
            reachable(tx, None);
            tokio::time::sleep(CONNECTION_CHECK).await;
        }
    }

    /// `list_components` in a transaction loop that waits for a change (a component
    /// appearing, its alive key going or coming, its record refreshed), or at most
    /// [`COMPONENTS_RECHECK`] so a frozen etcd is noticed. Returns the first failure.
    async fn follow_components(self: Arc<Self>, tx: &watch::Sender<DbSeen>, failed_checks: &mut u32) -> Result<(), Error> {
        let what = self.describe();
        let cfg = within(REQUEST_TIMEOUT, &what, self.clone().client()).await?;
        let mut txn = cfg.txn();
        loop {
            let components = within(REQUEST_TIMEOUT, &what, txn.list_components()).await?;
            *failed_checks = 0;
            reachable(tx, Some(components));
            txn.repeat(true, Some(COMPONENTS_RECHECK));
            // setting up the watch needs etcd too: bound the whole wait
            within(COMPONENTS_RECHECK + REQUEST_TIMEOUT, &what, txn.commit()).await?;
        }
    }

    /// Wait until `first` has happened, at most `limit`; false if it has not.
    pub fn wait_first_read(&self, first: FirstRead, limit: Duration) -> bool {
        self.block(first.wait(limit))
    }
}

/// A server's link to the configuration DB: the handle (none when the setting turns it off,
/// with why) and what its monitor sees of it.
#[derive(Debug)]
pub struct Link {
    pub db: Option<Arc<ConfigDb>>,
    /// Why there is no DB (empty when there is one).
    pub off: String,
    pub seen: watch::Receiver<DbSeen>,
    pub monitor: Option<Follow>,
}

impl Link {
    /// Connect as `setting` says and start following `what`; without a DB, `seen` says
    /// [`DbSeen::Off`] for good.
    pub fn new(setting: DbSetting, what: Monitor) -> Link {
        match setting {
            DbSetting::Use(choice) => {
                let db = ConfigDb::new(choice);
                let (seen, monitor) = db.monitor(what);
                Link { db: Some(db), off: String::new(), seen, monitor: Some(monitor) }
            }
            DbSetting::Off(why) => Link { db: None, off: why.clone(), seen: watch::channel(DbSeen::Off(why)).1, monitor: None },
        }
    }
}

/// What [`ConfigDb::monitor`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// Only whether the DB answers (the subarray).
    Connection,
    /// Whether it answers and every component's liveness (the master).
    Components,
}

/// Period of [`Monitor::Connection`]'s read.
pub const CONNECTION_CHECK: Duration = Duration::from_secs(1);
/// Longest wait of [`Monitor::Components`] for a change before it reads again.
pub const COMPONENTS_RECHECK: Duration = Duration::from_secs(3);
/// Pause after a failed check before the next one.
pub const MONITOR_RETRY: Duration = Duration::from_millis(300);

/// `fut` within `limit`, a missed limit being a connection error that names the DB.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::Connection(format!("{what} did not answer within {:.1} s", limit.as_secs_f32()))),
    }
}

fn reachable(tx: &watch::Sender<DbSeen>, components: Option<Vec<sdp_config::ComponentStatus>>) {
    tx.send_if_modified(|seen| {
        if matches!(seen, DbSeen::Unreachable { .. }) {
            tracing::info!("configuration DB reachable again");
        }
        let next = DbSeen::Reachable(components);
        let changed = *seen != next;
        *seen = next;
        changed
    });
}

/// Tells when a [`ConfigDb::follow_pb_state`] view first holds the stored value.
#[derive(Debug, Clone)]
pub struct FirstRead(watch::Receiver<bool>);

impl FirstRead {
    /// Wait until the value has been read, at most `limit`; false if it has not.
    pub async fn wait(mut self, limit: Duration) -> bool {
        matches!(tokio::time::timeout(limit, self.0.wait_for(|read| *read)).await, Ok(Ok(_)))
    }
}

/// The persister key of the master's state (`/master`); [`lmc_key`]s are ADR-8 subarrays';
/// [`CONTROLLER_KEY`] is the ADR-8 controller's; any other key is a 2019 subarray id.
pub const MASTER_KEY: &str = "master";

/// The persister key of the ADR-8 controller's state (`/lmc/controller`). Not a valid
/// subarray id (those are two digits), so it cannot collide with one.
pub const CONTROLLER_KEY: &str = "lmc-controller";

/// Write a device's state record. Only this device writes it, so there is nothing to
/// read or compare first: a plain put (create or replace) in the caller's transaction.
fn put_state(txn: &mut sdp_config::Txn, id: &str, state: &Value) -> Result<(), Error> {
    match id.strip_prefix(LMC_PREFIX) {
        Some(lmc) => txn.put_lmc_subarray(lmc, state),
        None if id == MASTER_KEY => txn.put_master(state),
        None if id == CONTROLLER_KEY => txn.put_lmc_controller(state),
        None => txn.put_subarray(id, state),
    }
}

/// Persister keys of ADR-8 subarrays: `lmc/<id>` (`/lmc/subarray/<id>`).
const LMC_PREFIX: &str = "lmc/";

/// The persister key of ADR-8 subarray `id` (its record is `/lmc/subarray/<id>`).
pub fn lmc_key(id: &str) -> String {
    format!("{LMC_PREFIX}{id}")
}

/// A running background task of a device (a watch of a PB state key, a late state read);
/// dropping it stops the task.
#[derive(Debug)]
pub struct Follow(tokio::task::AbortHandle);

impl Drop for Follow {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn setting_from_environment() {
        assert!(matches!(DbSetting::from_lookup(env(&[])), DbSetting::Off(_)));
        assert!(matches!(DbSetting::from_lookup(env(&[("SDP_CONFIG_HOST", "h")])), DbSetting::Use(BackendChoice::Etcd(_))));
        assert!(matches!(DbSetting::from_lookup(env(&[("TOGGLE_CONFIG_DB", "1")])), DbSetting::Use(_)));
        assert!(matches!(DbSetting::from_lookup(env(&[("TOGGLE_CONFIG_DB", "0"), ("SDP_CONFIG_HOST", "h")])), DbSetting::Off(_)));
        assert!(matches!(DbSetting::from_lookup(env(&[("SDP_CONFIG_BACKEND", "memory")])), DbSetting::Use(BackendChoice::Memory)));
        assert!(matches!(DbSetting::from_lookup(env(&[("SDP_CONFIG_PORT", "x")])), DbSetting::Off(_)));
    }

    #[test]
    fn memory_backend_round_trip_from_inside_a_runtime() {
        let db = ConfigDb::new(BackendChoice::Memory);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // callable from async code too (the server factory runs there)
        rt.block_on(async {
            let pb = ProcessingBlock::new("pb-1", Value::String("sbi-1".into()), sdp_config::Workflow::new("realtime", "w", "1")).unwrap();
            db.create_pb(pb.clone(), Some(("01".into(), serde_json::json!({"obs_state": "READY"})))).unwrap();
            let Err(CreateError::Db(e)) = db.create_pb(pb, None) else { panic!("a duplicate is refused, nothing in doubt") };
            assert_eq!(e.to_string(), "Cannot create /pb/pb-1, as it already exists!");
            assert_eq!(db.load_state("01").unwrap(), Some(serde_json::json!({"obs_state": "READY"})));
            // persist waits for its write: the value is there when it returns
            db.persist("01", serde_json::json!({"obs_state": "SCANNING"}));
            assert_eq!(db.load_state("01").unwrap(), Some(serde_json::json!({"obs_state": "SCANNING"})));
        });
    }
}
