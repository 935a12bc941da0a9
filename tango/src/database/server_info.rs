//! Server start-up information for Starter and Astor, in the `server` table:
//! `DbPutServerInfo`, `DbGetServerInfo`, `DbDeleteServerInfo`, `DbGetHostServersInfo`.

use rusqlite::OptionalExtension;

use super::args::*;
use super::store::*;

impl Store {
    /// `DbPutServerInfo [server, host, mode, level]`.
    pub fn put_server_info(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutServerInfo()";
        need_args(argin, 4, "server name, host, mode, level", O)?;
        check_server_name(&argin[0], O)?;
        let num = |i: usize, what: &str| -> R<i64> {
            argin[i].trim().parse().map_err(|_| err("DB_IncorrectArguments", format!("{what} {:?} is not a whole number", argin[i]), O))
        };
        let (mode, level) = (num(2, "mode")?, num(3, "level")?);
        self.tx(|tx| {
            exec(tx, "DELETE FROM server WHERE name = ?1", &[&argin[0]])?;
            exec(tx, "INSERT INTO server (name, host, mode, level) VALUES (?1, ?2, ?3, ?4)", &[&argin[0], &argin[1], &mode, &level])
                .map(drop)
        })
    }

    /// `DbGetServerInfo server` → `[server, host, mode, level]` (`" "` each when unknown).
    pub fn server_info(&self, server: &str) -> R<Vec<String>> {
        let mut st = self.conn.prepare_cached("SELECT host, mode, level FROM server WHERE name = ?1").map_err(sql_err)?;
        let row = st
            .query_row([server], |r| {
                Ok([
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, Option<i64>>(1)?.unwrap_or(0).to_string(),
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0).to_string(),
                ])
            })
            .optional()
            .map_err(sql_err)?;
        let mut out = vec![server.to_string()];
        out.extend(row.unwrap_or_else(|| [" ".into(), " ".into(), " ".into()]));
        Ok(out)
    }

    /// `DbDeleteServerInfo server`.
    pub fn delete_server_info(&mut self, server: &str) -> R<()> {
        self.tx(|tx| exec(tx, "DELETE FROM server WHERE name = ?1", &[&server]).map(drop))
    }

    /// `DbGetHostServersInfo host` → `[server, mode, level]*` for the servers whose devices
    /// were last exported from that host.
    pub fn host_servers_info(&self, host: &str) -> R<Vec<String>> {
        let mut out = Vec::new();
        for server in self.host_server_list(host)? {
            let info = self.server_info(&server)?;
            out.extend([server, info[2].clone(), info[3].clone()]);
        }
        Ok(out)
    }
}
