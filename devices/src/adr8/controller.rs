//! `SDPController` of the ADR-8 profile (`mid-sdp/control/0`): the SDP as one device for
//! TMC's SDP master leaf node.
//!
//! Commands On, Standby, Off set the Tango State (each refused when the device is already
//! there). State and adminMode are kept in `/lmc/controller` and restored when the server
//! restarts ([`crate::restore`]: if the DB does not answer at start, the device shows STANDBY
//! until the record is read, and a command given before then wins). healthState, healthInfo and `components` come from what the server's monitor sees
//! of the configuration DB: the processing controller's and the deployers' liveness entries
//! ([`crate::health::master`] decides; the same rules as SDPMaster's). When that verdict
//! changes, a watch pushes healthState and healthInfo through the device's [`DeviceHandle`]
//! at once; polling stays, for clients that ask for periodic events and as a backstop.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tango::device::Outbox;
use tango::handle::DeviceHandle;
use tango::{Attr, Cmd, DevFailed, DevState, Device, DeviceClass, TangoEnum};

use super::Services;
use crate::cfgdb::{Follow, CONTROLLER_KEY};
use crate::fsm::adr8::AdminMode;
use crate::health::{DbSeen, Health};
use crate::restore::{self, Late, Start};

pub const CLASS: &str = "SDPController";

pub struct Controller {
    name: String,
    state: DevState,
    admin: AdminMode,
    /// `/lmc/controller` could not be read at start: read in the background and shown once
    /// read, until a command or an adminMode write replaces it.
    late: Option<Late<(DevState, AdminMode)>>,
    services: Arc<Services>,
    outbox: Outbox,
    /// Pushes the health when what the server sees of the configuration DB changes it.
    _health_watch: Option<Follow>,
}

/// A stored record: State and adminMode (what cannot be read keeps its default).
fn stored(v: &Value) -> Option<(DevState, AdminMode)> {
    let state = match v.get("state").and_then(Value::as_str)? {
        "ON" => DevState::ON,
        "OFF" => DevState::OFF,
        "STANDBY" => DevState::STANDBY,
        _ => return None,
    };
    let admin = v.get("admin_mode").and_then(Value::as_str).and_then(AdminMode::parse).unwrap_or(AdminMode::ONLINE);
    Some((state, admin))
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("state", &self.state).finish()
    }
}

impl Controller {
    /// The factory of [`tango::Server::class_with_handle`].
    pub fn create(name: &str, services: &Arc<Services>, handle: DeviceHandle<Controller>) -> Controller {
        tracing::info!("Initialising SDP Controller (ADR-8 interface): {name}");
        let first = services.created.first(name);
        let mut c = Controller {
            name: name.to_string(),
            state: DevState::STANDBY,
            admin: AdminMode::ONLINE,
            late: None,
            services: services.clone(),
            outbox: Outbox::default(),
            _health_watch: services.follow_health(name, crate::health::master, handle, Controller::push_health),
        };
        match restore::begin(services.db().as_ref(), CONTROLLER_KEY, first, stored, |_| async {}) {
            Start::NoDb => {}
            Start::Init | Start::Stored(None) => c.persist(),
            Start::Stored(Some(v)) => match stored(&v) {
                Some((state, admin)) => {
                    eprintln!("{CLASS} {name}: restored from /lmc/controller: State {state}, adminMode {}", admin.label());
                    (c.state, c.admin) = (state, admin);
                }
                None => eprintln!("{CLASS} {name}: /lmc/controller holds no State this device knows ({v}); starting STANDBY"),
            },
            Start::Later(late, e) => {
                eprintln!("{CLASS} {name}: cannot read /lmc/controller ({e}): STANDBY until it can be read");
                c.late = Some(late);
            }
        }
        c
    }

    /// What clients see: the stored record once read late, else the current values.
    fn current(&self) -> (DevState, AdminMode) {
        match self.late.as_ref().and_then(|late| late.stored()) {
            Some(Some(stored)) => *stored,
            _ => (self.state, self.admin),
        }
    }

    /// A command or write takes over from a record read late (the newest order wins).
    fn settle(&mut self) {
        (self.state, self.admin) = self.current();
        self.late = None;
    }

    fn persist(&self) {
        if let Some(db) = self.services.db() {
            db.persist(
                CONTROLLER_KEY,
                json!({"device": self.name, "state": self.state.to_string(), "admin_mode": self.admin.label()}),
            );
        }
    }

    fn set_admin(&mut self, v: AdminMode) -> &mut Outbox {
        self.settle();
        self.admin = v;
        self.persist();
        &mut self.outbox
    }

    fn push_health(&mut self, now: Health) {
        self.outbox.push_change("healthState", now.state);
        self.outbox.push_archive("healthState", now.state);
        self.outbox.push_change("healthInfo", now.info);
    }

    fn go(&mut self, to: DevState, cmd: &str) -> Result<(), DevFailed> {
        self.settle();
        if self.state == to {
            return Err(DevFailed::new(
                "API_CommandNotAllowed",
                format!("Command {cmd} not allowed when State is {to}: the device is there already"),
                format!("{CLASS}.is_{cmd}_allowed"),
            ));
        }
        tracing::info!("{CLASS}: {cmd}: State {} -> {to}", self.state);
        self.state = to;
        self.persist();
        self.outbox.push_change("State", to);
        Ok(())
    }

    /// The components as JSON: name → kind, alive, last seen, stopped (Unix seconds).
    pub fn components(&self) -> String {
        components_json(&self.services.seen())
    }
}

/// `components` from one observation (`{}` when the components cannot be seen).
pub fn components_json(seen: &DbSeen) -> String {
    let mut m = Map::new();
    if let DbSeen::Reachable(Some(cs)) = seen {
        for c in cs {
            m.insert(c.name.clone(), json!({"kind": c.kind, "alive": c.alive, "last_seen": c.last_seen, "stopped": c.stopped}));
        }
    }
    sdp_config::json::dumps(&Value::Object(m))
}

/// `sdpVersion`: the version of this SDP and its interface profile.
pub fn sdp_version() -> String {
    json!({"version": env!("CARGO_PKG_VERSION"), "interface": "adr8", "component": "ska-sdp (Rust)"}).to_string()
}

impl Device for Controller {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new(CLASS)
            .description("SKA SDP controller, ADR-8 interface: On/Standby/Off, health from the components' liveness")
            .attribute(Attr::new("versionId").read(|_: &Controller| env!("CARGO_PKG_VERSION").to_string()))
            .attribute(Attr::new("sdpVersion").read(|_: &Controller| sdp_version()).description("JSON: version and interface profile"))
            .attribute(super::admin_mode_attribute(|d: &Controller| d.current().1, Controller::set_admin))
            .attribute(
                Attr::new("healthState")
                    .read(|d: &Controller| d.services.components().state)
                    .description("OK: the processing controller and a deployer are alive; DEGRADED: one is missing; FAILED: the configuration DB does not answer")
                    .polled(1000)
                    .abs_change(1)
                    .archive_abs_change(1),
            )
            .attribute(Attr::new("healthInfo").read(|d: &Controller| d.services.components().info).polled(1000))
            .attribute(
                Attr::new("components")
                    .read(|d: &Controller| d.components())
                    .description("JSON: each component (processing controller, deployers, device servers) with its liveness")
                    .polled(1000),
            )
            .command(Cmd::new("On").run(|d: &mut Controller, ()| d.go(DevState::ON, "On")))
            .command(Cmd::new("Standby").run(|d: &mut Controller, ()| d.go(DevState::STANDBY, "Standby")))
            .command(Cmd::new("Off").run(|d: &mut Controller, ()| d.go(DevState::OFF, "Off")))
    }

    fn state(&self) -> DevState {
        self.current().0
    }

    fn outbox(&mut self) -> Option<&mut Outbox> {
        Some(&mut self.outbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cfgdb::DbSetting;
    use crate::fsm::HealthState;

    #[test]
    fn on_standby_off_each_refused_when_there() {
        let s = Services::new(DbSetting::Off("test".into()));
        let mut c = Controller::create("mid-sdp/control/0", &s, tango::handle::DeviceHandle::detached());
        assert_eq!(c.state(), DevState::STANDBY);
        assert_eq!(c.go(DevState::STANDBY, "Standby").unwrap_err().errors[0].reason, "API_CommandNotAllowed");
        c.go(DevState::ON, "On").unwrap();
        c.go(DevState::OFF, "Off").unwrap();
        assert_eq!(c.state(), DevState::OFF);
        assert_eq!(c.components(), "{}");
        assert_eq!(s.components().state, HealthState::UNKNOWN);
    }
}
