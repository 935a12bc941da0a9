//! `SDPMaster`: the master device of the 2019 interface (0.2.6). Tango State is always ON;
//! `OperatingState` follows the `on`/`off`/`standby`/`disable` commands (callable in any
//! letter case, as Tango command names are). `healthState` and `healthInfo` report whether
//! the configuration DB answers and the processing controller and a deployer are alive
//! ([`crate::health::master`]).

use std::sync::Arc;

use serde_json::{json, Value};
use tango::{tango_enum, Attr, Cmd, DevFailed, DevState, Device, DeviceClass, TangoEnum};
use tokio::sync::watch;

use crate::cfgdb::{ConfigDb, DbSetting, Follow, Link, Monitor, MASTER_KEY};
use crate::health::{self, DbSeen, Health};
use crate::restore::{self, Created, Late, Start};

pub const SERVER_VERSION: &str = "0.2.6";
pub const CLASS: &str = "SDPMaster";

tango_enum! {
    /// The master's operating state (0.2.6 labels and numbers).
    pub enum OperatingState { INIT = 0, ON = 1, DISABLE = 2, STANDBY = 3, ALARM = 4, FAULT = 5, OFF = 6, UNKNOWN = 7 }
}

/// The configuration DB of the master server, if any: its state is kept in `/master` and
/// restored when the server restarts (`Init` returns to INIT), and the components' liveness
/// is followed there for `healthState`.
#[derive(Debug)]
pub struct MasterServices {
    pub db: Option<Arc<ConfigDb>>,
    /// What the monitor last saw of the DB and the components.
    seen: watch::Receiver<DbSeen>,
    _monitor: Option<Follow>,
    created: Created,
}

impl MasterServices {
    pub fn new(setting: DbSetting) -> Arc<MasterServices> {
        let Link { db, off, seen, monitor } = Link::new(setting, Monitor::Components);
        if db.is_none() {
            eprintln!("{CLASS}: no configuration DB ({off}): OperatingState is not persisted, healthState is UNKNOWN");
        }
        Arc::new(MasterServices { db, seen, _monitor: monitor, created: Default::default() })
    }

    /// From `SDP_CONFIG_*` (see [`DbSetting::from_env`]); without them the master runs without
    /// persistence.
    pub fn from_env() -> Arc<MasterServices> {
        Self::new(DbSetting::from_env())
    }

    /// healthState and healthInfo now, from the monitor's latest observation.
    pub fn health(&self) -> Health {
        health::master(&self.seen.borrow())
    }
}

#[derive(Debug)]
pub struct Master {
    pub operating: OperatingState,
    services: Arc<MasterServices>,
    /// `/master` could not be read at start-up: it is read in the background and shown once
    /// read (a command replaces it: the newest order wins, and is stored).
    late: Option<Late<OperatingState>>,
}

impl Master {
    /// A master without configuration DB.
    pub fn new(name: &str) -> Master {
        Self::create(name, &MasterServices::new(DbSetting::Off("none given".into())))
    }

    /// The first creation in the process restores `/master`; later ones (`Init`) start at INIT.
    pub fn create(name: &str, services: &Arc<MasterServices>) -> Master {
        tracing::info!("Initialising SDP Master: {name}");
        let first = services.created.first(name);
        let mut m = Master { operating: OperatingState::INIT, services: services.clone(), late: None };
        match restore::begin(services.db.as_ref(), MASTER_KEY, first, operating_of, |_| async {}) {
            Start::NoDb => {}
            Start::Init | Start::Stored(None) => m.persist(),
            Start::Stored(Some(v)) => {
                if let Some(s) = operating_of(&v) {
                    m.operating = s;
                    eprintln!("{CLASS} {name}: restored OperatingState {s} from /master");
                }
            }
            Start::Later(late, e) => {
                eprintln!("{CLASS} {name}: cannot read /master ({e}): INIT until it can be read");
                m.late = Some(late);
            }
        }
        m
    }

    /// What clients see: the stored state once read late, else the current one.
    pub fn operating(&self) -> OperatingState {
        match self.late.as_ref().and_then(|late| late.stored()) {
            Some(Some(stored)) => *stored,
            _ => self.operating,
        }
    }

    fn persist(&self) {
        if let Some(db) = &self.services.db {
            // health_state: the value when the record was written, kept for readers of the
            // 2019 record; the device never restores it (health is observed, not stored)
            let health = self.services.health().state;
            db.persist(MASTER_KEY, json!({"operating_state": self.operating.label(), "health_state": health.label()}));
        }
    }

    fn go(&mut self, to: OperatingState) -> Result<(), DevFailed> {
        tracing::info!("OperatingState {} -> {to}", self.operating());
        self.late = None;
        self.operating = to;
        self.persist();
        Ok(())
    }
}

impl Device for Master {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new(CLASS)
            .description("SKA SDP master (interface 0.2.6)")
            .attribute(Attr::new("serverVersion").read(|_: &Master| SERVER_VERSION.to_string()))
            .attribute(Attr::new("OperatingState").read(|d: &Master| d.operating()).polled(1000).abs_change(1))
            .attribute(
                Attr::new("healthState")
                    .read(|d: &Master| d.services.health().state)
                    .description(
                        "OK: the configuration DB answers and the processing controller and a deployer are alive; \
                         DEGRADED: the controller or every deployer is missing; FAILED: the configuration DB does not answer; \
                         UNKNOWN: no configuration DB (or no answer yet). healthInfo says why.",
                    )
                    .polled(1000)
                    .abs_change(1)
                    .archive_abs_change(1),
            )
            .attribute(
                Attr::new("healthInfo")
                    .read(|d: &Master| d.services.health().info)
                    .description("Why healthState is what it is (the missing components, or the configuration DB's error)")
                    .polled(1000),
            )
            .command(Cmd::new("on").run(|d: &mut Master, ()| d.go(OperatingState::ON)))
            .command(Cmd::new("off").run(|d: &mut Master, ()| d.go(OperatingState::OFF)))
            .command(Cmd::new("standby").run(|d: &mut Master, ()| d.go(OperatingState::STANDBY)))
            .command(Cmd::new("disable").run(|d: &mut Master, ()| d.go(OperatingState::DISABLE)))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }
}

fn operating_of(v: &Value) -> Option<OperatingState> {
    v.get("operating_state").and_then(Value::as_str).and_then(OperatingState::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_commands() {
        assert_eq!(OperatingState::LABELS, ["INIT", "ON", "DISABLE", "STANDBY", "ALARM", "FAULT", "OFF", "UNKNOWN"]);
        let mut m = Master::new("mid_sdp/elt/master");
        assert_eq!(m.operating, OperatingState::INIT);
        for (to, n) in [(OperatingState::ON, 1), (OperatingState::STANDBY, 3), (OperatingState::DISABLE, 2), (OperatingState::OFF, 6)] {
            m.go(to).unwrap();
            assert_eq!(m.operating.to_i16(), n);
            assert_eq!(m.state(), DevState::ON);
        }
    }
}

#[cfg(test)]
mod persistence {
    use super::*;

    #[test]
    fn restored_on_first_creation_only() {
        let db = ConfigDb::new(sdp_config::BackendChoice::Memory);
        let services = |db: &Arc<ConfigDb>| {
            let (seen, monitor) = db.monitor(Monitor::Components);
            Arc::new(MasterServices { db: Some(db.clone()), seen, _monitor: Some(monitor), created: Default::default() })
        };
        let s1 = services(&db);
        let mut m = Master::create("mid_sdp/elt/master", &s1);
        m.go(OperatingState::STANDBY).unwrap();
        // a new process on the same DB
        let s2 = services(&db);
        assert_eq!(Master::create("mid_sdp/elt/master", &s2).operating, OperatingState::STANDBY);
        // Init
        assert_eq!(Master::create("mid_sdp/elt/master", &s2).operating, OperatingState::INIT);
        assert_eq!(db.load_state(MASTER_KEY).unwrap().unwrap()["operating_state"], "INIT");
    }
}

#[cfg(test)]
mod health_from_the_db {
    use super::*;
    use crate::fsm::HealthState;
    use sdp_config::{ComponentInfo, Liveness};
    use std::time::{Duration, Instant};

    /// Wait (at most 10 s) until the master's health satisfies `ok`; the last value if not.
    fn wait_health(s: &MasterServices, ok: impl Fn(&Health) -> bool) -> Health {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let h = s.health();
            if ok(&h) || Instant::now() > deadline {
                return h;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn follows_the_components_in_the_db() {
        let s = MasterServices::new(DbSetting::Use(sdp_config::BackendChoice::Memory));
        // the components must be on the master's own store (a memory store is per handle)
        let db = s.db.clone().expect("a DB was given");
        let h = wait_health(&s, |h| h.state != HealthState::UNKNOWN);
        assert_eq!(h.state, HealthState::DEGRADED);
        assert_eq!(h.info, "processing controller missing (it has never announced itself); no deployer alive (none has announced itself)");

        let start = |name: &str, kind: &str| {
            let (db2, info) = (db.clone(), ComponentInfo::new(name, kind));
            db.block(async move { Liveness::start(&db2.client().await.unwrap(), info).await.unwrap() })
        };
        let controller = start("processing-controller", "controller");
        let h = wait_health(&s, |h| h.info.starts_with("no deployer"));
        assert_eq!((h.state, h.info.as_str()), (HealthState::DEGRADED, "no deployer alive (none has announced itself)"));
        let _deployer = start("deployer-process", "deployer");
        let h = wait_health(&s, |h| h.state == HealthState::OK);
        assert_eq!((h.state, h.info.as_str()), (HealthState::OK, "OK: processing controller and deployer-process alive"));

        // a clean stop is seen at once (the lease is revoked), with its time
        db.block(controller.stop()).unwrap();
        let h = wait_health(&s, |h| h.state != HealthState::OK);
        assert_eq!(h.state, HealthState::DEGRADED);
        assert!(h.info.starts_with("processing controller stopped at ") && h.info.ends_with(" UTC"), "{}", h.info);
    }

    #[test]
    fn without_a_db_the_master_cannot_tell() {
        let m = Master::new("mid_sdp/elt/master");
        let h = m.services.health();
        assert_eq!(h.state, HealthState::UNKNOWN);
        assert_eq!(h.info, "no configuration DB (none given): the processing controller and deployers cannot be seen");
    }
}
