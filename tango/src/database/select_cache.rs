//! What `DbMySqlSelect` keeps between calls: each distinct query's SQLite translation, and
//! the results of the queries that are answered again and again.
//!
//! Why keep results: TangoGQL (behind every Taranta dashboard) sends the same few queries
//! on every page refresh, and the database changes far more rarely than it is read. Running
//! the query was two thirds of the database's CPU for TangoGQL's device query (SQLite's
//! read transaction and `IN` list, then a `String` per cell), so a repeated query is answered
//! from the kept rows.
//!
//! A kept result is never stale:
//! - every command that changes data goes through [`Store::tx`](super::store::Store::tx),
//!   which counts it ([`Store::writes`](super::store::Store)); a count different from the
//!   one a result was kept at drops every kept result;
//! - another process writing the file (an `sqlite3` shell) changes SQLite's
//!   `PRAGMA data_version`, which is checked the same way;
//! - only queries whose functions give the same answer on the same data are kept: SQLite's
//!   authorizer lists the functions a statement calls, and one outside [`DETERMINISTIC`]
//!   (`random()`, `datetime('now')`, `changes()`, ...) makes the query run every time.
//!
//! Memory is bounded: at most [`KEPT_RESULTS`] results of at most [`KEPT_RESULT_BYTES`]
//! each; when the table is full it starts again empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

/// How many translated queries are kept (tools send a handful of shapes, over and over).
const KEPT_TRANSLATIONS: usize = 256;
/// How many query results are kept.
pub const KEPT_RESULTS: usize = 64;
/// A result with more text than this (cells' bytes) runs every time.
pub const KEPT_RESULT_BYTES: usize = 64 * 1024;

/// Functions whose value depends only on their arguments and the rows read: MySQL's
/// `CONCAT`/`CONCAT_WS` as registered here, and SQLite's core, string and aggregate
/// functions. The date and time functions are not here because of `'now'`.
pub const DETERMINISTIC: &[&str] = &[
    "concat", "concat_ws", "ifnull", "coalesce", "nullif", "iif", "like", "glob", "count", "max", "min", "sum",
    "total", "avg", "group_concat", "string_agg", "upper", "lower", "length", "octet_length", "substr",
    "substring", "trim", "ltrim", "rtrim", "replace", "instr", "abs", "round", "sign", "hex", "quote", "typeof",
    "printf", "format", "char", "unicode",
];

/// A query translated for SQLite, and whether its result may be kept.
#[derive(Clone)]
pub struct Translated {
    pub sql: String,
    pub keepable: bool,
}

/// A result as `DbMySqlSelect` returns it: not-NULL flags (then rows and columns), cells.
pub type Rows = (Vec<i32>, Vec<String>);

/// The two tables; the store holds one (behind its mutex, so no locking here).
#[derive(Default)]
pub struct SelectCache {
    translations: HashMap<String, Translated>,
    results: HashMap<String, Rows>,
    /// (`Store::writes`, `PRAGMA data_version`) when the kept results were read.
    results_of: (u64, i64),
}

impl SelectCache {
    pub fn translation(&self, query: &str) -> Option<&Translated> {
        self.translations.get(query)
    }

    pub fn keep_translation(&mut self, query: &str, t: Translated) {
        if self.translations.len() >= KEPT_TRANSLATIONS {
            self.translations.clear();
        }
        self.translations.insert(query.to_string(), t);
    }

    /// The kept result of `query`, if the data has not changed since (`now` as in
    /// [`SelectCache::results_of`]); a change drops them all.
    pub fn result(&mut self, query: &str, now: (u64, i64)) -> Option<&Rows> {
        if self.results_of != now {
            self.results.clear();
            self.results_of = now;
            return None;
        }
        self.results.get(query)
    }

    /// Keep `rows` as the result of `query` read at `now` (unless too big).
    pub fn keep_result(&mut self, query: &str, now: (u64, i64), rows: &Rows) {
        if rows.1.iter().map(String::len).sum::<usize>() > KEPT_RESULT_BYTES {
            return;
        }
        if self.results_of != now || self.results.len() >= KEPT_RESULTS {
            self.results.clear();
            self.results_of = now;
        }
        self.results.insert(query.to_string(), rows.clone());
    }

    #[cfg(test)]
    pub fn kept_results(&self) -> usize {
        self.results.len()
    }
}

/// Does every function `sql` calls give the same answer on the same data? Compiles the
/// statement once with an authorizer that lists the functions; a statement that does not
/// compile is not keepable (running it reports why).
pub fn calls_only_deterministic_functions(conn: &Connection, sql: &str) -> bool {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        if let AuthAction::Function { function_name } = ctx.action {
            record.lock().unwrap_or_else(|p| p.into_inner()).push(function_name.to_ascii_lowercase());
        }
        Authorization::Allow
    }));
    let compiled = conn.prepare(sql).is_ok();
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    compiled && seen.iter().all(|f| DETERMINISTIC.contains(&f.as_str()))
}
