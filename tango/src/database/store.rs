//! Where the embedded Tango database keeps its data: an SQLite file (`tango-db.sqlite` in the
//! state directory) with the tables and columns of the C++ DataBaseds schema (`schema.sql`),
//! so tools that send SQL through `DbMySqlSelect` find the names they know.
//!
//! Why SQLite: each `Db*` command that changes data runs in one transaction ([`Store::tx`]),
//! so a crash (even SIGKILL in the middle of a dsconfig load) leaves each command's whole
//! effect or none of it; the JSON file this replaces was rewritten whole on every change,
//! which made a 5 000-device load quadratic. The journal is WAL with `synchronous=NORMAL`:
//! readers never wait for a writer, a committed command survives the process being killed, and
//! a power cut can lose the last commits but never leaves a half-applied one. (`FULL`, an fsync
//! per command, made `DbPutDeviceProperty` 3 times slower than the C++ DataBaseds on MyISAM,
//! which never fsyncs; `bench/database.py` measures it.)
//!
//! The `Db*` operations live in one module per family (`devices`, `aliases`, `properties`,
//! `attribute_properties`, `pipes`, `history`, `server_info`, `server_cache`, `sql` with
//! `select_cache`, `info`);
//! this module holds the connection, the transaction wrapper and the small helpers they share.

use std::path::{Path, PathBuf};

use rusqlite::{params_from_iter, Connection, ToSql, Transaction};

use crate::idl::DevFailed;

pub(crate) type R<T> = Result<T, DevFailed>;

/// The file the data lives in, inside the state directory.
pub const DB_FILE: &str = "tango-db.sqlite";

pub(crate) fn err(reason: &str, desc: impl Into<String>, origin: &str) -> DevFailed {
    DevFailed::new(reason, desc, format!("DataBase::{origin}"))
}

pub(crate) fn not_defined(what: &str, name: &str, origin: &str) -> DevFailed {
    err("DB_DeviceNotDefined", format!("{what} {name} not defined in the database !"), origin)
}

/// An SQLite failure as the DevFailed the C++ DataBaseds raises for a MySQL failure.
pub(crate) fn sql_err(e: rusqlite::Error) -> DevFailed {
    err("DB_SQLError", format!("SQL error in the embedded database: {e}; nothing was changed"), "sql")
}

pub(crate) fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// A Tango wildcard (`*` = any sequence) as a `LIKE` pattern with `\` as escape character.
pub(crate) fn like(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `'YYYY-MM-DD HH:MM:SS'` (UTC), how dates are stored.
pub fn now_sql() -> String {
    let (y, m, d, hh, mm, ss) = civil_now();
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}")
}

/// Date as the real DataBaseds shows it: `25-11-2026 at 17:37:33` (UTC).
pub fn now_string() -> String {
    display_date(&now_sql())
}

/// A stored date (`YYYY-MM-DD HH:MM:SS`) as DataBaseds shows it (`DD-MM-YYYY at HH:MM:SS`).
pub fn display_date(sql: &str) -> String {
    match (sql.get(0..4), sql.get(5..7), sql.get(8..10), sql.get(11..19)) {
        (Some(y), Some(m), Some(d), Some(t)) => format!("{d}-{m}-{y} at {t}"),
        _ => sql.to_string(),
    }
}

fn civil_now() -> (i64, i64, i64, u64, u64, u64) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Sorted case-insensitively, duplicates (ignoring case) removed.
pub(crate) fn distinct_sorted(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

/// The embedded database: an SQLite connection and who it is.
pub struct Store {
    pub(crate) conn: Connection,
    path: Option<PathBuf>,
    /// This database's own address for `DbGetCSDbServerList` (`host:port`).
    pub self_address: String,
    /// The name of the database device (for `DbInfo`).
    pub self_name: String,
    pub started: String,
    /// What `DbMySqlSelect` keeps between calls: translations and repeated queries' results.
    pub(crate) select: std::cell::RefCell<super::select_cache::SelectCache>,
    /// How many write transactions have run ([`Store::tx`]): a kept `DbMySqlSelect` result
    /// read at another count is out of date.
    pub(crate) writes: u64,
}

impl Store {
    /// An in-memory store (tests, `--state-dir` not given).
    pub fn in_memory() -> Store {
        let conn = Connection::open_in_memory().expect("SQLite can always open an in-memory database");
        Store::with(conn, None).expect("the schema applies to an empty in-memory database")
    }

    /// Open (or create) `dir/tango-db.sqlite`; a `dir/tango-db.json` of an earlier release is
    /// migrated into it first (and kept, renamed `tango-db.json.migrated`).
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
        let path = dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(|e| format!("cannot open the database file {}: {e}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| conn.busy_timeout(std::time::Duration::from_secs(5)))
            .map_err(|e| format!("cannot set up the database file {}: {e}", path.display()))?;
        let mut store = Store::with(conn, Some(path.clone())).map_err(|e| format!("database file {}: {e}", path.display()))?;
        super::migrate::from_json_if_present(&mut store, dir)?;
        Ok(store)
    }

    fn with(conn: Connection, path: Option<PathBuf>) -> Result<Store, String> {
        conn.execute_batch(include_str!("schema.sql")).map_err(|e| format!("cannot create the tables: {e}"))?;
        conn.set_prepared_statement_cache_capacity(128);
        super::sql::register_mysql_functions(&conn).map_err(|e| format!("cannot register SQL functions: {e}"))?;
        Ok(Store {
            conn,
            path,
            self_address: String::new(),
            self_name: "sys/database/2".into(),
            started: now_string(),
            select: Default::default(),
            writes: 0,
        })
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Run `f` in one transaction: all its changes are committed together, or (on an error
    /// from `f` or from SQLite) none are. This is how every `Db*` command changes data.
    pub fn tx<T>(&mut self, f: impl FnOnce(&Transaction) -> R<T>) -> R<T> {
        self.writes += 1; // counted even if it rolls back: a kept result is only read again
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql_err)?;
        let out = f(&tx)?; // dropping `tx` on an error rolls back
        tx.commit().map_err(sql_err)?;
        Ok(out)
    }

    /// The first column of every row of `sql`.
    pub(crate) fn column(&self, sql: &str, params: &[&dyn ToSql]) -> R<Vec<String>> {
        column(&self.conn, sql, params)
    }

    /// Does `sql` return a row?
    pub(crate) fn exists(&self, sql: &str, params: &[&dyn ToSql]) -> R<bool> {
        exists(&self.conn, sql, params)
    }
}

/// The first column of every row of `sql` (NULL as empty), on a connection or transaction.
pub(crate) fn column(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<Vec<String>> {
    let mut st = conn.prepare_cached(sql).map_err(sql_err)?;
    let rows = st.query_map(params_from_iter(params.iter()), |r| r.get::<_, Option<String>>(0)).map_err(sql_err)?;
    rows.map(|r| r.map(Option::unwrap_or_default).map_err(sql_err)).collect()
}

pub(crate) fn exists(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<bool> {
    let mut st = conn.prepare_cached(sql).map_err(sql_err)?;
    st.exists(params_from_iter(params.iter())).map_err(sql_err)
}

pub(crate) fn exec(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> R<usize> {
    let mut st = conn.prepare_cached(sql).map_err(sql_err)?;
    st.execute(params_from_iter(params.iter())).map_err(sql_err)
}

pub(crate) fn truncate(s: &str) -> String {
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_string()
    }
}
