//! `DbInfo`, `DbGetCSDbServerList`, `ResetTimingValues` and the database's own registration
//! at start-up.

use super::devices::add_device_to;
use super::prop_table::{PropTable, CLASS, CLASS_ATTR, DEVICE, DEVICE_ATTR, OBJECT};
use super::store::*;

impl Store {
    fn count(&self, sql: &str) -> R<i64> {
        self.conn.query_row(sql, [], |r| r.get(0)).map_err(sql_err)
    }

    /// `DbInfo`.
    pub fn info(&self) -> R<Vec<String>> {
        let props = |what: &str, t: &PropTable| -> R<String> {
            let (n, hist) = t.counts(&self.conn)?;
            Ok(format!("{what} properties defined = {n} [History lgth = {hist}]"))
        };
        Ok(vec![
            format!("TANGO Database {}", self.self_name),
            " ".into(),
            format!("Running since ...{}", self.started),
            " ".into(),
            format!("Devices defined = {}", self.count("SELECT COUNT(*) FROM device")?),
            format!("Devices exported = {}", self.count("SELECT COUNT(*) FROM device WHERE exported = 1")?),
            format!("Device servers defined = {}", self.count("SELECT COUNT(*) FROM device WHERE class = 'DServer'")?),
            format!("Device servers exported = {}", self.count("SELECT COUNT(*) FROM device WHERE class = 'DServer' AND exported = 1")?),
            " ".into(),
            props("Device", &DEVICE)?,
            props("Class", &CLASS)?,
            props("Device attribute", &DEVICE_ATTR)?,
            props("Class attribute", &CLASS_ATTR)?,
            props("Object", &OBJECT)?,
        ])
    }

    /// `DbGetCSDbServerList`: this database's `host:port`.
    pub fn cs_db_server_list(&self) -> Vec<String> {
        vec![self.self_address.clone()]
    }

    /// Register and export the database device itself (at start-up).
    pub fn register_self(&mut self, server: &str, device: &str, admin: &str, ior_dev: &str, ior_admin: &str, host: &str) -> R<()> {
        let pid = std::process::id() as i32;
        let now = now_sql();
        let version = crate::dispatch::IDL_VERSION.to_string();
        self.tx(|tx| {
            add_device_to(tx, server, device, "DataBase", None)?;
            for (name, ior) in [(device, ior_dev), (admin, ior_admin)] {
                exec(
                    tx,
                    "UPDATE device SET exported = 1, ior = ?2, host = ?3, pid = ?4, version = ?5, started = ?6 WHERE name = ?1",
                    &[&name, &ior, &host, &pid, &version, &now],
                )?;
            }
            Ok(())
        })
    }
}
