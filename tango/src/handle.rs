//! A device's own background work changing the device and publishing its events.
//!
//! The runtime publishes what a device pushes ([`Outbox`](crate::device::Outbox)) when the code
//! that pushed it ends: a command, a write, `Init`. A device that watches something by itself
//! (a thread, a tokio task following the configuration DB) has no request to end, so its
//! pushes would wait for the next client. A [`DeviceHandle`] runs a closure on the device
//! exactly as a command handler runs — the same per-device lock, then the same publication
//! of the pushes in order (and of what changed for change-detecting subscribers).
//!
//! The factory of [`Server::class_with_handle`](crate::Server::class_with_handle) gets the
//! handle of the device it builds. The handle holds the device weakly: it never keeps a
//! stopped server's devices alive, and it is bound to the instance it was built with — after
//! `Init` re-creates the device it answers [`HandleError::Replaced`] (the new instance got
//! its own handle from the factory), so a background task of the old instance cannot change
//! the new one.

use std::sync::{Arc, Condvar, Mutex, Weak};

use crate::device::Device;
use crate::object::DeviceCell;

/// Why [`DeviceHandle::run`] did not run the closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleError {
    /// The server stopped (or the device is gone): nothing to change, nobody to tell.
    Stopped,
    /// `Init` re-created the device after this handle was made; the new instance has its own.
    Replaced,
    /// Called from code running with the device locked (a handler of the same device), or
    /// from a device factory: it would wait for itself. Push through the outbox there instead.
    InsideRequest,
}

impl std::fmt::Display for HandleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandleError::Stopped => "the device server has stopped",
            HandleError::Replaced => "the device was re-created by Init since this handle was made",
            HandleError::InsideRequest => "called from a request of the same device or from a factory (it would wait for itself)",
        })
    }
}

impl std::error::Error for HandleError {}

/// Runs code on one device instance, as a command handler would, from anywhere.
///
/// [`run`](DeviceHandle::run) blocks (on the device's lock, behind any request in progress):
/// call it from a plain thread or from `spawn_blocking`. Inside a tokio task use
/// [`run_async`](DeviceHandle::run_async), which does the blocking part on tokio's blocking
/// pool.
pub struct DeviceHandle<D: Device> {
    cell: Weak<DeviceCell<D>>,
    /// Set once the device cell is built: until then the weak reference cannot be upgraded
    /// although the device will exist (a background task started by the factory waits).
    built: Arc<Built>,
    /// Which instance of the device (counted from 1; every `Init` builds the next one).
    instance: u64,
}

impl<D: Device> Clone for DeviceHandle<D> {
    fn clone(&self) -> Self {
        DeviceHandle { cell: self.cell.clone(), built: self.built.clone(), instance: self.instance }
    }
}

impl<D: Device> std::fmt::Debug for DeviceHandle<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceHandle").field("instance", &self.instance).finish()
    }
}

impl<D: Device> DeviceHandle<D> {
    pub(crate) fn new(cell: Weak<DeviceCell<D>>, built: Arc<Built>, instance: u64) -> Self {
        DeviceHandle { cell, built, instance }
    }

    /// A handle that reaches no device (for devices built outside a server, e.g. in tests).
    pub fn detached() -> Self {
        let built = Arc::new(Built::default());
        built.set();
        DeviceHandle { cell: Weak::new(), built, instance: 0 }
    }

    /// Run `f` with the device locked, then publish what it pushed to the device's outbox, in
    /// order, before any later request or run of this device publishes. Blocks while another
    /// request holds the device. Two devices whose handlers call each other's handles can
    /// still deadlock; only the same-device case is detected. Called before the device is
    /// built (from a task the factory started), it waits until it is; called from the
    /// factory itself, it answers [`HandleError::InsideRequest`].
    pub fn run<R>(&self, f: impl FnOnce(&mut D) -> R) -> Result<R, HandleError> {
        if crate::object::building_here() {
            return Err(HandleError::InsideRequest);
        }
        self.built.wait();
        let cell = self.cell.upgrade().ok_or(HandleError::Stopped)?;
        cell.run_from_handle(self.instance, f)
    }

    /// [`run`](DeviceHandle::run) for async code: waits on tokio's blocking pool, so a task
    /// never blocks a runtime worker on the device's lock.
    pub async fn run_async<R: Send + 'static>(&self, f: impl FnOnce(&mut D) -> R + Send + 'static) -> Result<R, HandleError> {
        let handle = self.clone();
        tokio::task::spawn_blocking(move || handle.run(f)).await.unwrap_or(Err(HandleError::Stopped))
    }
}

/// Whether a device cell has been built (handles made during its construction wait for it).
#[derive(Default)]
pub(crate) struct Built {
    done: Mutex<bool>,
    changed: Condvar,
}

impl Built {
    pub(crate) fn set(&self) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            done = self.changed.wait(done).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::any::CmdValue;
    use crate::device::{Attr, Cmd, DeviceClass, Outbox};
    use crate::events::{EventHub, EventKind, TopicNaming};
    use crate::idl::{AttrData, AttributeValue_5};
    use crate::object::{DeviceObject, HandleFactory};

    /// A device with one number, built with its handle.
    struct Tally {
        n: i32,
        outbox: Outbox,
    }

    impl Device for Tally {
        fn class() -> DeviceClass<Self> {
            DeviceClass::new("Tally")
                .attribute(Attr::new("n").read(|d: &Tally| d.n).abs_change(1))
                .command(Cmd::new("Next").run(|d: &mut Tally, ()| {
                    d.n += 1;
                    d.outbox.push_change("n", d.n);
                    Ok(())
                }))
                // changes n without pushing: the runtime detects the change after the request
                .command(Cmd::new("Bump").run(|d: &mut Tally, ()| {
                    d.n += 1;
                    Ok(())
                }))
        }

        fn outbox(&mut self) -> Option<&mut Outbox> {
            Some(&mut self.outbox)
        }
    }

    fn tally(n: i32) -> Tally {
        Tally { n, outbox: Outbox::default() }
    }

    fn shared(factory: HandleFactory<Tally>) -> Arc<DeviceCell<Tally>> {
        DeviceCell::shared("test/tally/1", Arc::new(Tally::class()), factory, |c| c)
    }

    fn plain() -> Arc<DeviceCell<Tally>> {
        shared(Arc::new(|_: &str, _| tally(0)))
    }

    fn n(cell: &DeviceCell<Tally>) -> i32 {
        match &cell.read_attributes(&["n".to_string()])[0].value {
            AttrData::Long(v) => v[0],
            other => panic!("n reads {other:?}"),
        }
    }

    #[test]
    fn run_changes_the_device_a_client_then_reads() {
        let cell = plain();
        assert_eq!(cell.handle().run(|d| std::mem::replace(&mut d.n, 7)), Ok(0));
        assert_eq!(n(&cell), 7);
    }

    #[test]
    fn a_thread_the_factory_starts_waits_until_the_device_is_built() {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let cell = shared(Arc::new(move |_: &str, handle: DeviceHandle<Tally>| {
            let tx = tx.lock().unwrap().clone();
            std::thread::spawn(move || tx.send(handle.run(|d| d.n += 1)).unwrap());
            tally(10)
        }));
        assert_eq!(rx.recv().unwrap(), Ok(()));
        assert_eq!(n(&cell), 11);
    }

    #[test]
    fn a_run_from_inside_a_request_of_the_same_device_is_refused_not_deadlocked() {
        let cell = plain();
        let handle = cell.handle();
        assert_eq!(cell.with_device(|_| handle.run(|d| d.n = 1)), Err(HandleError::InsideRequest));
        // another device's handle is not concerned
        let other = plain();
        assert_eq!(cell.with_device(|_| other.handle().run(|d| d.n = 2)), Ok(()));
        assert_eq!((n(&cell), n(&other)), (0, 2));
    }

    #[test]
    fn a_run_from_the_factory_itself_is_refused_not_deadlocked() {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let kept = answers.clone();
        let cell = shared(Arc::new(move |_: &str, handle: DeviceHandle<Tally>| {
            kept.lock().unwrap().push(handle.run(|d| d.n = 1));
            tally(0)
        }));
        cell.init().unwrap();
        assert_eq!(*answers.lock().unwrap(), vec![Err(HandleError::InsideRequest); 2]);
        assert_eq!(n(&cell), 0);
    }

    #[test]
    fn after_init_the_old_instance_handle_is_refused_and_the_new_instance_has_its_own() {
        let handles = Arc::new(Mutex::new(Vec::new()));
        let kept = handles.clone();
        let cell = shared(Arc::new(move |_: &str, handle: DeviceHandle<Tally>| {
            kept.lock().unwrap().push(handle);
            tally(0)
        }));
        cell.init().unwrap();
        let (old, new) = {
            let h = handles.lock().unwrap();
            assert_eq!(h.len(), 2);
            (h[0].clone(), h[1].clone())
        };
        assert_eq!(old.run(|d| d.n = 1), Err(HandleError::Replaced));
        assert_eq!(new.run(|d| d.n = 2), Ok(()));
        assert_eq!(n(&cell), 2);
    }

    #[test]
    fn after_the_server_stops_or_the_device_is_dropped_a_run_is_an_error() {
        let cell = plain();
        let handle = cell.handle();
        cell.server_stopped();
        assert_eq!(handle.run(|d| d.n = 1), Err(HandleError::Stopped));
        assert_eq!(n(&cell), 0);

        let cell = plain();
        let handle = cell.handle();
        drop(cell);
        assert_eq!(handle.run(|d| d.n = 1), Err(HandleError::Stopped));
        assert_eq!(DeviceHandle::<Tally>::detached().run(|d| d.n = 1), Err(HandleError::Stopped));
    }

    #[test]
    fn run_async_works_inside_a_single_threaded_tokio_runtime() {
        let cell = plain();
        let handle = cell.handle();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let got = rt.block_on(async move {
            handle
                .run_async(|d| {
                    d.n = 5;
                    d.n * 2
                })
                .await
        });
        assert_eq!(got, Ok(10));
        assert_eq!(n(&cell), 5);
    }

    /// The values of the change events of `n` a ZMQ subscriber receives, `count` of them.
    fn received(sub: &zmq::Socket, count: usize) -> Vec<i32> {
        (0..count)
            .map(|_| {
                let frames = sub.recv_multipart(0).expect("an event (or the receive timeout)");
                // the CDR value starts after cppTango's 4-byte filler
                let mut r = crate::cdr::CdrReader::new(&frames[3][4..], 0, true);
                match r.read::<AttributeValue_5>().unwrap().value {
                    AttrData::Long(v) => v[0],
                    other => panic!("n published as {other:?}"),
                }
            })
            .collect()
    }

    /// A device publishing to a ZMQ subscriber of the change events of `n`.
    fn subscribed() -> (Arc<DeviceCell<Tally>>, zmq::Socket) {
        let cell = plain();
        let naming = TopicNaming { prefix: "tango://127.0.0.1:1/".into(), nodb: true, admin: "dserver/tally/1".into() };
        let hub = EventHub::start(naming, "127.0.0.1", "127.0.0.1").unwrap();
        cell.attach_events(hub.clone());
        let topic = cell.subscribe("n", EventKind::Change, 6).unwrap();
        let sub = zmq::Context::new().socket(zmq::SUB).unwrap();
        sub.set_rcvtimeo(30_000).unwrap();
        sub.connect(&hub.endpoints().event).unwrap();
        sub.set_subscribe(topic.as_bytes()).unwrap();
        (cell, sub)
    }

    #[test]
    fn events_of_one_device_go_out_in_the_order_its_handlers_ran_under_concurrent_requests_and_runs() {
        let (cell, sub) = subscribed();
        // two threads of client requests and two of handle runs, all pushing the next value
        let (per_thread, threads) = (300, 4);
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let (cell, handle) = (cell.clone(), cell.handle());
                std::thread::spawn(move || {
                    for _ in 0..per_thread {
                        if i % 2 == 0 {
                            cell.command("Next", CmdValue::Void).unwrap();
                        } else {
                            handle
                                .run(|d| {
                                    d.n += 1;
                                    d.outbox.push_change("n", d.n);
                                })
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let total = per_thread * threads;
        assert_eq!(received(&sub, total), (1..=total as i32).collect::<Vec<_>>());
    }

    #[test]
    fn a_polled_value_is_never_published_after_a_newer_value_a_request_published() {
        let (cell, sub) = subscribed();
        let total = 2000;
        let bumper = {
            let cell = cell.clone();
            std::thread::spawn(move || {
                for _ in 0..total {
                    cell.command("Bump", CmdValue::Void).unwrap();
                }
            })
        };
        // polling meanwhile: each value it reads was published by its request already, so it
        // detects no change (a stale read published late would go back, or repeat a value)
        let pollers: Vec<_> = (0..2)
            .map(|_| {
                let cell = cell.clone();
                std::thread::spawn(move || {
                    while cell.handle().run(|d| d.n).unwrap() < total {
                        cell.poll_attributes(&["n".to_string()]);
                    }
                })
            })
            .collect();
        bumper.join().unwrap();
        for p in pollers {
            p.join().unwrap();
        }
        assert_eq!(received(&sub, total as usize), (1..=total).collect::<Vec<_>>());
    }
}
