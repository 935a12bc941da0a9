//! Polling as cppTango does it: the server reads chosen attributes and runs chosen commands on
//! a period, keeps the last `poll_ring_depth` results of each in a ring buffer, answers
//! `read_attribute_history_5` / `command_inout_history_4` and reads with source CACHE from
//! those buffers, and feeds the event system from the attribute readings.
//!
//! Two rooms: [`DevicePolling`] is one device's polling table and buffers (pure data, time
//! passed in, tested without a thread); [`Poller`] is the server's polling thread, which asks
//! every device what is due, reads it (attributes of one device due together in one read, as
//! cppTango 9 does) and stores the results.
//!
//! What is polled comes from three places: the class (`Attr::polled(ms)`, the runtime's
//! event-detection timer), the `polled_attr`/`polled_cmd` device properties read at start,
//! and the admin commands (`AddObjPolling`, ...). The last two are "configured polling": they
//! are what the admin writes back to the database, and what `CACHE_DEV` reads are answered
//! from. Class polling is listed like the rest (`DevPollStatus`, `PolledDevice`, as cppTango
//! lists a class's `polling_period`) but is not written to the database, and a `CACHE_DEV`
//! read of a class-polled attribute goes to the device, so a value changed by a command is
//! seen by the next read, as the SDP devices' clients expect (their obsState attributes are
//! class-polled for events). This is the one deliberate difference from cppTango, whose
//! `CACHE_DEV` reads of any polled attribute come from the buffer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::any::CmdValue;
use crate::idl::{AttributeValue_5, DevFailed, TimeVal};
use crate::object::DeviceObject;

/// cppTango's default depth of a polling ring buffer (device property `poll_ring_depth`).
pub const DEFAULT_POLL_RING_DEPTH: usize = 10;
/// cppTango's smallest polling period, in milliseconds.
pub const MIN_POLL_PERIOD_MS: i32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    Attribute,
    Command,
}

impl PollKind {
    /// The object type as `AddObjPolling` takes it.
    pub fn parse(s: &str) -> Option<PollKind> {
        match s.to_ascii_lowercase().as_str() {
            "attribute" => Some(PollKind::Attribute),
            "command" => Some(PollKind::Command),
            _ => None,
        }
    }
    fn word(self) -> &'static str {
        match self {
            PollKind::Attribute => "attribute",
            PollKind::Command => "command",
        }
    }
}

/// One polling result.
#[derive(Debug, Clone)]
pub struct Record {
    pub when: TimeVal,
    pub value: Polled,
}

#[derive(Debug, Clone)]
pub enum Polled {
    Attr(AttributeValue_5),
    Cmd(Result<CmdValue, DevFailed>),
}

impl Record {
    fn error_list(&self) -> Option<&[crate::idl::DevError]> {
        match &self.value {
            Polled::Attr(v) if !v.err_list.is_empty() => Some(&v.err_list),
            Polled::Cmd(Err(e)) => Some(&e.errors),
            _ => None,
        }
    }
}

/// Where a polled object's polling comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Declared by the class (`Attr::polled`): event detection only.
    Class,
    /// The `polled_attr`/`polled_cmd` properties or the admin commands.
    Configured,
}

#[derive(Debug)]
struct PollObj {
    kind: PollKind,
    /// As the device declares it (`double_scalar`, `State`, `GetCount`).
    name: String,
    period: Duration,
    origin: Origin,
    ring: VecDeque<Record>,
    /// Monotonic times of the records in `ring`, same order.
    stamps: VecDeque<Instant>,
    /// Time the last reading took.
    needed: Duration,
    next_due: Instant,
}

/// One device's polled objects and their ring buffers.
#[derive(Debug)]
pub struct DevicePolling {
    objs: Mutex<Vec<PollObj>>,
    depth: std::sync::atomic::AtomicUsize,
    /// Depths of particular objects (`attr_poll_ring_depth`, `cmd_poll_ring_depth`), names
    /// lower-cased; the others use `depth`.
    object_depths: Mutex<Vec<(PollKind, String, usize)>>,
}

impl Default for DevicePolling {
    fn default() -> Self {
        DevicePolling { objs: Mutex::new(Vec::new()), depth: DEFAULT_POLL_RING_DEPTH.into(), object_depths: Mutex::default() }
    }
}

fn not_polled(kind: PollKind, name: &str, device: &str) -> DevFailed {
    match kind {
        PollKind::Attribute => DevFailed::new(
            "API_AttrNotPolled",
            format!("Attribute {name} of device {device} is not polled: poll it first (AddObjPolling or polled_attr)"),
            "Device::read_attribute_history",
        ),
        PollKind::Command => DevFailed::new(
            "API_CmdNotPolled",
            format!("Command {name} of device {device} is not polled: poll it first (AddObjPolling or polled_cmd)"),
            "Device::command_inout_history",
        ),
    }
}

impl DevicePolling {
    fn objs(&self) -> MutexGuard<'_, Vec<PollObj>> {
        self.objs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Set the ring depth (the `poll_ring_depth` property); at least 1.
    pub fn set_depth(&self, depth: usize) {
        self.depth.store(depth.max(1), Ordering::Relaxed);
    }

    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Give `name` a ring of its own depth (at least 1), whatever `poll_ring_depth` says.
    pub fn set_object_depth(&self, kind: PollKind, name: &str, depth: usize) {
        let mut d = self.object_depths.lock().unwrap_or_else(|p| p.into_inner());
        let name = name.to_ascii_lowercase();
        d.retain(|(k, n, _)| !(*k == kind && *n == name));
        d.push((kind, name, depth.max(1)));
    }

    /// The ring depth of `name`: its own, or the device's.
    pub fn depth_of(&self, kind: PollKind, name: &str) -> usize {
        let d = self.object_depths.lock().unwrap_or_else(|p| p.into_inner());
        d.iter().find(|(k, n, _)| *k == kind && n.eq_ignore_ascii_case(name)).map_or_else(|| self.depth(), |(_, _, depth)| *depth)
    }

    fn find(objs: &[PollObj], kind: PollKind, name: &str) -> Option<usize> {
        objs.iter().position(|o| o.kind == kind && o.name.eq_ignore_ascii_case(name))
    }

    pub fn is_polled(&self) -> bool {
        !self.objs().is_empty()
    }

    /// Whether anything is polled by configuration (what CACHE_DEV reads are answered from).
    pub fn any_configured(&self) -> bool {
        self.objs().iter().any(|o| o.origin == Origin::Configured)
    }

    /// The period of a polled object.
    pub fn period_of(&self, kind: PollKind, name: &str) -> Option<Duration> {
        let o = self.objs();
        Self::find(&o, kind, name).map(|i| o[i].period)
    }

    /// Start polling `name` every `period` (first reading at once); `API_AlreadyPolled` if
    /// it is polled already, whatever started it.
    pub fn add(&self, kind: PollKind, name: &str, period: Duration, origin: Origin, now: Instant) -> Result<(), DevFailed> {
        let mut o = self.objs();
        if Self::find(&o, kind, name).is_some() {
            let what = if kind == PollKind::Command { "Command" } else { "Attribute" };
            return Err(DevFailed::new(
                "API_AlreadyPolled",
                format!("{what} {} already polled", name.to_ascii_lowercase()),
                "DServer::add_obj_polling",
            ));
        }
        o.push(PollObj {
            kind,
            name: name.to_string(),
            period,
            origin,
            ring: VecDeque::new(),
            stamps: VecDeque::new(),
            needed: Duration::ZERO,
            next_due: now,
        });
        Ok(())
    }

    /// Poll `name` every `period` as configured (the `polled_attr`/`polled_cmd` properties at
    /// start): added, or taking over the class's polling of it.
    pub fn configure(&self, kind: PollKind, name: &str, period: Duration, now: Instant) {
        if self.add(kind, name, period, Origin::Configured, now).is_err() {
            let _ = self.update(kind, name, period, "", now);
        }
    }

    /// Stop polling `name`; its buffer goes.
    pub fn remove(&self, kind: PollKind, name: &str, device: &str) -> Result<(), DevFailed> {
        let mut o = self.objs();
        let i = Self::find(&o, kind, name).ok_or_else(|| not_polled_admin(kind, name, device))?;
        o.remove(i);
        Ok(())
    }

    /// A new period for a polled object (it becomes configured polling).
    pub fn update(&self, kind: PollKind, name: &str, period: Duration, device: &str, now: Instant) -> Result<(), DevFailed> {
        let mut o = self.objs();
        let i = Self::find(&o, kind, name).ok_or_else(|| not_polled_admin(kind, name, device))?;
        o[i].origin = Origin::Configured;
        if o[i].period != period {
            o[i].period = period;
            o[i].next_due = now;
        }
        Ok(())
    }

    /// The `polled_attr` / `polled_cmd` property value: `[name, period_ms]*` of configured
    /// polling, names lower-cased as cppTango writes them.
    pub fn property(&self, kind: PollKind) -> Vec<String> {
        self.objs()
            .iter()
            .filter(|o| o.kind == kind && o.origin == Origin::Configured)
            .flat_map(|o| [o.name.to_ascii_lowercase(), o.period.as_millis().to_string()])
            .collect()
    }

    /// Polled attributes with their periods (any origin).
    pub fn attributes(&self) -> Vec<(String, Duration)> {
        self.objs().iter().filter(|o| o.kind == PollKind::Attribute).map(|o| (o.name.clone(), o.period)).collect()
    }

    /// The newest record of a polled object, if polling is configured for it (or `any`
    /// origin is accepted: CACHE reads take class polling too).
    pub fn latest(&self, kind: PollKind, name: &str, configured_only: bool) -> Option<Option<Record>> {
        let o = self.objs();
        let i = Self::find(&o, kind, name)?;
        if configured_only && o[i].origin != Origin::Configured {
            return None;
        }
        Some(o[i].ring.back().cloned())
    }

    /// The last `n` records, oldest first (as the history types order them).
    pub fn history(&self, kind: PollKind, name: &str, n: i32, device: &str) -> Result<Vec<Record>, DevFailed> {
        let o = self.objs();
        let i = Self::find(&o, kind, name).ok_or_else(|| not_polled(kind, name, device))?;
        if n <= 0 {
            return Err(DevFailed::new(
                "API_NotSupported",
                format!("Cannot return {n} history records: the number of records must be positive"),
                "Device::read_attribute_history",
            ));
        }
        let ring = &o[i].ring;
        if ring.is_empty() {
            return Err(DevFailed::new(
                "API_NoDataYet",
                format!("No data available in cache for {} {name} of device {device}", kind.word()),
                "Device::read_attribute_history",
            ));
        }
        let n = (n as usize).min(ring.len());
        Ok(ring.iter().skip(ring.len() - n).cloned().collect())
    }

    /// Objects due at `now`, attributes first, and the time the next one falls due.
    pub fn due(&self, now: Instant) -> (Vec<(PollKind, String)>, Option<Instant>) {
        let o = self.objs();
        let due = o.iter().filter(|p| p.next_due <= now).map(|p| (p.kind, p.name.clone())).collect();
        let next = o.iter().filter(|p| p.next_due > now).map(|p| p.next_due).min();
        (due, next)
    }

    /// Store a result of polling `name`, read at `started` in `needed`.
    pub fn store(&self, kind: PollKind, name: &str, rec: Record, started: Instant, needed: Duration) {
        let depth = self.depth_of(kind, name);
        let mut o = self.objs();
        let Some(i) = Self::find(&o, kind, name) else { return };
        let p = &mut o[i];
        while p.ring.len() >= depth {
            p.ring.pop_front();
            p.stamps.pop_front();
        }
        p.ring.push_back(rec);
        p.stamps.push_back(started);
        p.needed = needed;
        // The next reading is a period after this one was due (no drift), but never in the past.
        p.next_due = (p.next_due + p.period).max(started + Duration::from_millis(1));
    }

    /// `DevPollStatus`: one text per polled object, commands first, in cppTango's wording.
    pub fn status(&self, now: Instant) -> Vec<String> {
        let o = self.objs();
        let text = |p: &PollObj, as_kind: PollKind| {
            let depth = self.depth_of(p.kind, &p.name);
            let mut s = match as_kind {
                PollKind::Command => format!("Polled command name = {}", p.name),
                PollKind::Attribute => format!("Polled attribute name = {}", p.name),
            };
            s += &format!("\nPolling period (mS) = {}", p.period.as_millis());
            s += &format!("\nPolling ring buffer depth = {depth}");
            let Some(last) = p.stamps.back() else {
                s += "\nNo data recorded yet";
                return s;
            };
            let what = if as_kind == PollKind::Command { "command execution" } else { "attribute reading" };
            s += &format!("\nTime needed for the last {what} (mS) = {:.3}", p.needed.as_secs_f64() * 1000.0);
            s += &format!("\nData not updated since {}", since(now.saturating_duration_since(*last)));
            if p.stamps.len() > 1 {
                let n = p.stamps.len();
                let deltas: Vec<String> = (1..n.min(5)).map(|k| (p.stamps[n - k] - p.stamps[n - k - 1]).as_millis().to_string()).collect();
                s += &format!("\nDelta between last records (in mS) = {}", deltas.join(", "));
            }
            if let Some(errs) = p.ring.back().and_then(Record::error_list) {
                let what = if as_kind == PollKind::Command { "command execution" } else { "attribute read" };
                if let Some(e) = errs.first() {
                    s += &format!("\nLast {what} FAILED :\n\tReason = {}\n\tDesc = {}\n\tOrigin = {}", e.reason, e.desc, e.origin);
                }
            }
            s
        };
        let mut cmds = Vec::new();
        let mut attrs = Vec::new();
        for p in o.iter() {
            match p.kind {
                PollKind::Command => cmds.push(text(p, PollKind::Command)),
                PollKind::Attribute => {
                    attrs.push(text(p, PollKind::Attribute));
                    // cppTango lists polled State and Status twice: as attribute and as command
                    if p.name.eq_ignore_ascii_case("state") || p.name.eq_ignore_ascii_case("status") {
                        cmds.push(text(p, PollKind::Command));
                    }
                }
            }
        }
        cmds.extend(attrs);
        cmds
    }
}

fn not_polled_admin(kind: PollKind, name: &str, device: &str) -> DevFailed {
    DevFailed::new(
        "API_PollObjNotFound",
        format!(
            "{} not found in list of polled object of device {device} (no {} of that name is polled)",
            name.to_ascii_lowercase(),
            kind.word()
        ),
        "DServer::rem_obj_polling",
    )
}

/// "Data not updated since" as cppTango words it.
fn since(d: Duration) -> String {
    let t = d.as_secs_f64();
    if t < 1.0 {
        format!("{} mS", (t * 1000.0) as i64)
    } else if t < 60.0 {
        format!("{} S and {} mS", t as i64, ((t - t.floor()) * 1000.0) as i64)
    } else {
        let (min, sec, ms) = ((t / 60.0) as i64, (t as i64) % 60, ((t - t.floor()) * 1000.0) as i64);
        let mut s = format!("{min} MN");
        if sec != 0 {
            s += &format!(" ,{sec} S");
        }
        if ms != 0 {
            s += &format!(" and {ms} mS");
        }
        s
    }
}

/// The server's polling thread: polls what every device says is due, sleeps until the next
/// object falls due or the table changes.
pub struct Poller {
    devices: Mutex<Vec<Arc<dyn DeviceObject>>>,
    running: AtomicBool,
    stopped: AtomicBool,
    wake: Condvar,
    gate: Mutex<bool>,
}

impl Poller {
    pub fn new() -> Arc<Poller> {
        Arc::new(Poller {
            devices: Mutex::new(Vec::new()),
            running: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
            wake: Condvar::new(),
            gate: Mutex::new(false),
        })
    }

    pub fn set_devices(&self, devices: Vec<Arc<dyn DeviceObject>>) {
        *self.devices.lock().unwrap_or_else(|p| p.into_inner()) = devices;
        self.kick();
    }

    /// Whether polling runs (StartPolling / StopPolling).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::SeqCst);
        self.kick();
    }

    /// The polling table changed: look again.
    pub fn kick(&self) {
        *self.gate.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Stop the thread for good.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.kick();
    }

    /// Start the polling thread.
    pub fn spawn(self: &Arc<Self>) -> std::thread::JoinHandle<()> {
        let me = self.clone();
        std::thread::Builder::new().name("tango-polling".into()).spawn(move || me.run()).expect("polling thread")
    }

    fn run(&self) {
        while !self.stopped.load(Ordering::SeqCst) {
            let next = if self.is_running() { self.poll_due() } else { None };
            let mut woken = self.gate.lock().unwrap_or_else(|p| p.into_inner());
            if !*woken {
                let wait = match next {
                    Some(t) => t.saturating_duration_since(Instant::now()),
                    None => Duration::from_secs(3600),
                };
                woken = self.wake.wait_timeout(woken, wait).unwrap_or_else(|p| p.into_inner()).0;
            }
            *woken = false;
        }
    }

    /// Poll everything due now; returns when the next object falls due.
    fn poll_due(&self) -> Option<Instant> {
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut next: Option<Instant> = None;
        for d in &devices {
            let polling = &d.services().polling;
            let (due, dev_next) = polling.due(Instant::now());
            let attrs: Vec<String> = due.iter().filter(|(k, _)| *k == PollKind::Attribute).map(|(_, n)| n.clone()).collect();
            if !attrs.is_empty() {
                let started = Instant::now();
                let values = d.poll_attributes(&attrs);
                let needed = started.elapsed();
                for v in values {
                    let name = v.name.clone();
                    polling.store(PollKind::Attribute, &name, Record { when: v.time.clone(), value: Polled::Attr(v) }, started, needed);
                }
            }
            for (_, cmd) in due.iter().filter(|(k, _)| *k == PollKind::Command) {
                let started = Instant::now();
                let result = d.command(cmd, CmdValue::Void);
                let needed = started.elapsed();
                polling.store(
                    PollKind::Command,
                    cmd,
                    Record { when: timeval_at(SystemTime::now()), value: Polled::Cmd(result) },
                    started,
                    needed,
                );
            }
            // What was just polled is due again later; ask for the device's next deadline.
            let after = polling.due(Instant::now()).1.or(dev_next);
            next = match (next, after) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        next
    }
}

fn timeval_at(t: SystemTime) -> TimeVal {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    TimeVal { tv_sec: d.as_secs() as i32, tv_usec: d.subsec_micros() as i32, tv_nsec: 0 }
}

/// Build `DevAttrHistory_5` / `DevCmdHistory_4` bodies: runs of equal qualities, dimensions
/// and errors are sent once with the range of records they cover (`EltInArray {start,
/// nb_elt}`: `start` is the last record of the run, the run goes backwards from it), and the
/// values of all records are one sequence, newest record first.
pub mod history {
    use super::{Polled, Record};
    use crate::cdr::{CdrWriter, Encode};
    use crate::idl::*;

    /// Run-length encoding of a per-record property, records oldest first.
    pub(crate) fn runs<T: PartialEq + Clone>(items: &[Option<T>]) -> (Vec<T>, Vec<(i32, i32)>) {
        let (mut vals, mut ranges): (Vec<T>, Vec<(i32, i32)>) = (Vec::new(), Vec::new());
        // Walk newest → oldest, as the client expects `start` to be a run's newest record.
        let mut i = items.len();
        while i > 0 {
            i -= 1;
            let Some(v) = &items[i] else { continue };
            match (vals.last(), ranges.last_mut()) {
                (Some(last), Some(r)) if last == v && r.0 - r.1 == i as i32 => r.1 += 1,
                _ => {
                    vals.push(v.clone());
                    ranges.push((i as i32, 1));
                }
            }
        }
        (vals, ranges)
    }

    fn write_ranges(w: &mut CdrWriter, r: &[(i32, i32)]) {
        w.write_len(r.len());
        for (start, n) in r {
            w.write_i32(*start);
            w.write_i32(*n);
        }
    }

    fn write_errors(w: &mut CdrWriter, recs: &[Record]) {
        let errs: Vec<Option<Vec<DevError>>> = recs.iter().map(|r| r.error_list().map(<[DevError]>::to_vec)).collect();
        let (e, er) = runs(&errs);
        w.write_len(e.len());
        for list in &e {
            w.write_seq(list);
        }
        write_ranges(w, &er);
    }

    fn write_dims(w: &mut CdrWriter, dims: &[Option<AttributeDim>]) {
        let (d, dr) = runs(dims);
        w.write_seq(&d);
        write_ranges(w, &dr);
    }

    /// `DevAttrHistory_5` of attribute `name` (records oldest first).
    pub fn encode_attr_history_5(w: &mut CdrWriter, name: &str, recs: &[Record]) {
        let vals: Vec<&AttributeValue_5> = recs
            .iter()
            .filter_map(|r| match &r.value {
                Polled::Attr(v) => Some(v),
                Polled::Cmd(_) => None,
            })
            .collect();
        let good = |v: &AttributeValue_5| v.err_list.is_empty() && v.quality != AttrQuality::ATTR_INVALID;
        let typed = vals.iter().find(|v| good(v));
        w.write_string(name);
        w.write(&typed.map_or(AttrDataFormat::FMT_UNKNOWN, |v| v.data_format));
        w.write_i32(typed.map_or(0, |v| v.data_type));
        // the time of each record (a failed read's is when it was tried)
        w.write_len(recs.len());
        for r in recs {
            w.write(&r.when);
        }
        // the values, newest record first
        let mut all: Option<AttrData> = None;
        for v in vals.iter().rev().filter(|v| good(v)) {
            let d = match &v.value {
                AttrData::DeviceState(s) => AttrData::State(vec![*s]),
                other => other.clone(),
            };
            match &mut all {
                None => all = Some(d),
                Some(a) => a.extend(d),
            }
        }
        match all {
            Some(d) => crate::any::encode_any(w, &crate::ops::attribute::data_to_any(d)),
            None => crate::any::encode_any(w, &crate::any::CmdValue::Void),
        }
        let quals: Vec<Option<AttrQuality>> = vals.iter().map(|v| v.err_list.is_empty().then_some(v.quality)).collect();
        let (q, qr) = runs(&quals);
        w.write_len(q.len());
        for x in &q {
            x.encode(w);
        }
        write_ranges(w, &qr);
        let r_dims: Vec<Option<AttributeDim>> = vals.iter().map(|v| v.err_list.is_empty().then_some(v.r_dim.clone())).collect();
        write_dims(w, &r_dims);
        let w_dims: Vec<Option<AttributeDim>> = vals.iter().map(|v| v.err_list.is_empty().then_some(v.w_dim.clone())).collect();
        write_dims(w, &w_dims);
        write_errors(w, recs);
    }

    /// `DevCmdHistory_4` of a command returning `out_type` (records oldest first).
    pub fn encode_cmd_history_4(w: &mut CdrWriter, out_type: i32, recs: &[Record]) {
        use crate::any::CmdValue;
        w.write_len(recs.len());
        for r in recs {
            w.write(&r.when);
        }
        let results: Vec<Option<&CmdValue>> = recs
            .iter()
            .map(|r| match &r.value {
                Polled::Cmd(Ok(v)) => Some(v),
                _ => None,
            })
            .collect();
        // values newest first; scalars become one sequence of the scalar type
        let mut seq: Option<CmdValue> = None;
        for v in results.iter().rev().flatten() {
            let v = scalar_as_seq((*v).clone());
            seq = Some(match seq {
                None => v,
                Some(acc) => concat(acc, v),
            });
        }
        crate::any::encode_any(w, &seq.unwrap_or(CmdValue::Void));
        let dims: Vec<Option<AttributeDim>> = recs
            .iter()
            .zip(&results)
            .map(|(_, v)| {
                // arrays: their length; scalars: 1; failed runs and DevVoid: 0; a
                // Long/DoubleStringArray: its strings in dim_x and its numbers in dim_y,
                // which is how clients split the two concatenated sequences again
                let (x, y) = match v {
                    None | Some(CmdValue::Void) => (0, 0),
                    Some(CmdValue::LongStringArray(l, s)) => (s.len(), l.len()),
                    Some(CmdValue::DoubleStringArray(d, s)) => (s.len(), d.len()),
                    Some(v) => (seq_len(v).unwrap_or(1), 0),
                };
                Some(AttributeDim { dim_x: x as i32, dim_y: y as i32 })
            })
            .collect();
        write_dims(w, &dims);
        write_errors(w, recs);
        w.write_i32(out_type);
    }

    /// State or Status polled as attributes, seen as command results.
    pub fn as_command_records(recs: &[Record]) -> Vec<Record> {
        use crate::any::CmdValue;
        recs.iter()
            .map(|r| {
                let value = match &r.value {
                    Polled::Attr(v) if !v.err_list.is_empty() => Err(DevFailed { errors: v.err_list.clone() }),
                    Polled::Attr(v) => Ok(match &v.value {
                        AttrData::DeviceState(s) => CmdValue::State(*s),
                        AttrData::String(s) => CmdValue::String(s.first().cloned().unwrap_or_default()),
                        _ => CmdValue::Void,
                    }),
                    Polled::Cmd(c) => c.clone(),
                };
                Record { when: r.when.clone(), value: Polled::Cmd(value) }
            })
            .collect()
    }

    /// The length of an array result; `None` for scalars.
    fn seq_len(v: &crate::any::CmdValue) -> Option<usize> {
        use crate::any::CmdValue as V;
        Some(match v {
            V::CharArray(x) => x.len(),
            V::ShortArray(x) => x.len(),
            V::LongArray(x) => x.len(),
            V::FloatArray(x) => x.len(),
            V::DoubleArray(x) => x.len(),
            V::UShortArray(x) => x.len(),
            V::ULongArray(x) => x.len(),
            V::StringArray(x) => x.len(),
            V::BooleanArray(x) => x.len(),
            V::Long64Array(x) => x.len(),
            V::ULong64Array(x) => x.len(),
            V::StateArray(x) => x.len(),
            _ => return None,
        })
    }

    fn scalar_as_seq(v: crate::any::CmdValue) -> crate::any::CmdValue {
        use crate::any::CmdValue as V;
        match v {
            V::Boolean(x) => V::BooleanArray(vec![x]),
            V::Short(x) => V::ShortArray(vec![x]),
            V::Long(x) => V::LongArray(vec![x]),
            V::Float(x) => V::FloatArray(vec![x]),
            V::Double(x) => V::DoubleArray(vec![x]),
            V::UShort(x) => V::UShortArray(vec![x]),
            V::ULong(x) => V::ULongArray(vec![x]),
            V::String(x) => V::StringArray(vec![x]),
            V::UChar(x) => V::CharArray(vec![x]),
            V::Long64(x) => V::Long64Array(vec![x]),
            V::ULong64(x) => V::ULong64Array(vec![x]),
            V::State(x) => V::StateArray(vec![x]),
            other => other,
        }
    }

    fn concat(a: crate::any::CmdValue, b: crate::any::CmdValue) -> crate::any::CmdValue {
        use crate::any::CmdValue as V;
        match (a, b) {
            (V::CharArray(mut x), V::CharArray(y)) => {
                x.extend(y);
                V::CharArray(x)
            }
            (V::ShortArray(mut x), V::ShortArray(y)) => {
                x.extend(y);
                V::ShortArray(x)
            }
            (V::LongArray(mut x), V::LongArray(y)) => {
                x.extend(y);
                V::LongArray(x)
            }
            (V::FloatArray(mut x), V::FloatArray(y)) => {
                x.extend(y);
                V::FloatArray(x)
            }
            (V::DoubleArray(mut x), V::DoubleArray(y)) => {
                x.extend(y);
                V::DoubleArray(x)
            }
            (V::UShortArray(mut x), V::UShortArray(y)) => {
                x.extend(y);
                V::UShortArray(x)
            }
            (V::ULongArray(mut x), V::ULongArray(y)) => {
                x.extend(y);
                V::ULongArray(x)
            }
            (V::StringArray(mut x), V::StringArray(y)) => {
                x.extend(y);
                V::StringArray(x)
            }
            (V::BooleanArray(mut x), V::BooleanArray(y)) => {
                x.extend(y);
                V::BooleanArray(x)
            }
            (V::Long64Array(mut x), V::Long64Array(y)) => {
                x.extend(y);
                V::Long64Array(x)
            }
            (V::ULong64Array(mut x), V::ULong64Array(y)) => {
                x.extend(y);
                V::ULong64Array(x)
            }
            (V::StateArray(mut x), V::StateArray(y)) => {
                x.extend(y);
                V::StateArray(x)
            }
            (V::LongStringArray(mut l, mut s), V::LongStringArray(l2, s2)) => {
                l.extend(l2);
                s.extend(s2);
                V::LongStringArray(l, s)
            }
            (V::DoubleStringArray(mut d, mut s), V::DoubleStringArray(d2, s2)) => {
                d.extend(d2);
                s.extend(s2);
                V::DoubleStringArray(d, s)
            }
            (x, _) => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_go_backwards_from_the_newest_record() {
        // records oldest first: a a b - b
        let items = vec![Some('a'), Some('a'), Some('b'), None, Some('b')];
        let (v, r) = history::runs(&items);
        assert_eq!(v, vec!['b', 'b', 'a']);
        assert_eq!(r, vec![(4, 1), (2, 1), (1, 2)]);
    }

    fn attr_record(sec: i32, v: Result<f64, &str>) -> Record {
        let value = match v {
            Ok(x) => AttributeValue_5 {
                value: crate::idl::AttrData::Double(vec![x, 0.5]),
                quality: crate::idl::AttrQuality::ATTR_VALID,
                data_format: crate::idl::AttrDataFormat::SCALAR,
                data_type: crate::idl::CmdArgType::DevDouble as i32,
                time: TimeVal { tv_sec: sec, tv_usec: 0, tv_nsec: 0 },
                name: "x".into(),
                r_dim: crate::idl::AttributeDim { dim_x: 1, dim_y: 0 },
                w_dim: crate::idl::AttributeDim { dim_x: 1, dim_y: 0 },
                err_list: vec![],
            },
            Err(reason) => crate::object::error_value("x", DevFailed::new(reason, "failed", "test")),
        };
        Record { when: TimeVal { tv_sec: sec, tv_usec: 0, tv_nsec: 0 }, value: Polled::Attr(value) }
    }

    #[test]
    fn attribute_history_5_on_the_wire() {
        use crate::cdr::{CdrReader, CdrWriter};
        use crate::idl::{AttrQuality, AttributeDim, DevError};
        // oldest first: 1.0 (set point 0.5), a failed read, 2.0
        let recs = vec![attr_record(10, Ok(1.0)), attr_record(11, Err("E1")), attr_record(12, Ok(2.0))];
        let mut w = CdrWriter::new();
        history::encode_attr_history_5(&mut w, "x", &recs);
        let bytes = w.into_bytes();
        let mut r = CdrReader::new(&bytes, 0, true);
        assert_eq!(r.read_string().unwrap(), "x");
        assert_eq!(r.read::<crate::idl::AttrDataFormat>().unwrap(), crate::idl::AttrDataFormat::SCALAR);
        assert_eq!(r.read_i32().unwrap(), crate::idl::CmdArgType::DevDouble as i32);
        let dates: Vec<TimeVal> = r.read_seq().unwrap();
        assert_eq!(dates.iter().map(|d| d.tv_sec).collect::<Vec<_>>(), vec![10, 11, 12]);
        // values newest record first, read part then set point
        assert_eq!(crate::any::decode_any(&mut r).unwrap(), CmdValue::DoubleArray(vec![2.0, 0.5, 1.0, 0.5]));
        let quals: Vec<AttrQuality> = r.read_seq().unwrap();
        let ranges = |r: &mut CdrReader<'_>| -> Vec<(i32, i32)> {
            let n = r.read_len(8).unwrap();
            (0..n).map(|_| (r.read_i32().unwrap(), r.read_i32().unwrap())).collect()
        };
        // runs start at their newest record and go backwards; the failed one has no quality
        assert_eq!((quals, ranges(&mut r)), (vec![AttrQuality::ATTR_VALID, AttrQuality::ATTR_VALID], vec![(2, 1), (0, 1)]));
        let r_dims: Vec<AttributeDim> = r.read_seq().unwrap();
        assert_eq!((r_dims.len(), ranges(&mut r)), (2, vec![(2, 1), (0, 1)]));
        let w_dims: Vec<AttributeDim> = r.read_seq().unwrap();
        assert_eq!((w_dims.len(), ranges(&mut r)), (2, vec![(2, 1), (0, 1)]));
        let n_err = r.read_len(4).unwrap();
        let errs: Vec<DevError> = r.read_seq().unwrap();
        assert_eq!((n_err, errs[0].reason.as_str()), (1, "E1"));
        assert_eq!(ranges(&mut r), vec![(1, 1)]);
        assert!(r.is_empty());
    }

    #[test]
    fn ring_keeps_depth_records_and_reports_history_oldest_first() {
        let p = DevicePolling::default();
        p.set_depth(3);
        let t0 = Instant::now();
        p.add(PollKind::Command, "GetCount", Duration::from_millis(100), Origin::Configured, t0).unwrap();
        for i in 0..5 {
            let rec = Record { when: TimeVal { tv_sec: i, tv_usec: 0, tv_nsec: 0 }, value: Polled::Cmd(Ok(CmdValue::Long(i))) };
            p.store(PollKind::Command, "getcount", rec, t0 + Duration::from_millis(100 * i as u64), Duration::from_micros(50));
        }
        let h = p.history(PollKind::Command, "GETCOUNT", 10, "d").unwrap();
        assert_eq!(h.iter().map(|r| r.when.tv_sec).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(p.history(PollKind::Command, "GetCount", 1, "d").unwrap()[0].when.tv_sec, 4);
        assert_eq!(p.history(PollKind::Attribute, "GetCount", 1, "d").unwrap_err().reason(), "API_AttrNotPolled");
        assert_eq!(p.property(PollKind::Command), vec!["getcount".to_string(), "100".into()]);
        let st = p.status(t0 + Duration::from_millis(450));
        assert_eq!(st.len(), 1);
        assert!(
            st[0].starts_with("Polled command name = GetCount\nPolling period (mS) = 100\nPolling ring buffer depth = 3\n"),
            "{}",
            st[0]
        );
        assert!(st[0].contains("\nData not updated since 50 mS"), "{}", st[0]);
        assert!(st[0].ends_with("\nDelta between last records (in mS) = 100, 100"), "{}", st[0]);
    }

    #[test]
    fn class_polling_is_taken_over_by_configuration() {
        let p = DevicePolling::default();
        let t0 = Instant::now();
        p.add(PollKind::Attribute, "counter", Duration::from_millis(500), Origin::Class, t0).unwrap();
        assert!(p.property(PollKind::Attribute).is_empty());
        assert!(p.latest(PollKind::Attribute, "counter", true).is_none());
        assert!(p.latest(PollKind::Attribute, "counter", false).is_some());
        let e = p.add(PollKind::Attribute, "counter", Duration::from_millis(200), Origin::Configured, t0).unwrap_err();
        assert_eq!((e.reason(), e.errors[0].desc.as_str()), ("API_AlreadyPolled", "Attribute counter already polled"));
        p.configure(PollKind::Attribute, "Counter", Duration::from_millis(200), t0);
        assert_eq!(p.property(PollKind::Attribute), vec!["counter".to_string(), "200".into()]);
        assert_eq!(p.period_of(PollKind::Attribute, "COUNTER"), Some(Duration::from_millis(200)));
    }

    #[test]
    fn since_is_worded_as_cpptango() {
        assert_eq!(since(Duration::from_millis(250)), "250 mS");
        assert_eq!(since(Duration::from_millis(2_500)), "2 S and 500 mS");
        assert_eq!(since(Duration::from_millis(61_000)), "1 MN ,1 S");
    }
}
