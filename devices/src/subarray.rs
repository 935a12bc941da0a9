//! `SDPSubarray`: the subarray device of the 2019 interface (0.5.19) with an explicit obsState
//! machine ([`crate::fsm`]), Configure → processing block in the configuration DB, receive
//! addresses, `processingBlockState` from a watch, its state persisted in `/subarray/<nn>`
//! and restored when the server restarts, and `healthState`/`healthInfo` saying whether the
//! configuration DB answers ([`crate::health::subarray`]).

use std::sync::{Arc, Mutex};

use sdp_config::{Error as DbError, ProcessingBlock};
use serde_json::{json, Value};
use tango::device::Outbox;
use tango::registration::DeviceContext;
use tango::{Attr, Cmd, DevFailed, DevState, Device, DeviceClass, TangoEnum};
use tokio::sync::watch;

use crate::cfgdb::{ConfigDb, CreateError, DbSetting, FirstRead, Follow, Link, Monitor, REQUEST_TIMEOUT};
use crate::fsm::{self, AdminMode, Command, HealthState, ObsState, Transition};
use crate::health::{self, DbSeen, Health};
use crate::receive;
use crate::restore::{self, Created, Late, Start};
use crate::schema;

/// The interface version this device implements (what `serverVersion` reports).
pub const SERVER_VERSION: &str = "0.5.19";
pub const CLASS: &str = "SDPSubarray";

/// Whether the class declares obsState writable: a property of the device *type*, because a
/// Tango class description is fixed when the server starts. The server picks the type
/// ([`Subarray`] or `Subarray<WritableObsState>`) from its command line and the devices'
/// `TestMode` properties; no process-wide switch is involved. With a writable class each
/// device still accepts writes only in its own test mode ([`DeviceSettings::test_mode`]).
pub trait ObsStateAccess: Send + Sync + 'static {
    const WRITABLE: bool;
}

/// obsState read-only (the interface).
#[derive(Debug)]
pub struct ReadOnlyObsState;

/// obsState writable in the class (some device of the server is in test mode).
#[derive(Debug)]
pub struct WritableObsState;

impl ObsStateAccess for ReadOnlyObsState {
    const WRITABLE: bool = false;
}

impl ObsStateAccess for WritableObsState {
    const WRITABLE: bool = true;
}

/// Process-wide options of the subarray devices.
#[derive(Debug, Clone, Default)]
pub struct SubarrayOptions {
    /// Read the CBF output link map from the CSP attribute named by `cspCbfOutlinkAddress`
    /// (the 2019 `TOGGLE_CBF_OUTPUT_LINK`); otherwise use the mock map.
    pub cbf_output_link: bool,
    /// Every device in test mode (`--test-mode`, `SDP_TEST_MODE=1`) unless its `TestMode`
    /// property says otherwise.
    pub test_mode: bool,
}

/// What every subarray device of a server shares: the DB handle, what is seen of it, and
/// options.
#[derive(Debug)]
pub struct Services {
    pub db: Option<Arc<ConfigDb>>,
    pub db_off: String,
    /// Whether the DB answers, as the monitor last saw (one monitor per server).
    seen: watch::Receiver<DbSeen>,
    _monitor: Option<Follow>,
    pub options: SubarrayOptions,
    /// Devices created once already: later creations are `Init`s (start from defaults).
    created: Created,
}

impl Services {
    pub fn new(setting: DbSetting, options: SubarrayOptions) -> Arc<Services> {
        let link = Link::new(setting, Monitor::Connection);
        match &link.db {
            Some(db) => eprintln!("{CLASS}: configuration DB: {}", db.describe()),
            None => eprintln!(
                "{CLASS}: no configuration DB ({}): the devices run, but Configure fails and nothing is persisted. \
                 Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (etcd) or SDP_CONFIG_BACKEND=memory.",
                link.off
            ),
        }
        let Link { db, off: db_off, seen, monitor } = link;
        Arc::new(Services { db, db_off, seen, _monitor: monitor, options, created: Created::default() })
    }

    /// healthState and healthInfo now, from the monitor's latest observation.
    pub fn health(&self) -> Health {
        health::subarray(&self.seen.borrow())
    }

    /// From the environment (`SDP_CONFIG_*`, `TOGGLE_CONFIG_DB`, `TOGGLE_CBF_OUTPUT_LINK`),
    /// every device in test mode when `test_mode` (the server's `--test-mode` or `SDP_TEST_MODE`).
    pub fn from_env(test_mode: bool) -> Arc<Services> {
        let cbf = std::env::var("TOGGLE_CBF_OUTPUT_LINK").map(|v| v == "1").unwrap_or(false);
        Services::new(DbSetting::from_env(), SubarrayOptions { cbf_output_link: cbf, test_mode })
    }
}

/// In Tango DB mode: does any device of server `SDPSubarray/<instance>` have the property
/// `TestMode` true (device or class property)? Then obsState is declared writable for the
/// class and each device accepts writes only if its own property says so. A database that
/// cannot be asked now counts as "no" (the server itself waits for the database).
pub fn db_test_mode(instance: &str) -> bool {
    server_property(CLASS, CLASS, instance, "TestMode").iter().any(|v| property_bool(v).unwrap_or(false))
}

/// The value of property `name` for each device of server `<exec>/<instance>` registered
/// with class `class` in the Tango database (the device's own, else the class property);
/// devices without it are left out. A database that cannot be asked now gives nothing (the
/// server itself waits for the database).
pub fn server_property(exec: &str, class: &str, instance: &str, name: &str) -> Vec<String> {
    use tango::dbclient::{Database, TangoHost};
    let Ok(host) = TangoHost::from_env() else { return Vec::new() };
    let db = Database::new(host).with_timeout(std::time::Duration::from_secs(2));
    let server = format!("{exec}/{instance}");
    let Ok(devices) = db.get_device_list(&server, class) else { return Vec::new() };
    let class_value = db.class_properties(class).ok().and_then(|p| lookup(&p, name));
    devices.iter().filter_map(|d| db.device_properties(d).ok().and_then(|p| lookup(&p, name)).or(class_value.clone())).collect()
}

fn lookup(p: &tango::dbclient::Properties, name: &str) -> Option<String> {
    p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first().cloned())
}

/// The part of the subarray that is persisted and restored.
#[derive(Debug, Clone, PartialEq)]
pub struct Core {
    pub state: DevState,
    pub obs: ObsState,
    pub admin: AdminMode,
    /// JSON text of the receiveAddresses attribute.
    pub receive_addresses: String,
    pub pb_id: Option<String>,
    pub sbi_id: Option<String>,
    pub scan_ids: Vec<i64>,
}

impl Default for Core {
    fn default() -> Self {
        Core {
            state: DevState::OFF,
            obs: ObsState::IDLE,
            admin: AdminMode::ONLINE,
            receive_addresses: "{}".into(),
            pb_id: None,
            sbi_id: None,
            scan_ids: Vec::new(),
        }
    }
}

fn state_label(s: DevState) -> String {
    s.to_string()
}

fn parse_state(s: &str) -> Option<DevState> {
    [DevState::ON, DevState::OFF, DevState::FAULT, DevState::STANDBY, DevState::DISABLE, DevState::ALARM, DevState::UNKNOWN]
        .into_iter()
        .find(|d| d.to_string().eq_ignore_ascii_case(s))
}

impl Core {
    /// The stored record. `health_state` is the health when it was written, kept for readers
    /// of the 2019 record; it is never restored (health is observed, not stored).
    pub fn to_json(&self, device: &str, health: HealthState) -> Value {
        json!({
            "device": device,
            "state": state_label(self.state),
            "obs_state": self.obs.label(),
            "admin_mode": self.admin.label(),
            "health_state": health.label(),
            "receive_addresses": self.receive_addresses,
            "pb_id": self.pb_id,
            "sbi_id": self.sbi_id,
            "scan_ids": self.scan_ids,
        })
    }

    /// Restore from the persisted JSON; unknown or missing fields keep their defaults.
    pub fn from_json(v: &Value) -> Core {
        let mut c = Core::default();
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        if let Some(x) = s("state").and_then(parse_state) {
            c.state = x;
        }
        // a command never leaves CONFIGURING behind; treat a stored one as IDLE
        if let Some(x) = s("obs_state").and_then(ObsState::parse) {
            c.obs = if x == ObsState::CONFIGURING { ObsState::IDLE } else { x };
        }
        if let Some(x) = s("admin_mode").and_then(AdminMode::parse) {
            c.admin = x;
        }
        if let Some(x) = s("receive_addresses") {
            c.receive_addresses = x.to_string();
        }
        c.pb_id = s("pb_id").map(str::to_string);
        c.sbi_id = s("sbi_id").map(str::to_string);
        c.scan_ids = v.get("scan_ids").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default();
        c
    }
}

/// The config-DB id of a subarray device: the number at the end of its name, two digits
/// (`mid_sdp/elt/subarray_1` → `01`), else the member name.
pub fn subarray_id(device: &str) -> String {
    let member = device.rsplit('/').next().unwrap_or(device);
    let digits: String = member.chars().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
    match digits.parse::<u32>() {
        Ok(n) if !digits.is_empty() => format!("{n:02}"),
        _ => member.to_string(),
    }
}

/// Per-device settings: the device properties (Tango DB mode) over the process options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceSettings {
    /// obsState writable (property `TestMode`, or `--test-mode` for the whole server).
    pub test_mode: bool,
    /// Read the CBF output link map from CSP (property `CbfOutputLink`, or
    /// `TOGGLE_CBF_OUTPUT_LINK=1`).
    pub cbf_output_link: bool,
    /// Property `SdpMasterAddress` (default `mid_sdp/elt/master`; kept for the interface).
    pub master_address: String,
}

/// A boolean property value as Tango tools write them (`true`, `1`, `yes`, `on`).
pub fn property_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl DeviceSettings {
    pub fn from_context(ctx: &DeviceContext, options: &SubarrayOptions) -> DeviceSettings {
        let flag = |name: &str, default: bool| -> bool {
            match ctx.property_str(name) {
                None => default,
                Some(v) => property_bool(v).unwrap_or_else(|| {
                    eprintln!("{CLASS} {}: property {name} = {v:?} is not a boolean (true/false); using {default}", ctx.name);
                    default
                }),
            }
        };
        DeviceSettings {
            test_mode: flag("TestMode", options.test_mode),
            cbf_output_link: flag("CbfOutputLink", options.cbf_output_link),
            master_address: ctx.property_str("SdpMasterAddress").unwrap_or("mid_sdp/elt/master").to_string(),
        }
    }
}

pub struct Subarray<A: ObsStateAccess = ReadOnlyObsState> {
    name: String,
    id: String,
    settings: DeviceSettings,
    core: Core,
    services: Arc<Services>,
    /// JSON text of `/pb/<pb_id>/state` kept current by a watch.
    pb_state: Arc<Mutex<String>>,
    follow: Option<Follow>,
    outbox: Outbox,
    /// Set while the state stored at start-up could not be read (the DB was unreachable):
    /// it is read in the background. Until it is applied the device must not act on — or
    /// store — its defaults, which would overwrite the real state once the DB is back.
    late: Option<(Late<Core>, LateFollow)>,
    /// The PB of a Configure whose commit failed on the connection: etcd may have applied it
    /// before the answer was lost (a member killed mid-request). A Configure of the same PB
    /// that then finds it stored, unchanged, completes instead of failing as a duplicate.
    in_doubt: Option<ProcessingBlock>,
    _access: std::marker::PhantomData<A>,
}

/// The watch of the processing block's state of a state read late, started before that
/// state is shown (the two become visible together).
type LateFollow = Arc<Mutex<Option<(Follow, FirstRead)>>>;

impl<A: ObsStateAccess> std::fmt::Debug for Subarray<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subarray").field("name", &self.name).field("core", &self.core).finish()
    }
}

fn failed(reason: &str, desc: impl Into<String>, cmd: &str) -> DevFailed {
    DevFailed::new(reason, desc, format!("{CLASS}.{cmd}()"))
}

/// Reasons of the errors the commands raise (stable; clients may match them).
pub mod reason {
    pub const NOT_ALLOWED: &str = "API_CommandNotAllowed";
    /// Empty, unparsable or schema-invalid argument (desc keeps the 2019 prefixes).
    pub const INVALID: &str = "SDP_InvalidConfiguration";
    /// The processing block id is taken in the configuration DB.
    pub const PB_EXISTS: &str = "SDP_ProcessingBlockExists";
    /// No configuration DB, or it cannot be reached.
    pub const DB_UNAVAILABLE: &str = "SDP_ConfigDbUnavailable";
    /// The CBF output link map could not be read or does not fit the configuration.
    pub const LINK_MAP: &str = "SDP_CbfOutputLinkError";
}

impl Subarray {
    /// Build the device `name`. The first time in this process it restores the state
    /// persisted in the configuration DB; later (the `Init` command) it starts from the
    /// defaults and records them.
    pub fn create(name: &str, services: &Arc<Services>) -> Subarray {
        Self::create_with(&DeviceContext::new(name, CLASS), services)
    }

    /// [`Subarray::create`] from a device context (Tango DB mode: properties `TestMode`,
    /// `CbfOutputLink`, `SdpMasterAddress`).
    pub fn create_with(ctx: &DeviceContext, services: &Arc<Services>) -> Subarray {
        Subarray::create_as(ctx, services)
    }
}

impl<A: ObsStateAccess> Subarray<A> {
    /// [`Subarray::create_with`] for either class (obsState read-only or writable).
    pub fn create_as(ctx: &DeviceContext, services: &Arc<Services>) -> Subarray<A> {
        let name = ctx.name.as_str();
        let settings = DeviceSettings::from_context(ctx, &services.options);
        let first = services.created.first(name);
        let mut d = Subarray {
            name: name.to_string(),
            id: subarray_id(name),
            settings,
            core: Core::default(),
            services: services.clone(),
            pb_state: Arc::new(Mutex::new(String::new())),
            follow: None,
            outbox: Outbox::default(),
            late: None,
            in_doubt: None,
            _access: std::marker::PhantomData,
        };
        tracing::info!("Initialising SDP Subarray: {name}");
        // a state read late shows with its PB's state: the watch starts before it is shown
        let late_follow: LateFollow = Arc::default();
        let (slot, db, view) = (late_follow.clone(), services.db.clone(), d.pb_state.clone());
        let prepare = move |core: Option<&Core>| {
            let pb = core.and_then(|c| c.pb_id.clone());
            async move {
                let (Some(pb), Some(db)) = (pb, db) else { return };
                *view.lock().unwrap_or_else(|p| p.into_inner()) = "null".into();
                let (follow, first_read) = db.follow_pb_state(&pb, view);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((follow, first_read.clone()));
                first_read.wait(REQUEST_TIMEOUT).await;
            }
        };
        match restore::begin(services.db.as_ref(), &d.id, first, |v| Some(Core::from_json(v)), prepare) {
            Start::NoDb => {}
            Start::Init => d.persist(),
            Start::Stored(stored) => d.restore(stored.as_ref().map(Core::from_json)),
            Start::Later(late, e) => {
                eprintln!("{CLASS} {name}: cannot read /subarray/{} ({e}): State UNKNOWN and commands refused until it is read", d.id);
                d.late = Some((late, late_follow));
            }
        }
        d
    }

    /// The state clients see: the stored one as soon as it has been read late, although the
    /// next command applies it (see [`Subarray::ensure_restored`]).
    pub fn core(&self) -> &Core {
        match self.late.as_ref().and_then(|(late, _)| late.stored()) {
            Some(Some(stored)) => stored,
            _ => &self.core,
        }
    }

    /// True while the stored state has not been read (the DB has not answered since start-up).
    fn unrestored(&self) -> bool {
        self.late.as_ref().is_some_and(|(late, _)| late.stored().is_none())
    }

    /// Take the stored state (`None`: nothing stored, keep the defaults and store them).
    fn restore(&mut self, stored: Option<Core>) {
        match stored {
            Some(core) => {
                self.core = core;
                eprintln!(
                    "{CLASS} {}: restored from /subarray/{}: State {}, obsState {}, adminMode {}, processing block {}",
                    self.name,
                    self.id,
                    self.core.state,
                    self.core.obs,
                    self.core.admin,
                    self.core.pb_id.as_deref().unwrap_or("none")
                );
                if let Some(pb) = self.core.pb_id.clone() {
                    // a restored device shows its PB's stored state from its first read on
                    if let (Some(first_read), Some(db)) = (self.start_following(&pb), &self.services.db) {
                        db.wait_first_read(first_read, REQUEST_TIMEOUT);
                    }
                }
            }
            None => {
                eprintln!("{CLASS} {}: no state stored in /subarray/{}: starting from defaults", self.name, self.id);
                self.persist();
            }
        }
    }

    /// Before anything changes the state: apply a stored state read late, or read it now; while
    /// it cannot be read, refuse (the defaults must not replace what is stored).
    fn ensure_restored(&mut self, what: &str) -> Result<(), DevFailed> {
        let Some((late, late_follow)) = &self.late else { return Ok(()) };
        let stored = match late.stored() {
            Some(stored) => stored.clone(),
            None => {
                let db = self.services.db.clone().expect("a late read has a DB");
                match db.load_state(&self.id) {
                    Ok(v) => v.as_ref().map(Core::from_json),
                    Err(e) => {
                        return Err(failed(
                            reason::DB_UNAVAILABLE,
                            format!(
                                "The state of {} stored in /subarray/{} has not been read since the server started ({e}); \
                                 nothing was changed: {what} is refused until the configuration DB answers, so that the defaults cannot \
                                 overwrite that state",
                                self.name, self.id
                            ),
                            what,
                        ))
                    }
                }
            }
        };
        let follow = late_follow.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.late = None;
        match (stored, follow) {
            // the background read already follows the PB state into self.pb_state
            (Some(core), Some((follow, first_read))) => {
                // a command may come before the watch's first read: it waits as reads do
                if let Some(db) = &self.services.db {
                    db.wait_first_read(first_read, REQUEST_TIMEOUT);
                }
                self.core = core;
                self.follow = Some(follow);
                eprintln!("{CLASS} {}: restored from /subarray/{} (read late)", self.name, self.id);
            }
            (stored, _) => self.restore(stored),
        }
        Ok(())
    }

    fn persist(&self) {
        if let Some(db) = &self.services.db {
            db.persist(&self.id, self.core.to_json(&self.name, self.services.health().state));
        }
    }

    /// Follow the state of `pb_id` into `pb_state` (`null` until read); `None` without a DB.
    fn start_following(&mut self, pb_id: &str) -> Option<FirstRead> {
        // a view of its own: a stopped watch still finishing an update cannot touch it
        self.follow = None;
        self.pb_state = Arc::new(Mutex::new("null".into()));
        let (follow, first_read) = self.services.db.as_ref()?.follow_pb_state(pb_id, self.pb_state.clone());
        self.follow = Some(follow);
        Some(first_read)
    }

    fn stop_following(&mut self) {
        self.follow = None;
        self.pb_state = Arc::new(Mutex::new(String::new()));
    }

    fn processing_block_state(&self) -> String {
        if self.core().pb_id.is_some() && self.services.db.is_some() {
            self.pb_state.lock().unwrap_or_else(|p| p.into_inner()).clone()
        } else {
            String::new()
        }
    }

    fn allowed(&self, cmd: Command) -> Result<&'static Transition, DevFailed> {
        fsm::check(self.core().obs, self.core().admin, cmd).map_err(|r| r.to_dev_failed(CLASS))
    }

    /// Apply a transition's effect on obsState and State to `core`.
    fn apply(core: &mut Core, row: &Transition) {
        core.obs = row.to;
        if let Some(s) = row.state {
            core.state = s;
        }
    }

    /// A command whose only effect is the transition (plus `extra` on the core).
    fn simple(&mut self, cmd: Command, extra: impl FnOnce(&mut Core)) -> Result<(), DevFailed> {
        self.ensure_restored(&cmd.to_string())?;
        let row = self.allowed(cmd)?;
        Self::apply(&mut self.core, row);
        extra(&mut self.core);
        self.persist();
        tracing::info!("{}: {cmd} -> obsState {}, State {}", self.name, self.core.obs, self.core.state);
        Ok(())
    }

    fn configure(&mut self, arg: &str) -> Result<(), DevFailed> {
        const CMD: &str = "Configure";
        self.ensure_restored(CMD)?;
        let row = self.allowed(Command::Configure)?;
        let invalid = |desc: String| failed(reason::INVALID, desc, CMD);
        // read and checked once; what is left to check depends on this device's settings
        let parsed = schema::configure(arg).map_err(|e| invalid(e.0))?;
        let receive = parsed.is_receive();
        let schema::ConfigureArg { configure: c, pb, sbi_id, scan_ids } = parsed;
        let pb_id = pb.pb_id.clone();

        // receive addresses (receive workflows only)
        let receive_addresses = if receive {
            let params = receive::ReceiveParams::from_parameters(&pb.parameters).map_err(|e| invalid(e.0))?;
            let link_map = self.link_map(&c, &scan_ids)?;
            receive::addresses_for_scans(&link_map, &scan_ids, &params).map_err(|e| failed(reason::LINK_MAP, e.0, CMD))?
        } else {
            "{}".to_string()
        };

        let mut next = self.core.clone();
        Self::apply(&mut next, row);
        next.receive_addresses = receive_addresses;
        next.pb_id = Some(pb_id.clone());
        next.sbi_id = Some(sbi_id);
        next.scan_ids = scan_ids;

        let Some(db) = &self.services.db else {
            return Err(failed(
                reason::DB_UNAVAILABLE,
                format!(
                    "No configuration DB ({}): cannot store processing block {pb_id}. Start the server with SDP_CONFIG_HOST and SDP_CONFIG_PORT set.",
                    self.services.db_off
                ),
                CMD,
            ));
        };
        // The commit below stores the new state with the PB; only a background write of an
        // older state still pending could overwrite it, and then it is stored again after.
        let stored_with_pb = db.persist_idle(&self.id);
        let doubt = self.in_doubt.take();
        match db.create_pb(pb.clone(), Some((self.id.clone(), next.to_json(&self.name, self.services.health().state)))) {
            Ok(()) => {}
            // Our own earlier commit, applied though its answer was lost: it stored this PB
            // and this subarray's new state together, so completing it changes nothing more.
            Err(CreateError::Db(DbError::Collision { .. }))
                if doubt.as_ref() == Some(&pb) && db.load_pb(&pb_id).ok().flatten().as_ref() == Some(&pb) =>
            {
                tracing::warn!("{}: processing block {pb_id} was stored by the Configure whose answer was lost; completing it", self.name);
            }
            Err(CreateError::Db(e @ DbError::Collision { .. })) => {
                return Err(failed(
                    reason::PB_EXISTS,
                    format!("Processing block {pb_id} already exists in the configuration DB ({e}); configure with a new id"),
                    CMD,
                ))
            }
            Err(CreateError::InDoubt(e)) => {
                self.in_doubt = Some(pb);
                return Err(failed(
                    reason::DB_UNAVAILABLE,
                    format!(
                        "Configuration DB unavailable: {e}; obsState is unchanged, but the commit was sent: if etcd applied it \
                         before the answer was lost, configuring {pb_id} again completes it"
                    ),
                    CMD,
                ));
            }
            Err(CreateError::Db(e @ DbError::Connection(_))) => {
                return Err(failed(reason::DB_UNAVAILABLE, format!("Configuration DB unavailable: {e}; nothing was changed"), CMD))
            }
            Err(CreateError::Db(e)) => {
                return Err(failed(reason::DB_UNAVAILABLE, format!("Configuration DB error: {}: {e}; nothing was changed", e.kind()), CMD))
            }
        }

        // committed: take the new state
        self.core = next;
        // new PB: its state key is written later by its workflow (`null` until then)
        let _ = self.start_following(&pb_id);
        if !stored_with_pb {
            self.persist();
        }
        tracing::info!("{}: Configure created processing block {pb_id} -> obsState {}", self.name, self.core.obs);
        Ok(())
    }

    /// The CBF output link map: the mock one, or (option on) the CSP attribute.
    fn link_map(&self, c: &Value, scan_ids: &[i64]) -> Result<Value, DevFailed> {
        const CMD: &str = "Configure";
        if !self.settings.cbf_output_link {
            let Some(first) = scan_ids.first() else {
                return Err(failed(reason::INVALID, "No scanParameters specified in Configure JSON", CMD));
            };
            return Ok(receive::mock_link_map(*first));
        }
        let Some(addr) = c.get("cspCbfOutlinkAddress").and_then(Value::as_str) else {
            return Err(failed(reason::LINK_MAP, "'cspCbfOutlinkAddress' not found in PB configuration", CMD));
        };
        let text = crate::csp::read_string_attribute(addr, crate::cfgdb::REQUEST_TIMEOUT)
            .map_err(|e| failed(reason::LINK_MAP, format!("Cannot read the CBF output link map: {e}"), CMD))?;
        if text.trim().is_empty() {
            return Err(failed(reason::LINK_MAP, "CBF Output Link map is empty!", CMD));
        }
        serde_json::from_str(&text)
            .map_err(|e| failed(reason::LINK_MAP, format!("cbfOutputLinks is not valid JSON: {e} (read from {addr})"), CMD))
    }

    fn configure_scan(&mut self, arg: &str) -> Result<(), DevFailed> {
        self.ensure_restored("ConfigureScan")?;
        let row = self.allowed(Command::ConfigureScan)?;
        schema::parse_configure_scan(arg).map_err(|e| failed(reason::INVALID, e.0, "ConfigureScan"))?;
        Self::apply(&mut self.core, row);
        self.persist();
        Ok(())
    }

    fn end_sb(&mut self) -> Result<(), DevFailed> {
        self.simple(Command::EndSB, |c| {
            c.receive_addresses = "null".into();
            c.pb_id = None;
            c.sbi_id = None;
            c.scan_ids.clear();
        })?;
        self.stop_following();
        Ok(())
    }
}

/// `is_allowed` for the Tango layer: the same table the handlers use. While the stored state
/// is unread the handler decides (it reads it first, or refuses saying why).
fn guard<A: ObsStateAccess>(cmd: Command) -> impl Fn(&Subarray<A>) -> Result<(), DevFailed> + Send + Sync + 'static {
    move |d: &Subarray<A>| if d.unrestored() { Ok(()) } else { d.allowed(cmd).map(|_| ()) }
}

impl<A: ObsStateAccess> Device for Subarray<A> {
    fn class() -> DeviceClass<Self> {
        let obs = Attr::new("obsState")
            .read(|d: &Subarray<A>| d.core().obs)
            .description("Observing state (IDLE 0, CONFIGURING 1, READY 2, SCANNING 3, PAUSED 4, ABORTED 5, FAULT 6)")
            .polled(1000)
            .abs_change(1);
        let obs = if A::WRITABLE {
            obs.write(|d: &mut Subarray<A>, v: ObsState| {
                if !d.settings.test_mode {
                    return Err(DevFailed::new(
                        "API_AttrNotWritable",
                        format!("obsState of {} is read-only: the device is not in test mode (device property TestMode)", d.name),
                        format!("{CLASS}.write_obsState()"),
                    ));
                }
                d.ensure_restored("write_obsState")?;
                d.core.obs = v;
                d.persist();
                Ok(())
            })
        } else {
            obs
        };
        DeviceClass::new(CLASS)
            .description("SKA SDP subarray (interface 0.5.19): obsState machine, Configure creates a processing block")
            .attribute(Attr::new("serverVersion").read(|_: &Subarray<A>| SERVER_VERSION.to_string()))
            .attribute(obs)
            .attribute(
                Attr::new("adminMode")
                    .read(|d: &Subarray<A>| d.core().admin)
                    .write(|d: &mut Subarray<A>, v: AdminMode| {
                        d.ensure_restored("write_adminMode")?;
                        d.core.admin = v;
                        d.persist();
                        Ok(())
                    })
                    .description("Administration mode (SDP numbering: OFFLINE 0, ONLINE 1, MAINTENANCE 2, NOT_FITTED 3, RESERVED 4)")
                    .polled(1000)
                    .abs_change(1)
                    .memorized(),
            )
            .attribute(
                Attr::new("healthState")
                    .read(|d: &Subarray<A>| d.services.health().state)
                    .description(
                        "OK: the configuration DB answers; DEGRADED: it does not (Configure is refused until it does), \
                         or the server runs without one. healthInfo says why.",
                    )
                    .polled(1000)
                    .abs_change(1)
                    .archive_abs_change(1),
            )
            .attribute(
                Attr::new("healthInfo")
                    .read(|d: &Subarray<A>| d.services.health().info)
                    .description("Why healthState is what it is (the configuration DB's error, or OK)")
                    .polled(1000),
            )
            .attribute(
                Attr::new("receiveAddresses")
                    .read(|d: &Subarray<A>| d.core().receive_addresses.clone())
                    .description("Receive addresses (JSON) of the configured receive workflow")
                    .polled(1000),
            )
            .attribute(
                Attr::new("processingBlockState")
                    .read(|d: &Subarray<A>| d.processing_block_state())
                    .description("JSON of /pb/<id>/state of the configured processing block (null while absent)")
                    .polled(1000),
            )
            .command(
                Cmd::new("AssignResources")
                    .doc_in("Resources (JSON; ignored by SDP)")
                    .run(|d: &mut Subarray<A>, _arg: String| d.simple(Command::AssignResources, |_| {}))
                    .allowed(guard(Command::AssignResources)),
            )
            .command(
                Cmd::new("ReleaseResources")
                    .doc_in("Resources (JSON; ignored by SDP)")
                    .run(|d: &mut Subarray<A>, _arg: String| d.simple(Command::ReleaseResources, |_| {}))
                    .allowed(guard(Command::ReleaseResources)),
            )
            .command(
                Cmd::new("Configure")
                    .doc_in("Processing block configuration (JSON, schemas/configure.json)")
                    .run(|d: &mut Subarray<A>, arg: String| d.configure(&arg))
                    .allowed(guard(Command::Configure)),
            )
            .command(
                Cmd::new("ConfigureScan")
                    .doc_in("Scan configuration (JSON, schemas/configure_scan.json)")
                    .run(|d: &mut Subarray<A>, arg: String| d.configure_scan(&arg))
                    .allowed(guard(Command::ConfigureScan)),
            )
            .command(
                Cmd::new("StartScan")
                    .run(|d: &mut Subarray<A>, ()| d.simple(Command::StartScan, |_| {}))
                    .allowed(guard(Command::StartScan)),
            )
            .command(Cmd::new("Scan").run(|d: &mut Subarray<A>, ()| d.simple(Command::Scan, |_| {})).allowed(guard(Command::Scan)))
            .command(
                Cmd::new("EndScan")
                    .run(|d: &mut Subarray<A>, ()| d.simple(Command::EndScan, |c| c.receive_addresses = "null".into()))
                    .allowed(guard(Command::EndScan)),
            )
            .command(Cmd::new("EndSB").run(|d: &mut Subarray<A>, ()| d.end_sb()).allowed(guard(Command::EndSB)))
    }

    fn state(&self) -> DevState {
        if self.unrestored() {
            return DevState::UNKNOWN;
        }
        self.core().state
    }

    fn status(&self) -> String {
        if self.unrestored() {
            return format!(
                "The device is in UNKNOWN state: its stored state (/subarray/{}) has not been read yet; the configuration DB does not answer.",
                self.id
            );
        }
        format!("The device is in {} state.", self.state())
    }

    fn outbox(&mut self) -> Option<&mut Outbox> {
        Some(&mut self.outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sdp_config::BackendChoice;

    const SEED: &str = r#"{ "configure": { "id": "xyz", "sbiId": "xyz", "workflow": { "type": "realtime", "version": "0.1.0", "id": "vis_receive" }, "parameters": {}, "scanParameters": { "1": {} } } }"#;

    fn memory_services() -> Arc<Services> {
        Services::new(DbSetting::Use(BackendChoice::Memory), SubarrayOptions::default())
    }

    fn reason_of(e: DevFailed) -> (String, String) {
        (e.errors[0].reason.clone(), e.errors[0].desc.clone())
    }

    #[test]
    fn properties_override_process_options() {
        let s = memory_services();
        let mut ctx = DeviceContext::new("mid_sdp/elt/subarray_5", CLASS);
        let d = Subarray::create_with(&ctx, &s);
        assert_eq!(d.settings, DeviceSettings { test_mode: false, cbf_output_link: false, master_address: "mid_sdp/elt/master".into() });
        ctx.properties.insert("TestMode".into(), vec!["true".into()]);
        ctx.properties.insert("cbfoutputlink".into(), vec!["1".into()]);
        ctx.properties.insert("SdpMasterAddress".into(), vec!["a/b/c".into()]);
        let d = Subarray::create_with(&ctx, &s);
        assert_eq!(d.settings, DeviceSettings { test_mode: true, cbf_output_link: true, master_address: "a/b/c".into() });
        assert_eq!(property_bool("False"), Some(false));
        assert_eq!(property_bool("maybe"), None);
    }

    #[test]
    fn ids() {
        assert_eq!(subarray_id("mid_sdp/elt/subarray_1"), "01");
        assert_eq!(subarray_id("mid_sdp/elt/subarray_12"), "12");
        assert_eq!(subarray_id("a/b/sub"), "sub");
    }

    #[test]
    fn seed_walkthrough_and_restore() {
        let s = memory_services();
        let mut d = Subarray::create("mid_sdp/elt/subarray_1", &s);
        assert_eq!((d.core.state, d.core.obs), (DevState::OFF, ObsState::IDLE));
        d.simple(Command::AssignResources, |_| {}).unwrap();
        assert_eq!(d.core.state, DevState::ON);
        d.configure(SEED).unwrap();
        assert_eq!(d.core.obs, ObsState::READY);
        assert_eq!(d.core.receive_addresses, r#"{"scanId": 1, "totalChannels": 0, "receiveAddresses": [{"fspId": 1, "hosts": []}]}"#);
        assert_eq!(d.processing_block_state(), "null");
        // same id again: refused by the FSM (READY), and from IDLE by the DB
        let (r, _) = reason_of(d.configure(SEED).unwrap_err());
        assert_eq!(r, "API_CommandNotAllowed");
        d.simple(Command::StartScan, |_| {}).unwrap();
        assert_eq!(d.core.obs, ObsState::SCANNING);
        // a new device object in the same process is an Init: defaults
        let fresh = Subarray::create("mid_sdp/elt/subarray_1", &s);
        assert_eq!(fresh.core, Core::default());
    }

    #[test]
    fn configure_failures_change_nothing() {
        let s = memory_services();
        let mut d = Subarray::create("mid_sdp/elt/subarray_2", &s);
        let before = d.core.clone();
        for (arg, want_reason, want_prefix) in [
            ("", reason::INVALID, "Empty JSON configuration!"),
            ("not json", reason::INVALID, "Unable to load JSON configuration: Expecting value"),
            ("{}", reason::INVALID, "Configure JSON validation error: 'configure' is a required property"),
            (
                &SEED.replace(r#", "scanParameters": { "1": {} }"#, ""),
                reason::INVALID,
                "Configure JSON validation error: 'scanParameters' is a required property",
            ),
            (
                &SEED.replace("\"xyz\", \"sbiId\"", "\"bad_id\", \"sbiId\""),
                reason::INVALID,
                "Configure JSON validation error: Processing block ID bad_id not permissable!",
            ),
            (
                &SEED.replace(r#""1": {}"#, r#""one": {}"#),
                reason::INVALID,
                "Configure JSON validation error: scan id 'one' is not an integer",
            ),
        ] {
            let (r, desc) = reason_of(d.configure(arg).unwrap_err());
            assert_eq!(r, want_reason, "{arg}");
            assert!(desc.starts_with(want_prefix), "{desc}");
            assert_eq!(d.core, before);
        }
        d.configure(SEED).unwrap();
        let mut other = Subarray::create("mid_sdp/elt/subarray_3", &s);
        let (r, desc) = reason_of(other.configure(SEED).unwrap_err());
        assert_eq!(r, reason::PB_EXISTS);
        assert!(desc.contains("Cannot create /pb/xyz, as it already exists!"), "{desc}");
        assert_eq!(other.core, Core::default());
    }

    #[test]
    fn without_a_db_configure_fails_clearly() {
        let s = Services::new(DbSetting::Off("test".into()), SubarrayOptions::default());
        let mut d = Subarray::create("mid_sdp/elt/subarray_1", &s);
        let (r, desc) = reason_of(d.configure(SEED).unwrap_err());
        assert_eq!(r, reason::DB_UNAVAILABLE);
        assert!(desc.contains("No configuration DB"), "{desc}");
        assert_eq!(d.core, Core::default());
    }

    #[test]
    fn health_says_whether_the_db_answers() {
        let off = Services::new(DbSetting::Off("TOGGLE_CONFIG_DB=0".into()), SubarrayOptions::default());
        let h = off.health();
        assert_eq!(h.state, HealthState::DEGRADED);
        assert_eq!(h.info, "no configuration DB (TOGGLE_CONFIG_DB=0): Configure is refused and the state is not persisted");
        let on = memory_services();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while on.health().state == HealthState::UNKNOWN && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(on.health(), Health { state: HealthState::OK, info: "OK".into() });
    }

    #[test]
    fn non_receive_workflow_needs_no_wait() {
        let s = memory_services();
        let mut d = Subarray::create("mid_sdp/elt/subarray_4", &s);
        let arg = SEED.replace("vis_receive", "testdask").replace("\"xyz\", \"sbiId\"", "\"pb-dask\", \"sbiId\"");
        let t = std::time::Instant::now();
        d.configure(&arg).unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!((d.core.obs, d.core.receive_addresses.as_str()), (ObsState::READY, "{}"));
    }

    #[test]
    fn the_first_scan_in_the_document_is_the_current_one() {
        let s = memory_services();
        let mut d = Subarray::create("mid_sdp/elt/subarray_6", &s);
        let arg = SEED.replace(r#""1": {}"#, r#""12345": {}, "1": {}"#).replace("\"xyz\", \"sbiId\"", "\"pb-order\", \"sbiId\"");
        d.configure(&arg).unwrap();
        assert_eq!(d.core.scan_ids, [12345, 1]);
        assert!(d.core.receive_addresses.starts_with(r#"{"scanId": 12345, "totalChannels": 0, "#), "{}", d.core.receive_addresses);
    }

    #[test]
    fn core_json_round_trip() {
        let c = Core {
            state: DevState::ON,
            obs: ObsState::READY,
            admin: AdminMode::MAINTENANCE,
            receive_addresses: "{\"a\": 1}".into(),
            pb_id: Some("xyz".into()),
            sbi_id: Some("sbi".into()),
            scan_ids: vec![1, 2],
        };
        assert_eq!(Core::from_json(&c.to_json("x/y/z", HealthState::DEGRADED)), c);
    }
}
