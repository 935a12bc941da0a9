//! `DbMySqlSelect`: the client's SQL, written for the C++ DataBaseds on MySQL, run on our
//! SQLite tables (same names and columns, see `schema.sql`).
//!
//! [`translate`] rewrites the MySQL forms the ecosystem's tools send (itango, dsconfig's
//! `tango2json`, TangoGQL) into SQLite: string literals with backslash escapes (`'sys\_%'`,
//! `"..."`) become standard literals, and every `LIKE` gets `ESCAPE '\'` because MySQL's LIKE
//! escapes with a backslash by default and SQLite's has no escape at all. Backquoted names,
//! `IFNULL`, `ORDER BY`/`GROUP BY` and `IN (...)` are already SQLite; `CONCAT`/`CONCAT_WS`
//! are registered as functions ([`register_mysql_functions`]).
//!
//! Nothing a client sends can change data: the query must be one statement, start with
//! `SELECT` (a query without it gets `SELECT ` put in front, as the C++ server does), and
//! SQLite must report the prepared statement read-only (`sqlite3_stmt_readonly`); otherwise
//! the reply is `DB_SQLError` saying which rule was broken.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::select_cache::{calls_only_deterministic_functions, Rows, Translated};
use super::store::*;

const O: &str = "MySqlSelect()";

/// MySQL's `CONCAT` (NULL if any argument is NULL) and `CONCAT_WS` (NULLs skipped).
pub(crate) fn register_mysql_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("concat", -1, flags, |ctx| {
        let mut out = String::new();
        for i in 0..ctx.len() {
            match text_of(ctx.get_raw(i)) {
                Some(s) => out.push_str(&s),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    })?;
    conn.create_scalar_function("concat_ws", -1, flags, |ctx| {
        if ctx.is_empty() {
            return Ok(None);
        }
        let Some(sep) = text_of(ctx.get_raw(0)) else { return Ok(None) };
        let parts: Vec<String> = (1..ctx.len()).filter_map(|i| text_of(ctx.get_raw(i))).collect();
        Ok(Some(parts.join(&sep)))
    })
}

/// A value as MySQL would print it; `None` for NULL.
fn text_of(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Rewrite a MySQL query for SQLite (see the module doc). Errors say what is not accepted.
pub fn translate(sql: &str) -> Result<String, String> {
    let trimmed = sql.trim().trim_end_matches(';').trim_end();
    if trimmed.is_empty() {
        return Err("the query is empty; send one SELECT statement".into());
    }
    let first_word: String = trimmed.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let body = if first_word.eq_ignore_ascii_case("select") { trimmed.to_string() } else { format!("SELECT {trimmed}") };
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len() + 16);
    let mut i = 0;
    let mut pending_like = false; // a LIKE whose pattern has not been closed yet
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let (lit, next) = string_literal(&chars, i)?;
            out.push('\'');
            out.push_str(&lit.replace('\'', "''"));
            out.push('\'');
            i = next;
            if pending_like {
                pending_like = false;
                if !next_word_is(&chars, i, "escape") {
                    out.push_str(" ESCAPE '\\'");
                }
            }
            continue;
        }
        if c == ';' {
            return Err("only one statement is allowed: the query contains ';' before its end".into());
        }
        if c == '`' {
            let end = chars[i + 1..].iter().position(|&x| x == '`').ok_or("a backquoted name is not closed")?;
            out.extend(&chars[i..i + end + 2]);
            i += end + 2;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.eq_ignore_ascii_case("like") {
                pending_like = true;
            }
            out.push_str(&word);
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn next_word_is(chars: &[char], mut i: usize, word: &str) -> bool {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    let w: String = chars[i..].iter().take(word.len()).collect();
    w.eq_ignore_ascii_case(word)
}

/// A MySQL string literal starting at `chars[at]` (quote `'` or `"`): its value with MySQL's
/// backslash escapes applied (`\_` and `\%` keep their backslash, as MySQL does, so that LIKE
/// sees them escaped), and the index after it.
fn string_literal(chars: &[char], at: usize) -> Result<(String, usize), String> {
    let q = chars[at];
    let mut i = at + 1;
    let mut v = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            match n {
                '_' | '%' => {
                    v.push('\\');
                    v.push(n);
                }
                'n' => v.push('\n'),
                't' => v.push('\t'),
                'r' => v.push('\r'),
                '0' => v.push('\0'),
                other => v.push(other),
            }
            i += 2;
            continue;
        }
        if c == q {
            if chars.get(i + 1) == Some(&q) {
                v.push(q);
                i += 2;
                continue;
            }
            return Ok((v, i + 1));
        }
        v.push(c);
        i += 1;
    }
    Err(format!("a string literal opened with {q} is not closed"))
}

impl Store {
    /// `sql` for SQLite, translated (and checked for keepability) once per distinct query.
    fn translated_query(&self, sql: &str) -> Result<Translated, String> {
        if let Some(t) = self.select.borrow().translation(sql) {
            return Ok(t.clone());
        }
        let translated = translate(sql)?;
        let keepable = calls_only_deterministic_functions(&self.conn, &translated);
        let t = Translated { sql: translated, keepable };
        self.select.borrow_mut().keep_translation(sql, t.clone());
        Ok(t)
    }

    /// What a kept result must have been read at: this store's write count and SQLite's
    /// count of other connections' commits.
    fn data_now(&self) -> R<(u64, i64)> {
        let mut st = self.conn.prepare_cached("PRAGMA data_version").map_err(sql_err)?;
        let version = st.query_row([], |r| r.get::<_, i64>(0)).map_err(sql_err)?;
        Ok((self.writes, version))
    }

    /// `DbMySqlSelect query`: cells row by row in `svalue`; `lvalue` = one not-NULL flag per
    /// cell, then the number of rows and of columns. A query asked again before anything
    /// changed is answered from the kept result (see [`super::select_cache`]).
    pub fn sql_select(&self, sql: &str) -> R<Rows> {
        let refuse =
            |why: String| err("DB_SQLError", format!("{why}; DbMySqlSelect runs one read-only SELECT (query: {:?})", truncate(sql)), O);
        let now = self.data_now()?;
        if let Some(rows) = self.select.borrow_mut().result(sql, now) {
            return Ok(rows.clone());
        }
        let t = self.translated_query(sql).map_err(refuse)?;
        let mut st = self
            .conn
            .prepare_cached(&t.sql)
            .map_err(|e| refuse(format!("the query is not valid SQL here: {}", truncate(&e.to_string()))))?;
        if !st.readonly() {
            return Err(refuse("the statement would change the database".into()));
        }
        let cols = st.column_count();
        let mut rows = st.query([]).map_err(|e| refuse(format!("the query failed: {e}")))?;
        let (mut l, mut sv, mut n_rows) = (Vec::with_capacity(cols * 8 + 2), Vec::with_capacity(cols * 8), 0);
        while let Some(r) = rows.next().map_err(|e| refuse(format!("the query failed: {e}")))? {
            n_rows += 1;
            for c in 0..cols {
                let v = text_of(r.get_ref(c).map_err(sql_err)?);
                l.push(v.is_some() as i32);
                sv.push(v.unwrap_or_default());
            }
        }
        l.push(n_rows);
        l.push(cols as i32);
        let result = (l, sv);
        if t.keepable {
            self.select.borrow_mut().keep_result(sql, now, &result);
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn mysql_forms_become_sqlite() {
        assert_eq!(
            translate(r"SELECT name FROM device WHERE name LIKE 'sys\_%' ORDER BY name").unwrap(),
            r"SELECT name FROM device WHERE name LIKE 'sys\_%' ESCAPE '\' ORDER BY name"
        );
        assert_eq!(
            translate(r#"select `name` from device where server like "a\"b""#).unwrap(),
            r#"select `name` from device where server like 'a"b' ESCAPE '\'"#
        );
        assert_eq!(translate("SELECT 'it''s', 'x\\'y'").unwrap(), "SELECT 'it''s', 'x''y'");
        assert_eq!(translate("name, alias FROM device;").unwrap(), "SELECT name, alias FROM device");
        assert_eq!(translate("SELECT a FROM t WHERE b LIKE 'x' ESCAPE '!'").unwrap(), "SELECT a FROM t WHERE b LIKE 'x' ESCAPE '!'");
        assert!(translate("SELECT 1; DELETE FROM device").unwrap_err().contains("one statement"));
        assert!(translate("SELECT 'open").is_err());
        assert!(translate("  ").is_err());
    }
}
