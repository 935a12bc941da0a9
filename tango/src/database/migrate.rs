//! Moving a state directory of an earlier release (`tango-db.json`, the whole database as one
//! JSON document) into SQLite on first start. The import is one transaction; the JSON file is
//! then renamed `tango-db.json.migrated` and kept as a backup, so a second start does not
//! import it again and nothing is lost if the import is refused.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::devices::add_device_to;
use super::prop_table::{CLASS, CLASS_ATTR, DEVICE, DEVICE_ATTR, OBJECT};
use super::store::*;

/// The file of the earlier release and what it becomes.
pub const LEGACY_FILE: &str = "tango-db.json";
pub const LEGACY_BACKUP: &str = "tango-db.json.migrated";
const LEGACY_FORMAT: u32 = 1;

#[derive(Deserialize)]
struct Prop {
    name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
struct AttrProps {
    name: String,
    props: BTreeMap<String, Prop>,
}

#[derive(Deserialize)]
struct DeviceRec {
    name: String,
    server: String,
    class: String,
    #[serde(default)]
    alias: Option<String>,
    exported: bool,
    ior: String,
    version: String,
    host: String,
    pid: i32,
}

#[derive(Deserialize, Default)]
struct State {
    #[serde(default)]
    devices: BTreeMap<String, DeviceRec>,
    #[serde(default)]
    device_props: BTreeMap<String, BTreeMap<String, Prop>>,
    #[serde(default)]
    class_props: BTreeMap<String, BTreeMap<String, Prop>>,
    #[serde(default)]
    free_props: BTreeMap<String, BTreeMap<String, Prop>>,
    #[serde(default)]
    device_attr_props: BTreeMap<String, BTreeMap<String, AttrProps>>,
    #[serde(default)]
    class_attr_props: BTreeMap<String, BTreeMap<String, AttrProps>>,
}

#[derive(Deserialize)]
struct FileFormat {
    format: u32,
    state: State,
}

/// Import `dir/tango-db.json` if it is there, then keep it as `tango-db.json.migrated`.
pub fn from_json_if_present(store: &mut Store, dir: &Path) -> Result<(), String> {
    let path = dir.join(LEGACY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read the earlier state file {}: {e}", path.display())),
    };
    let f: FileFormat = serde_json::from_slice(&bytes).map_err(|e| format!("state file {} is not valid: {e}", path.display()))?;
    if f.format != LEGACY_FORMAT {
        return Err(format!("state file {} has format {}, this program migrates format {LEGACY_FORMAT}", path.display(), f.format));
    }
    let s = f.state;
    store
        .tx(|tx| {
            for d in s.devices.values() {
                add_device_to(tx, &d.server, &d.name, &d.class, d.alias.as_deref())?;
                exec(
                    tx,
                    "UPDATE device SET exported = ?2, ior = ?3, version = ?4, host = ?5, pid = ?6 WHERE name = ?1",
                    &[&d.name, &(d.exported as i32), &d.ior, &d.version, &d.host, &d.pid],
                )?;
            }
            for (table, map) in [(&DEVICE, &s.device_props), (&CLASS, &s.class_props), (&OBJECT, &s.free_props)] {
                for (owner, props) in map {
                    for p in props.values() {
                        table.put(tx, owner, None, &p.name, &p.values)?;
                    }
                }
            }
            for (table, map) in [(&DEVICE_ATTR, &s.device_attr_props), (&CLASS_ATTR, &s.class_attr_props)] {
                for (owner, attrs) in map {
                    for a in attrs.values() {
                        for p in a.props.values() {
                            table.put(tx, owner, Some(&a.name), &p.name, &p.values)?;
                        }
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| format!("cannot migrate {} into the SQLite database: {}", path.display(), e.errors[0].desc))?;
    let backup = dir.join(LEGACY_BACKUP);
    std::fs::rename(&path, &backup)
        .map_err(|e| format!("migrated {}, but cannot rename it to {}: {e}", path.display(), backup.display()))?;
    tracing::info!(from = %path.display(), backup = %backup.display(), "migrated the JSON Tango database state into SQLite");
    Ok(())
}
