//! The notifd-era event channel registry in the `event` table: `DbExportEvent`,
//! `DbImportEvent`, `DbUnExportEvent`. Tango 9 servers use ZMQ and never export a channel, but
//! older tools still ask, and the C++ DataBaseds keeps what they export.

use rusqlite::OptionalExtension;

use super::args::*;
use super::store::*;

impl Store {
    /// `DbExportEvent [name, ior, host, pid, version]`.
    pub fn export_event(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "ExportEvent()";
        need_args(argin, 5, "event channel or factory name, IOR, host, pid, version", O)?;
        let pid: i64 =
            argin[3].trim().parse().map_err(|_| err("DB_IncorrectArguments", format!("pid {:?} is not a number", argin[3]), O))?;
        let now = now_sql();
        self.tx(|tx| {
            exec(tx, "DELETE FROM event WHERE name = ?1", &[&argin[0]])?;
            exec(
                tx,
                "INSERT INTO event (name, exported, ior, host, server, pid, version, started) VALUES (?1, 1, ?2, ?3, ?1, ?4, ?5, ?6)",
                &[&argin[0], &argin[1], &argin[2], &pid, &argin[4], &now],
            )
            .map(drop)
        })
    }

    /// `DbUnExportEvent name`.
    pub fn unexport_event(&mut self, name: &str) -> R<()> {
        let now = now_sql();
        self.tx(|tx| exec(tx, "UPDATE event SET exported = 0, stopped = ?2 WHERE name = ?1", &[&name, &now]).map(drop))
    }

    /// `DbImportEvent name` → `([exported, pid], [name, ior, version, host])`.
    pub fn import_event(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let mut st = self.conn.prepare_cached("SELECT exported, ior, version, pid, host FROM event WHERE name = ?1").map_err(sql_err)?;
        let row = st
            .query_row([name], |r| {
                Ok((
                    r.get::<_, Option<i32>>(0)?.unwrap_or(0),
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    r.get::<_, Option<i32>>(3)?.unwrap_or(0),
                    r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                ))
            })
            .optional()
            .map_err(sql_err)?;
        let (exported, ior, version, pid, host) =
            row.ok_or_else(|| err("DB_DeviceNotDefined", format!("event {name} not defined in the database !"), "ImportEvent()"))?;
        Ok((vec![exported, pid], vec![name.to_string(), ior, version, host]))
    }
}
