//! Tango events over ZeroMQ.
//!
//! Clients subscribe through the admin command `ZmqEventSubscriptionChange`; the server
//! answers with two PUB endpoints (heartbeat, events) and the topic to subscribe to, then
//! publishes 4-frame messages `[topic][byte order][ZmqCallInfo][filler + AttributeValue_5]`.
//!
//! Where events come from:
//! - **detection after every request**: after a command, a write or an `Init` the runtime
//!   re-reads the attributes somebody subscribed to and publishes what changed (State and
//!   obsState changes reach subscribers immediately, with no code in the device);
//! - **polling**: attributes declared `.polled(ms)` are read on a timer, giving change and
//!   archive events for values that change on their own, and periodic events;
//! - **explicit pushes** from device code through its [`Outbox`](crate::device::Outbox)
//!   (change, archive and user events, errors).
//!
//! A change is published when the quality or the dimension changes, a read starts or stops
//! failing, or a value moves by at least `abs_change` / `rel_change` (%); without thresholds
//! any difference counts. Archive events use `archive_*` thresholds and `archive_period`.
//!
//! The sockets live on one publisher thread fed through a bounded queue, and libzmq's
//! high-water mark bounds each subscriber's queue: a slow or dead subscriber costs bounded
//! memory and never blocks a device (messages beyond the bounds are dropped and counted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cdr::{CdrWriter, Encode};
use crate::idl::*;

/// cppTango's heartbeat period (clients give up after 10 s without one).
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(9);
/// A subscription nobody confirmed for this long stops being served.
pub const SUBSCRIPTION_TTL: Duration = Duration::from_secs(600);
/// Per-subscriber queue bound in libzmq (also told to clients as their receive HWM).
pub const HWM: i32 = 10_000;
/// Bound of the queue between devices and the publisher thread.
const QUEUE: usize = 16_384;
/// The Tango library release we announce (≥ 930 makes clients read the topic strings).
pub const TANGO_RELEASE: i32 = 1000;

/// Event types a client can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Change,
    Periodic,
    Archive,
    User,
    AttrConf,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        Some(match s.to_ascii_lowercase().as_str() {
            "change" => EventKind::Change,
            "periodic" => EventKind::Periodic,
            "archive" => EventKind::Archive,
            "user_event" => EventKind::User,
            "attr_conf" => EventKind::AttrConf,
            _ => return None,
        })
    }

    pub fn wire_name(self) -> &'static str {
        match self {
            EventKind::Change => "change",
            EventKind::Periodic => "periodic",
            EventKind::Archive => "archive",
            EventKind::User => "user_event",
            EventKind::AttrConf => "attr_conf",
        }
    }
}

/// How topics are named: `tango://<prefix>/<device>/<attr>[#dbase=no].[idl5_]<kind>`.
#[derive(Debug, Clone)]
pub struct TopicNaming {
    /// `tango://host:port/` — the TANGO_HOST in database mode, host name and GIOP port in nodb.
    pub prefix: String,
    pub nodb: bool,
    /// Admin device name, lower-cased.
    pub admin: String,
}

impl TopicNaming {
    pub fn event_topic(&self, device: &str, attr: &str, kind: EventKind, idl5: bool) -> String {
        format!(
            "{}{}/{}{}.{}{}",
            self.prefix,
            device.to_ascii_lowercase(),
            attr.to_ascii_lowercase(),
            if self.nodb { "#dbase=no" } else { "" },
            if idl5 { "idl5_" } else { "" },
            kind.wire_name()
        )
    }

    pub fn heartbeat_topic(&self) -> String {
        format!("{}{}{}.heartbeat", self.prefix, self.admin, if self.nodb { "#dbase=no" } else { "" })
    }

    pub fn channel(&self) -> String {
        format!("{}{}", self.prefix, self.admin)
    }
}

/// The `ZmqCallInfo` frame: plain CDR, no byte-order octet.
pub fn call_info(ctr: u32, is_except: bool) -> Vec<u8> {
    let mut w = CdrWriter::with_capacity(24);
    w.write_i32(1);
    w.write_u32(ctr);
    w.write_string("");
    w.write_u32(0);
    w.write_bool(is_except);
    w.into_bytes()
}

/// The payload frame: cppTango's 4-byte filler, then the CDR value whose alignment origin
/// is the first byte *after* the filler (the captured doubleValue event has its first double
/// at frame offset 12; clients decode it that way).
pub fn payload(value: &impl Encode) -> Vec<u8> {
    let mut w = CdrWriter::with_capacity(128);
    value.encode(&mut w);
    let mut out = Vec::with_capacity(w.len() + 4);
    out.extend_from_slice(&[0xc0, 0xde, 0xc0, 0xde]);
    out.extend_from_slice(w.as_bytes());
    out
}

enum Outgoing {
    Event([Vec<u8>; 4]),
    /// A client was just given this topic: hold its events until the client's SUB socket has
    /// subscribed (the ZMQ "slow joiner" race), at most [`JOIN_WAIT`].
    Expect(String),
}

/// How long events of a newly subscribed topic wait for the subscriber's SUB socket. A client
/// process that subscribes to a topic its SUB socket already has sends no new ZMQ subscription:
/// its events then wait this long once (a delay, never a loss).
const JOIN_WAIT: Duration = Duration::from_secs(2);
/// Events held per waiting topic at most.
const JOIN_QUEUE: usize = 10_000;

/// What clients need to know to subscribe (the reply of ZmqEventSubscriptionChange).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub heartbeat: String,
    pub event: String,
}

/// One value as last published on a topic family (for change detection).
#[derive(Clone)]
struct Published {
    value: Result<(AttrData, AttrQuality), Vec<DevError>>,
    at: Instant,
}

#[derive(Default)]
struct AttrEvents {
    /// Subscriptions: (kind, idl5) → last confirmation.
    subs: HashMap<(EventKind, bool), Instant>,
    last_change: Option<Published>,
    last_archive: Option<Published>,
    last_periodic: Option<Instant>,
}

struct State {
    /// (device lower, attribute lower) → its events.
    attrs: HashMap<(String, String), AttrEvents>,
    /// Event kinds device code pushes itself: the runtime does not detect those (as
    /// cppTango's `set_change_event(attr, true, false)`).
    pushed_by_code: std::collections::HashSet<(String, String, EventKind)>,
    counters: HashMap<String, u32>,
    started: bool,
}

/// Thresholds of one attribute, from its configuration.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    pub abs_change: Option<f64>,
    pub rel_change: Option<f64>,
    pub archive_abs_change: Option<f64>,
    pub archive_rel_change: Option<f64>,
    pub archive_period: Option<Duration>,
    pub period: Duration,
}

impl Criteria {
    pub fn from_config(c: &AttributeConfig_5) -> Criteria {
        let num = |s: &str| s.trim().parse::<f64>().ok().map(f64::abs);
        let ms = |s: &str| s.trim().parse::<u64>().ok().filter(|&v| v > 0).map(Duration::from_millis);
        Criteria {
            abs_change: num(&c.event_prop.ch_event.abs_change),
            rel_change: num(&c.event_prop.ch_event.rel_change),
            archive_abs_change: num(&c.event_prop.arch_event.abs_change),
            archive_rel_change: num(&c.event_prop.arch_event.rel_change),
            archive_period: ms(&c.event_prop.arch_event.period),
            period: ms(&c.event_prop.per_event.period).unwrap_or(Duration::from_millis(1000)),
        }
    }
}

/// The event system of one server.
pub struct EventHub {
    naming: TopicNaming,
    endpoints: Endpoints,
    tx: SyncSender<Outgoing>,
    state: Mutex<State>,
    /// Messages dropped because the publisher queue was full.
    pub dropped: AtomicU64,
    /// Messages handed to the publisher.
    pub published: AtomicU64,
    zmq_version: i32,
}

impl EventHub {
    /// Bind the two PUB sockets on `bind_host` (ephemeral ports) and start the publisher
    /// thread. `advertise_host` is what clients are told to connect to.
    pub fn start(naming: TopicNaming, bind_host: &str, advertise_host: &str) -> Result<Arc<EventHub>, String> {
        let ctx = zmq::Context::new();
        let make = |what: &str, kind: zmq::SocketType| -> Result<(zmq::Socket, String), String> {
            let s = ctx.socket(kind).map_err(|e| format!("cannot create the {what} socket: {e}"))?;
            if kind == zmq::XPUB {
                // see every subscription, also a second client's to the same topic
                s.set_xpub_verbose(true).map_err(|e| e.to_string())?;
            }
            s.set_sndhwm(HWM).map_err(|e| e.to_string())?;
            s.set_linger(0).map_err(|e| e.to_string())?;
            let host = if bind_host == "0.0.0.0" { "*" } else { bind_host };
            s.bind(&format!("tcp://{host}:*")).map_err(|e| format!("cannot bind the {what} socket on {host}: {e}"))?;
            let ep = s.get_last_endpoint().map_err(|e| e.to_string())?.map_err(|_| "bad endpoint".to_string())?;
            let port = ep.rsplit(':').next().unwrap_or("0").to_string();
            Ok((s, format!("tcp://{advertise_host}:{port}")))
        };
        let (hb, hb_ep) = make("heartbeat", zmq::PUB)?;
        // XPUB: like PUB, and it tells us when a subscriber's subscription arrives
        let (ev, ev_ep) = make("event", zmq::XPUB)?;
        let (tx, rx) = sync_channel(QUEUE);
        let (maj, min, pat) = zmq::version();
        let hub = Arc::new(EventHub {
            naming,
            endpoints: Endpoints { heartbeat: hb_ep, event: ev_ep },
            tx,
            state: Mutex::new(State {
                attrs: HashMap::new(),
                pushed_by_code: Default::default(),
                counters: HashMap::new(),
                started: false,
            }),
            dropped: AtomicU64::new(0),
            published: AtomicU64::new(0),
            zmq_version: maj * 100 + min * 10 + pat,
        });
        let hb_topic = hub.naming.heartbeat_topic();
        let weak = Arc::downgrade(&hub);
        std::thread::Builder::new()
            .name("tango-events".into())
            .spawn(move || publisher(ctx, hb, ev, rx, hb_topic, weak))
            .map_err(|e| e.to_string())?;
        Ok(hub)
    }

    pub fn naming(&self) -> &TopicNaming {
        &self.naming
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register (or renew) a subscription; returns the topic the client must use.
    pub fn subscribe(&self, device: &str, attr: &str, kind: EventKind, client_idl: i32) -> String {
        let idl5 = client_idl >= 5 && crate::idl::IDL_VERSION >= 5;
        let topic = self.naming.event_topic(device, attr, kind, idl5);
        let mut st = self.lock();
        st.started = true;
        let key = (device.to_ascii_lowercase(), attr.to_ascii_lowercase());
        let e = st.attrs.entry(key).or_default();
        let fresh = e.subs.insert((kind, idl5), Instant::now()).is_none();
        if fresh {
            st.counters.insert(topic.clone(), 0);
        }
        drop(st);
        let _ = self.tx.try_send(Outgoing::Expect(topic.clone()));
        topic
    }

    /// Record the value a new subscriber starts from (it reads it synchronously), so the next
    /// change is measured against it.
    pub fn prime(&self, device: &str, v: &AttributeValue_5) {
        let mut st = self.lock();
        if let Some(e) = st.attrs.get_mut(&(device.to_ascii_lowercase(), v.name.to_ascii_lowercase())) {
            let p = Published { value: reading_of(v), at: Instant::now() };
            e.last_change.get_or_insert_with(|| p.clone());
            e.last_archive.get_or_insert(p);
        }
    }

    /// `EventConfirmSubscription`: renew existing subscriptions; unknown ones are ignored.
    pub fn confirm(&self, device: &str, attr: &str, kind: EventKind) {
        let mut st = self.lock();
        if let Some(e) = st.attrs.get_mut(&(device.to_ascii_lowercase(), attr.to_ascii_lowercase())) {
            for ((k, _), t) in e.subs.iter_mut() {
                if *k == kind {
                    *t = Instant::now();
                }
            }
        }
    }

    /// Whether the heartbeat runs (after the first subscription).
    fn started(&self) -> bool {
        self.lock().started
    }

    /// Names of the attributes of `device` with live change/archive subscriptions.
    pub fn watched(&self, device: &str) -> Vec<String> {
        let dev = device.to_ascii_lowercase();
        let st = self.lock();
        st.attrs
            .iter()
            .filter(|((d, _), e)| {
                *d == dev
                    && e.subs
                        .iter()
                        .any(|((k, _), t)| matches!(k, EventKind::Change | EventKind::Archive) && t.elapsed() < SUBSCRIPTION_TTL)
            })
            .map(|((_, a), _)| a.clone())
            .collect()
    }

    /// Whether anybody listens to `kind` events of this attribute.
    pub fn is_subscribed(&self, device: &str, attr: &str, kind: EventKind) -> bool {
        let st = self.lock();
        st.attrs
            .get(&(device.to_ascii_lowercase(), attr.to_ascii_lowercase()))
            .is_some_and(|e| e.subs.iter().any(|((k, _), t)| *k == kind && t.elapsed() < SUBSCRIPTION_TTL))
    }

    /// A fresh reading of an attribute (after a request or from polling): publish the
    /// change / archive / periodic events it warrants.
    pub fn observe(&self, device: &str, v: &AttributeValue_5, crit: &Criteria, from_polling: bool) {
        let key = (device.to_ascii_lowercase(), v.name.to_ascii_lowercase());
        let now = Instant::now();
        let reading = reading_of(v);
        let mut to_send = Vec::new();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let Some(e) = st.attrs.get_mut(&key) else { return };
            e.subs.retain(|_, t| t.elapsed() < SUBSCRIPTION_TTL);
            let pushed = &st.pushed_by_code;
            let live = |k: EventKind| e.subs.keys().any(|(kk, _)| *kk == k) && !pushed.contains(&(key.0.clone(), key.1.clone(), k));
            if live(EventKind::Change) {
                match &e.last_change {
                    // no baseline yet (subscription just made): this reading is it
                    None => e.last_change = Some(Published { value: reading.clone(), at: now }),
                    Some(prev) if differs(&prev.value, &reading, crit.abs_change, crit.rel_change) => {
                        e.last_change = Some(Published { value: reading.clone(), at: now });
                        to_send.push(EventKind::Change);
                    }
                    _ => {}
                }
            }
            if live(EventKind::Archive) {
                let due = |p: &Published| crit.archive_period.is_some_and(|per| from_polling && p.at.elapsed() >= per);
                match &e.last_archive {
                    None => e.last_archive = Some(Published { value: reading.clone(), at: now }),
                    Some(prev) if differs(&prev.value, &reading, crit.archive_abs_change, crit.archive_rel_change) || due(prev) => {
                        e.last_archive = Some(Published { value: reading.clone(), at: now });
                        to_send.push(EventKind::Archive);
                    }
                    _ => {}
                }
            }
            if from_polling && live(EventKind::Periodic) {
                // 2 % tolerance, as cppTango: a poll slightly early still counts.
                let due = e.last_periodic.is_none_or(|t| t.elapsed() >= crit.period.mul_f64(0.98));
                if due {
                    e.last_periodic = Some(now);
                    to_send.push(EventKind::Periodic);
                }
            }
        }
        for k in to_send {
            self.publish(device, v, k);
        }
    }

    /// Publish a value pushed by device code (no change detection, as cppTango's pushes
    /// with detect = false). Updates the change baseline so detection does not resend it.
    pub fn push(&self, device: &str, v: &AttributeValue_5, kind: EventKind) {
        {
            let mut st = self.lock();
            st.pushed_by_code.insert((device.to_ascii_lowercase(), v.name.to_ascii_lowercase(), kind));
            if let Some(e) = st.attrs.get_mut(&(device.to_ascii_lowercase(), v.name.to_ascii_lowercase())) {
                let p = Some(Published { value: reading_of(v), at: Instant::now() });
                match kind {
                    EventKind::Change => e.last_change = p,
                    EventKind::Archive => e.last_archive = p,
                    _ => {}
                }
            }
        }
        self.publish(device, v, kind);
    }

    /// Send `v` on every live topic of (device, attr, kind).
    fn publish(&self, device: &str, v: &AttributeValue_5, kind: EventKind) {
        let key = (device.to_ascii_lowercase(), v.name.to_ascii_lowercase());
        let variants: Vec<bool> = {
            let st = self.lock();
            match st.attrs.get(&key) {
                None => return,
                Some(e) => e.subs.iter().filter(|((k, _), t)| *k == kind && t.elapsed() < SUBSCRIPTION_TTL).map(|((_, i), _)| *i).collect(),
            }
        };
        for idl5 in variants {
            let topic = self.naming.event_topic(device, &v.name, kind, idl5);
            let (is_except, body) = if !v.err_list.is_empty() {
                (true, payload(&v.err_list))
            } else if idl5 {
                (false, payload(v))
            } else {
                (false, payload(&to_v4(v)))
            };
            let ctr = {
                let mut st = self.lock();
                let c = st.counters.entry(topic.clone()).or_insert(0);
                *c = c.wrapping_add(1);
                *c
            };
            let msg = Outgoing::Event([topic.into_bytes(), vec![1], call_info(ctr, is_except), body]);
            match self.tx.try_send(msg) {
                Ok(()) => {
                    self.published.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Full(_)) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                    if n.is_power_of_two() {
                        tracing::warn!(dropped = n + 1, "event queue full: dropping events");
                    }
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// The reply of `ZmqEventSubscriptionChange(["info"])`.
    pub fn info(&self) -> (Vec<i32>, Vec<String>) {
        (vec![TANGO_RELEASE], vec![format!("Heartbeat: {}", self.endpoints.heartbeat), format!("Event: {}", self.endpoints.event)])
    }

    /// `lvalue` of the subscription reply.
    pub fn reply_numbers(&self) -> Vec<i32> {
        vec![TANGO_RELEASE, crate::idl::IDL_VERSION, HWM, 0, 0, self.zmq_version]
    }
}

fn to_v4(v: &AttributeValue_5) -> AttributeValue_4 {
    AttributeValue_4 {
        value: v.value.clone(),
        quality: v.quality,
        data_format: v.data_format,
        time: v.time.clone(),
        name: v.name.clone(),
        r_dim: v.r_dim.clone(),
        w_dim: v.w_dim.clone(),
        err_list: v.err_list.clone(),
    }
}

fn reading_of(v: &AttributeValue_5) -> Result<(AttrData, AttrQuality), Vec<DevError>> {
    if v.err_list.is_empty() {
        Ok((v.value.clone(), v.quality))
    } else {
        Err(v.err_list.clone())
    }
}

/// The change criteria (see the module docs).
fn differs(
    prev: &Result<(AttrData, AttrQuality), Vec<DevError>>,
    new: &Result<(AttrData, AttrQuality), Vec<DevError>>,
    abs: Option<f64>,
    rel: Option<f64>,
) -> bool {
    match (prev, new) {
        (Err(a), Err(b)) => a != b,
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => true,
        (Ok((a, qa)), Ok((b, qb))) => {
            if qa != qb || a.len() != b.len() || a.discriminant() != b.discriminant() {
                return true;
            }
            match (a.to_f64s(), b.to_f64s()) {
                (Some(x), Some(y)) if abs.is_some() || rel.is_some() => x.iter().zip(&y).any(|(&old, &new)| {
                    let d = (new - old).abs();
                    abs.is_some_and(|t| d >= t)
                        || rel.is_some_and(|t| if old == 0.0 { d > 0.0 } else { d * 100.0 / old.abs() >= t })
                        || (old.is_nan() != new.is_nan())
                }),
                _ => a != b,
            }
        }
    }
}

/// The publisher thread: owns the sockets (libzmq sockets are not thread-safe), sends
/// queued events, holds the events of just-subscribed topics until the subscriber's SUB socket
/// has joined, and heartbeats every 9 s once somebody subscribed.
fn publisher(
    _ctx: zmq::Context,
    hb: zmq::Socket,
    ev: zmq::Socket,
    rx: Receiver<Outgoing>,
    hb_topic: String,
    hub: std::sync::Weak<EventHub>,
) {
    use std::collections::VecDeque;
    let mut next_hb = Instant::now() + HEARTBEAT_PERIOD;
    // topic → (give up waiting at, held events: four ZMQ frames each)
    type Held = VecDeque<[Vec<u8>; 4]>;
    let mut joining: HashMap<Vec<u8>, (Instant, Held)> = HashMap::new();
    let send = |s: &zmq::Socket, frames: &[Vec<u8>]| {
        for (i, f) in frames.iter().enumerate() {
            let flags = if i + 1 < frames.len() { zmq::SNDMORE } else { 0 } | zmq::DONTWAIT;
            if s.send(&f[..], flags).is_err() {
                break;
            }
        }
    };
    let flush = |q: VecDeque<[Vec<u8>; 4]>| {
        for frames in q {
            send(&ev, &frames);
        }
    };
    loop {
        // Short waits while topics are joining, so their subscriptions are seen promptly.
        let mut wait = next_hb.saturating_duration_since(Instant::now());
        if !joining.is_empty() {
            wait = wait.min(Duration::from_millis(2));
        }
        match rx.recv_timeout(wait) {
            Ok(Outgoing::Event(frames)) => match joining.get_mut(&frames[0]) {
                Some((_, q)) if q.len() < JOIN_QUEUE => q.push_back(frames),
                Some(_) => {}
                None => send(&ev, &frames),
            },
            Ok(Outgoing::Expect(topic)) => {
                let e = joining.entry(topic.into_bytes()).or_insert_with(|| (Instant::now(), VecDeque::new()));
                e.0 = Instant::now() + JOIN_WAIT;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Subscriptions that arrived: `1` + topic prefix.
        while let Ok(msg) = ev.recv_bytes(zmq::DONTWAIT) {
            if msg.first() == Some(&1) {
                let prefix = &msg[1..];
                let ready: Vec<Vec<u8>> = joining.keys().filter(|t| t.starts_with(prefix)).cloned().collect();
                for t in ready {
                    if let Some((_, q)) = joining.remove(&t) {
                        flush(q);
                    }
                }
            }
        }
        if !joining.is_empty() {
            let now = Instant::now();
            let late: Vec<Vec<u8>> = joining.iter().filter(|(_, (until, _))| *until <= now).map(|(t, _)| t.clone()).collect();
            for t in late {
                if let Some((_, q)) = joining.remove(&t) {
                    flush(q);
                }
            }
        }
        if Instant::now() >= next_hb {
            next_hb = Instant::now() + HEARTBEAT_PERIOD;
            let Some(h) = hub.upgrade() else { return };
            if h.started() {
                send(&hb, &[hb_topic.clone().into_bytes(), vec![1], call_info(0, false)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_named_as_cpptango_names_them() {
        let n = TopicNaming { prefix: "tango://vm:45450/".into(), nodb: true, admin: "dserver/sdpsubarray/test".into() };
        assert_eq!(
            n.event_topic("mid_sdp/elt/subarray_1", "obsState", EventKind::Change, true),
            "tango://vm:45450/mid_sdp/elt/subarray_1/obsstate#dbase=no.idl5_change"
        );
        assert_eq!(n.heartbeat_topic(), "tango://vm:45450/dserver/sdpsubarray/test#dbase=no.heartbeat");
        assert_eq!(n.channel(), "tango://vm:45450/dserver/sdpsubarray/test");
        let db = TopicNaming { prefix: "tango://127.0.0.1:10000/".into(), nodb: false, admin: "dserver/sdpsubarray/test".into() };
        assert_eq!(
            db.event_topic("mid_sdp/elt/subarray_1", "obsState", EventKind::Change, true),
            "tango://127.0.0.1:10000/mid_sdp/elt/subarray_1/obsstate.idl5_change"
        );
        assert_eq!(db.heartbeat_topic(), "tango://127.0.0.1:10000/dserver/sdpsubarray/test.heartbeat");
        assert_eq!(db.event_topic("a/b/c", "x", EventKind::User, false), "tango://127.0.0.1:10000/a/b/c/x.user_event");
    }

    #[test]
    fn call_info_matches_capture() {
        assert_eq!(hex(&call_info(1, false)), "010000000100000001000000000000000000000000");
        assert_eq!(call_info(1, false).len(), 21);
    }

    #[test]
    fn obs_state_event_payload_matches_capture() {
        // nodb capture, obsState change event (READY = 4), minus the time fields
        let v = AttributeValue_5 {
            value: AttrData::Short(vec![4]),
            quality: AttrQuality::ATTR_VALID,
            data_format: AttrDataFormat::SCALAR,
            data_type: 29,
            time: TimeVal { tv_sec: 0x6b070ef7, tv_usec: 0x00095d5e, tv_nsec: 0xb2 },
            name: "obsState".into(),
            r_dim: AttributeDim { dim_x: 1, dim_y: 0 },
            w_dim: AttributeDim { dim_x: 0, dim_y: 0 },
            err_list: vec![],
        };
        let got = hex(&payload(&v));
        // the captured bytes, with cppTango's uninitialised padding (77 20, 63 72 6f) zeroed
        let want = "c0dec0de01000000010000000400772000000000000000001d000000f70e076b5e5d0900b2000000090000006f627353746174650063726f0100000000000000000000000000000000000000"
            .replace("04007720", "04000000")
            .replace("0063726f", "00000000");
        assert_eq!(got, want);
    }

    #[test]
    fn double_event_payload_is_aligned_after_the_filler() {
        // nodb capture, doubleValue change event [3.25 read, 2.5 set point]: the first double
        // sits at frame offset 12, i.e. 8-aligned counting from the byte after the filler
        let v = AttributeValue_5 {
            value: AttrData::Double(vec![3.25, 2.5]),
            quality: AttrQuality::ATTR_VALID,
            data_format: AttrDataFormat::SCALAR,
            data_type: 5,
            time: TimeVal { tv_sec: 0x6b070ef7, tv_usec: 0x00095dc8, tv_nsec: 0x1f4 },
            name: "doubleValue".into(),
            r_dim: AttributeDim { dim_x: 1, dim_y: 0 },
            w_dim: AttributeDim { dim_x: 1, dim_y: 0 },
            err_list: vec![],
        };
        let want = "c0dec0de05000000020000000000000000000a400000000000000440000000000000000005000000f70e076bc85d0900f40100000c000000646f75626c6556616c7565000100000000000000010000000000000000000000";
        assert_eq!(hex(&payload(&v)), want);
    }

    #[test]
    fn change_criteria() {
        let val = |x: f64| Ok((AttrData::Double(vec![x]), AttrQuality::ATTR_VALID));
        assert!(differs(&val(1.0), &val(1.5), None, None));
        assert!(!differs(&val(1.0), &val(1.0), None, None));
        assert!(!differs(&val(1.0), &val(1.5), Some(1.0), None));
        assert!(differs(&val(1.0), &val(2.0), Some(1.0), None));
        assert!(differs(&val(10.0), &val(11.0), None, Some(10.0)));
        assert!(!differs(&val(10.0), &val(10.5), None, Some(10.0)));
        let err = Err(vec![DevError { reason: "X".into(), ..Default::default() }]);
        assert!(differs(&val(1.0), &err, Some(100.0), None));
        assert!(!differs(&err, &err, None, None));
        let q = Ok((AttrData::Double(vec![1.0]), AttrQuality::ATTR_ALARM));
        assert!(differs(&val(1.0), &q, Some(100.0), None));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
