//! `SDPMaster`: the master device of the 2019 interface (0.2.6). Tango State is always ON;
//! `OperatingState` follows the `on`/`off`/`standby`/`disable` commands (callable in any
//! letter case, as Tango command names are).

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use tango::{tango_enum, Attr, Cmd, DevFailed, DevState, Device, DeviceClass, TangoEnum};

use crate::cfgdb::{ConfigDb, DbSetting, Follow, MASTER_KEY};
use crate::fsm::HealthState;

pub const SERVER_VERSION: &str = "0.2.6";
pub const CLASS: &str = "SDPMaster";

tango_enum! {
    /// The master's operating state (0.2.6 labels and numbers).
    pub enum OperatingState { INIT = 0, ON = 1, DISABLE = 2, STANDBY = 3, ALARM = 4, FAULT = 5, OFF = 6, UNKNOWN = 7 }
}

/// The configuration DB of the master server, if any: its state is kept in `/master` and
/// restored when the server restarts (`Init` returns to INIT).
#[derive(Debug, Default)]
pub struct MasterServices {
    pub db: Option<Arc<ConfigDb>>,
    created: std::sync::Mutex<bool>,
}

impl MasterServices {
    /// From `SDP_CONFIG_*` (see [`DbSetting::from_env`]); without them the master runs without
    /// persistence.
    pub fn from_env() -> Arc<MasterServices> {
        let db = match DbSetting::from_env() {
            DbSetting::Use(c) => Some(ConfigDb::new(c)),
            DbSetting::Off(why) => {
                eprintln!("{CLASS}: no configuration DB ({why}): OperatingState is not persisted");
                None
            }
        };
        Arc::new(MasterServices { db, created: Default::default() })
    }
}

#[derive(Debug)]
pub struct Master {
    pub operating: OperatingState,
    pub health: HealthState,
    services: Arc<MasterServices>,
    /// `/master` could not be read at start-up: it is read in the background and shown once
    /// read (a command replaces it: the newest order wins, and is stored).
    late: Option<(Arc<OnceLock<Option<OperatingState>>>, Follow)>,
}

impl Master {
    /// A master without configuration DB.
    pub fn new(name: &str) -> Master {
        Self::create(name, &Arc::new(MasterServices::default()))
    }

    /// The first creation in the process restores `/master`; later ones (`Init`) start at INIT.
    pub fn create(name: &str, services: &Arc<MasterServices>) -> Master {
        tracing::info!("Initialising SDP Master: {name}");
        let first = !std::mem::replace(&mut *services.created.lock().unwrap_or_else(|p| p.into_inner()), true);
        let mut m = Master { operating: OperatingState::INIT, health: HealthState::OK, services: services.clone(), late: None };
        if let Some(db) = &services.db {
            if first {
                match db.load_state(MASTER_KEY) {
                    Ok(Some(v)) => {
                        if let Some(s) = operating_of(&v) {
                            m.operating = s;
                            eprintln!("{CLASS} {name}: restored OperatingState {s} from /master");
                        }
                    }
                    Ok(None) => m.persist(),
                    Err(e) => {
                        eprintln!("{CLASS} {name}: cannot read /master ({e}): INIT until it can be read");
                        let slot = Arc::new(OnceLock::new());
                        let set = slot.clone();
                        let guard = db.load_state_later(MASTER_KEY, move |v| async move {
                            let _ = set.set(v.as_ref().and_then(operating_of));
                        });
                        m.late = Some((slot, guard));
                    }
                }
            } else {
                m.persist();
            }
        }
        m
    }

    /// What clients see: the stored state once read late, else the current one.
    pub fn operating(&self) -> OperatingState {
        match self.late.as_ref().and_then(|(slot, _)| slot.get()) {
            Some(Some(stored)) => *stored,
            _ => self.operating,
        }
    }

    fn persist(&self) {
        if let Some(db) = &self.services.db {
            db.persist(MASTER_KEY, json!({"operating_state": self.operating.label(), "health_state": self.health.label()}));
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
            .attribute(Attr::new("healthState").read(|d: &Master| d.health).polled(1000).abs_change(1))
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
        let s1 = Arc::new(MasterServices { db: Some(db.clone()), created: Default::default() });
        let mut m = Master::create("mid_sdp/elt/master", &s1);
        m.go(OperatingState::STANDBY).unwrap();
        // a new process on the same DB
        let s2 = Arc::new(MasterServices { db: Some(db.clone()), created: Default::default() });
        assert_eq!(Master::create("mid_sdp/elt/master", &s2).operating, OperatingState::STANDBY);
        // Init
        assert_eq!(Master::create("mid_sdp/elt/master", &s2).operating, OperatingState::INIT);
        assert_eq!(db.load_state(MASTER_KEY).unwrap().unwrap()["operating_state"], "INIT");
    }
}
