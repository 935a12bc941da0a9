//! Who a device is: `_is_a`, `_non_existent`, `ping`, `info`, `info_3`, the IDL attributes
//! (`state`, `status`, `name`, `description`, `adm_name`) and `black_box`.

use super::{Call, Handled};
use crate::cdr::{CdrError, CdrReader};
use crate::dispatch::{ok, Outcome};
use crate::idl::{DevInfo_3, IDL_VERSION};
use crate::object::Detail;

/// The operations of this family the black box records.
#[rustfmt::skip]
pub(crate) const OPS: &[&str] = &["ping", "info", "info_3"];

pub(crate) fn handle(c: &Call<'_>, r: &mut CdrReader<'_>) -> Handled {
    run(c, r).transpose()
}

fn run(c: &Call<'_>, r: &mut CdrReader<'_>) -> Result<Option<Outcome>, CdrError> {
    let obj = c.obj;
    Ok(Some(match c.op {
        "_is_a" => {
            let id = r.read_string()?;
            ok(|w| w.write_bool(is_a(&id)))
        }
        "_non_existent" => ok(|w| w.write_bool(false)),
        "ping" => {
            c.record(Detail::None, None);
            ok(|_| {})
        }
        "info" => {
            c.record(Detail::None, None);
            let i = c.dispatcher.dev_info(obj);
            ok(|w| w.write(&i))
        }
        "info_3" => {
            c.record(Detail::None, None);
            let i = c.dispatcher.dev_info(obj);
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
            c.record_attr("state");
            let s = obj.state();
            ok(|w| w.write(&s))
        }
        "_get_status" => {
            c.record_attr("status");
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
            let n = c.dispatcher.identity.admin_name();
            ok(|w| w.write_string(&n))
        }
        "black_box" => {
            let n = r.read_i32()?;
            match obj.black_box().last(n) {
                Ok(v) => ok(|w| w.write_seq(&v)),
                Err(e) => Outcome::User(e),
            }
        }
        _ => return Ok(None),
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_up_to_device_5() {
        for ok in ["IDL:Tango/Device:1.0", "IDL:Tango/Device_2:1.0", "IDL:Tango/Device_5:1.0", "IDL:omg.org/CORBA/Object:1.0"] {
            assert!(is_a(ok), "{ok}");
        }
        for no in ["IDL:Tango/Device_6:1.0", "IDL:Tango/Database:1.0", "", "IDL:Tango/Device_x:1.0"] {
            assert!(!is_a(no), "{no}");
        }
    }
}
