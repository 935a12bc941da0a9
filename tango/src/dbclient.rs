//! The Tango database as a client sees it: `TANGO_HOST`, the `database` object reached with
//! corbaloc/GIOP 1.0, and typed wrappers of the `Db*` commands a device server and the
//! loaders need. The argument/result layouts are those of §9 of the protocol notes
//! (flat string arrays `[object, n, name, n_values, values...]`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::any::CmdValue;
use crate::client::{ClientError, Connection, DEFAULT_TIMEOUT};
use crate::idl::DevFailed;

/// The object key of the database device (cppTango's `DbObjName`).
pub const DB_OBJECT_KEY_STR: &str = "database";
pub const DB_OBJECT_KEY: &[u8] = DB_OBJECT_KEY_STR.as_bytes();

/// `TANGO_HOST`: `host:port`, or several comma-separated alternatives tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TangoHost {
    pub alternatives: Vec<(String, u16)>,
    text: String,
}

impl TangoHost {
    pub fn parse(s: &str) -> Result<TangoHost, String> {
        let mut alternatives = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (h, p) = part
                .rsplit_once(':')
                .ok_or_else(|| format!("invalid TANGO_HOST entry {part:?}: expected host:port (e.g. 127.0.0.1:10000)"))?;
            let port: u16 = p.parse().map_err(|_| format!("invalid port {p:?} in TANGO_HOST entry {part:?}: expected a number 1-65535"))?;
            if h.is_empty() || port == 0 {
                return Err(format!("invalid TANGO_HOST entry {part:?}: expected host:port with a non-empty host and a port 1-65535"));
            }
            alternatives.push((h.to_string(), port));
        }
        if alternatives.is_empty() {
            return Err("TANGO_HOST is empty: expected host:port (e.g. 127.0.0.1:10000), or a comma-separated list of them".into());
        }
        Ok(TangoHost { alternatives, text: s.trim().to_string() })
    }

    /// From the `TANGO_HOST` environment variable.
    pub fn from_env() -> Result<TangoHost, String> {
        match std::env::var("TANGO_HOST") {
            Ok(s) => TangoHost::parse(&s),
            Err(_) => Err("TANGO_HOST is not set: set it to host:port of the Tango database (e.g. 127.0.0.1:10000)".into()),
        }
    }

    /// The string as given (what DB-mode event topics embed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for TangoHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What `DbImportDevice` says about a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    pub name: String,
    pub ior: String,
    pub version: String,
    pub server: String,
    pub host: String,
    pub class: String,
    pub exported: bool,
    pub pid: i32,
}

/// Properties of one object: name (as stored) → values.
pub type Properties = BTreeMap<String, Vec<String>>;

/// A connection to the Tango database at `TANGO_HOST`, re-established on demand (trying every
/// alternative in order) so a database restart is survived.
pub struct Database {
    host: TangoHost,
    timeout: Duration,
    conn: Mutex<Option<Connection>>,
}

impl Database {
    pub fn new(host: TangoHost) -> Database {
        Database { host, timeout: DEFAULT_TIMEOUT, conn: Mutex::new(None) }
    }

    pub fn with_timeout(mut self, t: Duration) -> Database {
        self.timeout = t;
        self
    }

    pub fn tango_host(&self) -> &TangoHost {
        &self.host
    }

    fn connect_any(&self) -> Result<Connection, ClientError> {
        let mut errors = Vec::new();
        for (h, p) in &self.host.alternatives {
            match Connection::connect(&format!("{h}:{p}"), self.timeout) {
                Ok(c) => return Ok(c),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(ClientError::Io(format!("no Tango database reachable at TANGO_HOST={}: {}", self.host, errors.join("; "))))
    }

    /// Run a `Db*` command. A transport failure on an existing connection is retried once on a
    /// fresh one (the database may have restarted).
    pub fn command(&self, cmd: &str, arg: CmdValue) -> Result<CmdValue, ClientError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            let reused = guard.is_some();
            if guard.is_none() {
                *guard = Some(self.connect_any()?);
            }
            let conn = guard.as_mut().expect("connected above");
            match conn.command_inout(DB_OBJECT_KEY, cmd, &arg) {
                Err(e) if e.is_transport() => {
                    *guard = None;
                    if !reused || attempt == 1 {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
        unreachable!("the loop returns")
    }

    fn strings(&self, cmd: &str, arg: CmdValue) -> Result<Vec<String>, ClientError> {
        match self.command(cmd, arg)? {
            CmdValue::StringArray(v) => Ok(v),
            other => Err(unexpected(cmd, &other)),
        }
    }

    fn void(&self, cmd: &str, arg: CmdValue) -> Result<(), ClientError> {
        self.command(cmd, arg).map(|_| ())
    }

    /// `DbGetDeviceList([server, class])`: the devices of one class in one server.
    pub fn get_device_list(&self, server: &str, class: &str) -> Result<Vec<String>, ClientError> {
        self.strings("DbGetDeviceList", sa(&[server, class]))
    }

    /// `DbGetDevicePropertyList([device, "*"])`.
    pub fn get_device_property_list(&self, device: &str) -> Result<Vec<String>, ClientError> {
        self.strings("DbGetDevicePropertyList", sa(&[device, "*"]))
    }

    /// `DbGetClassPropertyList(class)`.
    pub fn get_class_property_list(&self, class: &str) -> Result<Vec<String>, ClientError> {
        self.strings("DbGetClassPropertyList", CmdValue::String(class.into()))
    }

    /// `DbGetDeviceProperty([device, names...])`; properties that are not defined are left out.
    pub fn get_device_property(&self, device: &str, names: &[String]) -> Result<Properties, ClientError> {
        let r = self.strings("DbGetDeviceProperty", sa_with(device, names))?;
        parse_properties(&r).map_err(|e| ClientError::Protocol(format!("DbGetDeviceProperty: {e}")))
    }

    /// `DbGetClassProperty([class, names...])`.
    pub fn get_class_property(&self, class: &str, names: &[String]) -> Result<Properties, ClientError> {
        let r = self.strings("DbGetClassProperty", sa_with(class, names))?;
        parse_properties(&r).map_err(|e| ClientError::Protocol(format!("DbGetClassProperty: {e}")))
    }

    /// Every property of a device (its own names from the database).
    pub fn device_properties(&self, device: &str) -> Result<Properties, ClientError> {
        let names = self.get_device_property_list(device)?;
        if names.is_empty() {
            return Ok(Properties::new());
        }
        self.get_device_property(device, &names)
    }

    /// Every property of a class.
    pub fn class_properties(&self, class: &str) -> Result<Properties, ClientError> {
        let names = self.get_class_property_list(class)?;
        if names.is_empty() {
            return Ok(Properties::new());
        }
        self.get_class_property(class, &names)
    }

    /// `DbPutDeviceProperty([device, n, name, n_values, values...])`.
    pub fn put_device_property(&self, device: &str, props: &Properties) -> Result<(), ClientError> {
        self.void("DbPutDeviceProperty", CmdValue::StringArray(flatten_properties(device, props)))
    }

    /// `DbPutClassProperty([class, n, name, n_values, values...])`.
    pub fn put_class_property(&self, class: &str, props: &Properties) -> Result<(), ClientError> {
        self.void("DbPutClassProperty", CmdValue::StringArray(flatten_properties(class, props)))
    }

    /// `DbDeleteDeviceProperty([device, names...])`.
    pub fn delete_device_property(&self, device: &str, names: &[String]) -> Result<(), ClientError> {
        self.void("DbDeleteDeviceProperty", sa_with(device, names))
    }

    /// `DbGetDeviceAttributeProperty2([device, attrs...])`: attribute → its properties
    /// (attributes without properties are left out).
    pub fn get_device_attribute_property(&self, device: &str, attrs: &[String]) -> Result<BTreeMap<String, Properties>, ClientError> {
        let r = self.strings("DbGetDeviceAttributeProperty2", sa_with(device, attrs))?;
        parse_attribute_properties(&r).map_err(|e| ClientError::Protocol(format!("DbGetDeviceAttributeProperty2: {e}")))
    }

    /// `DbGetClassAttributeProperty2([class, attrs...])`.
    pub fn get_class_attribute_property(&self, class: &str, attrs: &[String]) -> Result<BTreeMap<String, Properties>, ClientError> {
        let r = self.strings("DbGetClassAttributeProperty2", sa_with(class, attrs))?;
        parse_attribute_properties(&r).map_err(|e| ClientError::Protocol(format!("DbGetClassAttributeProperty2: {e}")))
    }

    /// `DbPutDeviceAttributeProperty2([device, 1, attr, n, (name, n_values, values...)*])`.
    pub fn put_device_attribute_property(&self, device: &str, attr: &str, props: &[(String, Vec<String>)]) -> Result<(), ClientError> {
        let mut v = vec![device.to_string(), "1".into(), attr.to_string(), props.len().to_string()];
        for (name, values) in props {
            v.push(name.clone());
            v.push(values.len().to_string());
            v.extend(values.iter().cloned());
        }
        self.void("DbPutDeviceAttributeProperty2", CmdValue::StringArray(v))
    }

    /// `DbDeleteDeviceAttributeProperty([device, attr, names...])`.
    pub fn delete_device_attribute_property(&self, device: &str, attr: &str, names: &[String]) -> Result<(), ClientError> {
        let mut v = vec![device.to_string(), attr.to_string()];
        v.extend(names.iter().cloned());
        self.void("DbDeleteDeviceAttributeProperty", CmdValue::StringArray(v))
    }

    /// `DbAddDevice([server, device, class])`.
    pub fn add_device(&self, server: &str, device: &str, class: &str) -> Result<(), ClientError> {
        self.void("DbAddDevice", sa(&[server, device, class]))
    }

    /// `DbExportDevice([name, ior, host, pid, idl_version])`.
    pub fn export_device(&self, name: &str, ior: &str, host: &str, pid: u32, version: &str) -> Result<(), ClientError> {
        self.void("DbExportDevice", sa(&[name, ior, host, &pid.to_string(), version]))
    }

    /// `DbUnExportServer(server)`: every device of the server marked not exported.
    pub fn unexport_server(&self, server: &str) -> Result<(), ClientError> {
        self.void("DbUnExportServer", CmdValue::String(server.into()))
    }

    /// `DbImportDevice(name)`.
    pub fn import_device(&self, name: &str) -> Result<ImportInfo, ClientError> {
        match self.command("DbImportDevice", CmdValue::String(name.into()))? {
            CmdValue::LongStringArray(l, s) if l.len() >= 2 && s.len() >= 6 => Ok(ImportInfo {
                name: s[0].clone(),
                ior: s[1].clone(),
                version: s[2].clone(),
                server: s[3].clone(),
                host: s[4].clone(),
                class: s[5].clone(),
                exported: l[0] != 0,
                pid: l[1],
            }),
            other => Err(unexpected("DbImportDevice", &other)),
        }
    }
}

fn unexpected(cmd: &str, v: &CmdValue) -> ClientError {
    ClientError::Protocol(format!("{cmd} returned an unexpected {:?}", v.arg_type()))
}

fn sa(v: &[&str]) -> CmdValue {
    CmdValue::StringArray(v.iter().map(|s| s.to_string()).collect())
}

fn sa_with(first: &str, rest: &[String]) -> CmdValue {
    let mut v = Vec::with_capacity(rest.len() + 1);
    v.push(first.to_string());
    v.extend(rest.iter().cloned());
    CmdValue::StringArray(v)
}

/// `[object, n, name, n_values, values...]` from a property map.
/// Parse `[object, n_attr, (attr, n_props, (name, n_values, values...)*)*]`.
pub fn parse_attribute_properties(r: &[String]) -> Result<BTreeMap<String, Properties>, String> {
    let mut it = r.iter();
    let mut next = |what: &str| it.next().cloned().ok_or_else(|| format!("reply ends before the {what}"));
    let count = |s: String, what: &str| s.trim().parse::<usize>().map_err(|_| format!("{what} {s:?} is not a count"));
    let _object = next("object name")?;
    let n_attr = count(next("attribute count")?, "attribute count")?;
    let mut out = BTreeMap::new();
    for _ in 0..n_attr {
        let attr = next("attribute name")?;
        let n_props = count(next("property count")?, "property count")?;
        let mut props = Properties::new();
        for _ in 0..n_props {
            let name = next("property name")?;
            let n = count(next("value count")?, "value count")?;
            let values = (0..n).map(|_| next("property value")).collect::<Result<Vec<_>, _>>()?;
            props.insert(name, values);
        }
        if !props.is_empty() {
            out.insert(attr, props);
        }
    }
    Ok(out)
}

pub fn flatten_properties(object: &str, props: &Properties) -> Vec<String> {
    let mut v = vec![object.to_string(), props.len().to_string()];
    for (name, values) in props {
        v.push(name.clone());
        v.push(values.len().to_string());
        v.extend(values.iter().cloned());
    }
    v
}

/// Parse a `DbGet*Property` result `[object, n, (name, n_values, values...)*]`. A property
/// with no value is left out; the `" "` placeholder some databases send after a `"0"` count
/// is skipped.
pub fn parse_properties(r: &[String]) -> Result<Properties, String> {
    let n: usize = r.get(1).and_then(|s| s.trim().parse().ok()).ok_or("no property count at index 1")?;
    let mut out = Properties::new();
    let mut i = 2;
    for _ in 0..n {
        let name = r.get(i).ok_or_else(|| format!("missing property name at index {i}"))?.clone();
        let nv: usize = r.get(i + 1).and_then(|s| s.trim().parse().ok()).ok_or_else(|| format!("bad value count for property {name}"))?;
        i += 2;
        if nv == 0 {
            // placeholder " " (device and free properties) unless it is the next property's name
            if r.get(i).map(|s| s == " ").unwrap_or(false) {
                i += 1;
            }
            continue;
        }
        let vals = r.get(i..i + nv).ok_or_else(|| format!("property {name} announces {nv} values, fewer present"))?;
        out.insert(name, vals.to_vec());
        i += nv;
    }
    Ok(out)
}

/// A `DevFailed` from a client error, for device code that calls the database.
impl From<ClientError> for DevFailed {
    fn from(e: ClientError) -> DevFailed {
        match e {
            ClientError::DevFailed(d) => d,
            other => DevFailed::new("API_DatabaseAccess", other.to_string(), "Database::command"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tango_host_forms() {
        let t = TangoHost::parse("db1:10000,db2:10001").unwrap();
        assert_eq!(t.alternatives, vec![("db1".into(), 10000), ("db2".into(), 10001)]);
        assert_eq!(t.as_str(), "db1:10000,db2:10001");
        assert!(TangoHost::parse("db1").unwrap_err().contains("expected host:port"));
        assert!(TangoHost::parse("db1:x").unwrap_err().contains("invalid port"));
        assert!(TangoHost::parse(" ").unwrap_err().contains("empty"));
    }

    #[test]
    fn property_lists_parse_with_and_without_placeholders() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let p = parse_properties(&s(&["d/e/f", "3", "a", "0", " ", "b", "2", "x", "y", "c", "0"])).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p["b"], vec!["x", "y"]);
        let flat = flatten_properties("d/e/f", &p);
        assert_eq!(flat, s(&["d/e/f", "1", "b", "2", "x", "y"]));
        assert!(parse_properties(&s(&["d", "1", "a", "3", "x"])).is_err());
    }
}

/// A Tango device URL: `domain/family/member`, `tango://host:port/domain/family/member`
/// (the database at host:port), or the same with `#dbase=no` (the server itself at host:port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUrl {
    /// `host:port` of a Tango database, or of the server itself when `nodb`.
    pub host: Option<String>,
    pub nodb: bool,
    pub device: String,
}

impl DeviceUrl {
    /// Parse a URL whose path has `extra` more components after the device name (e.g. 1 for
    /// an attribute address); they are returned apart.
    pub fn parse_with(url: &str, extra: usize) -> Result<(DeviceUrl, Vec<String>), String> {
        let (rest, nodb) = match url.trim().strip_suffix("#dbase=no") {
            Some(r) => (r, true),
            None => (url.trim(), false),
        };
        let (host, path) = match rest.strip_prefix("tango://") {
            Some(r) => r.split_once('/').map(|(h, p)| (Some(h.to_string()), p)).ok_or("no path after the host")?,
            None => (None, rest),
        };
        let parts: Vec<&str> = path.split('/').collect();
        if parts.len() != 3 + extra || parts.iter().any(|p| p.is_empty()) {
            return Err(format!("expected domain/family/member{} in the path", "/…".repeat(extra)));
        }
        if nodb && host.is_none() {
            return Err("#dbase=no needs tango://host:port/".into());
        }
        let tail = parts[3..].iter().map(|p| p.to_string()).collect();
        Ok((DeviceUrl { host, nodb, device: parts[..3].join("/") }, tail))
    }

    /// The URL again, in its canonical form.
    pub fn to_url(&self) -> String {
        match (&self.host, self.nodb) {
            (Some(h), true) => format!("tango://{h}/{}#dbase=no", self.device),
            (Some(h), false) => format!("tango://{h}/{}", self.device),
            (None, _) => self.device.clone(),
        }
    }
}

/// Where to reach a device named by a Tango device URL ([`DeviceUrl`]); a plain name is looked
/// up in `db`, or in the database at `TANGO_HOST` when `db` is `None`.
/// Returns the `host:port` to connect to and the object key.
pub fn locate_device(url: &str, db: Option<&Database>, timeout: Duration) -> Result<(String, Vec<u8>), String> {
    let (u, _) = DeviceUrl::parse_with(url, 0)
        .map_err(|e| format!("{url:?} is not a device address (domain/family/member, optionally tango://host:port/… [#dbase=no]): {e}"))?;
    let device = u.device.as_str();
    if u.nodb {
        return Ok((u.host.clone().unwrap_or_default(), crate::ior::object_key_for(device)));
    }
    let own;
    let db = match (&u.host, db) {
        (Some(h), _) => {
            own = Database::new(TangoHost::parse(h)?).with_timeout(timeout);
            &own
        }
        (None, Some(db)) => db,
        (None, None) => {
            own = Database::new(TangoHost::from_env().map_err(|e| format!("cannot look up {device}: {e}"))?).with_timeout(timeout);
            &own
        }
    };
    let info = db.import_device(device).map_err(|e| format!("cannot import {device} from the Tango database: {e}"))?;
    if !info.exported {
        return Err(format!("device {device} is not running (not exported in the Tango database)"));
    }
    let ior = crate::ior::Ior::parse(&info.ior).map_err(|e| format!("bad IOR for {device}: {e}"))?;
    let p = ior.iiop().ok_or_else(|| format!("IOR of {device} has no IIOP profile"))?;
    Ok((format!("{}:{}", p.host, p.port), p.object_key.clone()))
}
