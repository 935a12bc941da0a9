//! Device, class and free-object properties: `DbGet/Put/Delete{Device,Class,}Property`,
//! their name listings, `DbGetObjectList` and their history (`Db*PropertyHist`).

use super::args::*;
use super::prop_table::{PropTable, CLASS, DEVICE, OBJECT};
use super::store::*;

impl Store {
    /// `[object, n, (name, n_values, values...)*]` for the requested names; a name may be a
    /// wildcard (all values of the matching properties). Missing: `"0"` (and `" "` when
    /// `placeholder`, as device and free properties have it).
    fn get_props(&self, t: &PropTable, argin: &[String], placeholder: bool) -> R<Vec<String>> {
        let mut r = vec![argin[0].clone(), (argin.len() - 1).to_string()];
        for n in &argin[1..] {
            let values = t.values(&self.conn, &argin[0], None, n)?;
            r.push(n.clone());
            r.push(values.len().to_string());
            if values.is_empty() && placeholder {
                r.push(" ".into());
            }
            r.extend(values);
        }
        Ok(r)
    }

    fn put_props(&mut self, t: &PropTable, argin: &[String], origin: &str) -> R<()> {
        let list = parse_put_list(argin, 1, origin)?;
        self.tx(|tx| {
            for (name, values) in &list {
                t.put(tx, &argin[0], None, name, values)?;
            }
            Ok(())
        })
    }

    fn delete_props(&mut self, t: &PropTable, argin: &[String]) -> R<()> {
        self.tx(|tx| {
            for n in &argin[1..] {
                t.delete(tx, &argin[0], None, n)?;
            }
            Ok(())
        })
    }

    /// `DbGetDeviceProperty [device, names...]` (missing: `"0", " "`).
    pub fn get_device_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "device name", "GetDeviceProperty()")?;
        self.get_props(&DEVICE, argin, true)
    }

    /// `DbPutDeviceProperty [device, n, (name, n_values, values...)*]`.
    pub fn put_device_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutDeviceProperty()";
        need_args(argin, 2, "device name, property count", O)?;
        check_device_name(&argin[0], O)?;
        self.put_props(&DEVICE, argin, O)
    }

    /// `DbDeleteDeviceProperty [device, names...]`.
    pub fn delete_device_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "device name", "DeleteDeviceProperty()")?;
        self.delete_props(&DEVICE, argin)
    }

    /// `DbGetDevicePropertyList [device, pattern]`.
    pub fn device_property_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, wildcard", "GetDevicePropertyList()")?;
        DEVICE.names(&self.conn, &argin[0], None, &argin[1])
    }

    /// `DbGetClassProperty [class, names...]` (missing: `"0"`, no placeholder).
    pub fn get_class_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "class name", "GetClassProperty()")?;
        self.get_props(&CLASS, argin, false)
    }

    /// `DbPutClassProperty [class, n, (name, n_values, values...)*]`.
    pub fn put_class_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutClassProperty()";
        need_args(argin, 2, "class name, property count", O)?;
        check_class_name(&argin[0], O)?;
        self.put_props(&CLASS, argin, O)
    }

    /// `DbDeleteClassProperty [class, names...]`.
    pub fn delete_class_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "class name", "DeleteClassProperty()")?;
        self.delete_props(&CLASS, argin)
    }

    /// `DbGetClassPropertyList class`: property names of the class (`*` lists the classes
    /// that have properties, as the C++ DataBaseds does).
    pub fn class_property_list(&self, class: &str) -> R<Vec<String>> {
        if class.contains('*') {
            return self
                .column("SELECT DISTINCT class FROM property_class WHERE class LIKE ?1 ESCAPE '\\' ORDER BY class", &[&like(class)]);
        }
        CLASS.names(&self.conn, class, None, "*")
    }

    /// `DbGetProperty [object, names...]` (free properties; missing: `"0", " "`).
    pub fn get_property(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 1, "object name", "GetProperty()")?;
        self.get_props(&OBJECT, argin, true)
    }

    /// `DbPutProperty [object, n, (name, n_values, values...)*]`.
    pub fn put_property(&mut self, argin: &[String]) -> R<()> {
        const O: &str = "PutProperty()";
        need_args(argin, 2, "object name, property count", O)?;
        if argin[0].trim().is_empty() {
            return Err(err("DB_IncorrectArguments", "the object name must not be empty", O));
        }
        self.put_props(&OBJECT, argin, O)
    }

    /// `DbDeleteProperty [object, names...]`.
    pub fn delete_property(&mut self, argin: &[String]) -> R<()> {
        need_args(argin, 1, "object name", "DeleteProperty()")?;
        self.delete_props(&OBJECT, argin)
    }

    /// `DbGetPropertyList [object, pattern]`.
    pub fn property_list(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "object name, wildcard", "GetPropertyList()")?;
        OBJECT.names(&self.conn, &argin[0], None, &argin[1])
    }

    /// `DbGetObjectList pattern`: objects with free properties.
    pub fn object_list(&self, pattern: &str) -> R<Vec<String>> {
        self.column("SELECT DISTINCT object FROM property WHERE object LIKE ?1 ESCAPE '\\' ORDER BY object", &[&like(pattern)])
    }

    /// `DbGetDevicePropertyHist [device, property pattern]`.
    pub fn device_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "device name, property name (wildcard)", "GetDevicePropertyHist()")?;
        DEVICE.history(&self.conn, &argin[0], None, &argin[1])
    }

    /// `DbGetClassPropertyHist [class, property pattern]`.
    pub fn class_property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "class name, property name (wildcard)", "GetClassPropertyHist()")?;
        CLASS.history(&self.conn, &argin[0], None, &argin[1])
    }

    /// `DbGetPropertyHist [object, property pattern]`.
    pub fn property_hist(&self, argin: &[String]) -> R<Vec<String>> {
        need_args(argin, 2, "object name, property name (wildcard)", "GetPropertyHist()")?;
        OBJECT.history(&self.conn, &argin[0], None, &argin[1])
    }
}
