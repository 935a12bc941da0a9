//! The admin device `dserver/<exec>/<instance>` every Tango server hosts, written with the
//! same device API as any other device. Its 32 commands are cppTango 9.3's DServer's, with
//! the same names, argument types and results: server queries, restart, events, polling
//! (`AddObjPolling`, ...), locking (`LockDevice`, ...), logging (`SetLoggingLevel`, ...) and
//! the property wizards. The rules live in [`polling`](crate::polling),
//! [`locking`](crate::locking) and [`logging`](crate::logging); this module parses the
//! arguments, finds the devices and writes back to the database what cppTango writes.

use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::dbclient::{Database, Properties};
use crate::device::{Cmd, Device, DeviceClass};
use crate::events::{EventHub, EventKind};
use crate::idl::{DevFailed, DevState};
use crate::locking::{current_locker, Locker, MIN_LOCK_VALIDITY};
use crate::logging::{matches, Level};
use crate::object::DeviceObject;
use crate::polling::{Origin, PollKind, Poller, MIN_POLL_PERIOD_MS};

/// The server-wide services the admin device drives.
#[derive(Clone)]
pub struct AdminServices {
    pub poller: Arc<Poller>,
    pub db: Option<Arc<Database>>,
    /// The classes the server registered, in registration order (with or without devices).
    pub classes: Vec<crate::services::ClassInfo>,
}

/// What the admin device can do to the server it belongs to.
pub trait ServerControl: Send + Sync {
    /// Stop the server (Kill).
    fn shutdown(&self);
}

/// The admin device (class `DServer`).
pub struct DServer {
    pub(crate) devices: Vec<Arc<dyn DeviceObject>>,
    pub(crate) control: Arc<dyn ServerControl>,
    pub(crate) events: Option<Arc<EventHub>>,
    pub(crate) services: AdminServices,
    /// The admin device's own object: the logging commands reach it too, as in cppTango.
    pub(crate) itself: Arc<OnceLock<Weak<dyn DeviceObject>>>,
}

fn wrong_args(desc: impl Into<String>, origin: &str) -> DevFailed {
    DevFailed::new("API_WrongNumberOfArgs", desc, origin)
}

/// The identity of the client calling an admin command; calls without one (IDL 1-3) cannot
/// lock.
fn caller(what: &str, origin: &str) -> Result<Locker, DevFailed> {
    current_locker().ok_or_else(|| {
        DevFailed::new(
            "API_ClientTooOld",
            format!("Your client cannot {what} devices: it sends no client identity (IDL 4 or later, Tango 7 or later, is needed)"),
            origin,
        )
    })
}

impl DServer {
    /// The registered classes in registration order, then any other class a device has.
    fn class_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.services.classes.iter().map(|c| c.name.clone()).collect();
        for d in &self.devices {
            if !v.iter().any(|c| c == d.class_name()) {
                v.push(d.class_name().to_string());
            }
        }
        v
    }

    fn find(&self, name: &str) -> Result<&Arc<dyn DeviceObject>, DevFailed> {
        let name = name.strip_prefix("tango://").and_then(|r| r.split_once('/')).map_or(name, |(_, d)| d);
        let name = name.strip_suffix("#dbase=no").unwrap_or(name);
        self.devices
            .iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| DevFailed::new("API_DeviceNotFound", format!("Device {name} not found"), "DServer::find_device"))
    }

    fn hub(&self) -> Result<&Arc<EventHub>, DevFailed> {
        self.events.as_ref().ok_or_else(|| {
            DevFailed::new(
                "API_EventSupplierNotConstructed",
                "The event system of this server is not running",
                "DServer::zmq_event_subscription_change",
            )
        })
    }

    /// `[device, attribute, "subscribe", event type, client IDL]` or `["info"]`.
    fn zmq_subscription_change(&self, argin: Vec<String>) -> Result<(Vec<i32>, Vec<String>), DevFailed> {
        let hub = self.hub()?;
        if argin.len() == 1 && argin[0].eq_ignore_ascii_case("info") {
            return Ok(hub.info());
        }
        let origin = "DServer::zmq_event_subscription_change";
        if argin.len() < 4 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("ZmqEventSubscriptionChange takes [device, attribute, \"subscribe\", event type, client IDL] or [\"info\"], got {} strings", argin.len()),
                origin,
            ));
        }
        if !argin[2].eq_ignore_ascii_case("subscribe") {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("Unknown action {:?}: the only action is \"subscribe\"", argin[2]),
                origin,
            ));
        }
        let kind_name = argin[3].strip_prefix("idl5_").unwrap_or(&argin[3]);
        let kind = EventKind::parse(kind_name).ok_or_else(|| {
            DevFailed::new(
                "API_NotSupported",
                format!("Event type {kind_name:?} is not supported: this server sends change, periodic, archive, user_event and attr_conf events"),
                origin,
            )
        })?;
        let client_idl = argin.get(4).and_then(|v| v.trim().parse::<i32>().ok()).unwrap_or(4);
        let dev = self.find(&argin[0])?;
        let topic = dev.subscribe(&argin[1], kind, client_idl)?;
        let ep = hub.endpoints();
        Ok((hub.reply_numbers(), vec![ep.heartbeat.clone(), ep.event.clone(), topic, hub.naming().channel()]))
    }

    /// Triples `[device, attribute, event name]*` renewing subscriptions.
    fn confirm_subscriptions(&self, argin: Vec<String>) -> Result<(), DevFailed> {
        let hub = self.hub()?;
        if argin.is_empty() || !argin.len().is_multiple_of(3) {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("EventConfirmSubscription takes [device, attribute, event]* triples, got {} strings", argin.len()),
                "DServer::event_confirm_subscription",
            ));
        }
        for t in argin.chunks(3) {
            let name = t[2].strip_prefix("idl5_").unwrap_or(&t[2]);
            if let (Some(kind), Ok(dev)) = (EventKind::parse(name), self.find(&t[0])) {
                hub.confirm(dev.name(), &t[1], kind);
            }
        }
        Ok(())
    }

    /// cppTango's `check_lock_owner`: admin changes to a device locked by another client are
    /// refused.
    fn check_lock_owner(&self, dev: &dyn DeviceObject, cmd: &str) -> Result<(), DevFailed> {
        if dev.services().lock.held_by_other(current_locker().as_ref(), Instant::now()) {
            return Err(DevFailed::new(
                "API_DeviceLocked",
                format!("Device {} is locked by another client: {cmd} is not allowed", dev.name()),
                "DServer::check_lock_owner",
            ));
        }
        Ok(())
    }

    // ---- locking ----

    fn lock_device(&self, (lv, sv): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const O: &str = "DServer::lock_device";
        let (Some(&validity), Some(name)) = (lv.first(), sv.first()) else {
            return Err(wrong_args("LockDevice takes Lg[0] = lock validity (s) and Str[0] = device name", O));
        };
        let who = caller("lock", O)?;
        if validity < MIN_LOCK_VALIDITY {
            return Err(DevFailed::new(
                "API_MethodArgument",
                format!("Lock validity can not be lower than {MIN_LOCK_VALIDITY} seconds (got {validity})"),
                O,
            ));
        }
        let dev = self.find_lockable(name, O)?;
        dev.services().lock.lock(dev.name(), &who, Duration::from_secs(validity as u64), Instant::now())?;
        dev.services().logger.log(Level::Info, &format!("locked by {}", who.describe()));
        Ok(())
    }

    fn find_lockable(&self, name: &str, origin: &str) -> Result<&Arc<dyn DeviceObject>, DevFailed> {
        if name.to_ascii_lowercase().starts_with("dserver/") {
            return Err(DevFailed::new("API_DeviceUnlockable", "Impossible to lock device server administration device", origin));
        }
        let dev = self.find(name)?;
        if dev.class_name() == "DataBase" {
            return Err(DevFailed::new("API_DeviceUnlockable", "Impossible to lock database device", origin));
        }
        Ok(dev)
    }

    fn unlock_device(&self, (lv, sv): (Vec<i32>, Vec<String>)) -> Result<i32, DevFailed> {
        const O: &str = "DServer::un_lock_device";
        let Some(&force) = lv.first() else {
            return Err(wrong_args("UnLockDevice takes Lg[0] = force flag (0/1) and Str = device name(s)", O));
        };
        let who = current_locker();
        if who.is_none() && force == 0 {
            caller("un-lock", O)?;
        }
        let mut count = 0;
        for (i, name) in sv.iter().enumerate() {
            let dev = self.find(name)?;
            let left = dev.services().lock.unlock(dev.name(), who.as_ref(), force != 0, Instant::now())?;
            count = if i == 0 { left } else { 0 };
        }
        Ok(count)
    }

    fn relock_devices(&self, names: Vec<String>) -> Result<(), DevFailed> {
        const O: &str = "DServer::re_lock_devices";
        let who = caller("re_lock", O)?;
        let mut errors = Vec::new();
        for name in &names {
            let r = self.find(name).and_then(|d| d.services().lock.relock(d.name(), &who, Instant::now()));
            if let Err(e) = r {
                errors.extend(e.errors);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DevFailed { errors })
        }
    }

    fn lock_status(&self, name: String) -> Result<(Vec<i32>, Vec<String>), DevFailed> {
        let dev = self.find(&name)?;
        Ok(dev.services().lock.status(dev.name(), Instant::now()))
    }

    // ---- polling ----

    /// `[device, object type, object name]` → the device, the kind and the object's name as
    /// the device declares it.
    fn poll_target(&self, sv: &[String], origin: &str) -> Result<(&Arc<dyn DeviceObject>, PollKind, String), DevFailed> {
        let [dev, kind, obj] = sv else {
            return Err(wrong_args("Incorrect number of inout arguments: expected Str = [device name, object type, object name]", origin));
        };
        let d = self.find(dev).map_err(|_| DevFailed::new("API_DeviceNotFound", format!("Device {dev} not found"), origin))?;
        let kind = PollKind::parse(kind).ok_or_else(|| {
            DevFailed::new(
                "API_NotSupported",
                format!("Object type {} not supported: the types are attribute and command", kind.to_ascii_lowercase()),
                origin,
            )
        })?;
        let lower = obj.to_ascii_lowercase();
        let name = match kind {
            PollKind::Command if lower == "init" => {
                return Err(DevFailed::new("API_NotSupported", "It's not possible to poll the Init command!", origin));
            }
            // cppTango polls State and Status as attributes whichever type is given
            _ if lower == "state" => "State".to_string(),
            _ if lower == "status" => "Status".to_string(),
            PollKind::Command => d
                .command_list()
                .iter()
                .find(|c| c.cmd_name.eq_ignore_ascii_case(obj))
                .map(|c| c.cmd_name.clone())
                .ok_or_else(|| DevFailed::new("API_CommandNotFound", format!("Command {obj} not found"), origin))?,
            PollKind::Attribute => d.attribute_config(std::slice::from_ref(obj))?.remove(0).name.clone(),
        };
        let kind = if lower == "state" || lower == "status" { PollKind::Attribute } else { kind };
        Ok((d, kind, name))
    }

    fn period(lv: &[i32], origin: &str) -> Result<Duration, DevFailed> {
        let Some(&ms) = lv.first() else {
            return Err(wrong_args("Incorrect number of inout arguments: expected Lg[0] = polling period (ms)", origin));
        };
        if ms < MIN_POLL_PERIOD_MS {
            return Err(DevFailed::new(
                "API_NotSupported",
                format!("{ms} is below the min authorized period ({MIN_POLL_PERIOD_MS} mS)"),
                origin,
            ));
        }
        Ok(Duration::from_millis(ms as u64))
    }

    fn add_obj_polling(&self, (lv, sv): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const O: &str = "DServer::add_obj_polling";
        let (dev, kind, name) = self.poll_target(&sv, O)?;
        let period = Self::period(&lv, O)?;
        self.check_lock_owner(dev.as_ref(), "add_obj_polling")?;
        dev.services().polling.add(kind, &name, period, Origin::Configured, Instant::now())?;
        self.services.poller.kick();
        self.persist_polling(dev.as_ref(), kind)
    }

    fn upd_obj_polling_period(&self, (lv, sv): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const O: &str = "DServer::upd_obj_polling_period";
        let (dev, kind, name) = self.poll_target(&sv, O)?;
        let period = Self::period(&lv, O)?;
        self.check_lock_owner(dev.as_ref(), "upd_obj_polling_period")?;
        if !dev.services().polling.is_polled() {
            return Err(DevFailed::new("API_DeviceNotPolled", format!("Device {} is not polled", sv[0]), O));
        }
        dev.services().polling.update(kind, &name, period, dev.name(), Instant::now())?;
        self.services.poller.kick();
        self.persist_polling(dev.as_ref(), kind)
    }

    fn rem_obj_polling(&self, sv: Vec<String>) -> Result<(), DevFailed> {
        const O: &str = "DServer::rem_obj_polling";
        let (dev, kind, name) = self.poll_target(&sv, O)?;
        self.check_lock_owner(dev.as_ref(), "rem_obj_polling")?;
        if !dev.services().polling.is_polled() {
            return Err(DevFailed::new("API_DeviceNotPolled", format!("Device {} is not polled", sv[0]), O));
        }
        dev.services().polling.remove(kind, &name, dev.name())?;
        self.services.poller.kick();
        self.persist_polling(dev.as_ref(), kind)
    }

    /// Write `polled_attr` / `polled_cmd` back to the database (deleted when empty), as
    /// cppTango does, so a restarted server polls what it polled.
    fn persist_polling(&self, dev: &dyn DeviceObject, kind: PollKind) -> Result<(), DevFailed> {
        let Some(db) = &self.services.db else { return Ok(()) };
        let prop = if kind == PollKind::Attribute { "polled_attr" } else { "polled_cmd" };
        let value = dev.services().polling.property(kind);
        if value.is_empty() {
            db.delete_device_property(dev.name(), &[prop.to_string()])?;
        } else {
            db.put_device_property(dev.name(), &Properties::from([(prop.to_string(), value)]))?;
        }
        Ok(())
    }

    fn polled_devices(&self) -> Vec<String> {
        let mut v: Vec<String> = self.devices.iter().filter(|d| d.services().polling.is_polled()).map(|d| d.name().to_string()).collect();
        v.sort();
        v
    }

    // ---- logging ----

    /// The devices the logging service covers: the server's devices and the admin device.
    fn logged(&self) -> Vec<Arc<dyn DeviceObject>> {
        let mut v = self.devices.clone();
        v.extend(self.itself.get().and_then(Weak::upgrade));
        v
    }

    /// The devices a logging pattern names; none is an error.
    fn matching(&self, pattern: &str, origin: &str) -> Result<Vec<Arc<dyn DeviceObject>>, DevFailed> {
        let v: Vec<_> = self.logged().into_iter().filter(|d| matches(pattern, d.name())).collect();
        if v.is_empty() {
            return Err(DevFailed::new(
                "API_DeviceNotFound",
                format!("No device name matching pattern <{}>", pattern.to_ascii_lowercase()),
                origin,
            ));
        }
        Ok(v)
    }

    fn logging_targets(&self, argin: Vec<String>, add: bool) -> Result<(), DevFailed> {
        let origin = if add { "Logging::add_logging_target" } else { "Logging::remove_logging_target" };
        if argin.is_empty() || !argin.len().is_multiple_of(2) {
            return Err(DevFailed::new(
                if add { "API_MethodArgument" } else { "API_WrongNumberOfArgs" },
                format!(
                    "Incorrect number of inout arguments: expected [device name, target type::target name]* pairs, got {} strings",
                    argin.len()
                ),
                origin,
            ));
        }
        // validate everything first: a bad pair changes nothing
        let mut todo = Vec::new();
        for pair in argin.chunks(2) {
            if add {
                crate::logging::TargetKind::parse(&pair[1])?;
            }
            for d in self.matching(&pair[0], origin)? {
                self.check_lock_owner(d.as_ref(), if add { "add_logging_target" } else { "remove_logging_target" })?;
                todo.push((d, pair[1].clone()));
            }
        }
        for (d, target) in todo {
            if add {
                d.services().logger.add_target(&target)?;
            } else {
                d.services().logger.remove_target(&target)?;
            }
        }
        Ok(())
    }

    fn set_logging_level(&self, (lv, sv): (Vec<i32>, Vec<String>)) -> Result<(), DevFailed> {
        const O: &str = "Logging::set_logging_level";
        if lv.len() != sv.len() {
            return Err(DevFailed::new(
                "API_IncompatibleCmdArgumentType",
                format!(
                    "Incompatible command argument type: long and string arrays must have the same length ({} levels, {} devices)",
                    lv.len(),
                    sv.len()
                ),
                O,
            ));
        }
        let mut todo = Vec::new();
        for (l, pattern) in lv.iter().zip(&sv) {
            let level = Level::from_i32(*l).ok_or_else(|| {
                DevFailed::new(
                    "API_MethodArgument",
                    format!("Invalid argument for command, logging level {l} out of range: 0 (OFF) to 5 (DEBUG)"),
                    O,
                )
            })?;
            for d in self.logged().into_iter().filter(|d| matches(pattern, d.name())) {
                self.check_lock_owner(d.as_ref(), "set_logging_level")?;
                todo.push((d, level));
            }
        }
        for (d, level) in todo {
            d.services().logger.set_level(level);
        }
        Ok(())
    }

    fn get_logging_level(&self, patterns: Vec<String>) -> (Vec<i32>, Vec<String>) {
        let (mut lv, mut sv) = (Vec::new(), Vec::new());
        for p in &patterns {
            for d in self.logged().into_iter().filter(|d| matches(p, d.name())) {
                lv.push(d.services().logger.level() as i32);
                sv.push(d.name().to_string());
            }
        }
        (lv, sv)
    }

    fn set_logging(&self, on: bool) {
        for d in &self.logged() {
            d.services().logger.set_enabled(on);
        }
    }

    // ---- wizards ----

    fn wizard(&self, class: &str, device_props: bool) -> Result<Vec<String>, DevFailed> {
        let registered = self.services.classes.iter().find(|c| c.name.eq_ignore_ascii_case(class));
        let decls = match (registered, self.devices.iter().find(|d| d.class_name().eq_ignore_ascii_case(class))) {
            (Some(c), _) => (if device_props { &c.device_properties } else { &c.class_properties }).as_slice(),
            (None, Some(dev)) => if device_props { dev.device_property_decls() } else { dev.class_property_decls() },
            (None, None) => {
                return Err(DevFailed::new(
                    "API_ClassNotFound",
                    format!("Class {} not found in device server (its classes: {})", class.to_ascii_lowercase(), self.class_names().join(", ")),
                    "DServer::query_class_prop",
                ))
            }
        };
        Ok(decls
            .iter()
            .flat_map(|p| {
                [
                    p.name.clone(),
                    p.description.clone(),
                    if p.default.is_empty() { "Not specified".to_string() } else { p.default.join("\n") },
                ]
            })
            .collect())
    }

    fn init_all(&self) -> Result<(), DevFailed> {
        for d in &self.devices {
            d.init()?;
        }
        Ok(())
    }
}

impl Device for DServer {
    fn class() -> DeviceClass<Self> {
        // cppTango's admin commands describe their DevVoid sides as "Uninitialised".
        let void = "Uninitialised";
        type LS = (Vec<i32>, Vec<String>);
        DeviceClass::new("DServer")
            .description("A device server admin device")
            .command(Cmd::new("QueryClass").doc_in(void).doc_out("Device server class(es) list").run(|d: &mut DServer, ()| Ok(d.class_names())))
            .command(Cmd::new("QueryDevice").doc_in(void).doc_out("Device server device(s) list").run(|d: &mut DServer, ()| {
                Ok(d.devices.iter().map(|o| format!("{}::{}", o.class_name(), o.name())).collect::<Vec<String>>())
            }))
            .command(Cmd::new("QuerySubDevice").doc_in(void).doc_out("Device server sub device(s) list").run(|_: &mut DServer, ()| Ok(Vec::<String>::new())))
            .command(Cmd::new("Init").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("RestartServer").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("DevRestart").doc_in("Device name").doc_out(void).run(|d: &mut DServer, name: String| {
                let dev = d.find(&name)?;
                d.check_lock_owner(dev.as_ref(), "restart")?;
                dev.init()
            }))
            .command(Cmd::new("Kill").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.control.shutdown();
                Ok(())
            }))
            .command(Cmd::new("PolledDevice").doc_in(void).doc_out("Polled device name list").run(|d: &mut DServer, ()| Ok(d.polled_devices())))
            .command(Cmd::new("DevPollStatus").doc_in("Device name").doc_out("Device polling status").run(|d: &mut DServer, name: String| {
                Ok(d.find(&name)?.services().polling.status(Instant::now()))
            }))
            .command(
                Cmd::new("AddObjPolling")
                    .doc_in("Lg[0]=Upd period. Str[0]=Device name. Str[1]=Object type. Str[2]=Object name")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: LS| d.add_obj_polling(a)),
            )
            .command(
                Cmd::new("RemObjPolling")
                    .doc_in("Str[0]=Device name. Str[1]=Object type. Str[2]=Object name")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: Vec<String>| d.rem_obj_polling(a)),
            )
            .command(
                Cmd::new("UpdObjPollingPeriod")
                    .doc_in("Lg[0]=Upd period. Str[0]=Device name. Str[1]=Object type. Str[2]=Object name")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: LS| d.upd_obj_polling_period(a)),
            )
            .command(Cmd::new("StartPolling").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.services.poller.set_running(true);
                Ok(())
            }))
            .command(Cmd::new("StopPolling").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.services.poller.set_running(false);
                Ok(())
            }))
            .command(
                Cmd::new("LockDevice").doc_in("Str[0] = Device name. Lg[0] = Lock validity").doc_out(void).run(|d: &mut DServer, a: LS| d.lock_device(a)),
            )
            .command(
                Cmd::new("UnLockDevice")
                    .doc_in("Str[x] = Device name(s). Lg[0] = Force flag")
                    .doc_out("Device global lock counter")
                    .run(|d: &mut DServer, a: LS| d.unlock_device(a)),
            )
            .command(Cmd::new("ReLockDevices").doc_in("Device(s) name").doc_out(void).run(|d: &mut DServer, a: Vec<String>| d.relock_devices(a)))
            .command(Cmd::new("DevLockStatus").doc_in("Device name").doc_out("Device locking status").run(|d: &mut DServer, a: String| d.lock_status(a)))
            .command(
                Cmd::new("AddLoggingTarget")
                    .doc_in("Str[i]=Device-name. Str[i+1]=Target-type::Target-name")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: Vec<String>| d.logging_targets(a, true)),
            )
            .command(
                Cmd::new("RemoveLoggingTarget")
                    .doc_in("Str[i]=Device-name. Str[i+1]=Target-type::Target-name")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: Vec<String>| d.logging_targets(a, false)),
            )
            .command(Cmd::new("GetLoggingTarget").doc_in("Device name").doc_out("Logging target list").run(|d: &mut DServer, name: String| {
                let dev = d.logged().into_iter().find(|o| o.name().eq_ignore_ascii_case(&name)).ok_or_else(|| {
                    DevFailed::new("API_DeviceNotFound", format!("Device {name} not found"), "Logging::get_logging_target")
                })?;
                Ok(dev.services().logger.targets())
            }))
            .command(
                Cmd::new("SetLoggingLevel")
                    .doc_in("Lg[i]=Logging Level. Str[i]=Device name.")
                    .doc_out(void)
                    .run(|d: &mut DServer, a: LS| d.set_logging_level(a)),
            )
            .command(
                Cmd::new("GetLoggingLevel")
                    .doc_in("Device list")
                    .doc_out("Lg[i]=Logging Level. Str[i]=Device name.")
                    .run(|d: &mut DServer, a: Vec<String>| Ok(d.get_logging_level(a))),
            )
            .command(Cmd::new("StartLogging").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.set_logging(true);
                Ok(())
            }))
            .command(Cmd::new("StopLogging").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.set_logging(false);
                Ok(())
            }))
            .command(
                Cmd::new("QueryWizardClassProperty")
                    .doc_in("Class name")
                    .doc_out("Class property list (name - description and default value)")
                    .run(|d: &mut DServer, class: String| d.wizard(&class, false)),
            )
            .command(
                Cmd::new("QueryWizardDevProperty")
                    .doc_in("Class name")
                    .doc_out("Device property list (name - description and default value)")
                    .run(|d: &mut DServer, class: String| d.wizard(&class, true)),
            )
            .command(
                Cmd::new("ZmqEventSubscriptionChange")
                    .doc_in("[device, attribute, \"subscribe\", event type (change, periodic, archive, user_event, attr_conf), client IDL] or [\"info\"]")
                    .doc_out("Str: heartbeat endpoint, event endpoint, event topic, channel name; Lg: Tango release, IDL, HWM, 0, 0, ZMQ release")
                    .run(|d: &mut DServer, argin: Vec<String>| d.zmq_subscription_change(argin)),
            )
            .command(
                Cmd::new("EventConfirmSubscription")
                    .doc_in("Str[0] = dev1 name, Str[1] = att1 name, Str[2] = event name, Str[3] = dev2 name, ...")
                    .doc_out(void)
                    .run(|d: &mut DServer, argin: Vec<String>| d.confirm_subscriptions(argin)),
            )
            .command(Cmd::new("EventSubscriptionChange").doc_in("Event consumer wants to subscribe to").doc_out("Tango lib release").run(
                |_: &mut DServer, _: Vec<String>| -> Result<i32, DevFailed> {
                    Err(DevFailed::new(
                        "API_NotSupported",
                        "The notifd event system is not supported by this server: subscribe through ZMQ (ZmqEventSubscriptionChange)",
                        "DServer::event_subscription_change",
                    ))
                },
            ))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }

    fn status(&self) -> String {
        format!("The device is ON\nThe polling is {}", if self.services.poller.is_running() { "ON" } else { "OFF" })
    }
}

/// The admin device `admin_name` (`dserver/<exec>/<instance>`) over `devices`, as a device
/// object. Lets sans-IO users (golden tests, fuzz harness) build the whole object table of a
/// server without sockets.
/// `events` is the server's event system, if it runs one.
pub fn admin_device(
    admin_name: &str,
    devices: Vec<Arc<dyn DeviceObject>>,
    control: Arc<dyn ServerControl>,
    events: Option<Arc<EventHub>>,
    services: AdminServices,
) -> Arc<dyn DeviceObject> {
    let itself: Arc<OnceLock<Weak<dyn DeviceObject>>> = Arc::default();
    let me = itself.clone();
    let admin: Arc<dyn DeviceObject> = Arc::new(crate::object::DeviceCell::new(
        admin_name,
        Arc::new(DServer::class()),
        Arc::new(move |_: &str| DServer {
            devices: devices.clone(),
            control: control.clone(),
            events: events.clone(),
            services: services.clone(),
            itself: me.clone(),
        }),
    ));
    let _ = itself.set(Arc::downgrade(&admin));
    // cppTango's admin device logs nothing until asked to (its devices start at WARN)
    admin.services().logger.set_level(Level::Off);
    admin
}
