//! What the runtime keeps beside every device, whatever its class: its lock, its polling
//! table and buffers, its logger, and the database it persists configuration to. The admin
//! device and the operation layer reach them through [`DeviceObject::services`]
//! (crate::object::DeviceObject::services); device code never sees them.

use std::sync::{Arc, OnceLock};

use crate::dbclient::Database;
use crate::locking::DeviceLock;
use crate::logging::DeviceLogger;
use crate::polling::DevicePolling;

pub struct DeviceServices {
    pub lock: DeviceLock,
    pub polling: DevicePolling,
    pub logger: Arc<DeviceLogger>,
    /// The Tango database (database mode only): polling and attribute configuration are
    /// written back to it.
    pub db: OnceLock<Arc<Database>>,
}

impl DeviceServices {
    pub fn new(device: &str) -> DeviceServices {
        DeviceServices {
            lock: DeviceLock::default(),
            polling: DevicePolling::default(),
            logger: Arc::new(DeviceLogger::new(device)),
            db: OnceLock::new(),
        }
    }

    pub fn db(&self) -> Option<&Arc<Database>> {
        self.db.get()
    }

    /// Connect the services to the server's database (if it has one): configuration is
    /// written back to it, and `device::` log targets are looked up in it.
    pub fn connect(&self, db: Option<Arc<Database>>) {
        if let Some(d) = &db {
            let _ = self.db.set(d.clone());
        }
        self.logger.set_consumer_sender(crate::logging_sink::consumer_sender(db));
    }
}

/// A device class a server hosts, as the admin device's `QueryClass` and wizard commands
/// describe it: known from the server's registration, whether or not it has devices yet
/// (Jive's server wizard asks a server that has none).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassInfo {
    pub name: String,
    pub device_properties: Vec<PropertyDecl>,
    pub class_properties: Vec<PropertyDecl>,
}

/// A property a class declares, as the wizard commands list it.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyDecl {
    pub name: String,
    pub description: String,
    /// Default values (empty: none).
    pub default: Vec<String>,
}

impl PropertyDecl {
    pub fn new(name: &str, description: &str, default: &[&str]) -> PropertyDecl {
        PropertyDecl { name: name.into(), description: description.into(), default: default.iter().map(|s| s.to_string()).collect() }
    }
}
