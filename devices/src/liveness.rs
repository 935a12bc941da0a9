//! The device servers' own liveness in the configuration DB, and the process runner of the
//! `SDPMaster` / `SDPSubarray` executables.
//!
//! A server announces itself as component `<Exec>-<instance>` (`SDPSubarray-1`,
//! `SDPMaster-1`) of kind `device-server` with [`sdp_config::Liveness`]:
//! `/component/<name>/alive` exists while the server serves. `sdp up` waits for that key
//! before it calls the server ready, and operators list it with the other components.
//!
//! * The announcement starts once the configuration DB answers and is retried in the
//!   background while it does not: the server starts and serves without etcd, as before.
//! * It survives etcd restarts (the keeper re-grants a lost lease), and a clean stop
//!   (SIGINT/SIGTERM, or the admin device's `Kill`) revokes it at once.
//! * A hung server is reported missing: see [`Probe`].

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sdp_config::{ComponentInfo, Liveness, LivenessOptions};
use tango::object::DeviceObject;
use tango::server::RunningServer;

use crate::cfgdb::{ConfigDb, Follow, REQUEST_TIMEOUT};

/// The component kind of a device server.
pub const KIND: &str = "device-server";

/// How often the probe checks that the server serves.
pub const PROBE_PERIOD: Duration = Duration::from_secs(2);

/// A probe that has not got through for this long counts as a hang (the alive key then goes
/// within the lease TTL). By design a device holds its lock for at most a few seconds: a
/// command waits for the configuration DB at most [`REQUEST_TIMEOUT`] per request, and
/// Configure makes at most three such waits (restore, PB transaction, CSP read); Tango
/// clients give up after 3 s. 15 s is well past all of that even on a loaded machine.
pub const STALL: Duration = Duration::from_secs(15);

/// The component name of server `<exec>/<instance>`.
pub fn component_name(exec: &str, instance: &str) -> String {
    format!("{exec}-{instance}")
}

/// What the probe checks, and how: every [`PROBE_PERIOD`] it takes a
/// [`Liveness::working`] guard, then
///
/// 1. connects to the server's own GIOP port and sends the CORBA `_non_existent` request to
///    the admin device: that needs the accept loop (the server's tokio runtime), a connection
///    thread and the dispatcher, as any new client does; and
/// 2. reads each device's State in process, which takes the device's lock — the one resource
///    whose hang blocks every client of that device.
///
/// and drops the guard once both got through. While they do not (a lock held by a stuck
/// handler, a blocked runtime, a listener that refuses) it retries holding the same guard,
/// so the hang is measured from its start and the alive key goes [`STALL`] later.
///
/// Why not a plain `State` request over GIOP, which would do both at once: every request
/// lands in the device's black box, and a probe every 2 s would push the operators' own
/// requests out of `black_box(n)`. `_non_existent` is not recorded, the in-process read is
/// not a request. Cost: one loopback connection and a lock taken per device every 2 s
/// (tens of microseconds).
pub struct Probe {
    addr: SocketAddr,
    admin: String,
    objects: Vec<Arc<dyn DeviceObject>>,
}

impl Probe {
    /// The probe of a running server: the address its listener is bound to (loopback when
    /// that is every interface).
    pub fn of(running: &RunningServer) -> Result<Probe, String> {
        let mut addr = running.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let objects: Vec<_> = running.dispatcher.objects().cloned().collect();
        let admin = objects
            .iter()
            .map(|o| o.name().to_string())
            .find(|n| n.to_ascii_lowercase().starts_with("dserver/"))
            .ok_or("the server has no admin device")?;
        Ok(Probe { addr, admin, objects })
    }

    /// One check; `Err` says what did not get through.
    pub fn check(&self) -> Result<(), String> {
        let mut conn = tango::client::Connection::connect(&self.addr.to_string(), tango::client::DEFAULT_TIMEOUT)
            .map_err(|e| format!("own port: {e}"))?;
        conn.invoke(self.admin.to_ascii_lowercase().as_bytes(), "_non_existent", |_| {})
            .map_err(|e| format!("own port, {}: {e}", self.admin))?;
        for o in &self.objects {
            o.state();
        }
        Ok(())
    }
}

/// A server's announcement: started in the background, stopped (the alive key revoked) by
/// [`Announcement::stop`]. Dropping it without `stop` lets the key expire after the TTL.
pub struct Announcement {
    name: String,
    db: Arc<ConfigDb>,
    liveness: Arc<Mutex<Option<Liveness>>>,
    stopping: Arc<AtomicBool>,
    starter: Mutex<Option<Follow>>,
}

/// Options of [`announce`] (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct AnnounceOptions {
    pub liveness: LivenessOptions,
    pub probe_period: Duration,
}

impl Default for AnnounceOptions {
    fn default() -> Self {
        AnnounceOptions { liveness: LivenessOptions { stall: STALL, ..LivenessOptions::default() }, probe_period: PROBE_PERIOD }
    }
}

/// Announce `info` in `db` as soon as it answers (retrying with backoff until then), then
/// keep it while `probe` gets through.
pub fn announce(db: &Arc<ConfigDb>, info: ComponentInfo, probe: Probe, opts: AnnounceOptions) -> Announcement {
    let liveness: Arc<Mutex<Option<Liveness>>> = Arc::default();
    let stopping = Arc::new(AtomicBool::new(false));
    let (slot, stop, db2, name) = (liveness.clone(), stopping.clone(), db.clone(), info.name.clone());
    let starter = db.spawn(async move {
        let mut delay = Duration::from_millis(200);
        let mut warned = false;
        loop {
            let attempt = async {
                let cfg = db2.clone().client().await?;
                Liveness::start_with(&cfg, info.clone(), opts.liveness).await
            };
            match tokio::time::timeout(REQUEST_TIMEOUT * 2, attempt).await {
                Ok(Ok(l)) => {
                    eprintln!("{}: announced in {} (/component/{}/alive)", info.name, db2.describe(), info.name);
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(l);
                    let (slot, stop) = (slot.clone(), stop.clone());
                    let spawned = std::thread::Builder::new()
                        .name("liveness-probe".into())
                        .spawn(move || run_probe(&slot, &stop, &probe, opts.probe_period));
                    if let Err(e) = spawned {
                        // without the probe the key is still kept, only a hang goes unnoticed
                        tracing::error!("cannot start the liveness probe thread: {e}");
                    }
                    return;
                }
                Ok(Err(e)) if !warned => {
                    eprintln!("{}: cannot announce in the configuration DB yet ({e}); retrying in the background", info.name);
                    warned = true;
                }
                Ok(Err(e)) => tracing::debug!("{}: still cannot announce: {e}", info.name),
                Err(_) if !warned => {
                    eprintln!("{}: the configuration DB does not answer yet; retrying the announcement in the background", info.name);
                    warned = true;
                }
                Err(_) => tracing::debug!("{}: still no answer from the configuration DB", info.name),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    });
    Announcement { name, db: db.clone(), liveness, stopping, starter: Mutex::new(Some(starter)) }
}

fn run_probe(slot: &Mutex<Option<Liveness>>, stopping: &AtomicBool, probe: &Probe, period: Duration) {
    while !stopping.load(Ordering::SeqCst) {
        let Some(work) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(Liveness::working) else { return };
        let mut delay = Duration::from_millis(100);
        let mut failures = 0u32;
        while let Err(e) = probe.check() {
            failures += 1;
            // a stopping server refuses connections: that is no hang to report
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            if failures == 3 {
                tracing::warn!("liveness probe: {e}; still trying (the server counts as hung after {} s)", STALL.as_secs());
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        if failures >= 3 {
            tracing::info!("liveness probe: the server serves again");
        }
        drop(work);
        std::thread::sleep(period);
    }
}

impl Announcement {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Is the alive key in place, as far as this process knows?
    pub fn is_up(&self) -> bool {
        self.liveness.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(Liveness::is_up)
    }

    /// Stop announcing: revoke the lease (the alive key goes at once) and mark the record
    /// stopped, waiting at most `limit` for the DB. Idempotent.
    pub fn stop(&self, limit: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.starter.lock().unwrap_or_else(|p| p.into_inner()).take());
        // held until the withdrawal is done: a second caller (the signal handler and the end
        // of the server both stop) returns only after it, so the process cannot exit between
        let mut slot = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
        let Some(l) = slot.take() else { return };
        match self.db.block_timeout(limit, l.stop()) {
            Ok(()) => eprintln!("{}: no longer announced (stopped)", self.name),
            Err(e) => eprintln!("{}: cannot withdraw the announcement ({e}); it expires with its lease", self.name),
        }
    }
}

/// Run a device server from its command line (after the executable name), as
/// [`tango::Server::run_with_args`] does, and with a configuration DB announce it as
/// `<exec>-<instance>` once it serves; withdraw the announcement when it stops.
pub fn run_server(server: tango::Server, exec: &str, args: Vec<String>, db: Option<Arc<ConfigDb>>) -> ! {
    let exec = exec.to_string();
    server.run_with_args_then(args, move |running, instance| {
        let db = db?;
        let name = component_name(&exec, instance);
        let announce_it = || -> Result<Announcement, String> {
            sdp_config::alive::check_name(&name).map_err(|e| e.to_string())?;
            let probe = Probe::of(running)?;
            Ok(announce(&db, ComponentInfo::new(&name, KIND), probe, AnnounceOptions::default()))
        };
        let announcement = match announce_it() {
            Ok(a) => Arc::new(a),
            Err(e) => {
                eprintln!("{exec}: not announced in the configuration DB as {name}: {e}");
                return None;
            }
        };
        // Withdraw as soon as a stop is asked for, while the server closes its connections:
        // from then on it serves nobody new.
        let a = announcement.clone();
        tokio::spawn(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            let _ = tokio::task::spawn_blocking(move || a.stop(Duration::from_secs(1))).await;
        });
        // Stopped another way (the admin device's Kill), or the signal task still runs.
        Some(Box::new(move || announcement.stop(Duration::from_secs(1))))
    })
}
