//! Attribute and pipe properties of devices and classes (`Db*AttributeProperty2`,
//! `DbDelete*AttributeProperty`, `DbGetDeviceAttributeList`, `DbGet*PipeProperty`).

use std::collections::BTreeMap;

use super::args::*;
use super::properties::put_props;
use super::store::*;

pub(crate) fn get_attr_props(object: &str, map: Option<&BTreeMap<String, AttrProps>>, attrs: &[String]) -> Vec<String> {
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

pub(crate) fn put_attr_props(map: &mut BTreeMap<String, AttrProps>, list: Vec<(String, PropList)>) {
    for (attr, props) in list {
        let entry = map.entry(lc(&attr)).or_insert_with(|| AttrProps { name: attr.clone(), props: PropMap::new() });
        put_props(&mut entry.props, props);
    }
}

impl Store {
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
}

pub(crate) fn delete_attr_props(m: &mut BTreeMap<String, BTreeMap<String, AttrProps>>, object: &str, attr: &str, props: Option<&[String]>) {
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
