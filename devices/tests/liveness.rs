//! A device server's liveness with the real server runtime on a loopback port and the
//! configuration DB in memory: announced once serving, reported missing while a device's lock
//! is held by a stuck handler (the probe cannot get through), alive again when it is
//! released, and withdrawn at once by a clean stop.
//!
//! The lease TTL and the stall limit are shortened (1 s, 0.5 s) so the test takes seconds;
//! the waits have generous limits and end as soon as the awaited state is seen.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sdp_config::{BackendChoice, ComponentInfo, LivenessOptions};
use sdp_devices::cfgdb::ConfigDb;
use sdp_devices::liveness::{announce, AnnounceOptions, Probe, KIND};
use tango::any::CmdValue;
use tango::{Cmd, DevState, Device, DeviceClass, ServerOptions};

/// While true, the `Hold` command blocks (holding its device's lock).
static HOLD: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

fn set_hold(on: bool) {
    *HOLD.0.lock().unwrap() = on;
    HOLD.1.notify_all();
}

struct Holder;

impl Device for Holder {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new("Holder").command(Cmd::new("Hold").run(|_: &mut Holder, ()| {
            let mut held = HOLD.0.lock().unwrap();
            while *held {
                held = HOLD.1.wait(held).unwrap();
            }
            Ok(())
        }))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }
}

fn alive(db: &Arc<ConfigDb>, name: &str) -> bool {
    let (db2, name) = (db.clone(), name.to_string());
    db.block(async move {
        let cfg = db2.client().await.unwrap();
        let mut txn = cfg.txn();
        txn.is_alive(&name).await.unwrap()
    })
}

fn record(db: &Arc<ConfigDb>, name: &str) -> serde_json::Value {
    let (db2, name) = (db.clone(), name.to_string());
    db.block(async move {
        let cfg = db2.client().await.unwrap();
        let mut txn = cfg.txn();
        let c = txn.list_components().await.unwrap().into_iter().find(|c| c.name == name).expect("a record");
        c.record
    })
}

/// Wait (at most 20 s) until `f` holds.
fn wait(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_held_device_lock_is_reported_as_missing_and_a_clean_stop_withdraws_at_once() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let opts = ServerOptions {
        instance: "1".into(),
        nodb: true,
        dlist: vec!["test/holder/1".into()],
        host: Some("127.0.0.1".into()),
        ..Default::default()
    };
    let running = rt.block_on(tango::Server::new("Holder").class(|_: &str| Holder).start(opts)).unwrap();
    let port = running.port();

    let db = ConfigDb::new(BackendChoice::Memory);
    let probe = Probe::of(&running).unwrap();
    probe.check().unwrap();
    let opts = AnnounceOptions {
        liveness: LivenessOptions { ttl: 1, stall: Duration::from_millis(500) },
        probe_period: Duration::from_millis(100),
    };
    let a = announce(&db, ComponentInfo::new("Holder-1", KIND), probe, opts);
    wait("announced", || alive(&db, "Holder-1"));
    assert_eq!(record(&db, "Holder-1")["kind"], KIND);

    // a handler that does not return: the device's lock stays taken
    set_hold(true);
    let client = std::thread::spawn(move || {
        let mut c = tango::client::Connection::connect(&format!("127.0.0.1:{port}"), Duration::from_secs(60)).unwrap();
        c.command_inout(b"test/holder/1", "Hold", &CmdValue::Void)
    });
    wait("the hung server is missing", || !alive(&db, "Holder-1"));
    assert!(!a.is_up());

    set_hold(false);
    client.join().unwrap().unwrap();
    wait("alive again once the handler returned", || alive(&db, "Holder-1"));

    a.stop(Duration::from_secs(2));
    // revoked, not expired: no wait needed
    assert!(!alive(&db, "Holder-1"));
    assert!(record(&db, "Holder-1")["stopped"].is_number());
    running.shutdown();
    rt.block_on(running.wait());
}
