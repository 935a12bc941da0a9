//! `sys/database/2`, class `DataBase`: the embedded database as an ordinary device of our
//! device API. Each command forwards to [`Store`]; the device holds only a shared handle so
//! `Init` keeps the data.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::device::{Attr, Cmd, CmdDef, Device, DeviceClass};
use crate::idl::{DevFailed, DevState};

use super::store::Store;
use super::timing::{self, Timing};

/// The value real DataBaseds report for `StoredProcedureRelease` (schema release).
pub const STORED_PROCEDURE_RELEASE: &str = "release 1.8";

pub struct DataBase {
    store: Arc<Mutex<Store>>,
    /// The timed commands' statistics (`Timing_*`); `Init` starts them again.
    timing: Timing,
}

impl DataBase {
    pub fn new(store: Arc<Mutex<Store>>) -> DataBase {
        DataBase { store, timing: Timing::default() }
    }

    fn s(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Run `f`, timing it when the command is one of [`timing::TIMED`] (`i`) and it succeeds.
fn timed<T>(d: &mut DataBase, i: Option<usize>, f: impl FnOnce(&mut DataBase) -> Result<T, DevFailed>) -> Result<T, DevFailed> {
    let Some(i) = i else { return f(d) };
    let started = std::time::Instant::now();
    let out = f(d);
    if out.is_ok() {
        d.timing.record(i, started.elapsed());
    }
    out
}

type Sa = Vec<String>;
type Lsa = (Vec<i32>, Vec<String>);

// Shorthands for the four command shapes the database uses.
fn sa_void(name: &str, doc: &str, f: fn(&mut Store, &[String]) -> Result<(), DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc).doc_out("none").run(move |d: &mut DataBase, a: Sa| timed(d, i, |d| f(&mut d.s(), &a)))
}
fn str_void(name: &str, doc: &str, f: fn(&mut Store, &str) -> Result<(), DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc).doc_out("none").run(move |d: &mut DataBase, a: String| timed(d, i, |d| f(&mut d.s(), &a)))
}
fn sa_sa(name: &str, doc_in: &str, doc_out: &str, f: fn(&Store, &[String]) -> Result<Sa, DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc_in).doc_out(doc_out).run(move |d: &mut DataBase, a: Sa| timed(d, i, |d| f(&d.s(), &a)))
}
fn str_sa(name: &str, doc_in: &str, doc_out: &str, f: fn(&Store, &str) -> Result<Sa, DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc_in).doc_out(doc_out).run(move |d: &mut DataBase, a: String| timed(d, i, |d| f(&d.s(), &a)))
}
fn str_lsa(name: &str, doc_in: &str, doc_out: &str, f: fn(&Store, &str) -> Result<Lsa, DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc_in).doc_out(doc_out).run(move |d: &mut DataBase, a: String| timed(d, i, |d| f(&d.s(), &a)))
}
fn str_str(name: &str, doc_in: &str, doc_out: &str, f: fn(&Store, &str) -> Result<String, DevFailed>) -> CmdDef<DataBase> {
    let i = timing::index(name);
    Cmd::new(name).doc_in(doc_in).doc_out(doc_out).run(move |d: &mut DataBase, a: String| timed(d, i, |d| f(&d.s(), &a)))
}

const WILDCARD: &str = "The wildcard";
const PROPS_IN: &str = "Str[0] = Object name\nStr[1] = Property number\nStr[2] = Property name\nStr[3] = Property value number\nStr[4] = Property value 1\nStr[n] = Property value n\n....";
const HIST_OUT: &str = "Per version, oldest first: ([attribute or pipe,] property name, date, value count, values...)";
const PROPS_OUT: &str = "Str[0] = Object name\nStr[1] = Property number\nStr[2] = Property name\nStr[3] = Property value number (array case)\nStr[4] = Property value 1\nStr[n] = Property value n (array case)\n.....";

impl Device for DataBase {
    fn class() -> DeviceClass<Self> {
        DeviceClass::new("DataBase")
            .description("The Tango database (embedded)")
            .attribute(Attr::new("StoredProcedureRelease").read(|_: &DataBase| STORED_PROCEDURE_RELEASE.to_string()))
            .attribute(Attr::new("Timing_average").read(|d: &DataBase| d.timing.average()).max_dim_x(64))
            .attribute(Attr::new("Timing_minimum").read(|d: &DataBase| d.timing.minimum()).max_dim_x(64))
            .attribute(Attr::new("Timing_maximum").read(|d: &DataBase| d.timing.maximum()).max_dim_x(64))
            .attribute(Attr::new("Timing_calls").read(|d: &DataBase| d.timing.calls()).max_dim_x(64))
            .attribute(Attr::new("Timing_index").read(|_: &DataBase| timing::TIMED.map(String::from).to_vec()).max_dim_x(64))
            .attribute(Attr::new("Timing_info").read(|d: &DataBase| d.timing.info(&crate::server::host_name())).max_dim_x(64))
            // devices and servers
            .command(sa_void("DbAddDevice", "Str[0] = Full device server name\nStr[1] = Device name\nStr[2] = Tango class name", |s, a| s.add_device(a)))
            .command(sa_void("DbAddServer", "Str[0] = Full device server name\nStr[1] = Device(s) name\nStr[2] = Tango class name\nStr[n] = Device name\nStr[n + 1] = Tango class name", |s, a| s.add_server(a)))
            .command(str_void("DbDeleteDevice", "device name", |s, a| s.delete_device(a)))
            .command(str_void("DbDeleteServer", "Device server name", |s, a| s.delete_server(a)))
            .command(sa_void("DbExportDevice", "Str[0] = Device name\nStr[1] = CORBA IOR\nStr[2] = Device server process host name\nStr[3] = Device server process PID or string ``null``\nStr[4] = Device server process version", |s, a| s.export_device(a)))
            .command(str_void("DbUnExportDevice", "Device name", |s, a| s.unexport_device(a)))
            .command(str_void("DbUnExportServer", "Device server name (executable/instance)", |s, a| s.unexport_server(a)))
            .command(str_lsa("DbImportDevice", "Device name (or alias)", "Str[0] = device name\nStr[1] = CORBA IOR\nStr[2] = device version\nStr[3] = device server process name\nStr[4] = host name\nStr[5] = Tango class name\n\nLg[0] = Exported flag\nLg[1] = Device server process PID", |s, a| s.import_device(a)))
            .command(str_lsa("DbGetDeviceInfo", "Device name or alias", "Str[0] = Device name or alias\nStr[1] = CORBA IOR\nStr[2] = Device version\nStr[3] = Device Server name\nStr[4] = Device Server process host name\nStr[5] = Started date (or ? if not set)\nStr[6] = Stopped date (or ? if not set)\nStr[7] = Device class\n\nLg[0] = Device exported flag\nLg[1] = Device Server process PID (or -1 if not set)", |s, a| s.device_info(a)))
            .command(sa_sa("DbGetDeviceList", "argin[0] : server name\nargin[1] : class name", "The list of devices for specified server and class.", |s, a| s.device_list(a)))
            .command(str_sa("DbGetDeviceWideList", WILDCARD, "Device name list", |s, a| s.device_wide_list(a)))
            .command(str_sa("DbGetDeviceExportedList", "filter", "list of exported devices", |s, a| s.exported_list(a)))
            .command(str_sa("DbGetExportdDeviceListForClass", "Class name", "Device exported list", |s, a| s.exported_list_for_class(a)))
            .command(str_sa("DbGetDeviceDomainList", WILDCARD, "Device name domain list", |s, a| s.name_parts(a, 0)))
            .command(str_sa("DbGetDeviceFamilyList", WILDCARD, "Family list", |s, a| s.name_parts(a, 1)))
            .command(str_sa("DbGetDeviceMemberList", WILDCARD, "Device names member list", |s, a| s.name_parts(a, 2)))
            .command(str_sa("DbGetServerList", WILDCARD, "Device server process name list", |s, a| s.server_list(a)))
            .command(str_sa("DbGetServerNameList", WILDCARD, "Device server process name list", |s, a| s.server_name_list(a)))
            .command(str_sa("DbGetInstanceNameList", "Server name", "The instance names found for specified server.", |s, a| s.instance_name_list(a)))
            .command(str_sa("DbGetDeviceServerClassList", "device server process name", "list of classes for this device server", |s, a| s.server_class_list(a)))
            .command(str_sa("DbGetDeviceClassList", "Device server process name", "Str[0] = Device name\nStr[1] = Tango class\nStr[n] = Device name\nStr[n + 1] = Tango class", |s, a| s.device_class_list(a)))
            .command(str_sa("DbGetClassList", "Filter", "List of classes", |s, a| s.class_list(a)))
            .command(str_str("DbGetClassForDevice", "Device name", "Device Tango class", |s, a| s.class_for_device(a)))
            .command(str_sa("DbGetHostList", "The filter", "Host name list", |s, a| s.host_list(a)))
            .command(str_sa("DbGetHostServerList", "The filter", "Device server process name list", |s, a| s.host_server_list(a)))
            // aliases
            .command(sa_void("DbPutDeviceAlias", "Str[0] = device name\nStr[1] = alias name", |s, a| s.put_device_alias(a)))
            .command(str_void("DbDeleteDeviceAlias", "device alias name", |s, a| s.delete_device_alias(a)))
            .command(str_str("DbGetDeviceAlias", "The device name", "The alias found", |s, a| s.device_alias(a)))
            .command(str_str("DbGetAliasDevice", "specified alias.", "Device name found.", |s, a| s.alias_device(a)))
            .command(str_sa("DbGetDeviceAliasList", "The filter", "Device alias list", |s, a| s.device_alias_list(a)))
            // properties
            .command(sa_sa("DbGetDeviceProperty", "Str[0] = Device name\nStr[1] = Property name\nStr[n] = Property name", PROPS_OUT, |s, a| s.get_device_property(a)))
            .command(sa_void("DbPutDeviceProperty", PROPS_IN, |s, a| s.put_device_property(a)))
            .command(sa_void("DbDeleteDeviceProperty", "Str[0] = Device name\nStr[1] = Property name\nStr[n] = Property name", |s, a| s.delete_device_property(a)))
            .command(sa_sa("DbGetDevicePropertyList", "Str[0] = device name\nStr[1] = Filter", "Property name list", |s, a| s.device_property_list(a)))
            .command(sa_sa("DbGetClassProperty", "Str[0] = Tango class\nStr[1] = Property name\nStr[n] = Property name", PROPS_OUT, |s, a| s.get_class_property(a)))
            .command(sa_void("DbPutClassProperty", PROPS_IN, |s, a| s.put_class_property(a)))
            .command(sa_void("DbDeleteClassProperty", "Str[0] = Tango class name\nStr[1] = Property name\nStr[n] = Property name", |s, a| s.delete_class_property(a)))
            .command(str_sa("DbGetClassPropertyList", "The class name", "Property name list", |s, a| s.class_property_list(a)))
            .command(sa_sa("DbGetProperty", "Str[0] = Object name\nStr[1] = Property name\nStr[n] = Property name", PROPS_OUT, |s, a| s.get_property(a)))
            .command(sa_void("DbPutProperty", PROPS_IN, |s, a| s.put_property(a)))
            .command(sa_void("DbDeleteProperty", "Str[0] = Object name\nStr[1] = Property name\nStr[n] = Property name", |s, a| s.delete_property(a)))
            .command(sa_sa("DbGetPropertyList", "Str[0] = Object name\nStr[1] = filter", "Property name list", |s, a| s.property_list(a)))
            .command(str_sa("DbGetObjectList", "The filter", "Object name list", |s, a| s.object_list(a)))
            .command(sa_sa("DbGetDeviceAttributeProperty2", "Str[0] = Device name\nStr[1] = Attribute name\nStr[n] = Attribute name", PROPS_OUT, |s, a| s.get_device_attribute_property2(a)))
            .command(sa_void("DbPutDeviceAttributeProperty2", PROPS_IN, |s, a| s.put_device_attribute_property2(a)))
            .command(sa_void("DbDeleteDeviceAttributeProperty", "str[0] = device name\nStr[1] = attribute name\nStr[2] = property name\nStr[n] = property name", |s, a| s.delete_device_attribute_property(a)))
            .command(sa_void("DbDeleteAllDeviceAttributeProperty", "str[0] = device name\nStr[1]...str[n] = attribute name(s)", |s, a| s.delete_all_device_attribute_property(a)))
            .command(sa_sa("DbGetDeviceAttributeList", "Str[0] = Device name\nStr[1] = Wildcard", "attribute name list", |s, a| s.device_attribute_list(a)))
            .command(sa_sa("DbGetClassAttributeProperty2", "Str[0] = Tango class name\nStr[1] = Attribute name\nStr[n] = Attribute name", PROPS_OUT, |s, a| s.get_class_attribute_property2(a)))
            .command(sa_void("DbPutClassAttributeProperty2", PROPS_IN, |s, a| s.put_class_attribute_property2(a)))
            .command(sa_void("DbDeleteClassAttributeProperty", "str[0] = Tango class name\nStr[1] = Attribute name\nStr[2] = Property name\nStr[n] = Property name", |s, a| s.delete_class_attribute_property(a)))
            .command(sa_sa("DbGetDeviceAttributeProperty", "Str[0] = Device name\nStr[1] = Attribute name\nStr[n] = Attribute name", PROPS_OUT, |s, a| s.get_device_attribute_property(a)))
            .command(sa_void("DbPutDeviceAttributeProperty", PROPS_IN, |s, a| s.put_device_attribute_property(a)))
            .command(sa_void("DbDeleteDeviceAttribute", "Str[0] = Device name\nStr[1] = Attribute name", |s, a| s.delete_device_attribute(a)))
            .command(sa_sa("DbGetDeviceAttributePropertyHist", "Str[0] = Device name\nStr[1] = Attribute name\nStr[2] = Property name", HIST_OUT, |s, a| s.device_attribute_property_hist(a)))
            .command(sa_sa("DbGetClassAttributeProperty", "Str[0] = Tango class name\nStr[1] = Attribute name\nStr[n] = Attribute name", PROPS_OUT, |s, a| s.get_class_attribute_property(a)))
            .command(sa_void("DbPutClassAttributeProperty", PROPS_IN, |s, a| s.put_class_attribute_property(a)))
            .command(sa_void("DbDeleteClassAttribute", "Str[0] = Tango class name\nStr[1] = Attribute name", |s, a| s.delete_class_attribute(a)))
            .command(sa_sa("DbGetClassAttributeList", "Str[0] = Tango class name\nStr[1] = Filter", "attribute name list", |s, a| s.class_attribute_list(a)))
            .command(sa_sa("DbGetClassAttributePropertyHist", "Str[0] = Tango class name\nStr[1] = Attribute name\nStr[2] = Property name", HIST_OUT, |s, a| s.class_attribute_property_hist(a)))
            // property history
            .command(sa_sa("DbGetDevicePropertyHist", "Str[0] = Device name\nStr[1] = Property name", HIST_OUT, |s, a| s.device_property_hist(a)))
            .command(sa_sa("DbGetClassPropertyHist", "Str[0] = Tango class\nStr[1] = Property name", HIST_OUT, |s, a| s.class_property_hist(a)))
            .command(sa_sa("DbGetPropertyHist", "Str[0] = Object name\nStr[2] = Property name", HIST_OUT, |s, a| s.property_hist(a)))
            // pipes
            .command(sa_sa("DbGetDevicePipeProperty", "Str[0] = Device name\nStr[1] = Pipe name\nStr[n] = Pipe name", PROPS_OUT, |s, a| s.get_device_pipe_property(a)))
            .command(sa_sa("DbGetClassPipeProperty", "Str[0] = Tango class name\nStr[1] = Pipe name\nStr[n] = Pipe name", PROPS_OUT, |s, a| s.get_class_pipe_property(a)))
            .command(sa_void("DbPutDevicePipeProperty", PROPS_IN, |s, a| s.put_device_pipe_property(a)))
            .command(sa_void("DbPutClassPipeProperty", PROPS_IN, |s, a| s.put_class_pipe_property(a)))
            .command(sa_void("DbDeleteDevicePipeProperty", "Str[0] = Device name\nStr[1] = Pipe name\nStr[2] = Property name\nStr[n] = Property name", |s, a| s.delete_device_pipe_property(a)))
            .command(sa_void("DbDeleteClassPipeProperty", "Str[0] = Tango class name\nStr[1] = Pipe name\nStr[2] = Property name\nStr[n] = Property name", |s, a| s.delete_class_pipe_property(a)))
            .command(sa_void("DbDeleteDevicePipe", "Str[0] = Device name\nStr[1] = Pipe name", |s, a| s.delete_device_pipe(a)))
            .command(sa_void("DbDeleteClassPipe", "Str[0] = Tango class name\nStr[1] = Pipe name", |s, a| s.delete_class_pipe(a)))
            .command(sa_void("DbDeleteAllDevicePipeProperty", "str[0] = device name\nStr[1]...str[n] = pipe name(s)", |s, a| s.delete_all_device_pipe_property(a)))
            .command(sa_sa("DbGetDevicePipeList", "Str[0] = Device name\nStr[1] = Filter", "Pipe name list", |s, a| s.device_pipe_list(a)))
            .command(sa_sa("DbGetClassPipeList", "Str[0] = Tango class name\nStr[1] = Filter", "Pipe name list", |s, a| s.class_pipe_list(a)))
            .command(sa_sa("DbGetDevicePipePropertyHist", "Str[0] = Device name\nStr[1] = Pipe name\nStr[2] = Property name", HIST_OUT, |s, a| s.device_pipe_property_hist(a)))
            .command(sa_sa("DbGetClassPipePropertyHist", "Str[0] = Tango class name\nStr[1] = Pipe name\nStr[2] = Property name", HIST_OUT, |s, a| s.class_pipe_property_hist(a)))
            // attribute aliases
            .command(sa_void("DbPutAttributeAlias", "Str[0] = attribute name\nStr[1] = attribute alias", |s, a| s.put_attribute_alias(a)))
            .command(str_void("DbDeleteAttributeAlias", "alias name.", |s, a| s.delete_attribute_alias(a)))
            .command(str_str("DbGetAttributeAlias", "The attribute alias name", "The attribute name (device/attribute)", |s, a| s.alias_attribute(a)))
            .command(str_str("DbGetAliasAttribute", "The attribute alias", "The attribute name (dev_name/att_name)", |s, a| s.alias_attribute(a)))
            .command(str_str("DbGetAttributeAlias2", "The attribute name (dev_name/att_name)", "The attribute alias name (or empty string)", |s, a| s.attribute_alias2(a)))
            .command(str_sa("DbGetAttributeAliasList", "attribute alias filter string (eg: att*)", "attribute aliases", |s, a| s.attribute_alias_list(a)))
            // server information (Starter, Astor) and renaming
            .command(sa_void("DbPutServerInfo", "server info", |s, a| s.put_server_info(a)))
            .command(str_sa("DbGetServerInfo", "server name", "server info", |s, a| s.server_info(a)))
            .command(str_void("DbDeleteServerInfo", "Device server name", |s, a| s.delete_server_info(a)))
            .command(str_sa("DbGetHostServersInfo", "Host name", "Server info for all servers running on specified host", |s, a| s.host_servers_info(a)))
            .command(sa_void("DbRenameServer", "s[0] = old device server name (exec/instance)\ns[1] = new device server name (exec/instance)", |s, a| s.rename_server(a)))
            .command(str_sa("DbGetClassInheritanceForDevice", "Device name", "Classes off the specified device.\n[0] - is the class of the device.\n[1] - is the class from the device class is inherited.\n........and so on", |s, a| s.class_inheritance_for_device(a)))
            .command(str_sa("DbGetForwardedAttributeListForDevice", "Device name", "Device forwarded attributes", |s, a| s.forwarded_attribute_list(a)))
            // events (notifd era)
            .command(str_lsa("DbImportEvent", "name of event channel or factory", "export information e.g. IOR", |s, a| s.import_event(a)))
            .command(sa_void("DbExportEvent", "event channel or factory name\nIOR\nhost\npid\nversion", |s, a| s.export_event(a)))
            .command(str_void("DbUnExportEvent", "Event channel name (or factory name)", |s, a| s.unexport_event(a)))
            // miscellaneous
            .command(Cmd::new("DbInfo").doc_out("Miscellaneous info like:\n- Device defined in database\n- Device marked as exported in database\n- Device server process defined in database\n- Device server process marked as exported in database\n- Device properties defined in database\n- Class properties defined in database\n- Device attribute properties defined in database\n- Class attribute properties defined in database\n- Object properties defined in database").run(|d: &mut DataBase, ()| timed(d, timing::index("DbInfo"), |d| d.s().info())))
            .command(Cmd::new("ResetTimingValues").doc_out("none").run(|d: &mut DataBase, ()| {
                d.timing.reset();
                Ok(())
            }))
            .command(Cmd::new("DbGetCSDbServerList").doc_out("List of host:port with one element for each database server").run(|d: &mut DataBase, ()| Ok(d.s().cs_db_server_list())))
            .command(str_lsa("DbMySqlSelect", "MySql Select command", "MySql Select command result\n - svalues : select results\n - lvalue[n] : =0 if svalue[n] is null else =1\n (last lvalue -1) is number of rows, (last lvalue) is number of fields", |s, a| s.sql_select(a)))
            .command(sa_sa(
                "DbGetDataForServerCache",
                "Elt[0] = DS name (exec_name/inst_name), Elt[1] = Host name",
                "All the data needed by the device server during its startup sequence. Precise list depend on the device server",
                |s, a| s.data_for_server_cache(a),
            ))
    }

    fn state(&self) -> DevState {
        DevState::ON
    }

    fn status(&self) -> String {
        "The device is ON".into()
    }
}
