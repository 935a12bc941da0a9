//! `DbMySqlSelect`.

use super::store::*;

/// The two queries itango sends (whitespace and case normalised).
const SQL_DEVICES: &str = "select name, alias, server, class from device order by name";
const SQL_ATTR_ALIASES: &str = "select name, alias from attribute_alias order by alias";

impl Store {
    /// `DbMySqlSelect`: only the two queries itango sends. Result: cells row by row in
    /// `svalue`; `lvalue` = one not-NULL flag per cell, then rows, columns.
    pub fn sql_select(&self, sql: &str) -> R<(Vec<i32>, Vec<String>)> {
        let norm = sql.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        let norm = norm.trim_end_matches(';').trim();
        let norm = if norm.starts_with("select ") { norm.to_string() } else { format!("select {norm}") };
        let (rows, cols): (Vec<Vec<Option<String>>>, usize) = if norm == SQL_DEVICES {
            let mut v: Vec<&DeviceRec> = self.state.devices.values().collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            (v.into_iter().map(|d| vec![Some(d.name.clone()), d.alias.clone(), Some(d.server.clone()), Some(d.class.clone())]).collect(), 4)
        } else if norm == SQL_ATTR_ALIASES {
            (vec![], 2)
        } else {
            return Err(err(
                "DB_SQLError",
                format!(
                    "this embedded database has no SQL engine; DbMySqlSelect accepts only the queries itango sends: {:?} and {:?}; got {:?}",
                    "SELECT name, alias, server, class FROM device order by name",
                    "SELECT name, alias FROM attribute_alias order by alias",
                    truncate(sql)
                ),
                "MySqlSelect()",
            ));
        };
        let mut l = Vec::new();
        let mut sv = Vec::new();
        for row in &rows {
            for cell in row {
                l.push(cell.is_some() as i32);
                sv.push(cell.clone().unwrap_or_default());
            }
        }
        l.push(rows.len() as i32);
        l.push(cols as i32);
        Ok((l, sv))
    }
}
