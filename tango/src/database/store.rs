//! The data of the embedded Tango database and the `Db*` operations on it, as plain functions
//! over string arrays (the layouts of the real DataBaseds), with no protocol and no sockets.
//!
//! Every change goes through [`Store::mutate`]: the operation runs on a copy, the copy is
//! written to the state file (temporary file, fsync, rename, fsync of the directory) and only
//! then becomes the current state. Bad input or a failed write therefore changes nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::idl::DevFailed;

/// A property: its name as first written, and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prop {
    pub name: String,
    pub values: Vec<String>,
}

/// Properties keyed by lower-cased name (Tango property names are case-insensitive).
pub type PropMap = BTreeMap<String, Prop>;

/// The properties of one attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrProps {
    pub name: String,
    pub props: PropMap,
}

/// One row of the device table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRec {
    pub name: String,
    pub server: String,
    pub class: String,
    #[serde(default)]
    pub alias: Option<String>,
    pub exported: bool,
    pub ior: String,
    pub version: String,
    pub host: String,
    pub pid: i32,
    #[serde(default)]
    pub started: Option<String>,
    #[serde(default)]
    pub stopped: Option<String>,
}

/// Everything the database holds. Map keys are lower-cased names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceRec>,
    #[serde(default)]
    pub device_props: BTreeMap<String, PropMap>,
    #[serde(default)]
    pub class_props: BTreeMap<String, PropMap>,
    /// Free-object properties (`CtrlSystem`, ...).
    #[serde(default)]
    pub free_props: BTreeMap<String, PropMap>,
    #[serde(default)]
    pub device_attr_props: BTreeMap<String, BTreeMap<String, AttrProps>>,
    #[serde(default)]
    pub class_attr_props: BTreeMap<String, BTreeMap<String, AttrProps>>,
}

/// Schema version written in the state file.
const FORMAT: u32 = 1;

#[derive(Deserialize)]
struct FileFormat {
    format: u32,
    state: State,
}

#[derive(Serialize)]
struct FileFormatRef<'a> {
    format: u32,
    state: &'a State,
}

pub(crate) type R<T> = Result<T, DevFailed>;

pub(crate) fn err(reason: &str, desc: impl Into<String>, origin: &str) -> DevFailed {
    DevFailed::new(reason, desc, format!("DataBase::{origin}"))
}

pub(crate) fn not_defined(what: &str, name: &str, origin: &str) -> DevFailed {
    err("DB_DeviceNotDefined", format!("{what} {name} not defined in the database !"), origin)
}

pub(crate) fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

pub(crate) fn distinct_sorted(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort_by_key(|s| s.to_ascii_lowercase());
    v.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    v
}

/// Date as the real DataBaseds shows it: `25-11-2026 at 17:37:33` (UTC).
pub fn now_string() -> String {
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
    format!("{d:02}-{m:02}-{y} at {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The embedded database: the current state and where it is persisted.
pub struct Store {
    pub(crate) state: State,
    path: Option<PathBuf>,
    /// This database's own address for `DbGetCSDbServerList` (`host:port`).
    pub self_address: String,
    /// The name of the database device (for `DbInfo`).
    pub self_name: String,
    pub started: String,
}

impl Store {
    /// An in-memory store (tests, `--state-dir` not given).
    pub fn in_memory() -> Store {
        Store {
            state: State::default(),
            path: None,
            self_address: String::new(),
            self_name: "sys/database/2".into(),
            started: now_string(),
        }
    }

    /// Open (or create) the state file `dir/tango-db.json`.
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
        let path = dir.join("tango-db.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let f: FileFormat =
                    serde_json::from_slice(&bytes).map_err(|e| format!("state file {} is not valid: {e}", path.display()))?;
                if f.format != FORMAT {
                    return Err(format!("state file {} has format {}, this program reads format {FORMAT}", path.display(), f.format));
                }
                f.state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
        };
        let mut s = Store::in_memory();
        s.state = state;
        s.path = Some(path);
        Ok(s)
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Apply `f` to a copy, persist the copy, then make it current.
    pub fn mutate<T>(&mut self, f: impl FnOnce(&mut State) -> R<T>) -> R<T> {
        let mut next = self.state.clone();
        let out = f(&mut next)?;
        if next != self.state {
            if let Some(p) = &self.path {
                write_atomically(p, &next).map_err(|e| {
                    err(
                        "DB_PersistFailed",
                        format!("cannot save the database state to {}: {e}; nothing was changed", p.display()),
                        "persist",
                    )
                })?;
            }
            self.state = next;
        }
        Ok(out)
    }
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

/// Write `state` to `path` so that a crash leaves either the old or the new file: write a
/// temporary file in the same directory, fsync it, rename it over, fsync the directory.
fn write_atomically(path: &Path, state: &State) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(&FileFormatRef { format: FORMAT, state }).map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("state"), std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::File::open(dir)?.sync_all()
}
