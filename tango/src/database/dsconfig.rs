//! dsconfig-style JSON (the format of MAX IV's `dsconfig` tool, used by the seed-era SKA
//! charts) describing servers, classes, devices and properties:
//!
//! ```json
//! { "servers": { "SDPMaster": { "1": { "SDPMaster": {
//!       "mid_sdp/elt/master": { "properties": { "Prop": ["v"] },
//!                               "attribute_properties": { "attr": { "prop": ["v"] } },
//!                               "alias": "master" } } } } },
//!   "classes": { "SDPMaster": { "properties": { "Prop": ["v"] } } } }
//! ```
//!
//! A server may also be keyed `"SDPMaster/1"` directly. Values may be a list of strings, a
//! single string, or numbers/booleans (written as strings). [`parse`] checks everything before
//! [`apply`] registers anything, through the `Db*` commands of any Tango database.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::any::CmdValue;
use crate::client::ClientError;
use crate::dbclient::{flatten_properties, Database, Properties};

use super::args::{check_device_name, check_server_name};

/// One device to register.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub server: String,
    pub class: String,
    pub name: String,
    pub alias: Option<String>,
    pub properties: Properties,
    pub attribute_properties: BTreeMap<String, Properties>,
}

/// Properties of a class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSpec {
    pub name: String,
    pub properties: Properties,
    pub attribute_properties: BTreeMap<String, Properties>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub devices: Vec<DeviceSpec>,
    pub classes: Vec<ClassSpec>,
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a serde_json::Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{path}: expected a JSON object"))
}

fn values(v: &Value, path: &str) -> Result<Vec<String>, String> {
    let one = |x: &Value| -> Result<String, String> {
        match x {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(format!("{path}: property values must be strings, numbers or booleans")),
        }
    };
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn properties(v: Option<&Value>, path: &str) -> Result<Properties, String> {
    let mut out = Properties::new();
    if let Some(v) = v {
        for (k, val) in obj(v, path)? {
            out.insert(k.clone(), values(val, &format!("{path}.{k}"))?);
        }
    }
    Ok(out)
}

fn attribute_properties(v: Option<&Value>, path: &str) -> Result<BTreeMap<String, Properties>, String> {
    let mut out = BTreeMap::new();
    if let Some(v) = v {
        for (attr, props) in obj(v, path)? {
            out.insert(attr.clone(), properties(Some(props), &format!("{path}.{attr}"))?);
        }
    }
    Ok(out)
}

fn check_keys(o: &serde_json::Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), String> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("{path}: unknown key {k:?} (allowed: {})", allowed.join(", ")));
        }
    }
    Ok(())
}

fn devices_of(server: &str, instance_v: &Value, path: &str, out: &mut Vec<DeviceSpec>) -> Result<(), String> {
    check_server_name(server, "dsconfig").map_err(|e| format!("{path}: {}", e.errors[0].desc))?;
    for (class, devs) in obj(instance_v, path)? {
        let cpath = format!("{path}.{class}");
        if class.is_empty() || class.contains(|c: char| c == '/' || c == '*' || c.is_whitespace()) {
            return Err(format!("{cpath}: {class:?} is not a valid class name (non-empty, no '/', '*' or spaces); servers are keyed \"exec\" then \"instance\", or \"exec/instance\""));
        }
        for (name, spec) in obj(devs, &cpath)? {
            let dpath = format!("{cpath}.{name}");
            check_device_name(name, "dsconfig").map_err(|e| format!("{dpath}: {}", e.errors[0].desc))?;
            let o = obj(spec, &dpath)?;
            check_keys(o, &["properties", "attribute_properties", "alias"], &dpath)?;
            let alias = match o.get("alias") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(format!("{dpath}.alias: expected a string")),
            };
            out.push(DeviceSpec {
                server: server.to_string(),
                class: class.clone(),
                name: name.clone(),
                alias,
                properties: properties(o.get("properties"), &format!("{dpath}.properties"))?,
                attribute_properties: attribute_properties(o.get("attribute_properties"), &format!("{dpath}.attribute_properties"))?,
            });
        }
    }
    Ok(())
}

/// Parse and check a dsconfig JSON document.
pub fn parse(text: &str) -> Result<Config, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = obj(&v, "(top level)")?;
    check_keys(top, &["servers", "classes"], "(top level)")?;
    let mut cfg = Config::default();
    if let Some(servers) = top.get("servers") {
        for (exec, inner) in obj(servers, "servers")? {
            let path = format!("servers.{exec}");
            if exec.contains('/') {
                devices_of(exec, inner, &path, &mut cfg.devices)?;
            } else {
                for (instance, iv) in obj(inner, &path)? {
                    devices_of(&format!("{exec}/{instance}"), iv, &format!("{path}.{instance}"), &mut cfg.devices)?;
                }
            }
        }
    }
    if let Some(classes) = top.get("classes") {
        for (name, spec) in obj(classes, "classes")? {
            let path = format!("classes.{name}");
            let o = obj(spec, &path)?;
            check_keys(o, &["properties", "attribute_properties"], &path)?;
            cfg.classes.push(ClassSpec {
                name: name.clone(),
                properties: properties(o.get("properties"), &format!("{path}.properties"))?,
                attribute_properties: attribute_properties(o.get("attribute_properties"), &format!("{path}.attribute_properties"))?,
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for d in &cfg.devices {
        if !seen.insert(d.name.to_ascii_lowercase()) {
            return Err(format!("device {} is defined more than once", d.name));
        }
    }
    Ok(cfg)
}

fn attr_props_flat(object: &str, attrs: &BTreeMap<String, Properties>) -> Vec<String> {
    let mut v = vec![object.to_string(), attrs.len().to_string()];
    for (attr, props) in attrs {
        let flat = flatten_properties(attr, props);
        v.extend(flat); // [attr, n, (name, n_values, values...)*]
    }
    v
}

/// Register everything in `cfg` in the database `db`. Returns (devices, classes) counts.
pub fn apply(db: &Database, cfg: &Config) -> Result<(usize, usize), ClientError> {
    for d in &cfg.devices {
        db.add_device(&d.server, &d.name, &d.class)?;
        if let Some(a) = &d.alias {
            db.command("DbPutDeviceAlias", CmdValue::StringArray(vec![d.name.clone(), a.clone()]))?;
        }
        if !d.properties.is_empty() {
            db.put_device_property(&d.name, &d.properties)?;
        }
        if !d.attribute_properties.is_empty() {
            db.command("DbPutDeviceAttributeProperty2", CmdValue::StringArray(attr_props_flat(&d.name, &d.attribute_properties)))?;
        }
    }
    for c in &cfg.classes {
        if !c.properties.is_empty() {
            db.put_class_property(&c.name, &c.properties)?;
        }
        if !c.attribute_properties.is_empty() {
            db.command("DbPutClassAttributeProperty2", CmdValue::StringArray(attr_props_flat(&c.name, &c.attribute_properties)))?;
        }
    }
    Ok((cfg.devices.len(), cfg.classes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_server_keys() {
        let cfg = parse(
            r#"{"servers": {"SDPMaster": {"1": {"SDPMaster": {"mid_sdp/elt/master": {"properties": {"A": ["x", "y"], "B": 3}}}}},
                            "SDPSubarray/1": {"SDPSubarray": {"mid_sdp/elt/subarray_1": {"attribute_properties": {"obsState": {"abs_change": ["1"]}}}}}},
                "classes": {"SDPSubarray": {"properties": {"TestMode": true}}}}"#,
        )
        .unwrap();
        assert_eq!(cfg.devices.len(), 2);
        let m = cfg.devices.iter().find(|d| d.name == "mid_sdp/elt/master").unwrap();
        assert_eq!((m.server.as_str(), m.class.as_str()), ("SDPMaster/1", "SDPMaster"));
        assert_eq!(m.properties["A"], vec!["x", "y"]);
        assert_eq!(m.properties["B"], vec!["3"]);
        let s = cfg.devices.iter().find(|d| d.name == "mid_sdp/elt/subarray_1").unwrap();
        assert_eq!(s.server, "SDPSubarray/1");
        assert_eq!(
            attr_props_flat(&s.name, &s.attribute_properties),
            vec!["mid_sdp/elt/subarray_1", "1", "obsState", "1", "abs_change", "1", "1"]
        );
        assert_eq!(cfg.classes[0].properties["TestMode"], vec!["true"]);
    }

    #[test]
    fn bad_documents_say_where() {
        assert!(parse("[").unwrap_err().contains("not valid JSON"));
        assert!(parse(r#"{"servers": {"S/1": {"C": {"a/b": {}}}}}"#).unwrap_err().contains("servers.S/1.C.a/b"));
        assert!(parse(r#"{"servers": {"S": {"C": {"a/b/c": {}}}}}"#).unwrap_err().contains("not a valid class name"));
        assert!(parse(r#"{"servers": {"S/1": {"C": ["a/b/c"]}}}"#).unwrap_err().contains("expected a JSON object"));
        assert!(parse(r#"{"servers": {"S/1": {"C": {"a/b/c": {"props": {}}}}}}"#).unwrap_err().contains("unknown key \"props\""));
        assert!(parse(r#"{"server": {}}"#).unwrap_err().contains("unknown key"));
        assert!(parse(r#"{"servers": {"S/1": {"C": {"a/b/c": {}}}, "T/1": {"C": {"A/B/C": {}}}}}"#)
            .unwrap_err()
            .contains("more than once"));
    }
}
