//! Device locking as cppTango does it: a client process locks a device through the admin
//! device (`LockDevice [validity s] [device]`), keeps the lock alive with `ReLockDevices`
//! (the client library's locking thread does that) and releases it with `UnLockDevice`, or
//! the lock expires when the validity passes without a re-lock.
//!
//! While the lock holds, other clients may read but not write attributes, run commands other
//! than State and Status, or set attribute configuration: they get `API_DeviceLocked`.
//!
//! Who a client is comes from the `ClntIdent` carried by the IDL 4+ calls (`command_inout_4`,
//! `write_attributes_4`, ...) plus the host the call came from: a C++/Python client is its PID
//! on its host, a Java client its UUID. Calls without an identity (IDL 2/3) cannot lock and
//! are refused on a locked device, as in cppTango.
//!
//! The identity of the call being served lives in a thread-local for the duration of the call
//! ([`with_caller`]): each connection is served on its own thread, and the admin device's
//! commands need the identity of whoever sent them without every device API carrying it.
//! Time is passed in (`now`) so the rules are tested without sleeping.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::idl::{ClntIdent, DevFailed};

/// cppTango's lower bound for a lock validity, in seconds (the client library enforces it;
/// the server refuses less too, so a bad validity cannot make a lock that expires at once).
pub const MIN_LOCK_VALIDITY: i32 = 2;

/// A client process as locking sees it.
#[derive(Debug, Clone)]
pub struct Locker {
    pub who: Who,
    /// The host the calls came from (`localhost` for loopback, else the IP address).
    pub host: Arc<str>,
    /// The connection's address as omniORB prints it (`giop:tcp:<ip>:<port>`): what
    /// `DevLockStatus` reports and the client library parses to find the locker's IP.
    /// Not part of the identity: one client may use several connections.
    pub address: Arc<str>,
}

impl PartialEq for Locker {
    fn eq(&self, o: &Locker) -> bool {
        self.who == o.who && self.host == o.host
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Cpp { pid: u32 },
    Java { main_class: String, uuid: [u64; 2] },
}

impl Locker {
    pub fn from_ident(ident: &ClntIdent, host: Arc<str>, address: Arc<str>) -> Locker {
        let who = match ident {
            ClntIdent::Cpp(pid) | ClntIdent::Cpp6 { pid, .. } => Who::Cpp { pid: *pid },
            ClntIdent::Java { main_class, uuid } | ClntIdent::Java6 { main_class, uuid, .. } => {
                Who::Java { main_class: main_class.clone(), uuid: *uuid }
            }
        };
        Locker { who, host, address }
    }

    /// cppTango's wording (`client_addr`'s printout).
    pub fn describe(&self) -> String {
        match &self.who {
            Who::Cpp { pid } => format!("CPP or Python client with PID {pid} from host {}", self.host),
            Who::Java { main_class, .. } => format!("JAVA client class {main_class} from host {}", self.host),
        }
    }
}

/// The caller of the request being served on this thread.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None` for IDL 1-3 calls, which carry no identity.
    pub locker: Option<Locker>,
}

thread_local! {
    static CURRENT: RefCell<Option<Caller>> = const { RefCell::new(None) };
}

/// Run `f` with `caller` as the identity of the request being served on this thread.
pub fn with_caller<R>(caller: Caller, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(Some(caller)));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = previous);
    r
}

/// The identity of the request being served on this thread, if any.
pub fn current_locker() -> Option<Locker> {
    CURRENT.with(|c| c.borrow().as_ref().and_then(|c| c.locker.clone()))
}

#[derive(Debug)]
struct Held {
    by: Locker,
    since: Instant,
    validity: Duration,
    /// Nested LockDevice calls by the same client; UnLockDevice counts down.
    count: i32,
}

#[derive(Debug, Default)]
struct State {
    held: Option<Held>,
    /// The client whose lock an administrator forced away: its calls learn it until another
    /// client's call gets through.
    forced_from: Option<Locker>,
}

/// The lock of one device.
#[derive(Debug, Default)]
pub struct DeviceLock {
    state: Mutex<State>,
}

fn locked_error(device: &str, origin: &str) -> DevFailed {
    DevFailed::new("API_DeviceLocked", format!("Device {device} is locked by another client"), format!("Device_Impl::{origin}"))
}

impl DeviceLock {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock as it stands at `now` (an expired lock is dropped here).
    fn live(s: &mut State, now: Instant) -> Option<&mut Held> {
        if s.held.as_ref().is_some_and(|h| now.duration_since(h.since) > h.validity) {
            s.held = None;
        }
        s.held.as_mut()
    }

    /// `LockDevice`: take the lock, or take it once more (the same client), for `validity`.
    pub fn lock(&self, device: &str, by: &Locker, validity: Duration, now: Instant) -> Result<(), DevFailed> {
        let mut s = self.state();
        match Self::live(&mut s, now) {
            Some(h) if h.by != *by => {
                Err(DevFailed::new("API_DeviceLocked", format!("Device {device} is already locked by another client"), "Device_Impl::lock"))
            }
            Some(h) => {
                h.since = now;
                h.validity = validity;
                h.count += 1;
                Ok(())
            }
            None => {
                s.held = Some(Held { by: by.clone(), since: now, validity, count: 1 });
                Ok(())
            }
        }
    }

    /// `ReLockDevices`: the holder renews its lock's validity.
    pub fn relock(&self, device: &str, by: &Locker, now: Instant) -> Result<(), DevFailed> {
        let mut s = self.state();
        match Self::live(&mut s, now) {
            Some(h) if h.by != *by => Err(DevFailed::new(
                "API_DeviceLocked",
                format!("{device}: Device {device} is already locked by another client"),
                "Device_Impl::relock",
            )),
            Some(h) => {
                h.since = now;
                Ok(())
            }
            None => Err(DevFailed::new(
                "API_DeviceNotLocked",
                format!("{device}: Device {device} is not locked. Can't re-lock it"),
                "Device_Impl::relock",
            )),
        }
    }

    /// `UnLockDevice`: one unlock by the holder (the lock goes when the count reaches zero),
    /// or a forced unlock by anybody. Returns the remaining count.
    pub fn unlock(&self, device: &str, by: Option<&Locker>, forced: bool, now: Instant) -> Result<i32, DevFailed> {
        let mut s = self.state();
        let Some(h) = Self::live(&mut s, now) else { return Ok(0) };
        if !forced && by != Some(&h.by) {
            return Err(DevFailed::new(
                "API_DeviceLocked",
                format!("Device {device} is locked by another client, can't unlock it"),
                "Device_Impl::unlock",
            ));
        }
        h.count -= 1;
        let left = h.count.max(0);
        if left == 0 || forced {
            let old = s.held.take().map(|h| h.by);
            if forced {
                s.forced_from = old;
            }
            return Ok(0);
        }
        Ok(left)
    }

    /// Refuse `method` to anybody but the holder while the lock holds.
    pub fn check(&self, device: &str, by: Option<&Locker>, method: &str, now: Instant) -> Result<(), DevFailed> {
        let mut s = self.state();
        if let Some(h) = Self::live(&mut s, now) {
            return if by == Some(&h.by) { Ok(()) } else { Err(locked_error(device, method)) };
        }
        // The old holder is told until another client gets through (as cppTango does).
        if let Some(old) = &s.forced_from {
            if by == Some(old) {
                return Err(DevFailed::new(
                    "API_DeviceUnlocked",
                    format!("Device {device} has been unlocked by an administrative client!!!"),
                    format!("Device_Impl::{method}"),
                ));
            }
            s.forced_from = None;
        }
        Ok(())
    }

    /// Whether a live lock is held by somebody other than `by`.
    pub fn held_by_other(&self, by: Option<&Locker>, now: Instant) -> bool {
        let mut s = self.state();
        Self::live(&mut s, now).is_some_and(|h| by != Some(&h.by))
    }

    /// `DevLockStatus`: `([locked, pid, uuid0 hi, lo, uuid1 hi, lo], [text, host, java class])`.
    pub fn status(&self, device: &str, now: Instant) -> (Vec<i32>, Vec<String>) {
        let mut s = self.state();
        match Self::live(&mut s, now) {
            None => (vec![0; 6], vec![format!("Device {device} is not locked"), "Not defined".into(), "Not defined".into()]),
            Some(h) => {
                let text = format!("Device {device} is locked by {}", h.by.describe());
                let host = h.by.address.to_string();
                match &h.by.who {
                    Who::Cpp { pid } => (vec![1, *pid as i32, 0, 0, 0, 0], vec![text, host, "Not defined".into()]),
                    Who::Java { main_class, uuid } => {
                        let split = |v: u64| [(v >> 32) as u32 as i32, v as u32 as i32];
                        let [a, b] = split(uuid[0]);
                        let [c, d] = split(uuid[1]);
                        (vec![1, 0, a, b, c, d], vec![text, host, main_class.clone()])
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(pid: u32) -> Locker {
        Locker { who: Who::Cpp { pid }, host: Arc::from("localhost"), address: Arc::from("giop:tcp:127.0.0.1:1") }
    }

    #[test]
    fn a_lock_keeps_other_clients_out_until_unlocked() {
        let (l, t0) = (DeviceLock::default(), Instant::now());
        let (me, other) = (client(1), client(2));
        l.lock("a/b/c", &me, Duration::from_secs(10), t0).unwrap();
        assert!(l.check("a/b/c", Some(&me), "command_inout4", t0).is_ok());
        let e = l.check("a/b/c", Some(&other), "command_inout4", t0).unwrap_err();
        assert_eq!((e.reason(), e.errors[0].desc.as_str()), ("API_DeviceLocked", "Device a/b/c is locked by another client"));
        assert_eq!(l.check("a/b/c", None, "write_attributes_3", t0).unwrap_err().reason(), "API_DeviceLocked");
        assert_eq!(l.lock("a/b/c", &other, Duration::from_secs(10), t0).unwrap_err().reason(), "API_DeviceLocked");
        assert_eq!(l.unlock("a/b/c", Some(&other), false, t0).unwrap_err().reason(), "API_DeviceLocked");
        assert_eq!(l.status("a/b/c", t0).0[..2], [1, 1]);
        assert_eq!(l.unlock("a/b/c", Some(&me), false, t0).unwrap(), 0);
        assert!(l.check("a/b/c", Some(&other), "command_inout4", t0).is_ok());
        assert_eq!(l.status("a/b/c", t0).0, vec![0; 6]);
    }

    #[test]
    fn nested_locks_count_and_expiry_releases() {
        let (l, t0) = (DeviceLock::default(), Instant::now());
        let me = client(1);
        l.lock("d", &me, Duration::from_secs(3), t0).unwrap();
        l.lock("d", &me, Duration::from_secs(3), t0).unwrap();
        assert_eq!(l.unlock("d", Some(&me), false, t0).unwrap(), 1);
        assert!(l.held_by_other(Some(&client(2)), t0));
        // a re-lock renews the validity; without one the lock expires
        l.relock("d", &me, t0 + Duration::from_secs(2)).unwrap();
        assert!(l.held_by_other(Some(&client(2)), t0 + Duration::from_secs(4)));
        assert!(!l.held_by_other(Some(&client(2)), t0 + Duration::from_secs(6)));
        assert_eq!(l.relock("d", &me, t0 + Duration::from_secs(6)).unwrap_err().reason(), "API_DeviceNotLocked");
    }

    #[test]
    fn forced_unlock_is_told_to_the_old_holder_until_another_client_calls() {
        let (l, t0) = (DeviceLock::default(), Instant::now());
        let me = client(1);
        l.lock("d", &me, Duration::from_secs(10), t0).unwrap();
        assert_eq!(l.unlock("d", Some(&client(2)), true, t0).unwrap(), 0);
        assert_eq!(l.check("d", Some(&me), "command_inout4", t0).unwrap_err().reason(), "API_DeviceUnlocked");
        assert_eq!(l.check("d", Some(&me), "command_inout4", t0).unwrap_err().reason(), "API_DeviceUnlocked");
        assert!(l.check("d", Some(&client(2)), "command_inout4", t0).is_ok());
        assert!(l.check("d", Some(&me), "command_inout4", t0).is_ok());
    }

    #[test]
    fn java_lockers_report_their_uuid() {
        let (l, t0) = (DeviceLock::default(), Instant::now());
        let j = Locker {
            who: Who::Java { main_class: "Jive".into(), uuid: [0x0000_0001_0000_0002, 3] },
            host: Arc::from("h"),
            address: Arc::from("giop:tcp:10.0.0.1:9"),
        };
        l.lock("d", &j, Duration::from_secs(10), t0).unwrap();
        let (lv, sv) = l.status("d", t0);
        assert_eq!(lv, vec![1, 0, 1, 2, 0, 3]);
        assert_eq!(
            sv,
            vec!["Device d is locked by JAVA client class Jive from host h".to_string(), "giop:tcp:10.0.0.1:9".into(), "Jive".into()]
        );
    }
}
