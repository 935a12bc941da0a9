//! Device, class and free-object properties: `DbGet/Put/Delete{Device,Class,}Property`,
//! their name listings and `DbGetObjectList`.

use std::collections::BTreeMap;

use super::args::*;
use super::store::*;

pub(crate) fn get_props(object: &str, map: Option<&PropMap>, names: &[String], placeholder: bool) -> Vec<String> {
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

pub(crate) fn put_props(map: &mut PropMap, list: Vec<(String, Vec<String>)>) {
    for (name, values) in list {
        map.insert(lc(&name), Prop { name, values });
    }
}

impl Store {
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
}

pub(crate) fn delete_props(m: &mut BTreeMap<String, PropMap>, object: &str, names: &[String]) {
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

pub(crate) fn prop_names(m: Option<&PropMap>, pattern: &str) -> Vec<String> {
    m.map(|m| m.values().filter(|p| wildcard_match(pattern, &p.name)).map(|p| p.name.clone()).collect()).unwrap_or_default()
}
