//! Devices and servers in the `device` table: `DbAddDevice`, `DbAddServer`, `DbDelete*`,
//! `DbExport*`/`DbUnExport*`, `DbImportDevice`, `DbGetDeviceInfo`, `DbRenameServer` and the
//! name, server, class and host listings.

use rusqlite::{Connection, OptionalExtension};

use super::args::*;
use super::prop_table::{DEVICE, DEVICE_ATTR, DEVICE_PIPE};
use super::store::*;

/// The columns of one device row that the commands show.
struct DeviceRow {
    name: String,
    exported: i32,
    ior: String,
    version: String,
    server: String,
    host: String,
    pid: i32,
    class: String,
    started: Option<String>,
    stopped: Option<String>,
}

const DEVICE_COLUMNS: &str = "name, exported, ior, version, server, host, pid, class, started, stopped";

fn read_device(conn: &Connection, name_or_alias: &str) -> R<Option<DeviceRow>> {
    let row = |r: &rusqlite::Row| -> rusqlite::Result<DeviceRow> {
        Ok(DeviceRow {
            name: r.get(0)?,
            exported: r.get::<_, Option<i32>>(1)?.unwrap_or(0),
            ior: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            version: r.get(3)?,
            server: r.get(4)?,
            host: r.get(5)?,
            pid: r.get::<_, Option<i32>>(6)?.unwrap_or(0),
            class: r.get(7)?,
            started: r.get(8)?,
            stopped: r.get(9)?,
        })
    };
    let by_name = format!("SELECT {DEVICE_COLUMNS} FROM device WHERE name = ?1");
    let found = conn.prepare_cached(&by_name).and_then(|mut st| st.query_row([name_or_alias], row).optional()).map_err(sql_err)?;
    if found.is_some() {
        return Ok(found);
    }
    let by_alias = format!("SELECT {DEVICE_COLUMNS} FROM device WHERE alias = ?1");
    conn.prepare_cached(&by_alias).and_then(|mut st| st.query_row([name_or_alias], row).optional()).map_err(sql_err)
}

/// Insert (or replace) a device, and the server's admin device if it has none yet.
pub(crate) fn add_device_to(conn: &Connection, server: &str, dev: &str, class: &str, alias: Option<&str>) -> R<()> {
    exec(conn, "DELETE FROM device WHERE name = ?1", &[&dev])?;
    let insert = "INSERT INTO device (name, alias, domain, family, member, exported, ior, host, server, pid, class, version) \
                  VALUES (?1, ?2, ?3, ?4, ?5, 0, 'nada', 'nada', ?6, 0, ?7, '0')";
    let parts: Vec<&str> = dev.splitn(3, '/').collect();
    let (d, f, m) = (parts.first().copied().unwrap_or(""), parts.get(1).copied().unwrap_or(""), parts.get(2).copied().unwrap_or(""));
    exec(conn, insert, &[&dev, &alias, &d, &f, &m, &server, &class])?;
    if !exists(conn, "SELECT 1 FROM device WHERE server = ?1 AND class = 'DServer'", &[&server])? {
        let admin = format!("dserver/{server}");
        let (exec_name, inst) = server.split_once('/').unwrap_or((server, ""));
        exec(conn, insert, &[&admin, &None::<String>, &"dserver", &exec_name, &inst, &server, &"DServer"])?;
    }
    Ok(())
}

/// A device row and everything that hangs off its name.
pub(crate) fn delete_device_from(conn: &Connection, name: &str) -> R<()> {
    exec(conn, "DELETE FROM device WHERE name = ?1", &[&name])?;
    for t in [&DEVICE, &DEVICE_ATTR, &DEVICE_PIPE] {
        t.forget_owner(conn, name)?;
    }
    Ok(())
}

impl Store {
    /// `DbAddDevice [server, device, class(, alias)]`.
    pub fn add_device(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "AddDevice()";
        need_args(argin, 3, "server, device, class", O)?;
        let (server, dev, class) = (&argin[0], &argin[1], &argin[2]);
        check_server_name(server, O)?;
        check_device_name(dev, O)?;
        check_class_name(class, O)?;
        let alias = argin.get(3).filter(|a| !a.trim().is_empty());
        self.tx(|tx| add_device_to(tx, server, dev, class, alias.map(String::as_str)))
    }

    /// `DbAddServer [server, device1, class1, device2, class2, ...]`.
    pub fn add_server(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "AddServer()";
        need_args(argin, 3, "server, device, class", O)?;
        if !(argin.len() - 1).is_multiple_of(2) {
            return Err(err(
                "DB_IncorrectArguments",
                format!("after the server name, devices and classes come in pairs; got {} element(s)", argin.len() - 1),
                O,
            ));
        }
        check_server_name(&argin[0], O)?;
        for pair in argin[1..].chunks(2) {
            check_device_name(&pair[0], O)?;
            check_class_name(&pair[1], O)?;
        }
        self.tx(|tx| {
            for pair in argin[1..].chunks(2) {
                add_device_to(tx, &argin[0], &pair[0], &pair[1], None)?;
            }
            Ok(())
        })
    }

    /// `DbDeleteDevice name`: the device and all its properties.
    pub fn delete_device(&mut self, name: &str) -> R<()> {
        check_device_name(name, "DeleteDevice()")?;
        self.tx(|tx| delete_device_from(tx, name))
    }

    /// `DbDeleteServer server`: every device of the server (admin device included).
    pub fn delete_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "DeleteServer()")?;
        self.tx(|tx| {
            for n in column(tx, "SELECT name FROM device WHERE server = ?1", &[&server])? {
                delete_device_from(tx, &n)?;
            }
            Ok(())
        })
    }

    /// `DbRenameServer [old, new]`: the server's devices (and its admin device) move to the
    /// new name; refused when the old one is unknown or the new one is taken.
    pub fn rename_server(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "RenameServer()";
        need_args(argin, 2, "old server name, new server name", O)?;
        let (old, new) = (&argin[0], &argin[1]);
        check_server_name(old, O)?;
        check_server_name(new, O)?;
        if !self.exists("SELECT 1 FROM device WHERE server = ?1", &[old])? {
            return Err(err("DB_IncorrectServerName", format!("Server {old} not defined in database !"), O));
        }
        if self.exists("SELECT 1 FROM device WHERE server = ?1", &[new])? {
            return Err(err("Db_WrongArgument", format!("Device server process name {new} is already used"), O));
        }
        let (old_admin, new_admin) = (format!("dserver/{old}"), format!("dserver/{new}"));
        self.tx(|tx| {
            exec(tx, "UPDATE device SET server = ?2 WHERE server = ?1", &[old, new])?;
            let (e, i) = new.split_once('/').unwrap_or((new, ""));
            exec(tx, "UPDATE device SET name = ?2, family = ?3, member = ?4 WHERE name = ?1", &[&old_admin, &new_admin, &e, &i])?;
            for (table, col) in [("property_device", "device"), ("property_attribute_device", "device"), ("property_pipe_device", "device")]
            {
                exec(tx, &format!("UPDATE {table} SET {col} = ?2 WHERE {col} = ?1"), &[&old_admin, &new_admin])?;
            }
            exec(tx, "UPDATE server SET name = ?2 WHERE name = ?1", &[old, new])?;
            Ok(())
        })
    }

    /// `DbExportDevice [name, ior, host, pid, version]`.
    pub fn export_device(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "ExportDevice()";
        need_args(argin, 5, "device name, IOR, host, pid, version", O)?;
        let pid: i32 =
            argin[3].trim().parse().map_err(|_| err("DB_IncorrectArguments", format!("pid {:?} is not a number", argin[3]), O))?;
        if !argin[1].starts_with("IOR:") {
            return Err(err(
                "DB_IncorrectArguments",
                format!("the IOR of {} must be a stringified IOR (\"IOR:...\"), got {:?}", argin[0], truncate(&argin[1])),
                O,
            ));
        }
        let now = now_sql();
        self.tx(|tx| {
            let n = exec(
                tx,
                "UPDATE device SET exported = 1, ior = ?2, host = ?3, pid = ?4, version = ?5, started = ?6 WHERE name = ?1",
                &[&argin[0], &argin[1], &argin[2], &pid, &argin[4], &now],
            )?;
            if n == 0 {
                return Err(not_defined("device", &argin[0], O));
            }
            Ok(())
        })
    }

    /// `DbUnExportDevice name`.
    pub fn unexport_device(&mut self, name: &str) -> R<()> {
        let now = now_sql();
        self.tx(|tx| {
            if exec(tx, "UPDATE device SET exported = 0, stopped = ?2 WHERE name = ?1", &[&name, &now])? == 0 {
                return Err(not_defined("device", name, "UnExportDevice()"));
            }
            Ok(())
        })
    }

    /// `DbUnExportServer server`.
    pub fn unexport_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "UnExportServer()")?;
        let now = now_sql();
        self.tx(|tx| exec(tx, "UPDATE device SET exported = 0, stopped = ?2 WHERE server = ?1", &[&server, &now]).map(drop))
    }

    /// `DbImportDevice name` → `([exported, pid], [name, ior, version, server, host, class])`.
    pub fn import_device(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = read_device(&self.conn, name)?.ok_or_else(|| not_defined("device", name, "ImportDevice()"))?;
        Ok((vec![d.exported, d.pid], vec![lc(&d.name), d.ior, d.version, d.server, d.host, d.class]))
    }

    /// `DbGetDeviceInfo name` → `([exported, pid], [name, ior, version, server, host, started, stopped, class])`.
    pub fn device_info(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = read_device(&self.conn, name)?.ok_or_else(|| not_defined("device", name, "GetDeviceInfo()"))?;
        let date = |o: &Option<String>| o.as_deref().map(display_date).unwrap_or_else(|| "?".into());
        Ok((vec![d.exported, d.pid], vec![lc(&d.name), d.ior, d.version, d.server, d.host, date(&d.started), date(&d.stopped), d.class]))
    }

    /// `name, ior, version, server, host, exported, pid, class` (the server-cache layout), or
    /// `name, "Not Found"`; whether it was found.
    pub(crate) fn import_for_cache(&self, name: &str, out: &mut Vec<String>) -> R<bool> {
        out.push(name.to_string());
        Ok(match read_device(&self.conn, name)? {
            None => {
                out.push("Not Found".into());
                false
            }
            Some(d) => {
                out.extend([d.ior, d.version, d.server, d.host, d.exported.to_string(), d.pid.to_string(), d.class]);
                true
            }
        })
    }

    /// `DbGetDeviceList [server, class]` (wildcards allowed).
    pub fn device_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "server, class", "GetDeviceList()")?;
        self.column(
            "SELECT name FROM device WHERE server LIKE ?1 ESCAPE '\\' AND class LIKE ?2 ESCAPE '\\' ORDER BY name",
            &[&like(&argin[0]), &like(&argin[1])],
        )
    }

    /// `DbGetDeviceWideList pattern`.
    pub fn device_wide_list(&self, pattern: &str) -> R<Vec<String>> {
        self.column("SELECT name FROM device WHERE name LIKE ?1 ESCAPE '\\' ORDER BY name", &[&like(pattern)])
    }

    /// `DbGetDeviceExportedList pattern`: exported devices whose name or alias matches.
    pub fn exported_list(&self, pattern: &str) -> R<Vec<String>> {
        self.column(
            "SELECT name FROM device WHERE (name LIKE ?1 ESCAPE '\\' OR alias LIKE ?1 ESCAPE '\\') AND exported = 1 ORDER BY name",
            &[&like(pattern)],
        )
    }

    /// `DbGetExportdDeviceListForClass class`.
    pub fn exported_list_for_class(&self, class: &str) -> R<Vec<String>> {
        self.column("SELECT name FROM device WHERE class LIKE ?1 ESCAPE '\\' AND exported = 1 ORDER BY name", &[&like(class)])
    }

    /// Domain (0), family (1) or member (2) of the devices whose name matches `pattern`.
    pub fn name_parts(&self, pattern: &str, part: usize) -> R<Vec<String>> {
        let col = ["domain", "family", "member"][part.min(2)];
        let sql = format!("SELECT DISTINCT {col} FROM device WHERE name LIKE ?1 ESCAPE '\\' ORDER BY {col}");
        Ok(distinct_sorted(self.column(&sql, &[&like(pattern)])?.into_iter()))
    }

    /// `DbGetServerList pattern`.
    pub fn server_list(&self, pattern: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT server FROM device WHERE server LIKE ?1 ESCAPE '\\' ORDER BY server", &[&like(pattern)])?;
        Ok(distinct_sorted(v.into_iter()))
    }

    /// `DbGetServerNameList pattern`: executable names.
    pub fn server_name_list(&self, pattern: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT server FROM device ORDER BY server", &[])?;
        Ok(distinct_sorted(v.into_iter().filter_map(|s| s.split('/').next().map(String::from)).filter(|e| wildcard_match(pattern, e))))
    }

    /// `DbGetInstanceNameList executable`.
    pub fn instance_name_list(&self, exec_name: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT server FROM device WHERE server LIKE ?1 ESCAPE '\\'", &[&format!("{}/%", like(exec_name))])?;
        Ok(distinct_sorted(v.into_iter().filter_map(|s| s.split_once('/').map(|(_, i)| i.to_string()))))
    }

    /// `DbGetDeviceServerClassList server`.
    pub fn server_class_list(&self, server: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT class FROM device WHERE server LIKE ?1 ESCAPE '\\' ORDER BY class", &[&like(server)])?;
        Ok(distinct_sorted(v.into_iter()))
    }

    /// `DbGetDeviceClassList server` → `[device, class, ...]`.
    pub fn device_class_list(&self, server: &str) -> R<Vec<String>> {
        let mut st = self.conn.prepare_cached("SELECT name, class FROM device WHERE server = ?1 ORDER BY name").map_err(sql_err)?;
        let rows = st.query_map([server], |r| Ok([r.get::<_, String>(0)?, r.get::<_, String>(1)?])).map_err(sql_err)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r.map_err(sql_err)?);
        }
        Ok(out)
    }

    /// `DbGetClassList pattern`: classes that have devices.
    pub fn class_list(&self, pattern: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT class FROM device WHERE class LIKE ?1 ESCAPE '\\' ORDER BY class", &[&like(pattern)])?;
        Ok(distinct_sorted(v.into_iter()))
    }

    /// `DbGetClassForDevice device`.
    pub fn class_for_device(&self, name: &str) -> R<String> {
        read_device(&self.conn, name)?.map(|d| d.class).ok_or_else(|| not_defined("device", name, "GetClassForDevice()"))
    }

    /// `DbGetClassInheritanceForDevice device`: the device's class, then the classes it
    /// inherits from as the server declared them in its class property `InheritedFrom`.
    pub fn class_inheritance_for_device(&self, name: &str) -> R<Vec<String>> {
        let class = self.class_for_device(name)?;
        let mut out = vec![class.clone()];
        out.extend(self.column("SELECT value FROM property_class WHERE class = ?1 AND name = 'InheritedFrom' ORDER BY count", &[&class])?);
        Ok(out)
    }

    /// `DbGetForwardedAttributeListForDevice device`: `[attribute, root attribute]*` from the
    /// device's attribute properties `__root_att`.
    pub fn forwarded_attribute_list(&self, name: &str) -> R<Vec<String>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT attribute, value FROM property_attribute_device WHERE device = ?1 AND name = '__root_att' ORDER BY attribute",
            )
            .map_err(sql_err)?;
        let rows = st.query_map([name], |r| Ok([r.get::<_, String>(0)?, r.get::<_, String>(1)?])).map_err(sql_err)?;
        let mut out = Vec::new();
        for r in rows {
            out.extend(r.map_err(sql_err)?);
        }
        Ok(out)
    }

    /// `DbGetHostList pattern`: hosts of exported servers.
    pub fn host_list(&self, pattern: &str) -> R<Vec<String>> {
        let v = self.column(
            "SELECT DISTINCT host FROM device WHERE host LIKE ?1 ESCAPE '\\' AND host <> 'nada' ORDER BY host",
            &[&like(pattern)],
        )?;
        Ok(distinct_sorted(v.into_iter()))
    }

    /// `DbGetHostServerList host`.
    pub fn host_server_list(&self, host: &str) -> R<Vec<String>> {
        let v = self.column("SELECT DISTINCT server FROM device WHERE host LIKE ?1 ESCAPE '\\' ORDER BY server", &[&like(host)])?;
        Ok(distinct_sorted(v.into_iter()))
    }
}
