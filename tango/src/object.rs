//! A device instance as the runtime sees it: a type-erased object that reads, writes and runs
//! commands in Tango's terms, serialising every request to one device (Tango's default
//! "by device" serialisation model) behind a mutex.
//!
//! Whatever ran the device's code — a command, a write, `Init`, a [`DeviceHandle`] run —
//! ends in [`DeviceCell::finish`]: the pushes are taken and the watched attributes read while
//! the device is still locked, and a per-device publication guard is taken before the device
//! is released. So the events of one device go out in the order its handlers ran, even when
//! two clients call it at once; the polling thread's reads take the same guard, so a value
//! polled before a request is never published after the request's newer one.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use crate::any::CmdValue;
use crate::attr_config::{self, check_enum, check_finite, check_limits, initial_config, state_config};
pub use crate::blackbox::{BlackBox, BlackBoxEntry, Detail};
use crate::device::{AttrEntry, Device, DeviceClass, Pushed};
use crate::events::{Criteria, EventHub, EventKind};
use crate::handle::{Built, DeviceHandle, HandleError};
use crate::idl::*;
use crate::polling::{Origin, PollKind};
pub use crate::services::{DeviceServices, PropertyDecl};

/// What the protocol layer needs from a device.
pub trait DeviceObject: Send + Sync {
    fn name(&self) -> &str;
    fn class_name(&self) -> &str;
    fn description(&self) -> String;
    fn state(&self) -> DevState;
    fn status(&self) -> String;
    /// The class's commands and the built-in ones, sorted by name (fixed for the server's
    /// life, so built once: PyTango asks `command_query_2` before every `command_inout`).
    fn command_list(&self) -> &[DevCmdInfo_2];
    fn command(&self, name: &str, arg: CmdValue) -> Result<CmdValue, DevFailed>;
    /// One value per requested name; unknown names and failed reads become error entries.
    fn read_attributes(&self, names: &[String]) -> Vec<AttributeValue_5>;
    /// Per-attribute errors as (index, name, error).
    fn write_attributes(&self, values: Vec<AttributeValue_4>) -> Result<(), Vec<(usize, String, DevFailed)>>;
    /// Shared, not copied: PyTango asks for an attribute's configuration before every write.
    fn attribute_config(&self, names: &[String]) -> Result<Vec<Arc<AttributeConfig_5>>, DevFailed>;
    fn set_attribute_config(&self, cfg: Vec<AttributeConfig_5>) -> Result<(), DevFailed>;
    /// Re-create the device from its factory (the `Init` command).
    fn init(&self) -> Result<(), DevFailed>;
    fn black_box(&self) -> &BlackBox;
    /// Connect the device to the server's event system.
    fn attach_events(&self, hub: Arc<EventHub>);
    /// The lock, polling, logging and database of the device.
    fn services(&self) -> &DeviceServices;
    /// What the polling thread does: read `names` and feed the event system with the values
    /// (when somebody listens), in order with the events of requests and handle runs.
    fn poll_attributes(&self, names: &[String]) -> Vec<AttributeValue_5>;
    /// The device properties the class declares (for `QueryWizardDevProperty`).
    fn device_property_decls(&self) -> &[PropertyDecl];
    /// The class properties the class declares (for `QueryWizardClassProperty`).
    fn class_property_decls(&self) -> &[PropertyDecl];
    /// Subscribe a client to `kind` events of `attr`; returns the topic to listen to.
    fn subscribe(&self, attr: &str, kind: EventKind, client_idl: i32) -> Result<String, DevFailed>;
    /// The server stopped serving: background work must not change the device any more.
    fn server_stopped(&self) {}
}

/// Builds a device from its name (the factory the server was given).
pub type Factory<D> = Arc<dyn Fn(&str) -> D + Send + Sync>;

/// Builds a device from its name and the handle its background work can run code on it with.
pub type HandleFactory<D> = Arc<dyn Fn(&str, DeviceHandle<D>) -> D + Send + Sync>;

/// Per-attribute state that lives beside the device: its current configuration and the last
/// written (set-point) value.
struct AttrState {
    /// Replaced (copy on write) by `set_attribute_config`; readers share it.
    config: Arc<AttributeConfig_5>,
    set_point: Option<AttrData>,
}

struct Inner<D> {
    device: D,
    /// Which instance `device` is (1 = built with the cell; every `Init` builds the next).
    instance: u64,
    attrs: Vec<AttrState>,
}

thread_local! {
    /// The device cells this thread holds locked (by address): a handle run from inside one
    /// of their handlers would wait for itself.
    static LOCKED_HERE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

thread_local! {
    /// This thread is running a device factory: a handle run here would wait for the device
    /// being built.
    static BUILDING_HERE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Run a device factory, marked in [`BUILDING_HERE`].
fn building<T>(factory: impl FnOnce() -> T) -> T {
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            BUILDING_HERE.with(|b| b.set(b.get() - 1));
        }
    }
    BUILDING_HERE.with(|b| b.set(b.get() + 1));
    let _unmark = Unmark;
    factory()
}

/// Whether this thread is inside a device factory.
pub(crate) fn building_here() -> bool {
    BUILDING_HERE.with(|b| b.get() > 0)
}

/// The device locked by this thread; remembered in [`LOCKED_HERE`] while held.
struct Locked<'a, D> {
    guard: MutexGuard<'a, Inner<D>>,
    key: usize,
}

impl<D> Drop for Locked<'_, D> {
    fn drop(&mut self) {
        LOCKED_HERE.with(|l| {
            let mut l = l.borrow_mut();
            if let Some(i) = l.iter().rposition(|k| *k == self.key) {
                l.remove(i);
            }
        });
    }
}

impl<D> std::ops::Deref for Locked<'_, D> {
    type Target = Inner<D>;
    fn deref(&self) -> &Inner<D> {
        &self.guard
    }
}

impl<D> std::ops::DerefMut for Locked<'_, D> {
    fn deref_mut(&mut self) -> &mut Inner<D> {
        &mut self.guard
    }
}

/// A device of type `D` with its class description.
pub struct DeviceCell<D: Device> {
    name: String,
    class: Arc<DeviceClass<D>>,
    factory: HandleFactory<D>,
    inner: Mutex<Inner<D>>,
    /// Signalled when `Init` installs a new instance (handles of it wait for that).
    installed: Condvar,
    /// How many instances the factory has built.
    built: AtomicU64,
    /// This cell, for the handles the factory gets (empty for cells not built shared).
    this: Weak<Self>,
    this_built: Arc<Built>,
    /// The server stopped: handles answer [`HandleError::Stopped`].
    stopped: AtomicBool,
    /// Held from before the device is released until its events are out: publication in the
    /// order the handlers ran.
    publishing: Mutex<()>,
    black_box: BlackBox,
    events: OnceLock<Arc<EventHub>>,
    /// What [`DeviceObject::command_list`] returns (the class's commands are fixed).
    commands: Vec<DevCmdInfo_2>,
    services: DeviceServices,
    /// Attribute properties from the database (class ones overridden by device ones), applied
    /// over the class's defaults at start and at Init.
    attr_properties: Mutex<AttrProperties>,
}

/// attribute name (lower-cased) → property → values.
pub type AttrProperties = std::collections::BTreeMap<String, crate::dbclient::Properties>;

impl<D: Device> DeviceCell<D> {
    /// A cell whose device gets a handle that reaches nothing (see [`DeviceCell::shared`]).
    pub fn new(name: &str, class: Arc<DeviceClass<D>>, factory: Factory<D>) -> Self {
        let built = Arc::new(Built::default());
        built.set();
        Self::build(name, class, Arc::new(move |n: &str, _| factory(n)), Weak::new(), built)
    }

    /// A cell whose device (and every instance `Init` re-creates) gets a working
    /// [`DeviceHandle`]; `configure` finishes the cell before the handles may use it.
    pub fn shared(name: &str, class: Arc<DeviceClass<D>>, factory: HandleFactory<D>, configure: impl FnOnce(Self) -> Self) -> Arc<Self> {
        let built = Arc::new(Built::default());
        let cell = Arc::new_cyclic(|this| configure(Self::build(name, class, factory, this.clone(), built.clone())));
        built.set();
        cell
    }

    fn build(name: &str, class: Arc<DeviceClass<D>>, factory: HandleFactory<D>, this: Weak<Self>, this_built: Arc<Built>) -> Self {
        let device = building(|| factory(name, DeviceHandle::new(this.clone(), this_built.clone(), 1)));
        let attrs = class.attributes.iter().map(|a| AttrState { config: Arc::new(initial_config(&a.info)), set_point: None }).collect();
        let commands = command_list(&class);
        let services = DeviceServices::new(name);
        let now = std::time::Instant::now();
        for a in &class.attributes {
            if let Some(p) = a.info.polling {
                let _ = services.polling.add(PollKind::Attribute, &a.info.name, p, Origin::Class, now);
            }
        }
        DeviceCell {
            name: name.to_string(),
            class,
            factory,
            inner: Mutex::new(Inner { device, instance: 1, attrs }),
            installed: Condvar::new(),
            built: AtomicU64::new(1),
            this,
            this_built,
            stopped: AtomicBool::new(false),
            publishing: Mutex::new(()),
            black_box: BlackBox::default(),
            events: OnceLock::new(),
            commands,
            services,
            attr_properties: Mutex::new(AttrProperties::new()),
        }
    }

    /// Apply attribute properties read from the database (class ones overridden by device
    /// ones) over the class's defaults; kept for Init.
    pub fn with_attribute_properties(self, props: AttrProperties) -> Self {
        *self.attr_properties.lock().unwrap_or_else(|p| p.into_inner()) = props;
        self.apply_attribute_properties();
        self
    }

    fn apply_attribute_properties(&self) {
        let props = self.attr_properties.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut g = self.lock();
        for (i, a) in self.class.attributes.iter().enumerate() {
            let mut cfg = initial_config(&a.info);
            if let Some(p) = props.iter().find(|(k, _)| k.eq_ignore_ascii_case(&a.info.name)).map(|(_, p)| p) {
                attr_config::apply_properties(&mut cfg, p);
            }
            g.attrs[i].config = Arc::new(cfg);
        }
    }

    /// Keep what `set_attribute_config` changed in the database: properties that differ from
    /// the class's defaults are put, those back at their default deleted.
    fn persist_attribute_config(&self, changed: &[(usize, Arc<AttributeConfig_5>)]) -> Result<(), DevFailed> {
        let Some(db) = self.services.db() else { return Ok(()) };
        let mut kept = self.attr_properties.lock().unwrap_or_else(|p| p.into_inner());
        for (i, cfg) in changed {
            let info = &self.class.attributes[*i].info;
            let (put, delete) = attr_config::diff_properties(cfg, &initial_config(info));
            if !put.is_empty() {
                db.put_device_attribute_property(&self.name, &info.name, &put)?;
            }
            db.delete_device_attribute_property(&self.name, &info.name, &delete)?;
            let entry = kept.entry(info.name.to_ascii_lowercase()).or_default();
            entry.clear();
            entry.extend(put);
        }
        Ok(())
    }

    /// Read the class and device attribute properties again (for Init). A database that
    /// cannot be read leaves the properties read before.
    fn reload_attribute_properties(&self) {
        let Some(db) = self.services.db() else { return };
        let names: Vec<String> = self.class.attributes.iter().map(|a| a.info.name.clone()).collect();
        match crate::registration::attribute_properties(db, &self.class.name, &self.name, &names) {
            Ok(p) => *self.attr_properties.lock().unwrap_or_else(|p| p.into_inner()) = p,
            Err(e) => {
                tracing::warn!(device = %self.name, error = %e, "Init: cannot re-read attribute properties; keeping the previous ones")
            }
        }
    }

    /// Apply the runtime's device properties: `polled_attr`, `polled_cmd`, `poll_ring_depth`,
    /// `attr_poll_ring_depth`, `cmd_poll_ring_depth`, `logging_level`, `logging_target`.
    /// Bad entries are logged and skipped.
    pub fn with_runtime_properties(self, ctx: &crate::registration::DeviceContext) -> Self {
        if let Some(Ok(depth)) = ctx.property_as::<usize>("poll_ring_depth") {
            self.services.polling.set_depth(depth);
        }
        for (prop, kind) in [("attr_poll_ring_depth", PollKind::Attribute), ("cmd_poll_ring_depth", PollKind::Command)] {
            for pair in ctx.property(prop).unwrap_or(&[]).chunks(2) {
                match pair {
                    [name, depth] => match depth.trim().parse::<usize>() {
                        Ok(d) if d > 0 => self.services.polling.set_object_depth(kind, name, d),
                        _ => tracing::warn!(device = %self.name, "{prop}: depth {depth:?} of {name} is not a positive number; ignored"),
                    },
                    _ => tracing::warn!(device = %self.name, "{prop} has an odd number of entries; ignoring the last one"),
                }
            }
        }
        let mut me = self;
        if let Some(p) = ctx.property("polled_attr") {
            me = me.with_polled_attr(p);
        }
        if let Some(p) = ctx.property("polled_cmd") {
            me = me.with_polled(PollKind::Command, p);
        }
        me.services.logger.configure(ctx.property_str("logging_level"), ctx.property("logging_target").unwrap_or(&[]));
        me
    }

    /// Apply Tango's `polled_attr` device property: `[attr, period_ms, attr, period_ms, ...]`.
    /// Unknown attributes and bad periods are logged and skipped.
    /// A period of zero stops polling a class-polled attribute.
    pub fn with_polled_attr(self, property: &[String]) -> Self {
        self.with_polled(PollKind::Attribute, property)
    }

    fn with_polled(self, kind: PollKind, property: &[String]) -> Self {
        let prop = if kind == PollKind::Attribute { "polled_attr" } else { "polled_cmd" };
        let now = std::time::Instant::now();
        for pair in property.chunks(2) {
            let [obj, period] = pair else {
                tracing::warn!(device = %self.name, "{prop} has an odd number of entries; ignoring the last one");
                break;
            };
            let name = match kind {
                PollKind::Attribute => self.attr_name(obj),
                PollKind::Command => self.commands.iter().find(|c| c.cmd_name.eq_ignore_ascii_case(obj)).map(|c| c.cmd_name.clone()),
            };
            match (name, period.trim().parse::<u64>()) {
                (Some(n), Ok(0)) => {
                    let _ = self.services.polling.remove(kind, &n, &self.name);
                }
                (Some(n), Ok(ms)) => {
                    let ms = ms.max(crate::polling::MIN_POLL_PERIOD_MS as u64);
                    self.services.polling.configure(kind, &n, Duration::from_millis(ms), now);
                }
                (None, _) => tracing::warn!(device = %self.name, %obj, "{prop} names something the device does not have"),
                (_, Err(_)) => tracing::warn!(device = %self.name, %obj, %period, "{prop} period is not a number of milliseconds"),
            }
        }
        self
    }

    /// An attribute's name as declared (State and Status included), from any case.
    fn attr_name(&self, name: &str) -> Option<String> {
        if name.eq_ignore_ascii_case("state") {
            return Some("State".into());
        }
        if name.eq_ignore_ascii_case("status") {
            return Some("Status".into());
        }
        self.find_attr(name).map(|i| self.class.attributes[i].info.name.clone())
    }

    fn lock(&self) -> Locked<'_, D> {
        // A panicking handler must not take the device down for every later client.
        self.remember_locked(self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn remember_locked<'a>(&'a self, guard: MutexGuard<'a, Inner<D>>) -> Locked<'a, D> {
        let key = self as *const Self as usize;
        LOCKED_HERE.with(|l| l.borrow_mut().push(key));
        Locked { guard, key }
    }

    fn locked_by_this_thread(&self) -> bool {
        let key = self as *const Self as usize;
        LOCKED_HERE.with(|l| l.borrow().contains(&key))
    }

    /// What [`DeviceHandle::run`] does: `f` on instance `instance` of the device, locked as
    /// a command handler is, then its pushes published.
    pub(crate) fn run_from_handle<R>(&self, instance: u64, f: impl FnOnce(&mut D) -> R) -> Result<R, HandleError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(HandleError::Stopped);
        }
        if self.locked_by_this_thread() {
            return Err(HandleError::InsideRequest);
        }
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // An instance `Init` is building but has not installed yet: wait for it.
        while guard.instance < instance && !self.stopped.load(Ordering::SeqCst) {
            guard = self.installed.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
        let mut g = self.remember_locked(guard);
        if self.stopped.load(Ordering::SeqCst) {
            return Err(HandleError::Stopped);
        }
        if g.instance != instance {
            return Err(HandleError::Replaced);
        }
        let result = crate::logging::with_logger(&self.services.logger, || f(&mut g.device));
        self.finish(g);
        Ok(result)
    }

    /// A handle on the current instance of the device (for code embedding the runtime); one
    /// that reaches nothing unless the cell was built [`shared`](DeviceCell::shared).
    pub fn handle(&self) -> DeviceHandle<D> {
        DeviceHandle::new(self.this.clone(), self.this_built.clone(), self.lock().instance)
    }

    /// The server stopped: handles answer [`HandleError::Stopped`] from now on.
    pub fn stop_handles(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.installed.notify_all();
    }

    fn find_attr(&self, name: &str) -> Option<usize> {
        self.class.attributes.iter().position(|a| a.info.name.eq_ignore_ascii_case(name))
    }

    /// The value of attribute `i` as clients read it: `data` plus, for writable attributes,
    /// the set point.
    fn attribute_value(&self, g: &Inner<D>, i: usize, mut value: AttrData) -> AttributeValue_5 {
        let a: &AttrEntry<D> = &self.class.attributes[i];
        let r_dim = dims(a.info.format, value.len());
        let mut w_dim = AttributeDim::default();
        if a.info.writable != AttrWriteType::READ {
            let sp = match &g.attrs[i].set_point {
                Some(sp) => sp.clone(),
                None if a.info.format == AttrDataFormat::SCALAR => zero_set_point(a.info.data_type),
                None => {
                    let mut empty = value.clone();
                    empty.truncate(0);
                    empty
                }
            };
            w_dim = dims(a.info.format, sp.len());
            value.extend(sp);
        }
        AttributeValue_5 {
            value,
            quality: AttrQuality::ATTR_VALID,
            data_format: a.info.format,
            data_type: a.info.data_type as i32,
            time: TimeVal::now(),
            name: a.info.name.clone(),
            r_dim,
            w_dim,
            err_list: vec![],
        }
    }

    /// Take what the device pushed during a request (call with the lock held) and turn it
    /// into attribute values.
    fn drain_outbox(&self, g: &mut Inner<D>) -> Vec<(EventKind, AttributeValue_5)> {
        if self.events.get().is_none() {
            if let Some(o) = g.device.outbox() {
                o.take();
            }
            return vec![];
        }
        let pushed: Vec<Pushed> = match g.device.outbox() {
            Some(o) => o.take(),
            None => return vec![],
        };
        pushed
            .into_iter()
            .filter_map(|p| {
                let Some(i) = self.find_attr(&p.attr) else {
                    tracing::warn!(device = %self.name, attr = %p.attr, "event pushed for an attribute the device does not have");
                    return None;
                };
                let v = match p.value {
                    Ok(data) => self.attribute_value(g, i, data),
                    Err(e) => error_value(&self.class.attributes[i].info.name, e),
                };
                Some((p.kind, v))
            })
            .collect()
    }

    /// After the device's code ran (a request or a handle's run), with the device still
    /// locked: publish what the device pushed, then what changed. The pushes are taken and
    /// the watched attributes read under the device's lock, and the publication guard is
    /// taken before that lock is released, so the next handler's events follow these.
    fn finish(&self, mut g: Locked<'_, D>) {
        let pushed = self.drain_outbox(&mut g);
        let Some(hub) = self.events.get() else { return };
        let watched = hub.watched(&self.name);
        let observed: Vec<(AttributeValue_5, Criteria)> = self
            .read_locked(&g, &watched)
            .into_iter()
            .map(|v| {
                let crit = self.criteria(&g, &v.name);
                (v, crit)
            })
            .collect();
        let _in_order = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        drop(g);
        for (kind, v) in &pushed {
            hub.push(&self.name, v, *kind);
        }
        for (v, crit) in &observed {
            hub.observe(&self.name, v, crit, false);
        }
    }

    fn criteria(&self, g: &Inner<D>, attr: &str) -> Criteria {
        match self.find_attr(attr) {
            Some(i) => Criteria::from_config(&g.attrs[i].config),
            None => Criteria { period: Duration::from_millis(1000), ..Default::default() },
        }
    }

    /// Read `names` from the locked device (unknown names and failed reads become error
    /// entries).
    fn read_locked(&self, g: &Inner<D>, names: &[String]) -> Vec<AttributeValue_5> {
        names
            .iter()
            .map(|n| {
                if n.eq_ignore_ascii_case("state") {
                    return builtin_value("State", AttrData::DeviceState(g.device.state()), CmdArgType::DevState);
                }
                if n.eq_ignore_ascii_case("status") {
                    return builtin_value("Status", AttrData::String(vec![g.device.status()]), CmdArgType::DevString);
                }
                let Some(i) = self.find_attr(n) else { return error_value(n, attr_not_found(n)) };
                let a: &AttrEntry<D> = &self.class.attributes[i];
                let Some(read) = &a.read else {
                    // WRITE-only attributes read back their set point.
                    let sp = g.attrs[i].set_point.clone().unwrap_or_else(|| zero_set_point(a.info.data_type));
                    let n = sp.len();
                    return AttributeValue_5 {
                        value: sp,
                        quality: AttrQuality::ATTR_VALID,
                        data_format: a.info.format,
                        data_type: a.info.data_type as i32,
                        time: TimeVal::now(),
                        name: a.info.name.clone(),
                        r_dim: AttributeDim::default(),
                        w_dim: dims(a.info.format, n),
                        err_list: vec![],
                    };
                };
                match read(&g.device) {
                    Err(e) => error_value(&a.info.name, e),
                    Ok(value) => self.attribute_value(g, i, value),
                }
            })
            .collect()
    }

    /// Run `f` with exclusive access to the device (for code embedding the runtime).
    pub fn with_device<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        f(&mut self.lock().device)
    }
}

/// The class's commands and the built-in ones (Init, State, Status unless the class has its
/// own), sorted by name: what [`DeviceObject::command_list`] returns.
fn command_list<D: Device>(class: &DeviceClass<D>) -> Vec<DevCmdInfo_2> {
    let mut v: Vec<DevCmdInfo_2> = class
        .commands
        .iter()
        .map(|c| DevCmdInfo_2 {
            cmd_name: c.name.clone(),
            level: c.level,
            cmd_tag: 0,
            in_type: c.in_type as i32,
            out_type: c.out_type as i32,
            in_type_desc: c.doc_in.clone(),
            out_type_desc: c.doc_out.clone(),
        })
        .collect();
    // cppTango describes the DevVoid sides of its built-in commands as "Uninitialised".
    for (name, out, doc) in [
        ("Init", CmdArgType::DevVoid, "Uninitialised"),
        ("State", CmdArgType::DevState, "Device state"),
        ("Status", CmdArgType::DevString, "Device status"),
    ] {
        if !v.iter().any(|c| c.cmd_name.eq_ignore_ascii_case(name)) {
            v.push(DevCmdInfo_2 {
                cmd_name: name.into(),
                level: DispLevel::OPERATOR,
                cmd_tag: 0,
                in_type: 0,
                out_type: out as i32,
                in_type_desc: "Uninitialised".into(),
                out_type_desc: doc.into(),
            });
        }
    }
    v.sort_by_key(|c| c.cmd_name.to_ascii_lowercase());
    v
}

pub(crate) fn attr_not_found(name: &str) -> DevFailed {
    DevFailed::new("API_AttrNotFound", format!("{name} attribute not found"), "MultiAttribute::get_attr_by_name")
}

/// The value a failed read answers: no data, quality INVALID, the errors.
pub(crate) fn error_value(name: &str, err: DevFailed) -> AttributeValue_5 {
    AttributeValue_5 {
        value: AttrData::NoData,
        quality: AttrQuality::ATTR_INVALID,
        data_format: AttrDataFormat::FMT_UNKNOWN,
        data_type: 0,
        time: TimeVal::now(),
        name: name.to_string(),
        r_dim: AttributeDim::default(),
        w_dim: AttributeDim::default(),
        err_list: err.errors,
    }
}

/// The value of State or Status (scalars every device has).
fn builtin_value(name: &str, value: AttrData, data_type: CmdArgType) -> AttributeValue_5 {
    AttributeValue_5 {
        value,
        quality: AttrQuality::ATTR_VALID,
        data_format: AttrDataFormat::SCALAR,
        data_type: data_type as i32,
        time: TimeVal::now(),
        name: name.into(),
        r_dim: AttributeDim { dim_x: 1, dim_y: 0 },
        w_dim: AttributeDim::default(),
        err_list: vec![],
    }
}

fn dims(format: AttrDataFormat, n: usize) -> AttributeDim {
    match format {
        AttrDataFormat::SCALAR => AttributeDim { dim_x: if n == 0 { 0 } else { 1 }, dim_y: 0 },
        _ => AttributeDim { dim_x: n as i32, dim_y: 0 },
    }
}

/// The zero value of an attribute type, used as the set point before anything was written.
fn zero_set_point(t: CmdArgType) -> AttrData {
    use CmdArgType as T;
    match t {
        T::DevBoolean => AttrData::Bool(vec![false]),
        T::DevShort | T::DevEnum => AttrData::Short(vec![0]),
        T::DevLong => AttrData::Long(vec![0]),
        T::DevLong64 => AttrData::Long64(vec![0]),
        T::DevFloat => AttrData::Float(vec![0.0]),
        T::DevDouble => AttrData::Double(vec![0.0]),
        T::DevUChar => AttrData::UChar(vec![0]),
        T::DevUShort => AttrData::UShort(vec![0]),
        T::DevULong => AttrData::ULong(vec![0]),
        T::DevULong64 => AttrData::ULong64(vec![0]),
        T::DevString => AttrData::String(vec![String::new()]),
        T::DevState => AttrData::State(vec![DevState::ON]),
        _ => AttrData::NoData,
    }
}

impl<D: Device> DeviceObject for DeviceCell<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn class_name(&self) -> &str {
        &self.class.name
    }

    fn description(&self) -> String {
        self.class.description.clone()
    }

    fn state(&self) -> DevState {
        self.lock().device.state()
    }

    fn status(&self) -> String {
        self.lock().device.status()
    }

    fn command_list(&self) -> &[DevCmdInfo_2] {
        &self.commands
    }

    fn command(&self, name: &str, arg: CmdValue) -> Result<CmdValue, DevFailed> {
        if let Some(c) = self.class.commands.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
            if c.in_type != arg.arg_type() && !(c.in_type == CmdArgType::DevVoid) {
                return Err(crate::device::incompatible_arg(&c.name, c.in_type, arg.arg_type()));
            }
            let mut g = self.lock();
            if let Some(allowed) = &c.allowed {
                allowed(&g.device)?;
            }
            // DevVoid commands ignore whatever the client put in the any.
            let arg = if c.in_type == CmdArgType::DevVoid { CmdValue::Void } else { arg };
            self.services.logger.log_with(crate::logging::Level::Debug, || format!("command {} received", c.name));
            let result = crate::logging::with_logger(&self.services.logger, || (c.handler)(&mut g.device, arg));
            self.finish(g);
            return result;
        }
        let void_only = |arg: &CmdValue, cmd: &str, _: ()| -> Result<(), DevFailed> {
            if matches!(arg, CmdValue::Void) {
                Ok(())
            } else {
                Err(crate::device::incompatible_arg(cmd, CmdArgType::DevVoid, arg.arg_type()))
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "state" => {
                void_only(&arg, "State", ())?;
                Ok(CmdValue::State(self.state()))
            }
            "status" => {
                void_only(&arg, "Status", ())?;
                Ok(CmdValue::String(self.status()))
            }
            "init" => {
                void_only(&arg, "Init", ())?;
                self.init()?;
                Ok(CmdValue::Void)
            }
            _ => Err(DevFailed::new("API_CommandNotFound", format!("Command {name} not found"), "DeviceClass::command_handler")),
        }
    }

    fn read_attributes(&self, names: &[String]) -> Vec<AttributeValue_5> {
        self.read_locked(&self.lock(), names)
    }

    fn write_attributes(&self, values: Vec<AttributeValue_4>) -> Result<(), Vec<(usize, String, DevFailed)>> {
        let mut errors = Vec::new();
        let mut guard = self.lock();
        let g = &mut *guard;
        for (idx, v) in values.into_iter().enumerate() {
            let name = v.name.clone();
            let result = (|| {
                let i = self.find_attr(&v.name).ok_or_else(|| attr_not_found(&v.name))?;
                let a = &self.class.attributes[i];
                let Some(write) = &a.write else {
                    return Err(DevFailed::new(
                        "API_AttrNotWritable",
                        format!("Attribute {} is not writable", a.info.name),
                        "Device_3Impl::write_attributes_34",
                    ));
                };
                let n = v.value.len();
                if a.info.format != AttrDataFormat::SCALAR && n as i64 > a.info.max_dim_x as i64 {
                    // (sic: cppTango's spelling, which clients may match)
                    return Err(DevFailed::new(
                        "API_WAttrOutsideLimit",
                        format!("X dimesion is greater than the max defined for attribute {}", a.info.name),
                        "WAttribute::check_written_value",
                    ));
                }
                check_finite(&a.info.name, &v.value)?;
                if a.info.data_type == CmdArgType::DevEnum {
                    check_enum(&a.info.name, a.info.enum_labels.len(), &v.value)?;
                }
                check_limits(&g.attrs[i].config, &v.value)?;
                let data = v.value;
                crate::logging::with_logger(&self.services.logger, || write(&mut g.device, data.clone()))?;
                g.attrs[i].set_point = Some(data);
                Ok(())
            })();
            if let Err(e) = result {
                errors.push((idx, name, e));
            }
        }
        self.finish(guard);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn attribute_config(&self, names: &[String]) -> Result<Vec<Arc<AttributeConfig_5>>, DevFailed> {
        let g = self.lock();
        let all = names.len() == 1 && (names[0] == "All attributes_3" || names[0] == "All attributes");
        if all {
            let mut v: Vec<Arc<AttributeConfig_5>> = g.attrs.iter().map(|a| a.config.clone()).collect();
            v.push(state_config("State", CmdArgType::DevState).into());
            v.push(state_config("Status", CmdArgType::DevString).into());
            return Ok(v);
        }
        names
            .iter()
            .map(|n| {
                if n.eq_ignore_ascii_case("state") {
                    return Ok(state_config("State", CmdArgType::DevState).into());
                }
                if n.eq_ignore_ascii_case("status") {
                    return Ok(state_config("Status", CmdArgType::DevString).into());
                }
                let i = self.find_attr(n).ok_or_else(|| attr_not_found(n))?;
                Ok(g.attrs[i].config.clone())
            })
            .collect()
    }

    fn set_attribute_config(&self, cfgs: Vec<AttributeConfig_5>) -> Result<(), DevFailed> {
        let mut g = self.lock();
        // Validate everything first: a bad entry changes nothing.
        let mut idx = Vec::with_capacity(cfgs.len());
        for c in &cfgs {
            if c.name.eq_ignore_ascii_case("state") || c.name.eq_ignore_ascii_case("status") {
                idx.push(None);
                continue;
            }
            let i = self.find_attr(&c.name).ok_or_else(|| attr_not_found(&c.name))?;
            attr_config::validate(&self.name, c)?;
            idx.push(Some(i));
        }
        let mut changed = Vec::new();
        for (c, i) in cfgs.into_iter().zip(idx) {
            let Some(i) = i else { continue };
            attr_config::apply(Arc::make_mut(&mut g.attrs[i].config), c, &self.class.attributes[i].info.name);
            changed.push((i, g.attrs[i].config.clone()));
        }
        drop(g);
        self.persist_attribute_config(&changed)
    }

    fn init(&self) -> Result<(), DevFailed> {
        let instance = self.built.fetch_add(1, Ordering::SeqCst) + 1;
        let fresh = building(|| (self.factory)(&self.name, DeviceHandle::new(self.this.clone(), self.this_built.clone(), instance)));
        {
            let mut g = self.lock();
            g.device = fresh;
            g.instance = instance;
            for a in g.attrs.iter_mut() {
                a.set_point = None;
            }
        }
        self.installed.notify_all();
        self.reload_attribute_properties();
        self.apply_attribute_properties();
        self.finish(self.lock());
        Ok(())
    }

    fn black_box(&self) -> &BlackBox {
        &self.black_box
    }

    fn attach_events(&self, hub: Arc<EventHub>) {
        let _ = self.events.set(hub);
    }

    fn services(&self) -> &DeviceServices {
        &self.services
    }

    fn poll_attributes(&self, names: &[String]) -> Vec<AttributeValue_5> {
        let g = self.lock();
        let values = self.read_locked(&g, names);
        let Some(hub) = self.events.get() else { return values };
        let listened = |v: &AttributeValue_5| {
            [EventKind::Change, EventKind::Archive, EventKind::Periodic].iter().any(|k| hub.is_subscribed(&self.name, &v.name, *k))
        };
        let observed: Vec<(&AttributeValue_5, Criteria)> =
            values.iter().filter(|v| listened(v)).map(|v| (v, self.criteria(&g, &v.name))).collect();
        // as in `finish`: a value read before a request's must not be published after it
        let _in_order = self.publishing.lock().unwrap_or_else(|p| p.into_inner());
        drop(g);
        for (v, crit) in observed {
            hub.observe(&self.name, v, &crit, true);
        }
        drop(_in_order);
        values
    }

    fn server_stopped(&self) {
        self.stop_handles();
    }

    fn device_property_decls(&self) -> &[PropertyDecl] {
        &self.class.device_properties
    }

    fn class_property_decls(&self) -> &[PropertyDecl] {
        &self.class.class_properties
    }

    fn subscribe(&self, attr: &str, kind: EventKind, client_idl: i32) -> Result<String, DevFailed> {
        let hub = self.events.get().ok_or_else(|| {
            DevFailed::new("API_EventSupplierNotConstructed", "The event system of this server is not running", "DeviceImpl::subscribe")
        })?;
        let polling_needed = |name: &str| {
            DevFailed::new(
                "API_AttributePollingNotStarted",
                format!("The polling (necessary to send events) for the attribute {name} is not started: periodic events need a polled attribute"),
                "ZmqEventSupplier::subscribe",
            )
        };
        let name = if attr.eq_ignore_ascii_case("state") || attr.eq_ignore_ascii_case("status") {
            let name = if attr.eq_ignore_ascii_case("state") { "State" } else { "Status" };
            if kind == EventKind::Periodic {
                return Err(polling_needed(name));
            }
            name.to_string()
        } else {
            let i = self.find_attr(attr).ok_or_else(|| attr_not_found(attr))?;
            let a = &self.class.attributes[i].info;
            if kind == EventKind::Periodic && self.services.polling.period_of(PollKind::Attribute, &a.name).is_none() {
                return Err(polling_needed(&a.name));
            }
            a.name.clone()
        };
        let topic = hub.subscribe(&self.name, &name, kind, client_idl);
        // The subscriber reads the current value right after subscribing: start detecting
        // changes from it.
        let v = self.read_attributes(std::slice::from_ref(&name)).remove(0);
        hub.prime(&self.name, &v);
        Ok(topic)
    }
}
