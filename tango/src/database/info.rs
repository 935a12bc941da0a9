//! `DbInfo`, `DbGetCSDbServerList` and the database's own registration at start-up.

use std::collections::BTreeMap;

use super::devices::add_device_to;
use super::store::*;

impl Store {
    // ---- misc ----------------------------------------------------------------------------

    /// `DbInfo`.
    pub fn info(&self) -> Vec<String> {
        let s = &self.state;
        let dserver = |d: &&DeviceRec| d.class == "DServer";
        let count = |m: &BTreeMap<String, PropMap>| m.values().map(|p| p.len()).sum::<usize>();
        let count_attr =
            |m: &BTreeMap<String, BTreeMap<String, AttrProps>>| m.values().flat_map(|a| a.values()).map(|a| a.props.len()).sum::<usize>();
        vec![
            format!("TANGO Database {}", self.self_name),
            " ".into(),
            format!("Running since ...{}", self.started),
            " ".into(),
            format!("Devices defined = {}", s.devices.len()),
            format!("Devices exported = {}", s.devices.values().filter(|d| d.exported).count()),
            format!("Device servers defined = {}", s.devices.values().filter(dserver).count()),
            format!("Device servers exported = {}", s.devices.values().filter(dserver).filter(|d| d.exported).count()),
            " ".into(),
            format!("Device properties defined = {} [History lgth = 0]", count(&s.device_props)),
            format!("Class properties defined = {} [History lgth = 0]", count(&s.class_props)),
            format!("Device attribute properties defined = {} [History lgth = 0]", count_attr(&s.device_attr_props)),
            format!("Class attribute properties defined = {} [History lgth = 0]", count_attr(&s.class_attr_props)),
            format!("Object properties defined = {} [History lgth = 0]", count(&s.free_props)),
        ]
    }
}
impl Store {
    /// `DbGetCSDbServerList`: this database's `host:port`.
    pub fn cs_db_server_list(&self) -> Vec<String> {
        vec![self.self_address.clone()]
    }

    /// Register and export the database device itself (at start-up).
    pub fn register_self(&mut self, server: &str, device: &str, admin: &str, ior_dev: &str, ior_admin: &str, host: &str) -> R<()> {
        let pid = std::process::id() as i32;
        let now = now_string();
        self.mutate(|s| {
            add_device_to(s, server, device, "DataBase", None);
            for (name, ior) in [(device, ior_dev), (admin, ior_admin)] {
                let d = s.devices.get_mut(&lc(name)).expect("added above");
                d.exported = true;
                d.ior = ior.to_string();
                d.host = host.to_string();
                d.pid = pid;
                d.version = crate::dispatch::IDL_VERSION.to_string();
                d.started = Some(now.clone());
            }
            Ok(())
        })
    }
}
