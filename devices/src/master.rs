//! `SDPMaster`: the master device of the 2019 interface (0.2.6). Tango State is always ON;
//! `OperatingState` follows the `on`/`off`/`standby`/`disable` commands (callable in any
//! letter case, as Tango command names are).

use tango::{tango_enum, Attr, Cmd, DevFailed, DevState, Device, DeviceClass};

use crate::fsm::HealthState;

pub const SERVER_VERSION: &str = "0.2.6";
pub const CLASS: &str = "SDPMaster";

tango_enum! {
    /// The master's operating state (0.2.6 labels and numbers).
    pub enum OperatingState { INIT = 0, ON = 1, DISABLE = 2, STANDBY = 3, ALARM = 4, FAULT = 5, OFF = 6, UNKNOWN = 7 }
}

#[derive(Debug)]
pub struct Master {
    pub operating: OperatingState,
    pub health: HealthState,
}

impl Master {
    pub fn new(name: &str) -> Master {
        tracing::info!("Initialising SDP Master: {name}");
        Master { operating: OperatingState::INIT, health: HealthState::OK }
    }

    fn go(&mut self, to: OperatingState) -> Result<(), DevFailed> {
        tracing::info!("OperatingState {} -> {to}", self.operating);
        self.operating = to;
        Ok(())
    }
}

impl Device for Master {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new(CLASS)
            .description("SKA SDP master (interface 0.2.6)")
            .attribute(Attr::new("serverVersion").read(|_: &Master| SERVER_VERSION.to_string()))
            .attribute(Attr::new("OperatingState").read(|d: &Master| d.operating).polled(1000).abs_change(1))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tango::TangoEnum;

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
