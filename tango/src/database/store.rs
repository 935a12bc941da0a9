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

type R<T> = Result<T, DevFailed>;

pub(crate) fn err(reason: &str, desc: impl Into<String>, origin: &str) -> DevFailed {
    DevFailed::new(reason, desc, format!("DataBase::{origin}"))
}

fn not_defined(what: &str, name: &str, origin: &str) -> DevFailed {
    err("DB_DeviceNotDefined", format!("{what} {name} not defined in the database !"), origin)
}

fn lc(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// `domain/family/member`, each part non-empty, no spaces, no wildcard.
pub fn check_device_name(name: &str, origin: &str) -> R<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let bad = parts.len() != 3 || parts.iter().any(|p| p.is_empty() || p.contains(|c: char| c.is_whitespace() || c == '*'));
    if bad {
        return Err(err(
            "DB_IncorrectDeviceName",
            format!("device name ({name}) syntax error (should be domain/family/member, three non-empty parts without spaces or '*')"),
            origin,
        ));
    }
    Ok(())
}

/// `executable/instance`.
pub fn check_server_name(name: &str, origin: &str) -> R<()> {
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.contains(|c: char| c.is_whitespace() || c == '*')) {
        return Err(err(
            "DB_IncorrectServerName",
            format!("server name ({name}) syntax error (should be executable/instance, two non-empty parts without spaces or '*')"),
            origin,
        ));
    }
    Ok(())
}

fn check_class_name(name: &str, origin: &str) -> R<()> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/' || c == '*') {
        return Err(err("DB_IncorrectArguments", format!("class name ({name:?}) must be non-empty, without spaces, '/' or '*'"), origin));
    }
    Ok(())
}

fn need_args(argin: &[String], n: usize, what: &str, origin: &str) -> R<()> {
    if argin.len() < n {
        return Err(err(
            "DB_IncorrectArguments",
            format!("incorrect number of input arguments: got {}, need at least {n} ({what})", argin.len()),
            origin,
        ));
    }
    Ok(())
}

/// Tango wildcard match: `*` = any sequence, case-insensitive.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Parse `[n, (name, n_values, values...)*]` starting at `argin[at]`.
fn parse_put_list(argin: &[String], at: usize, origin: &str) -> R<Vec<(String, Vec<String>)>> {
    let bad = |why: String| {
        err("DB_IncorrectArguments", format!("malformed property list: {why}; expected [object, n, (name, n_values, value...)*]"), origin)
    };
    let n: usize = argin.get(at).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no property count at index {at}")))?;
    let mut i = at + 1;
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let name = argin.get(i).ok_or_else(|| bad(format!("property {} of {n} is missing", k + 1)))?.clone();
        if name.trim().is_empty() {
            return Err(bad(format!("property {} has an empty name", k + 1)));
        }
        let nv: usize =
            argin.get(i + 1).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no value count for property {name}")))?;
        let vals = argin.get(i + 2..i + 2 + nv).ok_or_else(|| bad(format!("property {name} announces {nv} values, fewer are present")))?;
        out.push((name, vals.to_vec()));
        i += 2 + nv;
    }
    if i != argin.len() {
        return Err(bad(format!("{} unexpected trailing element(s)", argin.len() - i)));
    }
    Ok(out)
}

/// Parse `[n_attr, (attr, n_props, (prop, n_values, values...)*)*]` starting at `argin[at]`.
/// Properties to write: (name, values).
type PropList = Vec<(String, Vec<String>)>;

fn parse_attr_put_list(argin: &[String], at: usize, origin: &str) -> R<Vec<(String, PropList)>> {
    let bad = |why: String| {
        err(
            "DB_IncorrectArguments",
            format!("malformed attribute property list: {why}; expected [object, n_attr, (attr, n_props, (prop, n_values, value...)*)*]"),
            origin,
        )
    };
    let num = |i: usize, what: &str| -> R<usize> {
        argin.get(i).and_then(|s| s.trim().parse().ok()).ok_or_else(|| bad(format!("no {what} at index {i}")))
    };
    let n_attr = num(at, "attribute count")?;
    let mut i = at + 1;
    let mut out = Vec::new();
    for _ in 0..n_attr {
        let attr = argin.get(i).ok_or_else(|| bad("an attribute name is missing".into()))?.clone();
        let n_props = num(i + 1, "property count")?;
        i += 2;
        let mut props = Vec::new();
        for _ in 0..n_props {
            let name = argin.get(i).ok_or_else(|| bad(format!("a property name of attribute {attr} is missing")))?.clone();
            let nv = num(i + 1, "value count")?;
            let vals = argin
                .get(i + 2..i + 2 + nv)
                .ok_or_else(|| bad(format!("property {attr}.{name} announces {nv} values, fewer are present")))?;
            props.push((name, vals.to_vec()));
            i += 2 + nv;
        }
        out.push((attr, props));
    }
    if i != argin.len() {
        return Err(bad(format!("{} unexpected trailing element(s)", argin.len() - i)));
    }
    Ok(out)
}

/// The procedure release of the `ds_start` layout that includes pipe properties.
const CACHE_LAYOUT_RELEASE: &str = "release 1.13";

/// `object, n, (name, n_values, values...)*` (the server-cache layout).
fn flat_props(out: &mut Vec<String>, object: &str, map: Option<&PropMap>) {
    out.push(object.to_string());
    out.push(map.map_or(0, |m| m.len()).to_string());
    for p in map.into_iter().flat_map(|m| m.values()) {
        out.push(p.name.clone());
        out.push(p.values.len().to_string());
        out.extend(p.values.iter().cloned());
    }
}

/// `object, n_attr, (attr, n_props, (prop, n_values, values...)*)*`.
fn flat_attr_props(out: &mut Vec<String>, object: &str, map: Option<&BTreeMap<String, AttrProps>>) {
    out.push(object.to_string());
    out.push(map.map_or(0, |m| m.len()).to_string());
    for a in map.into_iter().flat_map(|m| m.values()) {
        out.push(a.name.clone());
        out.push(a.props.len().to_string());
        for p in a.props.values() {
            out.push(p.name.clone());
            out.push(p.values.len().to_string());
            out.extend(p.values.iter().cloned());
        }
    }
}

fn get_props(object: &str, map: Option<&PropMap>, names: &[String], placeholder: bool) -> Vec<String> {
    let mut r = vec![object.to_string(), names.len().to_string()];
    for n in names {
        r.push(n.clone());
        match map.and_then(|m| m.get(&lc(n))) {
            Some(p) => {
                r.push(p.values.len().to_string());
                r.extend(p.values.iter().cloned());
            }
            None => {
                r.push("0".into());
                if placeholder {
                    r.push(" ".into());
                }
            }
        }
    }
    r
}

fn put_props(map: &mut PropMap, list: Vec<(String, Vec<String>)>) {
    for (name, values) in list {
        map.insert(lc(&name), Prop { name, values });
    }
}

fn get_attr_props(object: &str, map: Option<&BTreeMap<String, AttrProps>>, attrs: &[String]) -> Vec<String> {
    let mut r = vec![object.to_string(), attrs.len().to_string()];
    for a in attrs {
        r.push(a.clone());
        match map.and_then(|m| m.get(&lc(a))) {
            Some(ap) => {
                r.push(ap.props.len().to_string());
                for p in ap.props.values() {
                    r.push(p.name.clone());
                    r.push(p.values.len().to_string());
                    r.extend(p.values.iter().cloned());
                }
            }
            None => r.push("0".into()),
        }
    }
    r
}

fn put_attr_props(map: &mut BTreeMap<String, AttrProps>, list: Vec<(String, PropList)>) {
    for (attr, props) in list {
        let entry = map.entry(lc(&attr)).or_insert_with(|| AttrProps { name: attr.clone(), props: PropMap::new() });
        put_props(&mut entry.props, props);
    }
}

fn distinct_sorted(it: impl Iterator<Item = String>) -> Vec<String> {
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

/// The two queries itango sends (whitespace and case normalised).
const SQL_DEVICES: &str = "select name, alias, server, class from device order by name";
const SQL_ATTR_ALIASES: &str = "select name, alias from attribute_alias order by alias";

/// The embedded database: the current state and where it is persisted.
pub struct Store {
    state: State,
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

    // ---- devices and servers ------------------------------------------------------------

    /// `DbAddDevice [server, device, class(, alias)]`.
    pub fn add_device(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "AddDevice()";
        need_args(argin, 3, "server, device, class", O)?;
        let (server, dev, class) = (&argin[0], &argin[1], &argin[2]);
        check_server_name(server, O)?;
        check_device_name(dev, O)?;
        check_class_name(class, O)?;
        let alias = argin.get(3).filter(|a| !a.trim().is_empty()).cloned();
        self.mutate(|s| {
            add_device_to(s, server, dev, class, alias);
            Ok(())
        })
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
        self.mutate(|s| {
            for pair in argin[1..].chunks(2) {
                add_device_to(s, &argin[0], &pair[0], &pair[1], None);
            }
            Ok(())
        })
    }

    /// `DbDeleteDevice name`: the device and all its properties.
    pub fn delete_device(&mut self, name: &str) -> R<()> {
        check_device_name(name, "DeleteDevice()")?;
        self.mutate(|s| {
            delete_device_from(s, name);
            Ok(())
        })
    }

    /// `DbDeleteServer server`: every device of the server (admin device included).
    pub fn delete_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "DeleteServer()")?;
        self.mutate(|s| {
            let names: Vec<String> = s.devices.values().filter(|d| d.server.eq_ignore_ascii_case(server)).map(|d| d.name.clone()).collect();
            for n in names {
                delete_device_from(s, &n);
            }
            Ok(())
        })
    }

    fn find_device<'a>(s: &'a State, name_or_alias: &str) -> Option<&'a DeviceRec> {
        s.devices
            .get(&lc(name_or_alias))
            .or_else(|| s.devices.values().find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(name_or_alias))))
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
        let key = lc(&argin[0]);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", &argin[0], O));
        }
        self.mutate(|s| {
            let d = s.devices.get_mut(&key).expect("checked above");
            d.exported = true;
            d.ior = argin[1].clone();
            d.host = argin[2].clone();
            d.pid = pid;
            d.version = argin[4].clone();
            d.started = Some(now_string());
            Ok(())
        })
    }

    /// `DbUnExportDevice name`.
    pub fn unexport_device(&mut self, name: &str) -> R<()> {
        let key = lc(name);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", name, "UnExportDevice()"));
        }
        self.mutate(|s| {
            let d = s.devices.get_mut(&key).expect("checked above");
            d.exported = false;
            d.stopped = Some(now_string());
            Ok(())
        })
    }

    /// `DbUnExportServer server`.
    pub fn unexport_server(&mut self, server: &str) -> R<()> {
        check_server_name(server, "UnExportServer()")?;
        let now = now_string();
        self.mutate(|s| {
            for d in s.devices.values_mut().filter(|d| d.server.eq_ignore_ascii_case(server)) {
                d.exported = false;
                d.stopped = Some(now.clone());
            }
            Ok(())
        })
    }

    /// `DbImportDevice name` → `([exported, pid], [name, ior, version, server, host, class])`.
    pub fn import_device(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = Self::find_device(&self.state, name).ok_or_else(|| not_defined("device", name, "ImportDevice()"))?;
        Ok((
            vec![d.exported as i32, d.pid],
            vec![lc(&d.name), d.ior.clone(), d.version.clone(), d.server.clone(), d.host.clone(), d.class.clone()],
        ))
    }

    /// `DbGetDeviceInfo name` → `([exported, pid], [name, ior, version, server, host, started, stopped, class])`.
    pub fn device_info(&self, name: &str) -> R<(Vec<i32>, Vec<String>)> {
        let d = Self::find_device(&self.state, name).ok_or_else(|| not_defined("device", name, "GetDeviceInfo()"))?;
        let date = |o: &Option<String>| o.clone().unwrap_or_else(|| "?".into());
        Ok((
            vec![d.exported as i32, d.pid],
            vec![
                lc(&d.name),
                d.ior.clone(),
                d.version.clone(),
                d.server.clone(),
                d.host.clone(),
                date(&d.started),
                date(&d.stopped),
                d.class.clone(),
            ],
        ))
    }

    /// `DbGetDeviceList [server, class]` (wildcards allowed).
    pub fn device_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "server, class", "GetDeviceList()")?;
        Ok(self
            .state
            .devices
            .values()
            .filter(|d| wildcard_match(&argin[0], &d.server) && wildcard_match(&argin[1], &d.class))
            .map(|d| d.name.clone())
            .collect())
    }

    /// `DbGetDeviceWideList pattern`.
    pub fn device_wide_list(&self, pattern: &str) -> Vec<String> {
        self.state.devices.values().filter(|d| wildcard_match(pattern, &d.name)).map(|d| d.name.clone()).collect()
    }

    /// `DbGetDeviceExportedList pattern`: exported devices whose name or alias matches.
    pub fn exported_list(&self, pattern: &str) -> Vec<String> {
        self.state
            .devices
            .values()
            .filter(|d| d.exported && (wildcard_match(pattern, &d.name) || d.alias.as_deref().is_some_and(|a| wildcard_match(pattern, a))))
            .map(|d| d.name.clone())
            .collect()
    }

    /// `DbGetExportdDeviceListForClass class`.
    pub fn exported_list_for_class(&self, class: &str) -> Vec<String> {
        self.state.devices.values().filter(|d| d.exported && wildcard_match(class, &d.class)).map(|d| d.name.clone()).collect()
    }

    /// Domain (0), family (1) or member (2) of the devices whose name matches `pattern`.
    pub fn name_parts(&self, pattern: &str, part: usize) -> Vec<String> {
        distinct_sorted(
            self.state
                .devices
                .values()
                .filter(|d| wildcard_match(pattern, &d.name))
                .filter_map(|d| d.name.split('/').nth(part).map(String::from)),
        )
    }

    /// `DbGetServerList pattern`.
    pub fn server_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(pattern, &d.server)).map(|d| d.server.clone()))
    }

    /// `DbGetServerNameList pattern`: executable names.
    pub fn server_name_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(
            self.state.devices.values().filter_map(|d| d.server.split('/').next().map(String::from)).filter(|e| wildcard_match(pattern, e)),
        )
    }

    /// `DbGetInstanceNameList executable`.
    pub fn instance_name_list(&self, exec: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter_map(|d| {
            let (e, i) = d.server.split_once('/')?;
            wildcard_match(exec, e).then(|| i.to_string())
        }))
    }

    /// `DbGetDeviceServerClassList server`.
    pub fn server_class_list(&self, server: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(server, &d.server)).map(|d| d.class.clone()))
    }

    /// `DbGetDeviceClassList server` → `[device, class, ...]`.
    pub fn device_class_list(&self, server: &str) -> Vec<String> {
        self.state
            .devices
            .values()
            .filter(|d| d.server.eq_ignore_ascii_case(server))
            .flat_map(|d| [d.name.clone(), d.class.clone()])
            .collect()
    }

    /// `DbGetClassList pattern`: classes that have devices.
    pub fn class_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(pattern, &d.class)).map(|d| d.class.clone()))
    }

    /// `DbGetClassForDevice device`.
    pub fn class_for_device(&self, name: &str) -> R<String> {
        Self::find_device(&self.state, name).map(|d| d.class.clone()).ok_or_else(|| not_defined("device", name, "GetClassForDevice()"))
    }

    /// `DbGetHostList pattern`: hosts of exported servers.
    pub fn host_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(
            self.state.devices.values().filter(|d| d.host != "nada" && wildcard_match(pattern, &d.host)).map(|d| d.host.clone()),
        )
    }

    /// `DbGetHostServerList host`.
    pub fn host_server_list(&self, host: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter(|d| wildcard_match(host, &d.host)).map(|d| d.server.clone()))
    }

    // ---- aliases -------------------------------------------------------------------------

    /// `DbPutDeviceAlias [device, alias]`.
    pub fn put_device_alias(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAlias()";
        need_args(argin, 2, "device name, alias", O)?;
        let (dev, alias) = (&argin[0], &argin[1]);
        if alias.trim().is_empty() || alias.contains('/') {
            return Err(err("DB_IncorrectArguments", format!("alias {alias:?} must be non-empty and contain no '/'"), O));
        }
        let key = lc(dev);
        if !self.state.devices.contains_key(&key) {
            return Err(not_defined("device", dev, O));
        }
        if let Some(other) =
            self.state.devices.values().find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias)) && lc(&d.name) != key)
        {
            return Err(err("DB_SQLError", format!("alias {alias} is already used by device {}", other.name), O));
        }
        self.mutate(|s| {
            s.devices.get_mut(&key).expect("checked").alias = Some(alias.clone());
            Ok(())
        })
    }

    /// `DbDeleteDeviceAlias alias`.
    pub fn delete_device_alias(&mut self, alias: &str) -> R<()> {
        self.mutate(|s| {
            for d in s.devices.values_mut().filter(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias))) {
                d.alias = None;
            }
            Ok(())
        })
    }

    /// `DbGetDeviceAlias device`.
    pub fn device_alias(&self, dev: &str) -> R<String> {
        let d = self.state.devices.get(&lc(dev)).ok_or_else(|| not_defined("device", dev, "GetDeviceAlias()"))?;
        d.alias.clone().ok_or_else(|| err("DB_AliasNotDefined", format!("no alias found for device {dev}"), "GetDeviceAlias()"))
    }

    /// `DbGetAliasDevice alias`.
    pub fn alias_device(&self, alias: &str) -> R<String> {
        self.state
            .devices
            .values()
            .find(|d| d.alias.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(alias)))
            .map(|d| d.name.clone())
            .ok_or_else(|| err("DB_AliasNotDefined", format!("no device found for alias {alias}"), "GetAliasDevice()"))
    }

    /// `DbGetDeviceAliasList pattern`.
    pub fn device_alias_list(&self, pattern: &str) -> Vec<String> {
        distinct_sorted(self.state.devices.values().filter_map(|d| d.alias.clone()).filter(|a| wildcard_match(pattern, a)))
    }

    // ---- properties ----------------------------------------------------------------------

    /// `DbGetDeviceProperty [device, names...]` (missing: `"0", " "`).
    pub fn get_device_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDeviceProperty()")?;
        Ok(get_props(&argin[0], self.state.device_props.get(&lc(&argin[0])), &argin[1..], true))
    }

    /// `DbPutDeviceProperty [device, n, (name, n_values, values...)*]`.
    pub fn put_device_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceProperty()";
        need_args(argin, 2, "device name, property count", O)?;
        check_device_name(&argin[0], O)?;
        let list = parse_put_list(argin, 1, O)?;
        self.mutate(|s| {
            put_props(s.device_props.entry(lc(&argin[0])).or_default(), list);
            Ok(())
        })
    }

    /// `DbDeleteDeviceProperty [device, names...]`.
    pub fn delete_device_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "device name", "DeleteDeviceProperty()")?;
        self.mutate(|s| {
            delete_props(&mut s.device_props, &argin[0], &argin[1..]);
            Ok(())
        })
    }

    /// `DbGetDevicePropertyList [device, pattern]`.
    pub fn device_property_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, wildcard", "GetDevicePropertyList()")?;
        Ok(prop_names(self.state.device_props.get(&lc(&argin[0])), &argin[1]))
    }

    /// `DbGetClassProperty [class, names...]` (missing: `"0"`, no placeholder).
    pub fn get_class_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassProperty()")?;
        Ok(get_props(&argin[0], self.state.class_props.get(&lc(&argin[0])), &argin[1..], false))
    }

    /// `DbPutClassProperty [class, n, (name, n_values, values...)*]`.
    pub fn put_class_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassProperty()";
        need_args(argin, 2, "class name, property count", O)?;
        check_class_name(&argin[0], O)?;
        let list = parse_put_list(argin, 1, O)?;
        self.mutate(|s| {
            put_props(s.class_props.entry(lc(&argin[0])).or_default(), list);
            Ok(())
        })
    }

    /// `DbDeleteClassProperty [class, names...]`.
    pub fn delete_class_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "class name", "DeleteClassProperty()")?;
        self.mutate(|s| {
            delete_props(&mut s.class_props, &argin[0], &argin[1..]);
            Ok(())
        })
    }

    /// `DbGetClassPropertyList class` (the class name may be a wildcard in real DBs: here exact).
    pub fn class_property_list(&self, class: &str) -> Vec<String> {
        prop_names(self.state.class_props.get(&lc(class)), "*")
    }

    /// `DbGetProperty [object, names...]` (free properties; missing: `"0", " "`).
    pub fn get_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "object name", "GetProperty()")?;
        Ok(get_props(&argin[0], self.state.free_props.get(&lc(&argin[0])), &argin[1..], true))
    }

    /// `DbPutProperty [object, n, (name, n_values, values...)*]`.
    pub fn put_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutProperty()";
        need_args(argin, 2, "object name, property count", O)?;
        if argin[0].trim().is_empty() {
            return Err(err("DB_IncorrectArguments", "the object name must not be empty", O));
        }
        let list = parse_put_list(argin, 1, O)?;
        self.mutate(|s| {
            put_props(s.free_props.entry(lc(&argin[0])).or_default(), list);
            Ok(())
        })
    }

    /// `DbDeleteProperty [object, names...]`.
    pub fn delete_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "object name", "DeleteProperty()")?;
        self.mutate(|s| {
            delete_props(&mut s.free_props, &argin[0], &argin[1..]);
            Ok(())
        })
    }

    /// `DbGetPropertyList [object, pattern]`.
    pub fn property_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "object name, wildcard", "GetPropertyList()")?;
        Ok(prop_names(self.state.free_props.get(&lc(&argin[0])), &argin[1]))
    }

    /// `DbGetObjectList pattern`: objects with free properties.
    pub fn object_list(&self, pattern: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.state.free_props.iter().filter(|(k, m)| !m.is_empty() && wildcard_match(pattern, k)).map(|(k, _)| k.clone()).collect();
        v.sort();
        v
    }

    /// `DbGetDeviceAttributeProperty2 [device, attrs...]`.
    pub fn get_device_attribute_property2(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDeviceAttributeProperty2()")?;
        Ok(get_attr_props(&argin[0], self.state.device_attr_props.get(&lc(&argin[0])), &argin[1..]))
    }

    /// `DbPutDeviceAttributeProperty2 [device, n_attr, (attr, n_props, (prop, n_values, values...)*)*]`.
    pub fn put_device_attribute_property2(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAttributeProperty2()";
        need_args(argin, 2, "device name, attribute count", O)?;
        check_device_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O)?;
        self.mutate(|s| {
            put_attr_props(s.device_attr_props.entry(lc(&argin[0])).or_default(), list);
            Ok(())
        })
    }

    /// `DbDeleteDeviceAttributeProperty [device, attr, props...]`.
    pub fn delete_device_attribute_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "device name, attribute name", "DeleteDeviceAttributeProperty()")?;
        self.mutate(|s| {
            delete_attr_props(&mut s.device_attr_props, &argin[0], &argin[1], Some(&argin[2..]));
            Ok(())
        })
    }

    /// `DbDeleteAllDeviceAttributeProperty [device, attrs...]`.
    pub fn delete_all_device_attribute_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteAllDeviceAttributeProperty()";
        if argin.len() < 2 {
            return Err(err(
                "DB_IncorrectArguments",
                "insufficient number of arguments to delete all device attribute(s) property: need [device, attribute...]",
                O,
            ));
        }
        check_device_name(&argin[0], O)?;
        self.mutate(|s| {
            for a in &argin[1..] {
                delete_attr_props(&mut s.device_attr_props, &argin[0], a, None);
            }
            Ok(())
        })
    }

    /// `DbGetDeviceAttributeList [device, pattern]`: attributes with properties.
    pub fn device_attribute_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, wildcard", "GetDeviceAttributeList()")?;
        Ok(self
            .state
            .device_attr_props
            .get(&lc(&argin[0]))
            .map(|m| m.values().filter(|a| wildcard_match(&argin[1], &a.name)).map(|a| a.name.clone()).collect())
            .unwrap_or_default())
    }

    /// `DbGetClassAttributeProperty2 [class, attrs...]`.
    pub fn get_class_attribute_property2(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassAttributeProperty2()")?;
        Ok(get_attr_props(&argin[0], self.state.class_attr_props.get(&lc(&argin[0])), &argin[1..]))
    }

    /// `DbPutClassAttributeProperty2 [class, n_attr, ...]`.
    pub fn put_class_attribute_property2(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassAttributeProperty2()";
        need_args(argin, 2, "class name, attribute count", O)?;
        check_class_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O)?;
        self.mutate(|s| {
            put_attr_props(s.class_attr_props.entry(lc(&argin[0])).or_default(), list);
            Ok(())
        })
    }

    /// `DbDeleteClassAttributeProperty [class, attr, props...]`.
    pub fn delete_class_attribute_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "class name, attribute name", "DeleteClassAttributeProperty()")?;
        self.mutate(|s| {
            delete_attr_props(&mut s.class_attr_props, &argin[0], &argin[1], Some(&argin[2..]));
            Ok(())
        })
    }

    /// `DbGetDevicePipeProperty` / `DbGetClassPipeProperty [object, pipes...]`: pipes are not
    /// used by this project, no pipe property is ever stored: every pipe has 0 properties.
    pub fn get_pipe_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device or class name", "GetPipeProperty()")?;
        Ok(get_attr_props(&argin[0], None, &argin[1..]))
    }

    // ---- server start-up cache ------------------------------------------------------------

    /// `DbGetDataForServerCache [server, host]`: everything a device server reads at start-up,
    /// in one flat list, laid out as the C++ DataBaseds' `ds_start` procedure does (checked
    /// against it in the database suite):
    ///
    /// `[("release 1.13" if host ends with %%<tango release >= 9>)`, admin import
    /// (`name, ior, version, server, host, exported, pid, class` or `name, "Not Found"` and
    /// nothing else), `notifd/factory/<host>, "Not Found"`, `dserver/<server>, "Not Found"`
    /// (no notifd events), class properties of `DServer` and `Default`, admin device
    /// properties, `server, n_classes`, per class: class properties, class attribute
    /// properties, (class pipe properties), `class, n_devices, devices...`, per device: device
    /// properties, device attribute properties, (device pipe properties); then `CtrlSystem`
    /// free properties and, if an access-control service is configured, its import `]`.
    pub fn data_for_server_cache(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "server name (executable/instance), host name", "GetDataForServerCache()")?;
        let (ds, recv_host) = (&argin[0], &argin[1]);
        let (host, pipes) = match recv_host.find("%%") {
            Some(p) => {
                let rel: String = recv_host[p + 2..].chars().take_while(|c| c.is_ascii_digit()).collect();
                (&recv_host[..p], rel.parse::<u32>().map(|r| r >= 9).unwrap_or(false))
            }
            None => (recv_host.as_str(), false),
        };
        let s = &self.state;
        let mut out = Vec::new();
        if pipes {
            out.push(CACHE_LAYOUT_RELEASE.to_string());
        }
        let admin = format!("dserver/{ds}");
        if !self.import_for_cache(&admin, &mut out) {
            return Ok(out);
        }
        out.extend([format!("notifd/factory/{host}"), "Not Found".into(), admin.clone(), "Not Found".into()]);
        flat_props(&mut out, "DServer", s.class_props.get("dserver"));
        flat_props(&mut out, "Default", s.class_props.get("default"));
        flat_props(&mut out, &admin, s.device_props.get(&lc(&admin)));
        let mut classes = distinct_sorted(
            s.devices
                .values()
                .filter(|d| d.server.eq_ignore_ascii_case(ds) && !d.class.eq_ignore_ascii_case("dserver"))
                .map(|d| d.class.clone()),
        );
        classes.retain(|c| !c.eq_ignore_ascii_case("dserver"));
        out.push(ds.clone());
        out.push(classes.len().to_string());
        for class in &classes {
            flat_props(&mut out, class, s.class_props.get(&lc(class)));
            flat_attr_props(&mut out, class, s.class_attr_props.get(&lc(class)));
            if pipes {
                out.extend([class.clone(), "0".into()]);
            }
            let mut devs: Vec<&DeviceRec> =
                s.devices.values().filter(|d| d.server.eq_ignore_ascii_case(ds) && d.class.eq_ignore_ascii_case(class)).collect();
            devs.sort_by_key(|d| d.name.to_ascii_lowercase());
            out.push(class.clone());
            out.push(devs.len().to_string());
            out.extend(devs.iter().map(|d| d.name.clone()));
            for d in devs {
                flat_props(&mut out, &d.name, s.device_props.get(&lc(&d.name)));
                flat_attr_props(&mut out, &d.name, s.device_attr_props.get(&lc(&d.name)));
                if pipes {
                    out.extend([d.name.clone(), "0".into()]);
                }
            }
        }
        let ctrl = s.free_props.get("ctrlsystem");
        flat_props(&mut out, "CtrlSystem", ctrl);
        let access = ctrl.and_then(|m| m.get("services")).and_then(|p| {
            p.values.iter().find_map(|v| {
                let name = &v[v.find("AccessControl/tango:")? + "AccessControl/tango:".len()..];
                Some(match name.find("tango://") {
                    Some(_) => name.rsplitn(4, '/').take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/"),
                    None => name.to_string(),
                })
            })
        });
        if let Some(dev) = access {
            self.import_for_cache(&dev, &mut out);
        }
        Ok(out)
    }

    /// `name, ior, version, server, host, exported, pid, class`, or `name, "Not Found"`.
    fn import_for_cache(&self, name: &str, out: &mut Vec<String>) -> bool {
        out.push(name.to_string());
        match self.state.devices.get(&lc(name)) {
            None => {
                out.push("Not Found".into());
                false
            }
            Some(d) => {
                out.extend([
                    d.ior.clone(),
                    d.version.clone(),
                    d.server.clone(),
                    d.host.clone(),
                    (d.exported as i32).to_string(),
                    d.pid.to_string(),
                    d.class.clone(),
                ]);
                true
            }
        }
    }

    // ---- misc ----------------------------------------------------------------------------

    /// `DbInfo`.
    pub fn info(&self) -> Vec<String> {
        let s = &self.state;
        let dserver = |d: &&DeviceRec| d.class == "DServer";
        let count = |m: &BTreeMap<String, PropMap>| m.values().map(|p| p.len()).sum::<usize>();
        let count_attr =
            |m: &BTreeMap<String, BTreeMap<String, AttrProps>>| m.values().flat_map(|a| a.values()).map(|a| a.props.len()).sum::<usize>();
        vec![
            format!("TANGO Database {}", self.self_name),
            " ".into(),
            format!("Running since ...{}", self.started),
            " ".into(),
            format!("Devices defined = {}", s.devices.len()),
            format!("Devices exported = {}", s.devices.values().filter(|d| d.exported).count()),
            format!("Device servers defined = {}", s.devices.values().filter(dserver).count()),
            format!("Device servers exported = {}", s.devices.values().filter(dserver).filter(|d| d.exported).count()),
            " ".into(),
            format!("Device properties defined = {} [History lgth = 0]", count(&s.device_props)),
            format!("Class properties defined = {} [History lgth = 0]", count(&s.class_props)),
            format!("Device attribute properties defined = {} [History lgth = 0]", count_attr(&s.device_attr_props)),
            format!("Class attribute properties defined = {} [History lgth = 0]", count_attr(&s.class_attr_props)),
            format!("Object properties defined = {} [History lgth = 0]", count(&s.free_props)),
        ]
    }

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

    /// `DbGetCSDbServerList`: this database's `host:port`.
    pub fn cs_db_server_list(&self) -> Vec<String> {
        vec![self.self_address.clone()]
    }

    /// Register and export the database device itself (at start-up).
    pub fn register_self(&mut self, server: &str, device: &str, admin: &str, ior_dev: &str, ior_admin: &str, host: &str) -> R<()> {
        let pid = std::process::id() as i32;
        let now = now_string();
        self.mutate(|s| {
            add_device_to(s, server, device, "DataBase", None);
            for (name, ior) in [(device, ior_dev), (admin, ior_admin)] {
                let d = s.devices.get_mut(&lc(name)).expect("added above");
                d.exported = true;
                d.ior = ior.to_string();
                d.host = host.to_string();
                d.pid = pid;
                d.version = crate::dispatch::IDL_VERSION.to_string();
                d.started = Some(now.clone());
            }
            Ok(())
        })
    }
}

fn truncate(s: &str) -> String {
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

fn add_device_to(s: &mut State, server: &str, dev: &str, class: &str, alias: Option<String>) {
    let key = lc(dev);
    let rec = DeviceRec {
        name: dev.to_string(),
        server: server.to_string(),
        class: class.to_string(),
        alias,
        exported: false,
        ior: "nada".into(),
        version: "0".into(),
        host: "nada".into(),
        pid: 0,
        started: None,
        stopped: None,
    };
    s.devices.insert(key, rec);
    let has_admin = s.devices.values().any(|d| d.class == "DServer" && d.server.eq_ignore_ascii_case(server));
    if !has_admin {
        let admin = format!("dserver/{server}");
        s.devices.insert(
            lc(&admin),
            DeviceRec {
                name: admin,
                server: server.to_string(),
                class: "DServer".into(),
                alias: None,
                exported: false,
                ior: "nada".into(),
                version: "0".into(),
                host: "nada".into(),
                pid: 0,
                started: None,
                stopped: None,
            },
        );
    }
}

fn delete_device_from(s: &mut State, name: &str) {
    let key = lc(name);
    s.devices.remove(&key);
    s.device_props.remove(&key);
    s.device_attr_props.remove(&key);
}

fn delete_props(m: &mut BTreeMap<String, PropMap>, object: &str, names: &[String]) {
    let key = lc(object);
    if let Some(p) = m.get_mut(&key) {
        for n in names {
            if n.contains('*') {
                p.retain(|_, v| !wildcard_match(n, &v.name));
            } else {
                p.remove(&lc(n));
            }
        }
        if p.is_empty() {
            m.remove(&key);
        }
    }
}

fn delete_attr_props(m: &mut BTreeMap<String, BTreeMap<String, AttrProps>>, object: &str, attr: &str, props: Option<&[String]>) {
    let key = lc(object);
    let Some(attrs) = m.get_mut(&key) else { return };
    match props {
        None => {
            attrs.remove(&lc(attr));
        }
        Some(names) => {
            if let Some(a) = attrs.get_mut(&lc(attr)) {
                for n in names {
                    a.props.remove(&lc(n));
                }
                if a.props.is_empty() {
                    attrs.remove(&lc(attr));
                }
            }
        }
    }
    if attrs.is_empty() {
        m.remove(&key);
    }
}

fn prop_names(m: Option<&PropMap>, pattern: &str) -> Vec<String> {
    m.map(|m| m.values().filter(|p| wildcard_match(pattern, &p.name)).map(|p| p.name.clone()).collect()).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn reason<T: std::fmt::Debug>(r: R<T>) -> String {
        r.unwrap_err().reason().to_string()
    }

    #[test]
    fn add_device_creates_the_admin_device_once() {
        let mut s = Store::in_memory();
        s.add_device(&v(&["SDPSubarray/1", "mid_sdp/elt/subarray_1", "SDPSubarray"])).unwrap();
        s.add_device(&v(&["SDPSubarray/1", "mid_sdp/elt/subarray_2", "SDPSubarray"])).unwrap();
        assert_eq!(s.device_list(&v(&["SDPSubarray/1", "SDPSubarray"])).unwrap(), v(&["mid_sdp/elt/subarray_1", "mid_sdp/elt/subarray_2"]));
        assert_eq!(s.device_list(&v(&["SDPSubarray/1", "DServer"])).unwrap(), v(&["dserver/SDPSubarray/1"]));
        assert_eq!(s.server_list("*"), v(&["SDPSubarray/1"]));
        assert_eq!(s.server_name_list("SDP*"), v(&["SDPSubarray"]));
        assert_eq!(s.instance_name_list("SDPSubarray"), v(&["1"]));
        assert_eq!(s.name_parts("*", 0), v(&["dserver", "mid_sdp"]));
        assert_eq!(s.name_parts("mid_sdp/*", 1), v(&["elt"]));
        assert_eq!(s.name_parts("mid_sdp/elt/*", 2), v(&["subarray_1", "subarray_2"]));
        assert_eq!(s.device_class_list("SDPSubarray/1").len(), 6);
    }

    #[test]
    fn bad_input_is_refused_and_changes_nothing() {
        let mut s = Store::in_memory();
        s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
        let before = s.state().clone();
        assert_eq!(reason(s.add_device(&v(&["S/1", "a/b", "C"]))), "DB_IncorrectDeviceName");
        assert_eq!(reason(s.add_device(&v(&["S", "a/b/d", "C"]))), "DB_IncorrectServerName");
        assert_eq!(reason(s.add_device(&v(&["S/1", "a/b/d"]))), "DB_IncorrectArguments");
        assert_eq!(reason(s.add_server(&v(&["S/1", "a/b/d", "C", "a/b/e"]))), "DB_IncorrectArguments");
        // the second pair is bad: the first is not added either
        assert_eq!(reason(s.add_server(&v(&["S/1", "a/b/d", "C", "x y/b/e", "C"]))), "DB_IncorrectDeviceName");
        assert_eq!(reason(s.put_device_property(&v(&["a/b/c", "2", "p", "1", "x"]))), "DB_IncorrectArguments");
        assert_eq!(reason(s.put_device_property(&v(&["a/b/c", "1", "p", "3", "x"]))), "DB_IncorrectArguments");
        assert_eq!(reason(s.export_device(&v(&["a/b/zz", "IOR:00", "h", "1", "5"]))), "DB_DeviceNotDefined");
        assert_eq!(reason(s.export_device(&v(&["a/b/c", "IOR:00", "h", "x", "5"]))), "DB_IncorrectArguments");
        assert_eq!(reason(s.export_device(&v(&["a/b/c", "corbaloc:x", "h", "1", "5"]))), "DB_IncorrectArguments");
        assert_eq!(reason(s.put_device_attribute_property2(&v(&["a/b/c", "1", "attr", "1", "p", "2", "x"]))), "DB_IncorrectArguments");
        assert_eq!(&before, s.state());
        let e = s.add_device(&v(&["S/1", "a/b", "C"])).unwrap_err();
        assert!(e.errors[0].desc.contains("domain/family/member"), "{}", e.errors[0].desc);
    }

    #[test]
    fn export_import_unexport() {
        let mut s = Store::in_memory();
        s.add_device(&v(&["S/1", "A/B/C", "C"])).unwrap();
        let (l, sv) = s.import_device("a/b/c").unwrap();
        assert_eq!(l, vec![0, 0]);
        assert_eq!(sv, v(&["a/b/c", "nada", "0", "S/1", "nada", "C"]));
        s.export_device(&v(&["a/b/c", "IOR:0102", "vm", "42", "5"])).unwrap();
        s.export_device(&v(&["dserver/S/1", "IOR:0103", "vm", "42", "5"])).unwrap();
        let (l, sv) = s.import_device("A/B/C").unwrap();
        assert_eq!(l, vec![1, 42]);
        assert_eq!(sv, v(&["a/b/c", "IOR:0102", "5", "S/1", "vm", "C"]));
        assert_eq!(s.exported_list("*"), v(&["A/B/C", "dserver/S/1"]));
        let (_, info) = s.device_info("a/b/c").unwrap();
        assert_eq!(info.len(), 8);
        assert_eq!(info[6], "?");
        s.unexport_server("S/1").unwrap();
        assert!(s.exported_list("*").is_empty());
        assert_eq!(s.import_device("a/b/c").unwrap().0, vec![0, 42]);
        assert_ne!(s.device_info("a/b/c").unwrap().1[6], "?");
        assert_eq!(reason(s.import_device("x/y/z")), "DB_DeviceNotDefined");
        s.delete_server("S/1").unwrap();
        assert!(s.state().devices.is_empty());
    }

    #[test]
    fn properties_in_the_real_layouts() {
        let mut s = Store::in_memory();
        s.put_device_property(&v(&["a/b/c", "2", "Speed", "1", "3", "Names", "2", "x", "y"])).unwrap();
        assert_eq!(
            s.get_device_property(&v(&["a/b/c", "speed", "missing"])).unwrap(),
            v(&["a/b/c", "2", "speed", "1", "3", "missing", "0", " "])
        );
        assert_eq!(s.device_property_list(&v(&["a/b/c", "*"])).unwrap(), v(&["Names", "Speed"]));
        s.delete_device_property(&v(&["a/b/c", "SPEED"])).unwrap();
        assert_eq!(s.device_property_list(&v(&["a/b/c", "*"])).unwrap(), v(&["Names"]));
        s.put_class_property(&v(&["SDPSubarray", "1", "TestMode", "1", "1"])).unwrap();
        assert_eq!(
            s.get_class_property(&v(&["SDPSubarray", "TestMode", "Other"])).unwrap(),
            v(&["SDPSubarray", "2", "TestMode", "1", "1", "Other", "0"])
        );
        assert_eq!(s.class_property_list("sdpsubarray"), v(&["TestMode"]));
        assert_eq!(s.get_property(&v(&["CtrlSystem", "Services"])).unwrap(), v(&["CtrlSystem", "1", "Services", "0", " "]));
        s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "AccessControl/tango:sys/access_control/1"])).unwrap();
        assert_eq!(s.object_list("*"), v(&["ctrlsystem"]));
        s.put_device_attribute_property2(&v(&[
            "a/b/c",
            "2",
            "obsState",
            "1",
            "abs_change",
            "1",
            "1",
            "adminMode",
            "2",
            "label",
            "1",
            "Admin",
            "unit",
            "0",
        ]))
        .unwrap();
        assert_eq!(
            s.get_device_attribute_property2(&v(&["a/b/c", "obsState", "nope"])).unwrap(),
            v(&["a/b/c", "2", "obsState", "1", "abs_change", "1", "1", "nope", "0"])
        );
        assert_eq!(s.device_attribute_list(&v(&["a/b/c", "*"])).unwrap(), v(&["adminMode", "obsState"]));
        s.delete_device_attribute_property(&v(&["a/b/c", "adminMode", "label"])).unwrap();
        s.delete_all_device_attribute_property(&v(&["a/b/c", "obsState"])).unwrap();
        assert_eq!(s.device_attribute_list(&v(&["a/b/c", "*"])).unwrap(), v(&["adminMode"]));
        s.put_class_attribute_property2(&v(&["C", "1", "x", "1", "min_value", "1", "0"])).unwrap();
        assert_eq!(s.get_class_attribute_property2(&v(&["C", "x"])).unwrap(), v(&["C", "1", "x", "1", "min_value", "1", "0"]));
    }

    #[test]
    fn itango_queries_and_nothing_else() {
        let mut s = Store::in_memory();
        s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
        s.put_device_alias(&v(&["a/b/c", "abc"])).unwrap();
        let (l, sv) = s.sql_select("SELECT name, alias, server, class FROM device order by name").unwrap();
        assert_eq!(sv, v(&["a/b/c", "abc", "S/1", "C", "dserver/S/1", "", "S/1", "DServer"]));
        assert_eq!(l, vec![1, 1, 1, 1, 1, 0, 1, 1, 2, 4]);
        assert_eq!(s.sql_select("select  name, alias from attribute_alias order by alias").unwrap(), (vec![0, 2], vec![]));
        let e = s.sql_select("DELETE FROM device").unwrap_err();
        assert_eq!(e.reason(), "DB_SQLError");
        assert!(e.errors[0].desc.contains("accepts only"));
        assert_eq!(s.alias_device("ABC").unwrap(), "a/b/c");
        assert_eq!(s.import_device("abc").unwrap().1[0], "a/b/c");
        assert_eq!(reason(s.put_device_alias(&v(&["dserver/S/1", "abc"]))), "DB_SQLError");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("sys/*", "SYS/database/2"));
        assert!(wildcard_match("*/database/*", "sys/database/2"));
        assert!(!wildcard_match("sys/*", "mid_sdp/elt/master"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("exact", "EXACT"));
    }

    #[test]
    fn state_survives_a_restart_and_failed_changes_are_not_written() {
        let dir = std::env::temp_dir().join(format!("tango-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = Store::open(&dir).unwrap();
            s.add_device(&v(&["S/1", "a/b/c", "C"])).unwrap();
            s.put_device_property(&v(&["a/b/c", "1", "p", "2", "x", "y"])).unwrap();
            assert!(s.add_device(&v(&["S/1", "bad", "C"])).is_err());
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.device_list(&v(&["S/1", "C"])).unwrap(), v(&["a/b/c"]));
        assert_eq!(s.get_device_property(&v(&["a/b/c", "p"])).unwrap(), v(&["a/b/c", "1", "p", "2", "x", "y"]));
        // no temporary file left behind
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::write(dir.join("tango-db.json"), b"{not json").unwrap();
        assert!(Store::open(&dir).err().unwrap().contains("not valid"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dates_look_like_the_real_ones() {
        let d = now_string();
        assert_eq!(d.len(), "25-11-2026 at 17:37:33".len(), "{d}");
        assert_eq!(&d[10..14], " at ");
    }

    /// The same registrations as in the C++ DataBaseds run (Debian tango-db 9.3.4, stored
    /// procedures release 1.13, MariaDB) that produced these two replies.
    #[test]
    fn server_cache_matches_the_cpp_databaseds() {
        let mut s = Store::in_memory();
        s.add_device(&v(&["Cache/c", "cache/a/1", "ClassA"])).unwrap();
        s.add_device(&v(&["Cache/c", "cache/a/2", "ClassA"])).unwrap();
        s.add_device(&v(&["Cache/c", "cache/b/1", "ClassB"])).unwrap();
        s.put_device_property(&v(&["cache/a/1", "2", "P1", "2", "x", "y", "Q", "1", "1"])).unwrap();
        s.put_class_property(&v(&["ClassA", "1", "CP", "1", "c"])).unwrap();
        s.put_device_attribute_property2(&v(&[
            "cache/a/1",
            "2",
            "attr1",
            "2",
            "abs_change",
            "1",
            "1",
            "label",
            "1",
            "L",
            "attr2",
            "1",
            "unit",
            "1",
            "m",
        ]))
        .unwrap();
        s.put_class_attribute_property2(&v(&["ClassB", "1", "battr", "1", "max_value", "2", "10", "11"])).unwrap();
        s.put_device_property(&v(&["dserver/Cache/c", "1", "logging_level", "1", "DEBUG"])).unwrap();
        s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "x/y"])).unwrap();
        // what the C++ schema pre-loads for class DServer
        let allowed = [
            "QueryClass",
            "QueryDevice",
            "EventSubscriptionChange",
            "DevPollStatus",
            "GetLoggingLevel",
            "GetLoggingTarget",
            "QueryWizardDevProperty",
            "QueryWizardClassProperty",
            "QuerySubDevice",
            "ZMQEventSubscriptionChange",
            "EventConfirmSubscription",
        ];
        let mut put = v(&["DServer", "1", "AllowedAccessCmd", "11"]);
        put.extend(v(&allowed));
        s.put_class_property(&put).unwrap();
        assert_eq!(s.data_for_server_cache(&v(&["Cache/c", "vm"])).unwrap(), v(GOLDEN_VM));
        assert_eq!(s.data_for_server_cache(&v(&["Cache/c", "vm%%9"])).unwrap(), v(GOLDEN_9));
        assert_eq!(s.data_for_server_cache(&v(&["Nope/n", "vm"])).unwrap(), v(&["dserver/Nope/n", "Not Found"]));
        // an access-control service is imported at the end
        s.add_device(&v(&["TangoAccessControl/1", "sys/access_control/1", "TangoAccessControl"])).unwrap();
        s.put_property(&v(&["CtrlSystem", "1", "Services", "1", "AccessControl/tango:sys/access_control/1"])).unwrap();
        let r = s.data_for_server_cache(&v(&["Cache/c", "vm"])).unwrap();
        assert_eq!(
            &r[r.len() - 8..],
            &v(&["sys/access_control/1", "nada", "0", "TangoAccessControl/1", "nada", "0", "0", "TangoAccessControl"])[..]
        );
    }

    const GOLDEN_VM: &[&str] = &[
        "dserver/Cache/c",
        "nada",
        "0",
        "Cache/c",
        "nada",
        "0",
        "0",
        "DServer",
        "notifd/factory/vm",
        "Not Found",
        "dserver/Cache/c",
        "Not Found",
        "DServer",
        "1",
        "AllowedAccessCmd",
        "11",
        "QueryClass",
        "QueryDevice",
        "EventSubscriptionChange",
        "DevPollStatus",
        "GetLoggingLevel",
        "GetLoggingTarget",
        "QueryWizardDevProperty",
        "QueryWizardClassProperty",
        "QuerySubDevice",
        "ZMQEventSubscriptionChange",
        "EventConfirmSubscription",
        "Default",
        "0",
        "dserver/Cache/c",
        "1",
        "logging_level",
        "1",
        "DEBUG",
        "Cache/c",
        "2",
        "ClassA",
        "1",
        "CP",
        "1",
        "c",
        "ClassA",
        "0",
        "ClassA",
        "2",
        "cache/a/1",
        "cache/a/2",
        "cache/a/1",
        "2",
        "P1",
        "2",
        "x",
        "y",
        "Q",
        "1",
        "1",
        "cache/a/1",
        "2",
        "attr1",
        "2",
        "abs_change",
        "1",
        "1",
        "label",
        "1",
        "L",
        "attr2",
        "1",
        "unit",
        "1",
        "m",
        "cache/a/2",
        "0",
        "cache/a/2",
        "0",
        "ClassB",
        "0",
        "ClassB",
        "1",
        "battr",
        "1",
        "max_value",
        "2",
        "10",
        "11",
        "ClassB",
        "1",
        "cache/b/1",
        "cache/b/1",
        "0",
        "cache/b/1",
        "0",
        "CtrlSystem",
        "1",
        "Services",
        "1",
        "x/y",
    ];
    const GOLDEN_9: &[&str] = &[
        "release 1.13",
        "dserver/Cache/c",
        "nada",
        "0",
        "Cache/c",
        "nada",
        "0",
        "0",
        "DServer",
        "notifd/factory/vm",
        "Not Found",
        "dserver/Cache/c",
        "Not Found",
        "DServer",
        "1",
        "AllowedAccessCmd",
        "11",
        "QueryClass",
        "QueryDevice",
        "EventSubscriptionChange",
        "DevPollStatus",
        "GetLoggingLevel",
        "GetLoggingTarget",
        "QueryWizardDevProperty",
        "QueryWizardClassProperty",
        "QuerySubDevice",
        "ZMQEventSubscriptionChange",
        "EventConfirmSubscription",
        "Default",
        "0",
        "dserver/Cache/c",
        "1",
        "logging_level",
        "1",
        "DEBUG",
        "Cache/c",
        "2",
        "ClassA",
        "1",
        "CP",
        "1",
        "c",
        "ClassA",
        "0",
        "ClassA",
        "0",
        "ClassA",
        "2",
        "cache/a/1",
        "cache/a/2",
        "cache/a/1",
        "2",
        "P1",
        "2",
        "x",
        "y",
        "Q",
        "1",
        "1",
        "cache/a/1",
        "2",
        "attr1",
        "2",
        "abs_change",
        "1",
        "1",
        "label",
        "1",
        "L",
        "attr2",
        "1",
        "unit",
        "1",
        "m",
        "cache/a/1",
        "0",
        "cache/a/2",
        "0",
        "cache/a/2",
        "0",
        "cache/a/2",
        "0",
        "ClassB",
        "0",
        "ClassB",
        "1",
        "battr",
        "1",
        "max_value",
        "2",
        "10",
        "11",
        "ClassB",
        "0",
        "ClassB",
        "1",
        "cache/b/1",
        "cache/b/1",
        "0",
        "cache/b/1",
        "0",
        "cache/b/1",
        "0",
        "CtrlSystem",
        "1",
        "Services",
        "1",
        "x/y",
    ];
}
