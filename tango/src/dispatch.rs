//! From a decoded GIOP Request to the reply bytes: the Tango `Device_5` operations.
//!
//! Sans-IO: [`Dispatcher::handle`] takes a [`Request`] and returns the reply (or nothing for a
//! oneway call). Tests drive it with captured requests; the server runtime drives it with
//! bytes from sockets.

use std::collections::HashMap;
use std::sync::Arc;

use crate::any::{decode_any, encode_any, CmdValue};
use crate::cdr::{CdrError, CdrWriter};
use crate::giop::{self, encode_reply, encode_system_exception, ReplyStatus, Request, Target};
use crate::idl::*;
use crate::object::{attr_not_found, BlackBoxEntry, Detail, DeviceObject};

/// The IDL version we implement: `_is_a` answers true up to `Device_5`.
pub const IDL_VERSION: i32 = 5;
pub const DOC_URL: &str = "Doc URL = http://www.tango-controls.org";
/// CORBA minor code omniORB uses for OBJECT_NOT_EXIST (`OBJECT_NOT_EXIST_NoMatch`).
const OMNI_OBJECT_NOT_EXIST_NOMATCH: u32 = 0x4f4d_0001;
const COMPLETED_NO: u32 = 1;

/// Who the server is (for `info`, `adm_name`, black box entries).
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// Executable name as given, e.g. `SDPSubarray`.
    pub exec: String,
    pub instance: String,
    pub host: String,
    /// `TANGO_HOST` as given when the server runs with a database (`None` with `-nodb`);
    /// DB-mode event topics embed it verbatim.
    pub tango_host: Option<String>,
}

impl ServerIdentity {
    pub fn server_id(&self) -> String {
        format!("{}/{}", self.exec, self.instance)
    }
    pub fn admin_name(&self) -> String {
        format!("dserver/{}/{}", self.exec, self.instance)
    }
}

/// The table of objects a server hosts, keyed by lower-cased device name.
pub struct Dispatcher {
    pub identity: ServerIdentity,
    objects: HashMap<String, Arc<dyn DeviceObject>>,
    /// extra object key → device name (both lower-cased)
    aliases: HashMap<String, String>,
}

/// A caller as the black box describes it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub host: Arc<str>,
}

impl Default for Peer {
    fn default() -> Self {
        Peer { host: Arc::from("localhost") }
    }
}

enum Outcome {
    Ok(CdrWriter),
    User(DevFailed),
    MultiDevFailed(Vec<(usize, String, DevFailed)>),
    System(&'static str, u32),
}

/// A successful outcome whose body `f` writes in place in the reply to be sent.
fn ok(f: impl FnOnce(&mut CdrWriter)) -> Outcome {
    let mut w = giop::reply_body_writer();
    f(&mut w);
    Outcome::Ok(w)
}

impl Dispatcher {
    pub fn new(identity: ServerIdentity, objects: Vec<Arc<dyn DeviceObject>>) -> Self {
        let objects = objects.into_iter().map(|o| (o.name().to_ascii_lowercase(), o)).collect();
        Dispatcher { identity, objects, aliases: HashMap::new() }
    }

    /// Serve the object `device` also under the object key `key` (case-insensitive).
    /// `objects()` still lists each object once.
    pub fn add_alias(&mut self, key: &str, device: &str) {
        self.aliases.insert(key.to_ascii_lowercase(), device.to_ascii_lowercase());
    }

    pub fn object(&self, name: &str) -> Option<&Arc<dyn DeviceObject>> {
        let key = name.to_ascii_lowercase();
        self.objects.get(&key).or_else(|| self.aliases.get(&key).and_then(|d| self.objects.get(d)))
    }

    /// The object an object key names. Keys are lower-cased device names: when they are,
    /// the lookup allocates nothing (it is on every request's path).
    fn object_by_key(&self, key: &[u8]) -> Option<&Arc<dyn DeviceObject>> {
        match std::str::from_utf8(key) {
            Ok(k) if !k.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.objects.get(k).or_else(|| self.aliases.get(k).and_then(|d| self.objects.get(d)))
            }
            _ => self.object(&String::from_utf8_lossy(key)),
        }
    }

    pub fn objects(&self) -> impl Iterator<Item = &Arc<dyn DeviceObject>> {
        self.objects.values()
    }

    /// Handle one request; `None` when no reply is expected.
    pub fn handle(&self, req: &Request, peer: &Peer) -> Option<Vec<u8>> {
        let outcome = match &req.target {
            Target::Other(_) => {
                // We only understand KeyAddr: ask the client to use it.
                return req
                    .response_expected
                    .then(|| encode_reply(req.version, req.request_id, ReplyStatus::NeedsAddressingMode, |w| w.write_i16(0)));
            }
            Target::Key(key) => match self.object_by_key(key) {
                None => Outcome::System("OBJECT_NOT_EXIST", OMNI_OBJECT_NOT_EXIST_NOMATCH),
                Some(obj) => match self.operation(obj.as_ref(), req, peer) {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::debug!(op = %req.operation, error = %e, "undecodable arguments");
                        Outcome::System("MARSHAL", 0)
                    }
                },
            },
        };
        if !req.response_expected {
            return None;
        }
        let (v, id) = (req.version, req.request_id);
        Some(match outcome {
            Outcome::Ok(w) => giop::finish_reply(v, id, ReplyStatus::NoException, w),
            Outcome::User(e) => encode_reply(v, id, ReplyStatus::UserException, |w| encode_dev_failed(w, &e)),
            Outcome::MultiDevFailed(errs) => encode_reply(v, id, ReplyStatus::UserException, |w| {
                w.write_string("IDL:Tango/MultiDevFailed:1.0");
                w.write_len(errs.len());
                for (i, name, e) in &errs {
                    w.write_string(name);
                    w.write_i32(*i as i32);
                    w.write_seq(&e.errors);
                }
            }),
            Outcome::System(name, minor) => encode_system_exception(v, id, name, minor, COMPLETED_NO),
        })
    }

    fn record(&self, obj: &dyn DeviceObject, what: &'static str, op: &'static str, detail: Detail, ident: Option<&ClntIdent>, peer: &Peer) {
        obj.black_box().record(BlackBoxEntry {
            at: std::time::SystemTime::now(),
            what,
            op,
            detail,
            host: peer.host.clone(),
            client: ident.cloned(),
        });
    }

    fn operation(&self, obj: &dyn DeviceObject, req: &Request, peer: &Peer) -> Result<Outcome, CdrError> {
        // The body reader must start at the body offset with the message start as origin;
        // the body bytes were already aligned when the request was built.
        let mut r = req.body();
        let op = req.operation.as_str();
        let rec = |op: &'static str, detail: Detail, ident: Option<&ClntIdent>| self.record(obj, "Operation", op, detail, ident, peer);
        let rec_attr = |attr: &'static str| self.record(obj, "Attribute", attr, Detail::None, None, peer);
        Ok(match op {
            "_is_a" => {
                let id = r.read_string()?;
                ok(|w| w.write_bool(is_a(&id)))
            }
            "_non_existent" => ok(|w| w.write_bool(false)),
            "ping" => {
                rec("ping", Detail::None, None);
                ok(|_| {})
            }
            "info" => {
                rec("info", Detail::None, None);
                let i = self.dev_info(obj);
                ok(|w| w.write(&i))
            }
            "info_3" => {
                rec("info_3", Detail::None, None);
                let i = self.dev_info(obj);
                let i3 = DevInfo_3 {
                    dev_class: i.dev_class,
                    server_id: i.server_id,
                    server_host: i.server_host,
                    server_version: i.server_version,
                    doc_url: i.doc_url,
                    dev_type: obj.class_name().to_string(),
                };
                ok(|w| w.write(&i3))
            }
            "_get_state" => {
                rec_attr("state");
                let s = obj.state();
                ok(|w| w.write(&s))
            }
            "_get_status" => {
                rec_attr("status");
                let s = obj.status();
                ok(|w| w.write_string(&s))
            }
            "_get_name" => {
                let n = obj.name().to_string();
                ok(|w| w.write_string(&n))
            }
            "_get_description" => {
                let d = obj.description();
                ok(|w| w.write_string(&d))
            }
            "_get_adm_name" => {
                let n = self.identity.admin_name();
                ok(|w| w.write_string(&n))
            }
            "black_box" => {
                let n = r.read_i32()?;
                match obj.black_box().last(n) {
                    Ok(v) => ok(|w| w.write_seq(&v)),
                    Err(e) => Outcome::User(e),
                }
            }
            "command_list_query_2" => {
                rec("command_list_query_2", Detail::None, None);
                let l = obj.command_list();
                ok(|w| w.write_seq(l))
            }
            "command_list_query" => {
                rec("command_list_query", Detail::None, None);
                let l: Vec<DevCmdInfo> = obj.command_list().iter().map(DevCmdInfo::from).collect();
                ok(|w| w.write_seq(&l))
            }
            "command_query_2" | "command_query" => {
                let name = r.read_string()?;
                rec(static_op(op), Detail::Cmd(name.clone(), false), None);
                match obj.command_list().iter().find(|c| c.cmd_name.eq_ignore_ascii_case(&name)) {
                    None => Outcome::User(command_not_found(&name)),
                    Some(c) if op == "command_query_2" => ok(|w| w.write(c)),
                    Some(c) => ok(|w| w.write(&DevCmdInfo::from(c))),
                }
            }
            "command_inout" | "command_inout_2" | "command_inout_4" => {
                let name = r.read_string()?;
                let arg = decode_any(&mut r);
                let ident = if op == "command_inout" {
                    None
                } else {
                    r.read::<DevSource>()?;
                    if op == "command_inout_4" {
                        Some(r.read::<ClntIdent>()?)
                    } else {
                        None
                    }
                };
                rec(static_op(op), Detail::Cmd(name.clone(), op != "command_inout"), ident.as_ref());
                let arg = match arg {
                    Ok(a) => a,
                    Err(e) => {
                        return Ok(Outcome::User(DevFailed::new(
                            "API_IncompatibleCmdArgumentType",
                            format!("Cannot decode the argument of command {name}: {e}"),
                            "Device::command_inout",
                        )))
                    }
                };
                match obj.command(&name, arg) {
                    Ok(v) => ok(|w| encode_any(w, &v)),
                    Err(e) => Outcome::User(e),
                }
            }
            "read_attributes_5" | "read_attributes_4" | "read_attributes_3" => {
                let names: Vec<String> = r.read_seq()?;
                r.read::<DevSource>()?;
                let ident = if op == "read_attributes_3" { None } else { Some(r.read::<ClntIdent>()?) };
                rec(static_op(op), Detail::Attrs(names.clone()), ident.as_ref());
                let vals = obj.read_attributes(&names);
                match op {
                    "read_attributes_5" => ok(|w| w.write_seq(&vals)),
                    "read_attributes_4" => {
                        let v4: Vec<AttributeValue_4> = vals.into_iter().map(to_v4).collect();
                        ok(|w| w.write_seq(&v4))
                    }
                    _ => {
                        let v3: Vec<AttributeValue_3> = vals.into_iter().map(to_v3).collect();
                        ok(|w| w.write_seq(&v3))
                    }
                }
            }
            "write_attributes_4" => {
                let vals: Vec<AttributeValue_4> = r.read_seq()?;
                let ident = r.read::<ClntIdent>()?;
                rec("write_attributes_4", Detail::Attrs(names_of(&vals)), Some(&ident));
                match obj.write_attributes(vals) {
                    Ok(()) => ok(|_| {}),
                    Err(errs) => Outcome::MultiDevFailed(errs),
                }
            }
            "write_read_attributes_5" | "write_read_attributes_4" => {
                let vals: Vec<AttributeValue_4> = r.read_seq()?;
                let r_names: Vec<String> =
                    if op == "write_read_attributes_5" { r.read_seq()? } else { vals.iter().map(|v| v.name.clone()).collect() };
                let ident = r.read::<ClntIdent>()?;
                rec(static_op(op), Detail::Attrs(names_of(&vals)), Some(&ident));
                match obj.write_attributes(vals) {
                    Err(errs) => Outcome::MultiDevFailed(errs),
                    Ok(()) => {
                        let out = obj.read_attributes(&r_names);
                        if op == "write_read_attributes_5" {
                            ok(|w| w.write_seq(&out))
                        } else {
                            let v4: Vec<AttributeValue_4> = out.into_iter().map(to_v4).collect();
                            ok(|w| w.write_seq(&v4))
                        }
                    }
                }
            }
            "get_attribute_config_5" | "get_attribute_config_3" => {
                let names: Vec<String> = r.read_seq()?;
                rec(static_op(op), Detail::None, None);
                match obj.attribute_config(&names) {
                    Err(e) => Outcome::User(e),
                    Ok(c) if op == "get_attribute_config_5" => ok(|w| w.write_seq(&c)),
                    Ok(c) => {
                        let c3: Vec<AttributeConfig_3> = c.iter().map(|c| AttributeConfig_3::from(&**c)).collect();
                        ok(|w| w.write_seq(&c3))
                    }
                }
            }
            "set_attribute_config_5" => {
                let cfgs: Vec<AttributeConfig_5> = r.read_seq()?;
                let ident = r.read::<ClntIdent>()?;
                rec("set_attribute_config_5", Detail::None, Some(&ident));
                match obj.set_attribute_config(cfgs) {
                    Ok(()) => ok(|_| {}),
                    Err(e) => Outcome::User(e),
                }
            }
            "read_attribute_history_5" | "read_attribute_history_4" | "read_attribute_history_3" | "read_attribute_history_2" => {
                let name = r.read_string()?;
                Outcome::User(if obj.attribute_config(std::slice::from_ref(&name)).is_err() {
                    attr_not_found(&name)
                } else {
                    DevFailed::new(
                        "API_AttrNotPolled",
                        format!("Attribute {name} is not polled: this server keeps no attribute history"),
                        "Device::read_attribute_history",
                    )
                })
            }
            "command_inout_history_4" | "command_inout_history_2" => {
                let name = r.read_string()?;
                Outcome::User(DevFailed::new(
                    "API_CmdNotPolled",
                    format!("Command {name} is not polled: this server keeps no command history"),
                    "Device::command_inout_history",
                ))
            }
            _ => Outcome::System("BAD_OPERATION", 0),
        })
    }

    fn dev_info(&self, obj: &dyn DeviceObject) -> DevInfo {
        DevInfo {
            dev_class: obj.class_name().to_string(),
            server_id: self.identity.server_id(),
            server_host: self.identity.host.clone(),
            server_version: IDL_VERSION,
            doc_url: DOC_URL.into(),
        }
    }
}

fn names_of(v: &[AttributeValue_4]) -> Vec<String> {
    v.iter().map(|a| a.name.clone()).collect()
}

/// The operations the black box records, as static names.
fn static_op(op: &str) -> &'static str {
    const OPS: &[&str] = &[
        "command_query",
        "command_query_2",
        "command_inout",
        "command_inout_2",
        "command_inout_4",
        "read_attributes_3",
        "read_attributes_4",
        "read_attributes_5",
        "write_read_attributes_4",
        "write_read_attributes_5",
        "get_attribute_config_3",
        "get_attribute_config_5",
    ];
    OPS.iter().copied().find(|o| *o == op).unwrap_or("unknown")
}

pub(crate) fn command_not_found(name: &str) -> DevFailed {
    DevFailed::new("API_CommandNotFound", format!("Command {name} not found"), "DeviceClass::command_handler")
}

/// `_is_a`: the Tango interfaces up to the one we implement, and CORBA::Object.
fn is_a(id: &str) -> bool {
    if id == "IDL:omg.org/CORBA/Object:1.0" || id == "IDL:Tango/Device:1.0" {
        return true;
    }
    id.strip_prefix("IDL:Tango/Device_")
        .and_then(|s| s.strip_suffix(":1.0"))
        .and_then(|n| n.parse::<i32>().ok())
        .is_some_and(|n| (2..=IDL_VERSION).contains(&n))
}

fn to_v4(v: AttributeValue_5) -> AttributeValue_4 {
    AttributeValue_4 {
        value: v.value,
        quality: v.quality,
        data_format: v.data_format,
        time: v.time,
        name: v.name,
        r_dim: v.r_dim,
        w_dim: v.w_dim,
        err_list: v.err_list,
    }
}

/// IDL 3 attribute values carry an `any` with a sequence type.
fn to_v3(v: AttributeValue_5) -> AttributeValue_3 {
    let value = match v.value {
        AttrData::Bool(x) => CmdValue::BooleanArray(x),
        AttrData::Short(x) => CmdValue::ShortArray(x),
        AttrData::Long(x) => CmdValue::LongArray(x),
        AttrData::Long64(x) => CmdValue::Long64Array(x),
        AttrData::Float(x) => CmdValue::FloatArray(x),
        AttrData::Double(x) => CmdValue::DoubleArray(x),
        AttrData::UChar(x) => CmdValue::CharArray(x),
        AttrData::UShort(x) => CmdValue::UShortArray(x),
        AttrData::ULong(x) => CmdValue::ULongArray(x),
        AttrData::ULong64(x) => CmdValue::ULong64Array(x),
        AttrData::String(x) => CmdValue::StringArray(x),
        AttrData::State(x) => CmdValue::StateArray(x),
        AttrData::DeviceState(s) => CmdValue::State(s),
        AttrData::Encoded(mut x) if x.len() == 1 => CmdValue::Encoded(x.remove(0)),
        AttrData::Encoded(_) | AttrData::NoData => CmdValue::Void,
    };
    AttributeValue_3 { value, quality: v.quality, time: v.time, name: v.name, r_dim: v.r_dim, w_dim: v.w_dim, err_list: v.err_list }
}

/// `dd/mm/yyyy hh:mm:ss:cc` in UTC, the black box's time format.
pub(crate) fn black_box_time(at: std::time::SystemTime) -> String {
    let d = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, dd) = civil_from_days(days);
    format!("{dd:02}/{m:02}/{y} {:02}:{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60, d.subsec_millis() / 10)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::giop::Version;

    #[test]
    fn is_a_up_to_device_5() {
        for ok in ["IDL:Tango/Device:1.0", "IDL:Tango/Device_2:1.0", "IDL:Tango/Device_5:1.0", "IDL:omg.org/CORBA/Object:1.0"] {
            assert!(is_a(ok), "{ok}");
        }
        for no in ["IDL:Tango/Device_6:1.0", "IDL:Tango/Database:1.0", "", "IDL:Tango/Device_x:1.0"] {
            assert!(!is_a(no), "{no}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn unknown_object_is_object_not_exist() {
        let d = Dispatcher::new(ServerIdentity { exec: "X".into(), instance: "i".into(), host: "h".into(), tango_host: None }, vec![]);
        let req = crate::giop::encode_request(Version::V1_0, 8, true, b"mid_sdp/elt/no_such_device", "ping", |_| {});
        let crate::giop::Message::Request(req) = crate::giop::decode(req).unwrap() else { panic!() };
        let reply = d.handle(&req, &Peer::default()).unwrap();
        let crate::giop::Message::Reply(rep) = crate::giop::decode(reply).unwrap() else { panic!() };
        assert_eq!(rep.status, ReplyStatus::SystemException as u32);
        let mut b = rep.body();
        assert_eq!(b.read_string().unwrap(), "IDL:omg.org/CORBA/OBJECT_NOT_EXIST:1.0");
        assert_eq!(b.read_u32().unwrap(), 0x4f4d0001);
        assert_eq!(b.read_u32().unwrap(), 1);
    }
}
