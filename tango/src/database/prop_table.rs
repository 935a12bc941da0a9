//! The seven property tables of the schema (device, class, free object, device and class
//! attribute, device and class pipe) share one shape: an owner column, for attributes and
//! pipes a second key column, then `name, count, value` with one row per value (`count` =
//! 1..n), plus a `*_hist` table and a `*_history_id` counter. [`PropTable`] names the
//! columns of one of them so reading, writing, deleting and the history (10 versions per
//! property, `DELETED` marking a deletion, as the C++ DataBaseds keeps it) are written once.

use rusqlite::Connection;

use super::store::{column, exec, like, now_sql, sql_err, R};

/// How many versions of a property the history keeps.
pub const HISTORY_DEPTH: i64 = 10;

/// One property table of the schema. All names are constants, never client input.
pub struct PropTable {
    pub table: &'static str,
    /// `device`, `class` or `object`.
    pub owner: &'static str,
    /// `attribute` or `pipe` for the attribute and pipe tables.
    pub sub: Option<&'static str>,
    pub hist: &'static str,
    pub hist_id: &'static str,
}

pub const DEVICE: PropTable =
    PropTable { table: "property_device", owner: "device", sub: None, hist: "property_device_hist", hist_id: "device_history_id" };
pub const CLASS: PropTable =
    PropTable { table: "property_class", owner: "class", sub: None, hist: "property_class_hist", hist_id: "class_history_id" };
pub const OBJECT: PropTable =
    PropTable { table: "property", owner: "object", sub: None, hist: "property_hist", hist_id: "object_history_id" };
pub const DEVICE_ATTR: PropTable = PropTable {
    table: "property_attribute_device",
    owner: "device",
    sub: Some("attribute"),
    hist: "property_attribute_device_hist",
    hist_id: "device_attribute_history_id",
};
pub const CLASS_ATTR: PropTable = PropTable {
    table: "property_attribute_class",
    owner: "class",
    sub: Some("attribute"),
    hist: "property_attribute_class_hist",
    hist_id: "class_attribute_history_id",
};
pub const DEVICE_PIPE: PropTable = PropTable {
    table: "property_pipe_device",
    owner: "device",
    sub: Some("pipe"),
    hist: "property_pipe_device_hist",
    hist_id: "device_pipe_history_id",
};
pub const CLASS_PIPE: PropTable = PropTable {
    table: "property_pipe_class",
    owner: "class",
    sub: Some("pipe"),
    hist: "property_pipe_class_hist",
    hist_id: "class_pipe_history_id",
};

/// `owner = ? [AND sub = ?]` and its parameters.
fn key<'a>(t: &PropTable, owner: &'a str, sub: Option<&'a str>) -> (String, Vec<&'a str>) {
    match (t.sub, sub) {
        (Some(col), Some(s)) => (format!("{} = ?1 AND {col} = ?2", t.owner), vec![owner, s]),
        _ => (format!("{} = ?1", t.owner), vec![owner]),
    }
}

fn params<'a>(p: &'a [&'a str]) -> Vec<&'a dyn rusqlite::ToSql> {
    p.iter().map(|s| s as &dyn rusqlite::ToSql).collect()
}

impl PropTable {
    /// Values of the properties whose name matches `name` (Tango wildcard), in order.
    pub fn values(&self, conn: &Connection, owner: &str, sub: Option<&str>, name: &str) -> R<Vec<String>> {
        let (k, mut p) = key(self, owner, sub);
        let n = p.len() + 1;
        // an exact name can use the (owner, name, count) index; a wildcard needs LIKE
        let (cond, pat) = if name.contains('*') {
            (format!("name LIKE ?{n} ESCAPE '\\'"), like(name))
        } else {
            (format!("name = ?{n}"), name.to_string())
        };
        p.push(&pat);
        let sql = format!("SELECT value FROM {} WHERE {k} AND {cond} ORDER BY name, count", self.table);
        column(conn, &sql, &params(&p))
    }

    /// `name, n_values, values...` for each property of `owner[/sub]`, by name.
    pub fn all(&self, conn: &Connection, owner: &str, sub: Option<&str>) -> R<Vec<(String, Vec<String>)>> {
        let (k, p) = key(self, owner, sub);
        let sql = format!("SELECT name, value FROM {} WHERE {k} ORDER BY name, count", self.table);
        let mut st = conn.prepare_cached(&sql).map_err(sql_err)?;
        let mut rows = st.query(rusqlite::params_from_iter(p.iter())).map_err(sql_err)?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        while let Some(r) = rows.next().map_err(sql_err)? {
            let name: String = r.get(0).map_err(sql_err)?;
            let value: Option<String> = r.get(1).map_err(sql_err)?;
            match out.last_mut() {
                Some((n, v)) if n.eq_ignore_ascii_case(&name) => v.push(value.unwrap_or_default()),
                _ => out.push((name, vec![value.unwrap_or_default()])),
            }
        }
        Ok(out)
    }

    /// Names of the properties of `owner[/sub]` matching `pattern`.
    pub fn names(&self, conn: &Connection, owner: &str, sub: Option<&str>, pattern: &str) -> R<Vec<String>> {
        let (k, mut p) = key(self, owner, sub);
        let pat = like(pattern);
        p.push(&pat);
        let n = p.len();
        let sql = format!("SELECT DISTINCT name FROM {} WHERE {k} AND name LIKE ?{n} ESCAPE '\\' ORDER BY name", self.table);
        column(conn, &sql, &params(&p))
    }

    /// Attributes (or pipes) of `owner` that have properties, matching `pattern`.
    pub fn subs(&self, conn: &Connection, owner: &str, pattern: &str) -> R<Vec<String>> {
        let col = self.sub.expect("only attribute and pipe tables have a second key");
        let pat = like(pattern);
        let sql =
            format!("SELECT DISTINCT {col} FROM {} WHERE {} = ?1 AND {col} LIKE ?2 ESCAPE '\\' ORDER BY {col}", self.table, self.owner);
        column(conn, &sql, &[&owner, &pat])
    }

    /// Replace property `name` of `owner[/sub]` by `values` and record the new version in the
    /// history. No values = the property is removed (as the C++ DataBaseds does), unrecorded.
    pub fn put(&self, conn: &Connection, owner: &str, sub: Option<&str>, name: &str, values: &[String]) -> R<()> {
        self.remove_rows(conn, owner, sub, name)?;
        if values.is_empty() {
            return Ok(());
        }
        let now = now_sql();
        let id = self.next_history_id(conn)?;
        let (sub_col, sub_val) = match (self.sub, sub) {
            (Some(c), Some(s)) => (format!(", {c}"), vec![s]),
            _ => (String::new(), vec![]),
        };
        // the device table also carries the name's domain/family/member
        let dfm: Vec<&str> = if self.table == "property_device" { owner.splitn(3, '/').collect() } else { vec![] };
        let dfm_cols = if dfm.len() == 3 { ", domain, family, member" } else { "" };
        let n_fixed = 1 + sub_val.len() + if dfm.len() == 3 { 3 } else { 0 };
        let marks: Vec<String> = (1..=n_fixed + 4).map(|i| format!("?{i}")).collect();
        let insert = format!(
            "INSERT INTO {} ({}{sub_col}{dfm_cols}, name, count, value, updated) VALUES ({})",
            self.table,
            self.owner,
            marks.join(", ")
        );
        let hist_marks: Vec<String> = (1..=sub_val.len() + 6).map(|i| format!("?{i}")).collect();
        let insert_hist =
            format!("INSERT INTO {} ({}{sub_col}, name, count, value, date, id) VALUES ({})", self.hist, self.owner, hist_marks.join(", "));
        for (i, v) in values.iter().enumerate() {
            let count = (i + 1).to_string();
            let mut p: Vec<&str> = vec![owner];
            p.extend(&sub_val);
            if dfm.len() == 3 {
                p.extend(&dfm);
            }
            p.extend([name, count.as_str(), v.as_str(), now.as_str()]);
            exec(conn, &insert, &params(&p))?;
            let mut h: Vec<&dyn rusqlite::ToSql> = vec![&owner];
            for s in &sub_val {
                h.push(s);
            }
            h.extend([&name as &dyn rusqlite::ToSql, &count, v, &now, &id]);
            exec(conn, &insert_hist, &h)?;
        }
        self.purge_history(conn, owner, sub, name)
    }

    /// Delete the properties of `owner[/sub]` matching `name` (wildcards allowed); each
    /// deletion is recorded in the history as a `DELETED` version.
    pub fn delete(&self, conn: &Connection, owner: &str, sub: Option<&str>, name: &str) -> R<()> {
        for n in self.names(conn, owner, sub, name)? {
            self.remove_rows(conn, owner, sub, &n)?;
            let id = self.next_history_id(conn)?;
            let now = now_sql();
            let (sub_col, mark) = match (self.sub, sub) {
                (Some(c), Some(_)) => (format!(", {c}"), ", ?6"),
                _ => (String::new(), ""),
            };
            let sql = format!(
                "INSERT INTO {} ({}, name, count, value, date, id{sub_col}) VALUES (?1, ?2, 0, 'DELETED', ?3, ?4{mark})",
                self.hist, self.owner
            );
            let sql = sql.replace("?6", "?5");
            match sub {
                Some(s) if self.sub.is_some() => exec(conn, &sql, &[&owner, &n, &now, &id, &s])?,
                _ => exec(conn, &sql, &[&owner, &n, &now, &id])?,
            };
            self.purge_history(conn, owner, sub, &n)?;
        }
        Ok(())
    }

    /// Every property of `owner[/sub]` (all attributes or pipes when `sub` is `None`), no history.
    pub fn delete_all(&self, conn: &Connection, owner: &str, sub: Option<&str>) -> R<()> {
        let (k, p) = key(self, owner, sub);
        exec(conn, &format!("DELETE FROM {} WHERE {k}", self.table), &params(&p))?;
        Ok(())
    }

    /// Everything `owner` has in this table and its history (when the owner is deleted).
    pub fn forget_owner(&self, conn: &Connection, owner: &str) -> R<()> {
        exec(conn, &format!("DELETE FROM {} WHERE {} = ?1", self.table, self.owner), &[&owner])?;
        exec(conn, &format!("DELETE FROM {} WHERE {} = ?1", self.hist, self.owner), &[&owner])?;
        Ok(())
    }

    fn remove_rows(&self, conn: &Connection, owner: &str, sub: Option<&str>, name: &str) -> R<()> {
        let (k, mut p) = key(self, owner, sub);
        p.push(name);
        let n = p.len();
        exec(conn, &format!("DELETE FROM {} WHERE {k} AND name = ?{n}", self.table), &params(&p))?;
        Ok(())
    }

    fn next_history_id(&self, conn: &Connection) -> R<i64> {
        let sql = format!("UPDATE {} SET id = id + 1 RETURNING id", self.hist_id);
        let mut st = conn.prepare_cached(&sql).map_err(sql_err)?;
        let id: Option<i64> = st.query_row([], |r| r.get(0)).map(Some).or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(sql_err(e)),
        })?;
        match id {
            Some(id) => Ok(id),
            None => {
                exec(conn, &format!("INSERT INTO {} (id) VALUES (1)", self.hist_id), &[])?;
                Ok(1)
            }
        }
    }

    /// Keep the newest [`HISTORY_DEPTH`] versions of one property.
    fn purge_history(&self, conn: &Connection, owner: &str, sub: Option<&str>, name: &str) -> R<()> {
        let (k, mut p) = key(self, owner, sub);
        p.push(name);
        let n = p.len();
        let sql = format!(
            "DELETE FROM {h} WHERE {k} AND name = ?{n} AND id NOT IN \
             (SELECT DISTINCT id FROM {h} WHERE {k} AND name = ?{n} ORDER BY id DESC LIMIT {HISTORY_DEPTH})",
            h = self.hist
        );
        exec(conn, &sql, &params(&p))?;
        Ok(())
    }

    /// `Db*PropertyHist`: per version, oldest first: `[sub,] name, date, n_values, values...`
    /// (a deletion: `n_values` = 0 and no value).
    pub fn history(&self, conn: &Connection, owner: &str, sub_pattern: Option<&str>, name_pattern: &str) -> R<Vec<String>> {
        let name_pat = like(name_pattern);
        let sub_pat = sub_pattern.map(like);
        let (sub_sel, sub_where) = match (self.sub, &sub_pat) {
            (Some(c), Some(_)) => (format!("{c}, "), format!(" AND {c} LIKE ?3 ESCAPE '\\'")),
            _ => (String::new(), String::new()),
        };
        let sql = format!(
            "SELECT {sub_sel}name, date, count, value, id FROM {} WHERE {} = ?1 AND name LIKE ?2 ESCAPE '\\'{sub_where} ORDER BY id, count",
            self.hist, self.owner
        );
        let mut st = conn.prepare_cached(&sql).map_err(sql_err)?;
        let mut rows = match &sub_pat {
            Some(sp) if self.sub.is_some() => st.query(rusqlite::params![owner, name_pat, sp]),
            _ => st.query(rusqlite::params![owner, name_pat]),
        }
        .map_err(sql_err)?;
        let with_sub = !sub_sel.is_empty();
        let off = usize::from(with_sub);
        let mut out = Vec::new();
        let mut last_id = None;
        let mut count_at = 0;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(4 + off).map_err(sql_err)?;
            let count: i64 = r.get(2 + off).map_err(sql_err)?;
            let value: Option<String> = r.get(3 + off).map_err(sql_err)?;
            if last_id != Some(id) {
                last_id = Some(id);
                if with_sub {
                    out.push(r.get::<_, String>(0).map_err(sql_err)?);
                }
                out.push(r.get::<_, String>(off).map_err(sql_err)?);
                out.push(r.get::<_, String>(1 + off).map_err(sql_err)?);
                count_at = out.len();
                out.push("0".into());
            }
            if count > 0 {
                out.push(value.unwrap_or_default());
                let n: usize = out[count_at].parse().unwrap_or(0);
                out[count_at] = (n + 1).to_string();
            }
        }
        Ok(out)
    }

    /// Number of property rows and of history versions (for `DbInfo`).
    pub fn counts(&self, conn: &Connection) -> R<(i64, i64)> {
        let n = conn
            .query_row(&format!("SELECT COUNT(*) FROM (SELECT DISTINCT {}, name FROM {})", self.owner, self.table), [], |r| r.get(0))
            .map_err(sql_err)?;
        let h = conn.query_row(&format!("SELECT COUNT(DISTINCT id) FROM {}", self.hist), [], |r| r.get(0)).map_err(sql_err)?;
        Ok((n, h))
    }
}
