//! `SDPSubarray` of the ADR-8 profile (`mid-sdp/subarray/01` …): the commands a current TMC
//! sends, on the state table [`crate::fsm::adr8`], with execution blocks in the
//! configuration DB.
//!
//! How a command runs: the table decides whether it may run (State, obsState, adminMode);
//! the argument is parsed once ([`super::args`]); everything that can refuse it (bad input,
//! duplicate ids, components not alive, the DB not answering before anything was sent) does
//! so before any state changes — a refused command changes nothing. Then the device passes
//! through the row's `via` state, does its configuration-DB work and lands in the row's
//! `to` state; a DB failure after that point is an internal failure: obsState FAULT, with
//! the reason in the log and `healthInfo`. Every obsState the device enters is pushed as a
//! change and an archive event from the device itself, so a subscriber sees CONFIGURING or
//! ABORTING even when they last a millisecond.
//!
//! AssignResources ends in RESOURCING. A watch of the receive processing block's state
//! (`vis_receive`) moves the subarray to IDLE when the block publishes its receive addresses,
//! or to FAULT when it fails; without a receive block it moves on at once. The watch applies
//! the outcome, then publishes it through the device's [`DeviceHandle`]: the runtime runs
//! the publication with the device locked, as a command, and sends its events in order.
//!
//! The subarray's state is kept in `/lmc/subarray/<nn>` and restored when its server restarts,
//! by the lifecycle every device shares ([`crate::restore`]): a subarray that was waiting for
//! receive addresses waits again; one that stopped in a transitional state (CONFIGURING,
//! ABORTING, RESETTING, RESTARTING) comes back in FAULT, saying so, for Abort/Restart to recover.

use std::sync::{Arc, Mutex};

use sdp_config::{EbStatus, Error as DbError, ScanRecord};
use serde_json::Value;
use tango::device::Outbox;
use tango::handle::DeviceHandle;
use tango::registration::DeviceContext;
use tango::{Attr, Cmd, DevFailed, DevState, Device, DeviceClass, TangoEnum};

use super::args::{self, ArgError};
use super::Services;
use crate::cfgdb::{lmc_key, CreateError, Follow, New};
use crate::fsm::adr8::{self, AdminMode, Event, ObsState, Transition};
use crate::fsm::HealthState;
use crate::restore::{self, Late, Start};

pub const CLASS: &str = "SDPSubarray";

/// Reasons of the errors the commands raise (stable; clients may match them).
pub mod reason {
    pub const NOT_ALLOWED: &str = "API_CommandNotAllowed";
    pub const INVALID: &str = super::args::INVALID_ARGUMENT;
    /// The execution block or a processing block id is taken.
    pub const EXISTS: &str = "SDP_IdExists";
    /// The processing controller or every deployer is not alive.
    pub const COMPONENTS_OFFLINE: &str = "SDP_ComponentsOffline";
    /// No configuration DB, or it did not answer before anything was sent.
    pub const DB_UNAVAILABLE: &str = "SDP_ConfigDbUnavailable";
    /// The command failed after it started: obsState is FAULT.
    pub const FAILED: &str = "SDP_CommandFailed";
}

/// What the device shows, shared with the watch of the receive processing block.
#[derive(Debug, Clone, PartialEq)]
pub struct Obs {
    pub state: DevState,
    pub obs: ObsState,
    pub admin: AdminMode,
    /// JSON text (recvaddrs layout: scan type → beam → host/port …), `{}` when none.
    pub receive_addresses: String,
    pub scan_type: Option<String>,
    pub scan_id: i64,
    pub eb_id: Option<String>,
    /// The execution block as stored (its scan types are what Configure may choose).
    pub eb: Value,
    /// The receive processing block whose addresses RESOURCING waits for.
    pub receive_pb: Option<String>,
    /// Why the subarray is in FAULT.
    pub fault: Option<String>,
    /// obsStates entered by the watch and not yet pushed as events.
    unpushed: Vec<ObsState>,
    /// Receive addresses set by the watch and not yet pushed.
    unpushed_addresses: bool,
}

impl Default for Obs {
    fn default() -> Self {
        Obs {
            state: DevState::OFF,
            obs: ObsState::EMPTY,
            admin: AdminMode::ONLINE,
            receive_addresses: "{}".into(),
            scan_type: None,
            scan_id: 0,
            eb_id: None,
            eb: Value::Null,
            receive_pb: None,
            fault: None,
            unpushed: Vec::new(),
            unpushed_addresses: false,
        }
    }
}

impl Obs {
    /// The stored record (`/lmc/subarray/<nn>`).
    pub fn to_json(&self, device: &str) -> Value {
        serde_json::json!({
            "device": device,
            "state": self.state.to_string(),
            "obs_state": self.obs.label(),
            "admin_mode": self.admin.label(),
            "receive_addresses": self.receive_addresses,
            "scan_type": self.scan_type,
            "scan_id": self.scan_id,
            "eb_id": self.eb_id,
            "eb": self.eb,
            "receive_pb": self.receive_pb,
            "fault": self.fault,
        })
    }

    /// From the stored record; what is missing or unreadable keeps its default. A record
    /// left in a transitional state (the server stopped during a command) comes back FAULT.
    pub fn from_json(v: &Value) -> Obs {
        let mut o = Obs::default();
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        if s("state") == Some("ON") {
            o.state = DevState::ON;
        }
        if let Some(x) = s("obs_state").and_then(ObsState::parse) {
            o.obs = x;
        }
        if let Some(x) = s("admin_mode").and_then(AdminMode::parse) {
            o.admin = x;
        }
        if let Some(x) = s("receive_addresses") {
            o.receive_addresses = x.to_string();
        }
        o.scan_type = s("scan_type").map(str::to_string);
        o.scan_id = v.get("scan_id").and_then(Value::as_i64).unwrap_or(0);
        o.eb_id = s("eb_id").map(str::to_string);
        o.eb = v.get("eb").cloned().unwrap_or(Value::Null);
        o.receive_pb = s("receive_pb").map(str::to_string);
        o.fault = s("fault").map(str::to_string);
        if matches!(o.obs, ObsState::CONFIGURING | ObsState::ABORTING | ObsState::RESETTING | ObsState::RESTARTING) {
            o.fault = Some(format!("the device server stopped while the subarray was {}", o.obs));
            o.obs = ObsState::FAULT;
        }
        o
    }

    /// Apply an internal event (from the watch) if the table allows it now.
    fn observe(&mut self, event: Event, why: Option<String>) -> bool {
        let Ok(row) = adr8::check(self.state, self.obs, self.admin, event) else { return false };
        self.obs = row.to;
        self.fault = why;
        self.unpushed.push(row.to);
        true
    }
}

/// A numbered transaction id for commands that carry none (every command logs one).
fn local_txn() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("txn-local-{}-{n:08}", chrono::Utc::now().format("%Y%m%d"))
}

pub struct Subarray {
    name: String,
    /// The configuration-DB id (`mid-sdp/subarray/01` → `01`).
    id: String,
    /// The stored state, when it could not be read at start-up (read in the background).
    late: Option<Late<Obs>>,
    shared: Arc<Mutex<Obs>>,
    services: Arc<Services>,
    /// What the watches publish their changes with.
    handle: DeviceHandle<Subarray>,
    /// The watch of the receive processing block's state.
    watch: Option<Follow>,
    outbox: Outbox,
    /// healthState and healthInfo as last pushed.
    health_pushed: Option<(HealthState, String)>,
    /// Publishes the device's health when what the server sees of the DB changes it.
    _health_watch: Option<Follow>,
}

impl std::fmt::Debug for Subarray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subarray").field("name", &self.name).field("obs", &*self.lock()).finish()
    }
}

fn failed(reason: &str, desc: impl Into<String>, cmd: &str) -> DevFailed {
    DevFailed::new(reason, desc, format!("{CLASS}.{cmd}()"))
}

fn invalid(e: ArgError) -> DevFailed {
    e.to_dev_failed(CLASS)
}

impl Subarray {
    /// The factory of [`tango::Server::class_with_handle`].
    pub fn create(ctx: &DeviceContext, services: &Arc<Services>, handle: DeviceHandle<Subarray>) -> Subarray {
        tracing::info!("Initialising SDP Subarray (ADR-8 interface): {}", ctx.name);
        let first = services.created.first(&ctx.name);
        let mut d = Subarray {
            name: ctx.name.clone(),
            id: crate::subarray::subarray_id(&ctx.name),
            late: None,
            shared: Arc::new(Mutex::new(Obs::default())),
            services: services.clone(),
            handle: handle.clone(),
            watch: None,
            outbox: Outbox::default(),
            health_pushed: None,
            // when the DB stops or starts answering
            _health_watch: services.follow_health(&ctx.name, crate::health::subarray, handle, |d, _| d.publish_observed()),
        };
        let db = services.db();
        match restore::begin(db.as_ref(), &lmc_key(&d.id), first, |v| Some(Obs::from_json(v)), |_| async {}) {
            Start::NoDb => {}
            Start::Init | Start::Stored(None) => d.persist(),
            Start::Stored(Some(v)) => d.restore(Obs::from_json(&v)),
            Start::Later(late, e) => {
                eprintln!(
                    "{CLASS} {}: cannot read /lmc/subarray/{} ({e}): State UNKNOWN and commands refused until it is read",
                    d.name, d.id
                );
                d.late = Some(late);
            }
        }
        d
    }

    /// Take a stored state; a subarray that was waiting for receive addresses waits again.
    fn restore(&mut self, stored: Obs) {
        eprintln!(
            "{CLASS} {}: restored from /lmc/subarray/{}: State {}, obsState {}, execution block {}",
            self.name,
            self.id,
            stored.state,
            stored.obs,
            stored.eb_id.as_deref().unwrap_or("none")
        );
        let resume = (stored.obs == ObsState::RESOURCING).then(|| (stored.receive_pb.clone(), stored.eb_id.clone()));
        *self.lock() = stored;
        if let (Some((Some(pb), Some(eb))), Some(db)) = (resume, self.services.db()) {
            self.wait_for_receive_addresses(&db, &pb, &eb);
        }
        self.persist();
    }

    /// While the stored state has not been read: none of it is shown and nothing may change
    /// it (the defaults must not overwrite it).
    fn unrestored(&self) -> bool {
        self.late.as_ref().is_some_and(|l| l.stored().is_none())
    }

    /// Before a command: take a stored state read late, or read it now; refuse while the DB
    /// does not answer.
    fn ensure_restored(&mut self, cmd: &str) -> Result<(), DevFailed> {
        let Some(late) = &self.late else { return Ok(()) };
        let stored = match late.stored() {
            Some(stored) => stored.clone(),
            None => {
                let db = self.services.db().expect("a late read has a DB");
                match db.load_state(&lmc_key(&self.id)) {
                    Ok(v) => v.as_ref().map(Obs::from_json),
                    Err(e) => {
                        return Err(failed(
                            reason::DB_UNAVAILABLE,
                            format!(
                                "The state of {} stored in /lmc/subarray/{} has not been read since the server started ({e}); nothing was \
                                 changed: {cmd} is refused until the configuration DB answers",
                                self.name, self.id
                            ),
                            cmd,
                        ))
                    }
                }
            }
        };
        self.late = None;
        match stored {
            Some(o) => self.restore(o),
            None => self.persist(),
        }
        Ok(())
    }

    /// Record the state (a background writer stores it; see [`crate::cfgdb::ConfigDb::persist`]).
    fn persist(&self) {
        if let Some(db) = self.services.db() {
            if !self.unrestored() {
                db.persist(&lmc_key(&self.id), self.lock().to_json(&self.name));
            }
        }
    }

    /// Push healthState and healthInfo if they differ from what was last pushed.
    fn push_health(&mut self) {
        let now = self.health();
        if self.health_pushed.as_ref() != Some(&now) {
            self.outbox.push_change("healthState", now.0);
            self.outbox.push_archive("healthState", now.0);
            self.outbox.push_change("healthInfo", now.1.clone());
            self.health_pushed = Some(now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Obs> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What clients read.
    pub fn obs(&self) -> Obs {
        match self.late.as_ref().and_then(|l| l.stored()) {
            Some(Some(stored)) => stored.clone(),
            _ => self.lock().clone(),
        }
    }

    fn allowed(&self, event: Event) -> Result<&'static Transition, DevFailed> {
        let o = self.lock();
        adr8::check(o.state, o.obs, o.admin, event).map_err(|r| r.to_dev_failed(CLASS))
    }

    /// Push what the watch changed and nobody published yet (the receive addresses before
    /// the obsState they allow), then `now`.
    fn push_obs(&mut self, now: Option<ObsState>) {
        let (mut states, addresses) = {
            let mut o = self.lock();
            let addresses = std::mem::take(&mut o.unpushed_addresses).then(|| o.receive_addresses.clone());
            (std::mem::take(&mut o.unpushed), addresses)
        };
        if let Some(a) = addresses {
            self.outbox.push_change("receiveAddresses", a.clone());
            self.outbox.push_archive("receiveAddresses", a);
        }
        states.extend(now);
        for s in states {
            self.outbox.push_change("obsState", s);
            self.outbox.push_archive("obsState", s);
        }
    }

    fn enter(&mut self, s: ObsState) {
        self.lock().obs = s;
        self.push_obs(Some(s));
    }

    /// Push the attributes other than obsState that differ from `before`.
    fn push_changes(&mut self, before: &Obs) {
        let now = self.obs();
        if now.receive_addresses != before.receive_addresses {
            self.outbox.push_change("receiveAddresses", now.receive_addresses.clone());
            self.outbox.push_archive("receiveAddresses", now.receive_addresses.clone());
        }
        if now.scan_type != before.scan_type {
            let t = scan_type_text(&now.scan_type);
            self.outbox.push_change("scanType", t.clone());
            self.outbox.push_archive("scanType", t);
        }
        if now.scan_id != before.scan_id {
            self.outbox.push_change("scanID", now.scan_id);
            self.outbox.push_archive("scanID", now.scan_id);
        }
    }

    /// Run `event`: through `via`, `effect` (its failure is internal: FAULT), to `to`.
    fn transition(
        &mut self,
        event: Event,
        txn: Option<String>,
        effect: impl FnOnce(&mut Self) -> Result<(), String>,
    ) -> Result<(), DevFailed> {
        self.ensure_restored(event.name())?;
        let row = self.allowed(event)?;
        let txn = txn.unwrap_or_else(local_txn);
        tracing::info!("{}: {event} (transaction_id {txn})", self.name);
        eprintln!("{CLASS} {}: {event} transaction_id={txn}", self.name);
        let before = self.obs();
        self.push_obs(None);
        if let Some(via) = row.via {
            self.enter(via);
        }
        let outcome = effect(self);
        // the attributes the command changed go out before the obsState that completes it:
        // a client that sees READY finds scanType already set
        self.push_changes(&before);
        let result = match outcome {
            Ok(()) => {
                if let Some(s) = row.state {
                    self.lock().state = s;
                }
                // a command that ends where it started without passing anywhere (On, Off in
                // EMPTY) pushes nothing: subscribers see changes only
                if row.via.is_some() || row.to != before.obs {
                    self.enter(row.to);
                } else {
                    self.lock().obs = row.to;
                }
                tracing::info!("{}: {event} -> obsState {}", self.name, row.to);
                Ok(())
            }
            Err(why) => Err(self.fault(event, &why)),
        };
        self.push_health();
        self.persist();
        result
    }

    /// An internal failure: obsState FAULT, the reason in the log and healthInfo.
    fn fault(&mut self, event: Event, why: &str) -> DevFailed {
        let text = format!("{event} failed: {why}");
        tracing::error!("{}: {text}; obsState FAULT", self.name);
        eprintln!("{CLASS} {}: {text}; obsState FAULT", self.name);
        {
            let mut o = self.lock();
            o.fault = Some(text.clone());
        }
        self.enter(ObsState::FAULT);
        self.push_health();
        self.persist();
        failed(reason::FAILED, format!("{text}; obsState is FAULT (Abort, ObsReset or Restart recover)"), event.name())
    }

    fn eb_id(&self) -> Option<String> {
        self.lock().eb_id.clone()
    }

    fn db(&self, cmd: &str) -> Result<Arc<crate::cfgdb::ConfigDb>, DevFailed> {
        self.services.db().ok_or_else(|| {
            failed(
                reason::DB_UNAVAILABLE,
                format!(
                    "No configuration DB ({}): nothing was changed. Start the server with SDP_CONFIG_HOST and SDP_CONFIG_PORT set.",
                    self.services.link.off
                ),
                cmd,
            )
        })
    }

    /// Change the execution block's state (an internal failure when it cannot).
    fn update_eb(&self, scan_types: Vec<Value>, change: impl Fn(&mut sdp_config::EbState) + Send + 'static) -> Result<(), String> {
        let (Some(db), Some(eb_id)) = (self.services.db(), self.eb_id()) else { return Ok(()) };
        db.update_eb(&eb_id, scan_types, change).map_err(|e| format!("cannot record it in execution block {eb_id}: {e}"))
    }

    fn end_eb(&self, status: EbStatus) -> Result<(), String> {
        let (Some(db), Some(eb_id)) = (self.services.db(), self.eb_id()) else { return Ok(()) };
        match db.end_eb(&eb_id, status) {
            // never stored (an AssignResources whose commit was lost): nothing to end
            Ok(()) | Err(DbError::Vanished { .. }) => Ok(()),
            Err(e) => Err(format!("cannot end execution block {eb_id}: {e}")),
        }
    }

    /// Forget the execution block: no watch, no addresses, no scan.
    fn clear(&mut self) {
        self.watch = None;
        let mut o = self.lock();
        o.eb_id = None;
        o.eb = Value::Null;
        o.receive_pb = None;
        o.receive_addresses = "{}".into();
        o.scan_type = None;
        o.scan_id = 0;
    }

    fn on(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::On, None, |_| Ok(()))
    }

    fn off(&mut self) -> Result<(), DevFailed> {
        self.ensure_restored("Off")?;
        self.allowed(Event::Off)?;
        let active = self.lock().obs != ObsState::EMPTY;
        // Off always succeeds: a DB that does not answer only costs the EB its end mark
        if active {
            if let Err(e) = self.end_eb(EbStatus::CANCELLED) {
                tracing::warn!("{}: Off: {e}", self.name);
            }
        }
        self.transition(Event::Off, None, |d| {
            d.clear();
            d.lock().fault = None;
            Ok(())
        })
    }

    fn assign_resources(&mut self, arg: &str) -> Result<(), DevFailed> {
        const CMD: &str = "AssignResources";
        self.ensure_restored(CMD)?;
        self.allowed(Event::AssignResources)?;
        let a = args::assign_resources(arg).map_err(invalid)?;
        let db = self.db(CMD)?;
        let components = self.services.components();
        if components.state != HealthState::OK {
            return Err(failed(
                reason::COMPONENTS_OFFLINE,
                format!(
                    "The processing controller or no deployer is alive ({}): cannot start processing blocks; nothing was changed",
                    components.info
                ),
                CMD,
            ));
        }
        let finish = self.eb_id();
        match db.create(New::Eb { eb: a.eb.clone(), pbs: a.pbs.clone(), finish }) {
            Ok(()) => {}
            Err(CreateError::Db(e @ DbError::Collision { .. })) => {
                return Err(failed(
                    reason::EXISTS,
                    format!("{e} Use new execution block and processing block ids; nothing was changed"),
                    CMD,
                ))
            }
            Err(CreateError::Db(e @ DbError::Connection(_))) => {
                return Err(failed(reason::DB_UNAVAILABLE, format!("Configuration DB unavailable: {e}; nothing was changed"), CMD))
            }
            Err(CreateError::Db(e)) => return Err(failed(reason::INVALID, format!("{e}; nothing was changed"), CMD)),
            Err(CreateError::InDoubt(e)) => {
                // sent, unanswered: the EB may or may not be stored — an internal failure; the
                // subarray keeps its id so that Restart cancels it if it was stored
                let (eb_id, eb) = (a.eb_id.clone(), a.eb.clone());
                self.transition(Event::AssignResources, a.transaction_id.clone(), move |d| {
                    let mut o = d.lock();
                    (o.eb_id, o.eb) = (Some(eb_id), eb);
                    Ok(())
                })?;
                return Err(
                    self.fault(Event::AssignResources, &format!("the configuration DB did not confirm execution block {}: {e}", a.eb_id))
                );
            }
        }
        let (eb_id, receive_pb) = (a.eb_id.clone(), a.receive_pb.clone());
        self.transition(Event::AssignResources, a.transaction_id.clone(), move |d| {
            d.watch = None;
            let mut o = d.lock();
            o.eb_id = Some(eb_id);
            o.receive_pb = receive_pb;
            o.eb = a.eb.clone();
            o.receive_addresses = "{}".into();
            o.scan_type = None;
            o.scan_id = 0;
            Ok(())
        })?;
        match a.receive_pb {
            // no receive processing block: nothing to wait for
            None => {
                let before = self.obs();
                self.lock().observe(Event::ResourcesReady, None);
                self.push_obs(None);
                self.push_changes(&before);
            }
            Some(pb) => self.wait_for_receive_addresses(&db, &pb, &a.eb_id),
        }
        Ok(())
    }

    /// Follow the receive PB's state: its receive addresses move the subarray to IDLE, its
    /// failure to FAULT; then the change is published through the device's handle.
    fn wait_for_receive_addresses(&mut self, db: &Arc<crate::cfgdb::ConfigDb>, pb_id: &str, eb_id: &str) {
        let (shared, name, handle, pb, eb) =
            (self.shared.clone(), self.name.clone(), self.handle.clone(), pb_id.to_string(), eb_id.to_string());
        let (follow, _) = db.watch_pb_state(pb_id, move |state: Option<&Value>| {
            let Some(state) = state else { return };
            let changed = {
                let mut o = shared.lock().unwrap_or_else(|p| p.into_inner());
                if o.eb_id.as_deref() != Some(eb.as_str()) {
                    return;
                }
                if state.get("status").and_then(Value::as_str) == Some("FAILED") {
                    let why = format!("processing block {pb} failed: {}", crate::receive::py_dumps(state));
                    let moved = o.observe(Event::Failure, Some(why.clone()));
                    if moved {
                        tracing::error!("{name}: {why}; obsState FAULT");
                        eprintln!("{CLASS} {name}: {why}; obsState FAULT");
                    }
                    moved
                } else {
                    match state.get("receive_addresses") {
                        Some(addrs) if !addrs.is_null() => {
                            let text = crate::receive::py_dumps(addrs);
                            let new_addresses = o.receive_addresses != text;
                            if new_addresses {
                                o.receive_addresses = text;
                                o.unpushed_addresses = true;
                            }
                            o.observe(Event::ResourcesReady, None) || new_addresses
                        }
                        _ => false,
                    }
                }
            };
            if changed {
                // On a thread of its own: the watch may report during a request of this
                // device (AssignResources starts it), whose lock the run waits for.
                let (name, handle) = (name.clone(), handle.clone());
                std::thread::spawn(move || {
                    if let Err(e) = handle.run(|d: &mut Subarray| d.publish_observed()) {
                        tracing::warn!("{name}: cannot publish the obsState change ({e})");
                    }
                });
            }
        });
        self.watch = Some(follow);
    }

    /// Publish what the watches changed (obsState, receive addresses, health) and store it;
    /// run through the device's handle.
    fn publish_observed(&mut self) {
        self.push_obs(None);
        self.push_health();
        self.persist();
    }

    fn release(&mut self, event: Event, txn: Option<String>) -> Result<(), DevFailed> {
        self.transition(event, txn, |d| {
            d.end_eb(EbStatus::FINISHED)?;
            d.clear();
            Ok(())
        })
    }

    fn configure(&mut self, arg: &str) -> Result<(), DevFailed> {
        self.ensure_restored("Configure")?;
        self.allowed(Event::Configure)?;
        let c = args::configure(arg).map_err(invalid)?;
        c.check_scan_type(&self.lock().eb).map_err(invalid)?;
        let (scan_type, new_types) = (c.scan_type.clone(), c.new_scan_types.clone());
        self.transition(Event::Configure, c.transaction_id.clone(), move |d| {
            let st = scan_type.clone();
            d.update_eb(new_types.clone(), move |s| s.scan_type = Some(st.clone()))?;
            let mut o = d.lock();
            if let Some(list) = o.eb.get_mut("scan_types").and_then(Value::as_array_mut) {
                list.extend(new_types);
            }
            o.scan_type = Some(scan_type);
            Ok(())
        })
    }

    fn scan(&mut self, arg: &str) -> Result<(), DevFailed> {
        self.ensure_restored("Scan")?;
        self.allowed(Event::Scan)?;
        let s = args::scan(arg).map_err(invalid)?;
        let (id, scan_type) = (s.scan_id, self.lock().scan_type.clone().unwrap_or_default());
        self.transition(Event::Scan, s.transaction_id.clone(), move |d| {
            d.update_eb(vec![], move |st| {
                st.scan_id = Some(id);
                st.scans.push(ScanRecord { scan_id: id, scan_type: scan_type.clone(), status: "SCANNING".into() });
            })?;
            d.lock().scan_id = id;
            Ok(())
        })
    }

    fn end_scan(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::EndScan, None, |d| {
            d.update_eb(vec![], |st| end_scans(st, "FINISHED"))?;
            d.lock().scan_id = 0;
            Ok(())
        })
    }

    fn end(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::End, None, |d| {
            d.update_eb(vec![], |st| st.scan_type = None)?;
            d.lock().scan_type = None;
            Ok(())
        })
    }

    fn abort(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::Abort, None, |d| {
            // no more waiting for receive addresses; a scan in progress is aborted
            d.update_eb(vec![], |st| end_scans(st, "ABORTED"))?;
            d.lock().scan_id = 0;
            Ok(())
        })
    }

    fn obs_reset(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::ObsReset, None, |d| {
            d.update_eb(vec![], |st| st.scan_type = None)?;
            let mut o = d.lock();
            o.scan_type = None;
            o.fault = None;
            Ok(())
        })
    }

    fn restart(&mut self) -> Result<(), DevFailed> {
        self.transition(Event::Restart, None, |d| {
            d.end_eb(EbStatus::CANCELLED)?;
            d.clear();
            d.lock().fault = None;
            Ok(())
        })
    }

    fn health(&self) -> (HealthState, String) {
        let (fault, obs) = {
            let o = self.lock();
            (o.fault.clone(), o.obs)
        };
        match fault {
            Some(why) if obs == ObsState::FAULT => (HealthState::DEGRADED, format!("obsState FAULT: {why}")),
            _ => {
                let h = self.services.db_health();
                (h.state, h.info)
            }
        }
    }
}

/// A scan still marked SCANNING ends with `status`; no current scan.
fn end_scans(st: &mut sdp_config::EbState, status: &str) {
    st.scan_id = None;
    for s in st.scans.iter_mut().filter(|s| s.status == "SCANNING") {
        s.status = status.into();
    }
}

fn scan_type_text(t: &Option<String>) -> String {
    t.clone().unwrap_or_else(|| "null".into())
}

/// `is_allowed` for the Tango layer: the same table.
fn guard(event: Event) -> impl Fn(&Subarray) -> Result<(), DevFailed> + Send + Sync + 'static {
    // while the stored state is unread the handler decides (it reads it first, or refuses)
    move |d: &Subarray| if d.unrestored() { Ok(()) } else { d.allowed(event).map(|_| ()) }
}

impl Device for Subarray {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new(CLASS)
            .description("SKA SDP subarray, ADR-8 interface: obsState EMPTY..RESTARTING, execution blocks, telescope-model JSON")
            .attribute(Attr::new("version").read(|_: &Subarray| env!("CARGO_PKG_VERSION").to_string()))
            .attribute(
                Attr::new("obsState")
                    .read(|d: &Subarray| d.obs().obs)
                    .description("Observing state (ADR-8: EMPTY 0, RESOURCING 1, IDLE 2, CONFIGURING 3, READY 4, SCANNING 5, ABORTING 6, ABORTED 7, RESETTING 8, FAULT 9, RESTARTING 10); change and archive events pushed by the device")
                    .abs_change(1)
                    .archive_abs_change(1),
            )
            .attribute(super::admin_mode_attribute(
                |d: &Subarray| d.lock().admin,
                |d: &mut Subarray, v| {
                    d.lock().admin = v;
                    d.persist();
                    &mut d.outbox
                },
            ))
            .attribute(
                Attr::new("healthState")
                    .read(|d: &Subarray| d.health().0)
                    .description("OK while the configuration DB answers; DEGRADED when it does not, or in obsState FAULT (healthInfo says why); events pushed by the device")
                    .abs_change(1)
                    .archive_abs_change(1),
            )
            .attribute(Attr::new("healthInfo").read(|d: &Subarray| d.health().1).description("Why healthState is what it is (the FAULT reason)"))
            .attribute(
                Attr::new("receiveAddresses")
                    .read(|d: &Subarray| d.obs().receive_addresses)
                    .description("Receive addresses published by the receive processing block (JSON: scan type -> beam -> function, host, port, ...)"),
            )
            .attribute(Attr::new("scanType").read(|d: &Subarray| scan_type_text(&d.obs().scan_type)).description("The configured scan type (`null` when none)"))
            .attribute(Attr::new("scanID").read(|d: &Subarray| d.obs().scan_id).description("The scan running now (0 when not scanning)"))
            .attribute(Attr::new("executionBlock").read(|d: &Subarray| d.obs().eb_id.unwrap_or_default()).description("Id of the execution block (empty when none)"))
            .command(Cmd::new("On").run(|d: &mut Subarray, ()| d.on()).allowed(guard(Event::On)))
            .command(Cmd::new("Off").run(|d: &mut Subarray, ()| d.off()).allowed(guard(Event::Off)))
            .command(
                Cmd::new("AssignResources")
                    .doc_in("Execution block and processing blocks (JSON, ska-sdp-assignres 0.3 / 0.4 / 1.0)")
                    .run(|d: &mut Subarray, arg: String| d.assign_resources(&arg))
                    .allowed(guard(Event::AssignResources)),
            )
            .command(
                Cmd::new("ReleaseResources")
                    .doc_in("Resources to release (JSON, ska-sdp-releaseres 0.4): the execution block ends")
                    .run(|d: &mut Subarray, arg: String| {
                        d.ensure_restored("ReleaseResources")?;
                        d.allowed(Event::ReleaseResources)?;
                        let r = args::release_resources(&arg).map_err(invalid)?;
                        d.release(Event::ReleaseResources, r.transaction_id)
                    })
                    .allowed(guard(Event::ReleaseResources)),
            )
            .command(
                Cmd::new("ReleaseAllResources")
                    .run(|d: &mut Subarray, ()| d.release(Event::ReleaseAllResources, None))
                    .allowed(guard(Event::ReleaseAllResources)),
            )
            .command(
                Cmd::new("Configure")
                    .doc_in("Scan type (JSON, ska-sdp-configure 0.4)")
                    .run(|d: &mut Subarray, arg: String| d.configure(&arg))
                    .allowed(guard(Event::Configure)),
            )
            .command(Cmd::new("Scan").doc_in("Scan id (JSON, ska-sdp-scan 0.4)").run(|d: &mut Subarray, arg: String| d.scan(&arg)).allowed(guard(Event::Scan)))
            .command(Cmd::new("EndScan").run(|d: &mut Subarray, ()| d.end_scan()).allowed(guard(Event::EndScan)))
            .command(Cmd::new("End").run(|d: &mut Subarray, ()| d.end()).allowed(guard(Event::End)))
            .command(Cmd::new("Abort").run(|d: &mut Subarray, ()| d.abort()).allowed(guard(Event::Abort)))
            .command(Cmd::new("ObsReset").run(|d: &mut Subarray, ()| d.obs_reset()).allowed(guard(Event::ObsReset)))
            .command(Cmd::new("Restart").run(|d: &mut Subarray, ()| d.restart()).allowed(guard(Event::Restart)))
    }

    fn state(&self) -> DevState {
        if self.unrestored() {
            return DevState::UNKNOWN;
        }
        self.obs().state
    }

    fn status(&self) -> String {
        let o = self.lock();
        match &o.fault {
            Some(why) if o.obs == ObsState::FAULT => format!("The device is in {} state, obsState FAULT: {why}", o.state),
            _ => format!("The device is in {} state, obsState {}.", o.state, o.obs),
        }
    }

    fn outbox(&mut self) -> Option<&mut Outbox> {
        Some(&mut self.outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adr8::args::tests::assign_04;
    use crate::cfgdb::DbSetting;
    use sdp_config::{BackendChoice, ComponentInfo, Liveness};
    use std::time::{Duration, Instant};

    /// Services on a memory DB where the processing controller and a deployer are alive.
    fn services_with_components() -> (Arc<Services>, Vec<Liveness>) {
        let s = Services::new(DbSetting::Use(BackendChoice::Memory));
        let db = s.db().unwrap();
        let start = |name: &str, kind: &str| {
            let (db2, info) = (db.clone(), ComponentInfo::new(name, kind));
            db.block(async move { Liveness::start(&db2.client().await.unwrap(), info).await.unwrap() })
        };
        let alive = vec![start("processing-controller", "controller"), start("deployer-process", "deployer")];
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.components().state != HealthState::OK && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        (s, alive)
    }

    fn device(s: &Arc<Services>, name: &str) -> Subarray {
        Subarray::create(&DeviceContext::new(name, CLASS), s, DeviceHandle::detached())
    }

    /// The obsStates pushed since the last call.
    fn pushed(d: &mut Subarray) -> Vec<String> {
        d.outbox
            .take()
            .into_iter()
            .filter(|p| p.attr == "obsState" && p.kind == tango::events::EventKind::Change)
            .map(|p| format!("{:?}", p.value.unwrap()))
            .collect()
    }

    fn no_receive(eb: &str, pb: &str) -> String {
        let mut v: Value = serde_json::from_str(&assign_04(eb, pb)).unwrap();
        v["processing_blocks"] =
            serde_json::json!([{"pb_id": format!("{pb}-b"), "script": {"kind": "batch", "name": "testdask", "version": "0.1.0"}}]);
        v.to_string()
    }

    #[test]
    fn tmc_sequence_without_a_receive_block() {
        let (s, _alive) = services_with_components();
        let mut d = device(&s, "mid-sdp/subarray/01");
        assert_eq!((d.obs().state, d.obs().obs), (DevState::OFF, ObsState::EMPTY));
        // State OFF: everything but On refused
        let e = d.assign_resources(&no_receive("eb-a", "pb-a")).unwrap_err();
        assert_eq!(e.errors[0].reason, reason::NOT_ALLOWED);
        d.on().unwrap();
        d.outbox.take();
        d.assign_resources(&no_receive("eb-a", "pb-a")).unwrap();
        assert_eq!(d.obs().obs, ObsState::IDLE);
        let p = pushed(&mut d);
        assert_eq!(p.len(), 2, "{p:?}"); // RESOURCING then IDLE
        d.configure(r#"{"interface": "https://schema.skao.int/ska-sdp-configure/0.4", "scan_type": "science"}"#).unwrap();
        assert_eq!((d.obs().obs, d.obs().scan_type.as_deref()), (ObsState::READY, Some("science")));
        assert_eq!(pushed(&mut d).len(), 2); // CONFIGURING then READY
        d.scan(r#"{"scan_id": 7}"#).unwrap();
        assert_eq!((d.obs().obs, d.obs().scan_id), (ObsState::SCANNING, 7));
        d.end_scan().unwrap();
        assert_eq!((d.obs().obs, d.obs().scan_id), (ObsState::READY, 0));
        d.end().unwrap();
        assert_eq!((d.obs().obs, scan_type_text(&d.obs().scan_type)), (ObsState::IDLE, "null".to_string()));
        d.release(Event::ReleaseAllResources, None).unwrap();
        assert_eq!((d.obs().obs, d.obs().receive_addresses.as_str()), (ObsState::EMPTY, "{}"));
        let db = s.db().unwrap();
        let db2 = db.clone();
        let st = db
            .block(async move {
                let cfg = db2.client().await.unwrap();
                let mut txn = cfg.txn();
                txn.get_execution_block_state("eb-a").await
            })
            .unwrap()
            .unwrap();
        assert_eq!(st.status, EbStatus::FINISHED);
        assert_eq!(st.scans, vec![ScanRecord { scan_id: 7, scan_type: "science".into(), status: "FINISHED".into() }]);
        d.off().unwrap();
        assert_eq!((d.obs().state, d.obs().obs), (DevState::OFF, ObsState::EMPTY));
    }

    #[test]
    fn refusals_change_nothing() {
        let (s, _alive) = services_with_components();
        let mut d = device(&s, "mid-sdp/subarray/02");
        d.on().unwrap();
        for (arg, want) in [("", reason::INVALID), ("{", reason::INVALID), (r#"{"interface": "x"}"#, reason::INVALID)] {
            let e = d.assign_resources(arg).unwrap_err();
            assert_eq!(e.errors[0].reason, want, "{arg}");
            assert_eq!(d.obs().obs, ObsState::EMPTY);
        }
        d.assign_resources(&no_receive("eb-b", "pb-b")).unwrap();
        let mut other = device(&s, "mid-sdp/subarray/03");
        other.on().unwrap();
        let e = other.assign_resources(&no_receive("eb-b", "pb-other")).unwrap_err();
        assert_eq!(e.errors[0].reason, reason::EXISTS);
        assert!(e.errors[0].desc.starts_with("Cannot create /eb/eb-b, as it already exists!"), "{}", e.errors[0].desc);
        let e = other.assign_resources(&no_receive("eb-c", "pb-b")).unwrap_err();
        assert!(e.errors[0].desc.starts_with("Cannot create /pb/pb-b-b, as it already exists!"), "{}", e.errors[0].desc);
        assert_eq!(other.obs().obs, ObsState::EMPTY);
        // Configure with an unknown scan type names the path, changes nothing
        let e = d.configure(r#"{"scan_type": "nope"}"#).unwrap_err();
        assert_eq!(e.errors[0].reason, reason::INVALID);
        assert!(e.errors[0].desc.contains("at JSON path /scan_type"), "{}", e.errors[0].desc);
        assert_eq!(d.obs().obs, ObsState::IDLE);
        // Abort, Restart: EB cancelled
        d.abort().unwrap();
        assert_eq!(d.obs().obs, ObsState::ABORTED);
        d.restart().unwrap();
        assert_eq!((d.obs().obs, d.obs().eb_id), (ObsState::EMPTY, None));
    }

    #[test]
    fn record_round_trip_and_transitional_states_come_back_fault() {
        let mut o = Obs { state: DevState::ON, obs: ObsState::READY, scan_type: Some("science".into()), ..Obs::default() };
        o.eb_id = Some("eb-1".into());
        o.eb = serde_json::json!({"eb_id": "eb-1"});
        o.receive_pb = Some("pb-1".into());
        o.receive_addresses = "{\"science\": {}}".into();
        o.admin = AdminMode::ENGINEERING;
        assert_eq!(Obs::from_json(&o.to_json("mid-sdp/subarray/01")), o);
        o.obs = ObsState::CONFIGURING;
        let back = Obs::from_json(&o.to_json("x"));
        assert_eq!(back.obs, ObsState::FAULT);
        assert_eq!(back.fault.as_deref(), Some("the device server stopped while the subarray was CONFIGURING"));
    }

    #[test]
    fn a_new_device_object_restores_the_stored_state_on_first_creation_only() {
        let (s, _alive) = services_with_components();
        let mut d = device(&s, "mid-sdp/subarray/07");
        d.on().unwrap();
        d.assign_resources(&no_receive("eb-r", "pb-r")).unwrap();
        d.configure(r#"{"scan_type": "science"}"#).unwrap();
        // another process on the same DB (a restarted server): the first creation restores
        let s2 = Services {
            link: crate::cfgdb::Link { db: s.db(), off: String::new(), seen: s.link.seen.clone(), monitor: None },
            created: Default::default(),
        };
        let s2 = Arc::new(s2);
        let back = device(&s2, "mid-sdp/subarray/07");
        assert_eq!((back.obs().state, back.obs().obs, back.obs().scan_type.as_deref()), (DevState::ON, ObsState::READY, Some("science")));
        assert_eq!(back.obs().eb_id.as_deref(), Some("eb-r"));
        // a later creation in that process is Init: defaults, stored
        let init = device(&s2, "mid-sdp/subarray/07");
        assert_eq!((init.obs().state, init.obs().obs), (DevState::OFF, ObsState::EMPTY));
        assert_eq!(
            device(
                &Arc::new(Services {
                    link: crate::cfgdb::Link { db: s.db(), off: String::new(), seen: s.link.seen.clone(), monitor: None },
                    created: Default::default()
                }),
                "mid-sdp/subarray/07"
            )
            .obs()
            .obs,
            ObsState::EMPTY
        );
    }

    #[test]
    fn components_not_alive_refuse_assign_resources() {
        let s = Services::new(DbSetting::Use(BackendChoice::Memory));
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.components().state == HealthState::UNKNOWN && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut d = device(&s, "mid-sdp/subarray/04");
        d.on().unwrap();
        let e = d.assign_resources(&no_receive("eb-d", "pb-d")).unwrap_err();
        assert_eq!(e.errors[0].reason, reason::COMPONENTS_OFFLINE);
        assert!(e.errors[0].desc.contains("processing controller missing"), "{}", e.errors[0].desc);
        assert_eq!(d.obs().obs, ObsState::EMPTY);
    }

    #[test]
    fn receive_addresses_move_resourcing_to_idle_and_failure_to_fault() {
        let (s, _alive) = services_with_components();
        let db = s.db().unwrap();
        let mut d = device(&s, "mid-sdp/subarray/05");
        d.on().unwrap();
        d.assign_resources(&assign_04("eb-e", "pb-e")).unwrap();
        assert_eq!(d.obs().obs, ObsState::RESOURCING);
        let put = |pb: &str, v: Value| {
            let (db, pb) = (db.clone(), pb.to_string());
            db.clone().block(async move {
                let cfg = db.client().await.unwrap();
                let mut txn = cfg.txn();
                loop {
                    txn.create_processing_block_state(&pb, &v).await.unwrap();
                    if txn.commit().await.unwrap() {
                        break;
                    }
                }
            })
        };
        let addrs =
            serde_json::json!({"science": {"vis0": {"function": "visibilities", "host": [[0, "127.0.0.1"]], "port": [[0, 9000, 1]]}}});
        put("pb-e-rt", serde_json::json!({"status": "RUNNING", "receive_addresses": addrs}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.obs().obs == ObsState::RESOURCING && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(d.obs().obs, ObsState::IDLE);
        assert_eq!(serde_json::from_str::<Value>(&d.obs().receive_addresses).unwrap(), addrs);
        // what the handle runs (a detached handle reaches no device here)
        d.publish_observed();
        let p = d.outbox.take();
        assert_eq!(p.iter().filter(|p| p.attr == "receiveAddresses").count(), 2);
        assert!(p.iter().any(|p| p.attr == "obsState"));

        let mut f = device(&s, "mid-sdp/subarray/06");
        f.on().unwrap();
        f.assign_resources(&assign_04("eb-f", "pb-f")).unwrap();
        put("pb-f-rt", serde_json::json!({"status": "FAILED", "error": "boom"}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while f.obs().obs == ObsState::RESOURCING && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(f.obs().obs, ObsState::FAULT);
        assert!(f.health().1.starts_with("obsState FAULT: processing block pb-f-rt failed"), "{}", f.health().1);
        f.restart().unwrap();
        assert_eq!(f.obs().obs, ObsState::EMPTY);
    }
}
