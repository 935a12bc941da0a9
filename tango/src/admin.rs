//! The admin device `dserver/<exec>/<instance>` every Tango server hosts, written with the
//! same device API as any other device.

use std::sync::Arc;

use crate::device::{Cmd, Device, DeviceClass};
use crate::idl::{DevFailed, DevState};
use crate::object::DeviceObject;

/// What the admin device can do to the server it belongs to.
pub trait ServerControl: Send + Sync {
    /// Stop the server (Kill).
    fn shutdown(&self);
}

/// The admin device (class `DServer`).
pub struct DServer {
    pub(crate) devices: Vec<Arc<dyn DeviceObject>>,
    pub(crate) control: Arc<dyn ServerControl>,
}

impl DServer {
    fn class_names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for d in &self.devices {
            if !v.iter().any(|c| c == d.class_name()) {
                v.push(d.class_name().to_string());
            }
        }
        v
    }

    fn find(&self, name: &str) -> Result<&Arc<dyn DeviceObject>, DevFailed> {
        self.devices
            .iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| DevFailed::new("API_DeviceNotFound", format!("Device {name} not found"), "DServer::find_device"))
    }

    fn init_all(&self) -> Result<(), DevFailed> {
        for d in &self.devices {
            d.init()?;
        }
        Ok(())
    }
}

impl Device for DServer {
    fn class() -> DeviceClass<Self> {
        let void = "No input parameter (DevVoid)";
        DeviceClass::new("DServer")
            .description("A device server admin device")
            .command(Cmd::new("QueryClass").doc_in(void).doc_out("Device server class(es) list").run(|d: &mut DServer, ()| Ok(d.class_names())))
            .command(Cmd::new("QueryDevice").doc_in(void).doc_out("Device server device(s) list").run(|d: &mut DServer, ()| {
                Ok(d.devices.iter().map(|o| format!("{}::{}", o.class_name(), o.name())).collect::<Vec<String>>())
            }))
            .command(Cmd::new("QuerySubDevice").doc_in(void).doc_out("Device server sub device(s) list").run(|_: &mut DServer, ()| Ok(Vec::<String>::new())))
            .command(Cmd::new("Init").doc_in(void).doc_out("No output parameter (DevVoid)").run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("RestartServer").doc_in(void).run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("DevRestart").doc_in("Device name").run(|d: &mut DServer, name: String| d.find(&name)?.init()))
            .command(Cmd::new("Kill").doc_in(void).run(|d: &mut DServer, ()| {
                d.control.shutdown();
                Ok(())
            }))
            .command(Cmd::new("PolledDevice").doc_in(void).doc_out("Polled device name list").run(|_: &mut DServer, ()| Ok(Vec::<String>::new())))
            .command(Cmd::new("DevPollStatus").doc_in("Device name").doc_out("Device polling status").run(|d: &mut DServer, name: String| {
                d.find(&name)?;
                Ok(Vec::<String>::new())
            }))
            .command(Cmd::new("EventSubscriptionChange").doc_in("Event consumer wants to subscribe to").doc_out("Tango lib release").run(
                |_: &mut DServer, _: Vec<String>| -> Result<i32, DevFailed> {
                    Err(DevFailed::new(
                        "API_NotSupported",
                        "The notifd event system is not supported by this server: subscribe through ZMQ (ZmqEventSubscriptionChange)",
                        "DServer::event_subscription_change",
                    ))
                },
            ))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }

    fn status(&self) -> String {
        "The device is ON\nThe polling is ON".into()
    }
}

/// The admin device `admin_name` (`dserver/<exec>/<instance>`) over `devices`, as a device
/// object. Lets sans-IO users (golden tests, fuzz harness) build the whole object table of a
/// server without sockets.
pub fn admin_device(admin_name: &str, devices: Vec<Arc<dyn DeviceObject>>, control: Arc<dyn ServerControl>) -> Arc<dyn DeviceObject> {
    Arc::new(crate::object::DeviceCell::new(
        admin_name,
        Arc::new(DServer::class()),
        Arc::new(move |_: &str| DServer { devices: devices.clone(), control: control.clone() }),
    ))
}
