//! Attribute properties of devices and classes: `Db{Get,Put}{Device,Class}AttributeProperty`
//! in both layouts (v1: one value per property; v2: `n_values, values...`), the deletions,
//! the attribute listings and their history. Pipe properties have the same shape and reuse
//! the helpers here (see `pipes`).

use super::args::*;
use super::prop_table::{PropTable, CLASS_ATTR, DEVICE_ATTR};
use super::server_cache::push_counted;
use super::store::*;

impl Store {
    /// `[object, n, (sub, n_props, ...)*]` for the requested attributes or pipes.
    pub(crate) fn get_sub_props(&self, t: &PropTable, argin: &[String], layout: Layout) -> R<Vec<String>> {
        let mut r = vec![argin[0].clone(), (argin.len() - 1).to_string()];
        for sub in &argin[1..] {
            let props = t.all(&self.conn, &argin[0], Some(sub))?;
            r.push(sub.clone());
            match layout {
                Layout::Counted => push_counted(&mut r, props),
                Layout::Pairs => {
                    r.push(props.iter().map(|(_, v)| v.len()).sum::<usize>().to_string());
                    for (name, values) in props {
                        for v in values {
                            r.push(name.clone());
                            r.push(v);
                        }
                    }
                }
            }
        }
        Ok(r)
    }

    pub(crate) fn put_sub_props(&mut self, t: &PropTable, owner: &str, list: Vec<(String, PropList)>) -> R<()> {
        self.tx(|tx| {
            for (sub, props) in &list {
                for (name, values) in props {
                    t.put(tx, owner, Some(sub), name, values)?;
                }
            }
            Ok(())
        })
    }

    /// `[owner, sub, props...]`: those properties of one attribute or pipe.
    pub(crate) fn delete_sub_props(&mut self, t: &PropTable, argin: &[String]) -> R<()> {
        self.tx(|tx| {
            for n in &argin[2..] {
                t.delete(tx, &argin[0], Some(&argin[1]), n)?;
            }
            Ok(())
        })
    }

    /// `[owner, subs...]`: every property of those attributes or pipes.
    pub(crate) fn delete_subs(&mut self, t: &PropTable, argin: &[String], origin: &str) -> R<()> {
        if argin.len() < 2 {
            return Err(err(
                "DB_IncorrectArguments",
                format!("insufficient number of arguments ({}): need [owner name, attribute or pipe name...]", argin.len()),
                origin,
            ));
        }
        self.tx(|tx| {
            for sub in &argin[1..] {
                t.delete_all(tx, &argin[0], Some(sub))?;
            }
            Ok(())
        })
    }

    /// `DbGetDeviceAttributeProperty2 [device, attrs...]`.
    pub fn get_device_attribute_property2(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDeviceAttributeProperty2()")?;
        self.get_sub_props(&DEVICE_ATTR, argin, Layout::Counted)
    }

    /// `DbGetDeviceAttributeProperty [device, attrs...]` (v1 layout).
    pub fn get_device_attribute_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDeviceAttributeProperty()")?;
        self.get_sub_props(&DEVICE_ATTR, argin, Layout::Pairs)
    }

    /// `DbPutDeviceAttributeProperty2 [device, n_attr, (attr, n_props, (prop, n_values, values...)*)*]`.
    pub fn put_device_attribute_property2(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAttributeProperty2()";
        need_args(argin, 2, "device name, attribute count", O)?;
        check_device_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Counted)?;
        self.put_sub_props(&DEVICE_ATTR, &argin[0], list)
    }

    /// `DbPutDeviceAttributeProperty [device, n_attr, (attr, n_props, (prop, value)*)*]`.
    pub fn put_device_attribute_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceAttributeProperty()";
        need_args(argin, 2, "device name, attribute count", O)?;
        check_device_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Pairs)?;
        self.put_sub_props(&DEVICE_ATTR, &argin[0], list)
    }

    /// `DbDeleteDeviceAttributeProperty [device, attr, props...]`.
    pub fn delete_device_attribute_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "device name, attribute name", "DeleteDeviceAttributeProperty()")?;
        self.delete_sub_props(&DEVICE_ATTR, argin)
    }

    /// `DbDeleteAllDeviceAttributeProperty [device, attrs...]`.
    pub fn delete_all_device_attribute_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteAllDeviceAttributeProperty()";
        if argin.len() >= 2 {
            check_device_name(&argin[0], O)?;
        }
        self.delete_subs(&DEVICE_ATTR, argin, O)
    }

    /// `DbDeleteDeviceAttribute [device, attr]`: every property of that attribute.
    pub fn delete_device_attribute(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteDeviceAttribute()";
        need_args(argin, 2, "device name, attribute name", O)?;
        check_device_name(&argin[0], O)?;
        self.delete_subs(&DEVICE_ATTR, &argin[..2], O)
    }

    /// `DbGetDeviceAttributeList [device, pattern]`: attributes with properties.
    pub fn device_attribute_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, wildcard", "GetDeviceAttributeList()")?;
        DEVICE_ATTR.subs(&self.conn, &argin[0], &argin[1])
    }

    /// `DbGetDeviceAttributePropertyHist [device, attr pattern, prop pattern]`.
    pub fn device_attribute_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 3, "device name, attribute name, property name (wildcards allowed)", "GetDeviceAttributePropertyHist()")?;
        DEVICE_ATTR.history(&self.conn, &argin[0], Some(&argin[1]), &argin[2])
    }

    /// `DbGetClassAttributeProperty2 [class, attrs...]`.
    pub fn get_class_attribute_property2(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassAttributeProperty2()")?;
        self.get_sub_props(&CLASS_ATTR, argin, Layout::Counted)
    }

    /// `DbGetClassAttributeProperty [class, attrs...]` (v1 layout).
    pub fn get_class_attribute_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassAttributeProperty()")?;
        self.get_sub_props(&CLASS_ATTR, argin, Layout::Pairs)
    }

    /// `DbPutClassAttributeProperty2 [class, n_attr, ...]`.
    pub fn put_class_attribute_property2(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassAttributeProperty2()";
        need_args(argin, 2, "class name, attribute count", O)?;
        check_class_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Counted)?;
        self.put_sub_props(&CLASS_ATTR, &argin[0], list)
    }

    /// `DbPutClassAttributeProperty [class, n_attr, (attr, n_props, (prop, value)*)*]`.
    pub fn put_class_attribute_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassAttributeProperty()";
        need_args(argin, 2, "class name, attribute count", O)?;
        check_class_name(&argin[0], O)?;
        let list = parse_attr_put_list(argin, 1, O, Layout::Pairs)?;
        self.put_sub_props(&CLASS_ATTR, &argin[0], list)
    }

    /// `DbDeleteClassAttributeProperty [class, attr, props...]`.
    pub fn delete_class_attribute_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 2, "class name, attribute name", "DeleteClassAttributeProperty()")?;
        self.delete_sub_props(&CLASS_ATTR, argin)
    }

    /// `DbDeleteClassAttribute [class, attr]`: every property of that class attribute.
    pub fn delete_class_attribute(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "DeleteClassAttribute()";
        need_args(argin, 2, "class name, attribute name", O)?;
        self.delete_subs(&CLASS_ATTR, &argin[..2], O)
    }

    /// `DbGetClassAttributeList [class, pattern]`: class attributes with properties.
    pub fn class_attribute_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "class name, wildcard", "GetClassAttributeList()")?;
        CLASS_ATTR.subs(&self.conn, &argin[0], &argin[1])
    }

    /// `DbGetClassAttributePropertyHist [class, attr pattern, prop pattern]`.
    pub fn class_attribute_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 3, "class name, attribute name, property name (wildcards allowed)", "GetClassAttributePropertyHist()")?;
        CLASS_ATTR.history(&self.conn, &argin[0], Some(&argin[1]), &argin[2])
    }
}
