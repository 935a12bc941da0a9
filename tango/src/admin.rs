//! The admin device `dserver/<exec>/<instance>` every Tango server hosts, written with the
//! same device API as any other device.

use std::sync::Arc;

use crate::device::{Cmd, Device, DeviceClass};
use crate::events::{EventHub, EventKind};
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
    pub(crate) events: Option<Arc<EventHub>>,
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

    fn hub(&self) -> Result<&Arc<EventHub>, DevFailed> {
        self.events.as_ref().ok_or_else(|| {
            DevFailed::new(
                "API_EventSupplierNotConstructed",
                "The event system of this server is not running",
                "DServer::zmq_event_subscription_change",
            )
        })
    }

    /// `[device, attribute, "subscribe", event type, client IDL]` or `["info"]`.
    fn zmq_subscription_change(&self, argin: Vec<String>) -> Result<(Vec<i32>, Vec<String>), DevFailed> {
        let hub = self.hub()?;
        if argin.len() == 1 && argin[0].eq_ignore_ascii_case("info") {
            return Ok(hub.info());
        }
        let origin = "DServer::zmq_event_subscription_change";
        if argin.len() < 4 {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("ZmqEventSubscriptionChange takes [device, attribute, \"subscribe\", event type, client IDL] or [\"info\"], got {} strings", argin.len()),
                origin,
            ));
        }
        if !argin[2].eq_ignore_ascii_case("subscribe") {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("Unknown action {:?}: the only action is \"subscribe\"", argin[2]),
                origin,
            ));
        }
        let kind_name = argin[3].strip_prefix("idl5_").unwrap_or(&argin[3]);
        let kind = EventKind::parse(kind_name).ok_or_else(|| {
            DevFailed::new(
                "API_NotSupported",
                format!("Event type {kind_name:?} is not supported: this server sends change, periodic, archive, user_event and attr_conf events"),
                origin,
            )
        })?;
        let client_idl = argin.get(4).and_then(|v| v.trim().parse::<i32>().ok()).unwrap_or(4);
        let dev = self.find(&argin[0])?;
        let topic = dev.subscribe(&argin[1], kind, client_idl)?;
        let ep = hub.endpoints();
        Ok((hub.reply_numbers(), vec![ep.heartbeat.clone(), ep.event.clone(), topic, hub.naming().channel()]))
    }

    /// Triples `[device, attribute, event name]*` renewing subscriptions.
    fn confirm_subscriptions(&self, argin: Vec<String>) -> Result<(), DevFailed> {
        let hub = self.hub()?;
        if argin.is_empty() || !argin.len().is_multiple_of(3) {
            return Err(DevFailed::new(
                "API_WrongNumberOfArgs",
                format!("EventConfirmSubscription takes [device, attribute, event]* triples, got {} strings", argin.len()),
                "DServer::event_confirm_subscription",
            ));
        }
        for t in argin.chunks(3) {
            let name = t[2].strip_prefix("idl5_").unwrap_or(&t[2]);
            if let (Some(kind), Ok(dev)) = (EventKind::parse(name), self.find(&t[0])) {
                hub.confirm(dev.name(), &t[1], kind);
            }
        }
        Ok(())
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
        // cppTango's admin commands describe their DevVoid sides as "Uninitialised".
        let void = "Uninitialised";
        DeviceClass::new("DServer")
            .description("A device server admin device")
            .command(Cmd::new("QueryClass").doc_in(void).doc_out("Device server class(es) list").run(|d: &mut DServer, ()| Ok(d.class_names())))
            .command(Cmd::new("QueryDevice").doc_in(void).doc_out("Device server device(s) list").run(|d: &mut DServer, ()| {
                Ok(d.devices.iter().map(|o| format!("{}::{}", o.class_name(), o.name())).collect::<Vec<String>>())
            }))
            .command(Cmd::new("QuerySubDevice").doc_in(void).doc_out("Device server sub device(s) list").run(|_: &mut DServer, ()| Ok(Vec::<String>::new())))
            .command(Cmd::new("Init").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("RestartServer").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| d.init_all()))
            .command(Cmd::new("DevRestart").doc_in("Device name").doc_out(void).run(|d: &mut DServer, name: String| d.find(&name)?.init()))
            .command(Cmd::new("Kill").doc_in(void).doc_out(void).run(|d: &mut DServer, ()| {
                d.control.shutdown();
                Ok(())
            }))
            .command(Cmd::new("PolledDevice").doc_in(void).doc_out("Polled device name list").run(|_: &mut DServer, ()| Ok(Vec::<String>::new())))
            .command(Cmd::new("DevPollStatus").doc_in("Device name").doc_out("Device polling status").run(|d: &mut DServer, name: String| {
                d.find(&name)?;
                Ok(Vec::<String>::new())
            }))
            .command(
                Cmd::new("ZmqEventSubscriptionChange")
                    .doc_in("[device, attribute, \"subscribe\", event type (change, periodic, archive, user_event, attr_conf), client IDL] or [\"info\"]")
                    .doc_out("Str: heartbeat endpoint, event endpoint, event topic, channel name; Lg: Tango release, IDL, HWM, 0, 0, ZMQ release")
                    .run(|d: &mut DServer, argin: Vec<String>| d.zmq_subscription_change(argin)),
            )
            .command(
                Cmd::new("EventConfirmSubscription")
                    .doc_in("Str[0] = dev1 name, Str[1] = att1 name, Str[2] = event name, Str[3] = dev2 name, ...")
                    .doc_out(void)
                    .run(|d: &mut DServer, argin: Vec<String>| d.confirm_subscriptions(argin)),
            )
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
/// `events` is the server's event system, if it runs one.
pub fn admin_device(
    admin_name: &str,
    devices: Vec<Arc<dyn DeviceObject>>,
    control: Arc<dyn ServerControl>,
    events: Option<Arc<EventHub>>,
) -> Arc<dyn DeviceObject> {
    Arc::new(crate::object::DeviceCell::new(
        admin_name,
        Arc::new(DServer::class()),
        Arc::new(move |_: &str| DServer { devices: devices.clone(), control: control.clone(), events: events.clone() }),
    ))
}
